"""Every file of a report: summary.json, problems.jsonl, summary.md, the plots and index.html."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report.html import render_html
from benchmarks.report.markdown import to_markdown
from benchmarks.report.model import Report, ReportError, to_json

__all__ = ["write_report"]


def write_report(report: Report, out: Path, *, plots: bool = True) -> dict[str, Path]:
    """Write every file of the report into `out` (created); returns name -> path. OSError when `out` is unusable."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out} is a file: give a folder (it is created when missing)")
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    def put(name: str, data: str | bytes) -> None:
        path = out / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        written[name] = path

    put("summary.json", json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n")
    put("problems.jsonl", "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in report.problems))
    put("summary.md", to_markdown(report))
    images: dict[str, bytes] = {}
    if plots:
        from benchmarks.report.plots import render_plots  # matplotlib: only when plots are asked for

        images = render_plots(report)
        for name, data in images.items():
            put(name, data)
    put("index.html", render_html(report, images))
    return written
