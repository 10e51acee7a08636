"""The report as one self-contained HTML page: inline CSS and JS, plots as data: URIs, nothing fetched.

A Content-Security-Policy forbids any network access, so the page works offline and from an archive. The
per-problem table sorts on a header click (plain JS); `?sort=KEY` or `?sort=-KEY` sorts on load and
`window.__sortBy(key, descending)` sorts from a script (both for tests and links). Each solved problem links to
its proof in a `<details id="proof-NAME">` further down, opened when its anchor is followed.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Container, Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING

from benchmarks.data.names import CATEGORY_LABELS
from benchmarks.report.model import passk_text

if TYPE_CHECKING:
    from benchmarks.report.model import Report

__all__ = ["render_html"]

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_CSS = """
:root { --fg: #1d232a; --muted: #5b6570; --line: #d8dde3; --head: #f1f4f7; --ok: #1a7f37; --no: #9aa4ae; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 1.2rem 1.6rem 4rem; max-width: 1180px; }
h1 { font-size: 1.5rem; margin: .2rem 0 .3rem; } h2 { font-size: 1.15rem; margin: 2rem 0 .6rem; }
.meta, .hint { color: var(--muted); } .hint { font-size: 12.5px; margin: .4rem 0; }
.note { background: #fff8e1; border-left: 4px solid #e0a800; padding: .45rem .7rem; margin: .5rem 0; }
.note.mixed { background: #fdecea; border-color: #c62828; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .28rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
td:first-child, th:first-child { white-space: nowrap; }
.scroll { overflow-x: auto; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 12.5px; }
.table-wrap { max-height: 85vh; overflow: auto; border: 1px solid var(--line); }
.table-wrap table { margin: 0; }
#problems-table { font-size: 13px; }
#problems-table td.num { white-space: nowrap; }
#problems-table td:first-child { white-space: normal; overflow-wrap: anywhere; min-width: 12rem; }
#problems-table thead th { position: sticky; top: 0; z-index: 1; cursor: pointer; user-select: none; }
#problems-table thead th:hover { background: #e2e8ee; }
#problems-table th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: 10px; }
#problems-table th[aria-sort="descending"]::after { content: " \\25BC"; font-size: 10px; }
#problems-table tbody tr:nth-child(even) { background: #fafbfc; }
.yes { color: var(--ok); font-weight: 700; } .no { color: var(--no); }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 1rem; }
figure { margin: 0; } figure img { width: 100%; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 12.5px; }
details { border: 1px solid var(--line); border-radius: 4px; margin: .35rem 0; padding: .3rem .6rem; }
details[open] { background: #fbfcfd; } summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: 12.5px; margin: .3rem 0; }
#filter { padding: .3rem .5rem; width: 18rem; margin: .2rem 0 .4rem; }
"""

_JS = """
(function () {
  var table = document.getElementById("problems-table");
  var tbody = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function sortBy(key, descending) {
    var i = heads.findIndex(function (th) { return th.dataset.key === key; });
    if (i < 0) { return false; }
    var numeric = heads[i].dataset.type === "num";
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = a.cells[i].dataset.v, y = b.cells[i].dataset.v, r;
      r = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      if (descending) { r = -r; }
      return r !== 0 ? r : a.dataset.order - b.dataset.order;
    });
    rows.forEach(function (row) { tbody.appendChild(row); });
    heads.forEach(function (th) { th.removeAttribute("aria-sort"); });
    heads[i].setAttribute("aria-sort", descending ? "descending" : "ascending");
    table.dataset.sortedBy = (descending ? "-" : "") + key;
    return true;
  }
  window.__sortBy = sortBy;
  heads.forEach(function (th) {
    function click() { sortBy(th.dataset.key, th.getAttribute("aria-sort") === "ascending"); }
    th.addEventListener("click", click);
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); click(); }
    });
  });
  var wanted = new URLSearchParams(window.location.search).get("sort");
  if (wanted) { sortBy(wanted.replace(/^-/, ""), wanted.charAt(0) === "-"); }
  var filter = document.getElementById("filter");
  filter.addEventListener("input", function () {
    var q = filter.value.trim().toLowerCase();
    Array.prototype.forEach.call(tbody.rows, function (row) {
      row.hidden = q !== "" && row.dataset.name.toLowerCase().indexOf(q) < 0;
    });
  });
  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    if (el && el.tagName === "DETAILS") { el.open = true; el.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
"""


def _table(header: Sequence[str], rows: Iterable[Iterable[str]], numeric: Container[int] = ()) -> str:
    """A plain table; cells are already escaped HTML; the `numeric` columns are right-aligned."""
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _flag(value: bool | None) -> tuple[str, str]:
    """(sort value, cell html) of a yes/no/unknown flag."""
    if value is None:
        return "-1", '<span class="no">–</span>'
    return ("1", '<span class="yes">✓</span>') if value else ("0", '<span class="no">·</span>')


def _per_solved(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def render_html(report: Report, images: Mapping[str, bytes]) -> str:
    """The whole page as one string."""
    from benchmarks.report.plots import PLOTS

    e = escape
    runs = ", ".join(r.run_id for r in report.runs)
    generated = time.strftime("%Y-%m-%d %H:%M", time.localtime(report.generated))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>subgoalxl report: {e(runs)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Report: {e(runs)}</h1>",
        f'<p class="meta">store <code>{e(report.store)}</code> · generated {generated}</p>',
    ]
    run_rows = [
        [
            e(r.run_id),
            e(r.benchmark),
            e(r.split or "all"),
            e(r.prover),
            str(r.attempts_per_problem),
            e(r.status),
            f"<code title='{e(r.fingerprint)}'>{e(r.fingerprint[:16] or '(none)')}</code>",
            e(r.isabelle_version or "–"),
        ]
        for r in report.runs
    ]
    parts.append(
        _table(
            ["run", "benchmark", "split", "prover", "attempts/problem", "status", "fingerprint", "Isabelle"],
            run_rows,
            numeric={4},
        )
    )
    for note in report.notes:
        mixed = " mixed" if note.startswith("MIXED") else ""
        parts.append(f'<div class="note{mixed}">{e(note)}</div>')

    ks = report.ks
    parts.append('<h2 id="results">Results</h2>')
    result_rows = []
    for s in report.summaries:
        cells = [e(s.label), str(s.problems), str(s.solved), f"{100 * s.rate:.1f}%"]
        cells += [passk_text(s, k) for k in ks]
        cells.append(e(s.category_text))
        result_rows.append(cells)
    header = ["", "problems", "solved", "rate", *(f"pass@{k}" for k in ks), "by category"]
    parts.append(_table(header, result_rows, numeric=range(1, len(header) - 1)))
    parts.append(
        '<p class="hint">pass@k: unbiased estimator over n samples with c successes per problem; a dedup attempt '
        "carries the verdict of the attempt it duplicates, an unparsed one is a failure; ≥ marks a lower bound, – a k "
        "above the attempt budget. "
        "Union: solved by any run, samples pooled.</p>"
    )

    parts.append('<h2 id="cost">Cost</h2>')
    cost_rows = []
    for s in report.summaries:
        c, per = s.cost, s.cost.per_solved(s.solved)
        cost_rows.append(
            [
                e(s.label),
                str(c.attempts),
                str(c.checked),
                str(c.dedup),
                str(c.unparsed),
                str(c.cancelled),
                str(c.skipped),
                str(c.cache_hits),
                f"{c.completion_tokens:,}",
                f"{c.isabelle_s:,.1f}",
                _per_solved(per["attempts"]),
                _per_solved(per["completion_tokens"]),
                _per_solved(per["isabelle_s"]),
            ]
        )
    cost_header = ["", "attempts", "checked", "dedup", "unparsed", "cancelled", "skipped", "cache hits"]
    cost_header += ["generated tokens", "Isabelle s", "attempts / solved", "tokens / solved", "Isabelle s / solved"]
    parts.append(_table(cost_header, cost_rows, numeric=range(1, len(cost_header))))
    parts.append(
        '<p class="hint">Isabelle s: wall-clock seconds from the start of each check to its verdict (waiting for a '
        "warm session included), not CPU seconds; cache hits are not counted. Per solved: totals over the problems "
        "solved.</p>"
    )

    if report.comparisons:
        parts.append('<h2 id="comparison">Compared with published results</h2>')
        comp_rows = []
        for row in report.comparisons:
            comp_rows.append(
                [
                    f"<span title='{e(row.source)}'>{e(row.label)}</span>",
                    e(row.split),
                    str(row.scope),
                    str(len(row.both)),
                    str(len(row.only_ours)),
                    str(len(row.only_theirs)),
                    str(row.theirs_outside_scope),
                ]
            )
        comp_header = ["published", "split", "our problems", "both", "only ours", "only theirs"]
        comp_header.append("theirs, not attempted by us")
        parts.append(_table(comp_header, comp_rows, numeric=range(2, len(comp_header))))
        for row in report.comparisons:
            if row.only_ours or row.only_theirs:
                parts.append(
                    f"<details><summary>{e(row.label)} ({e(row.split)}): only ours {len(row.only_ours)}, only theirs "
                    f"{len(row.only_theirs)}</summary><p><b>only ours:</b> {e(', '.join(row.only_ours) or 'none')}</p>"
                    f"<p><b>only theirs:</b> {e(', '.join(row.only_theirs) or 'none')}</p></details>"
                )
        if report.unmapped_ours:
            parts.append(
                f'<p class="hint">Our problems the reference does not hold: {e(", ".join(report.unmapped_ours))}</p>'
            )

    if images:
        parts.append('<h2 id="plots">Plots</h2><div class="plots">')
        for name, data in images.items():
            uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            caption = PLOTS.get(name, name)
            parts.append(f'<figure><img alt="{e(caption)}" src="{uri}"><figcaption>{e(caption)}</figcaption></figure>')
        parts.append("</div>")

    parts.append(_problems_table(report))
    parts.append(_proofs(report))
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


def _problems_table(report: Report) -> str:
    e = escape
    run_ids = [r.run_id for r in report.runs] if len(report.runs) > 1 else []
    labels = report.published_labels
    columns = [("problem", "problem", "str"), ("split", "split", "str"), ("category", "category", "str")]
    columns.append(("solved", "solved", "num"))
    columns += [(f"run:{r}", r, "num") for r in run_ids]
    columns += [("n", "n", "num"), ("c", "c", "num"), ("tokens", "tokens", "num"), ("isabelle_s", "Isabelle s", "num")]
    columns += [(f"published:{x}", x.removesuffix("_success"), "num") for x in labels]
    head = "".join(
        f'<th data-key="{e(key)}" data-type="{kind}" tabindex="0" title="sort by {e(title)}"'
        f"{' class=num' if kind == 'num' else ''}>{e(title).replace('_', '_<wbr>')}</th>"
        for key, title, kind in columns
    )
    rows = []
    for order, p in enumerate(report.problems):
        shown = e(p.name).replace("_", "_<wbr>")  # long miniF2F names break at underscores
        name = f'<a href="#proof-{e(p.name)}">{shown}</a>' if p.solved else shown
        cells = [(p.name, name, False), (p.split, e(p.split or "–"), False)]
        cells.append((p.category, e(CATEGORY_LABELS.get(p.category, p.category)), False))
        flags = [p.solved, *(p.solved_by[r] for r in run_ids)]
        cells += [(*_flag(f), True) for f in flags]
        cells += [(str(p.n), str(p.n), True), (str(p.c), str(p.c), True)]
        cells += [(str(p.tokens), f"{p.tokens:,}", True), (f"{p.isabelle_s:.3f}", f"{p.isabelle_s:,.1f}", True)]
        cells += [(*_flag(p.published.get(x)), True) for x in labels]
        tds = "".join(f'<td data-v="{e(v)}"{" class=num" if num else ""}>{html}</td>' for v, html, num in cells)
        rows.append(f'<tr data-name="{e(p.name)}" data-order="{order}">{tds}</tr>')
    solved = sum(p.solved for p in report.problems)
    return (
        f'<h2 id="problems">Problems ({solved} of {len(report.problems)} solved)</h2>'
        '<input id="filter" type="search" placeholder="filter by name" aria-label="filter problems by name">'
        '<p class="hint">Click a column header to sort (again to reverse). Solved problems link to their proof.</p>'
        f'<div class="table-wrap"><table id="problems-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _proofs(report: Report) -> str:
    e = escape
    solved = [p for p in report.problems if p.solved]
    if not solved:
        return '<h2 id="proofs">Proofs</h2><p class="hint">No problem was solved.</p>' + _own_statement_proofs(report)
    items = []
    for p in solved:
        statement = f"<p><b>Statement</b></p><pre>{e(p.statement.strip())}</pre>" if p.statement else ""
        items.append(
            f'<details id="proof-{e(p.name)}"><summary>{e(p.name)} · run {e(p.proof_run or "")}, attempt '
            f"{p.winning_attempt if p.winning_attempt is not None else '?'}</summary>{statement}"
            f"<p><b>Proof</b></p><pre>{e(p.proof or '')}</pre></details>"
        )
    return f'<h2 id="proofs">Proofs ({len(solved)})</h2>' + "".join(items) + _own_statement_proofs(report)


def _own_statement_proofs(report: Report) -> str:
    """Proofs of model-written statements for problems that have their own: shown apart, never as solved."""
    e = escape
    own = [o for p in report.problems for o in p.own_statement_proofs]
    if not own:
        return ""
    items = [
        f"<details><summary>{e(o.problem)} · run {e(o.run_id)}, attempt {o.attempt_index}</summary>"
        f"<p><b>Statement the model wrote</b></p><pre>{e(o.statement)}</pre>"
        f"<p><b>Proof</b></p><pre>{e(o.proof or '')}</pre></details>"
        for o in own
    ]
    return (
        f'<h2 id="own-statements">Proved own statement, not counted ({len(own)})</h2>'
        '<p class="hint">Proofs of statements the model wrote for problems that have their own formal statement: '
        "they do not solve the problem and count nowhere else.</p>" + "".join(items)
    )
