"""Reports over finished runs, from the run store: the model (`model`: solved, pass@k, cost, comparisons, notes,
and its JSON), and its writers (`markdown`, `html`, `plots`; `write` puts every file in a folder)."""

from benchmarks.report.markdown import to_markdown
from benchmarks.report.model import ReportError, build_report, default_ks, parse_ks, passk_text, to_json
from benchmarks.report.write import write_report

__all__ = [
    "ReportError",
    "build_report",
    "default_ks",
    "parse_ks",
    "passk_text",
    "to_json",
    "to_markdown",
    "write_report",
]
