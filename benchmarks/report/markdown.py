"""`summary.md`: a report as Markdown (tables a paper's appendix can take as they are)."""

from __future__ import annotations

import time

from benchmarks.data.names import CATEGORY_LABELS
from benchmarks.report.model import Report, passk_text

__all__ = ["to_markdown"]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _fence(text: str) -> str:
    longest = max((len(run) for run in text.split("\n") if set(run) == {"`"}), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}isabelle\n{text.rstrip()}\n{ticks}"


def to_markdown(report: Report) -> str:
    """`summary.md`: the same numbers as summary.json, for people."""
    runs = ", ".join(r.run_id for r in report.runs)
    first = report.runs[0]
    lines = [f"# Report: {runs}", ""]
    lines.append(
        f"Store `{report.store}`, generated {time.strftime('%Y-%m-%d %H:%M', time.localtime(report.generated))}."
    )
    lines.append("")
    lines += [
        "| run | benchmark | split | prover | attempts/problem | status | fingerprint |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report.runs:
        lines.append(
            f"| {r.run_id} | {r.benchmark} | {r.split or 'all'} | {r.prover} | {r.attempts_per_problem} | {r.status} "
            f"| `{r.fingerprint[:16] or '(none)'}` |"
        )
    if not report.mixed:
        lines += ["", f"All runs share the benchmark fingerprint `{first.fingerprint or '(none)'}`."]
    for note in report.notes:
        lines += ["", f"> {note}"]
    ks = report.ks
    lines += ["", "## Results", ""]
    lines.append("| | problems | solved | rate | " + " | ".join(f"pass@{k}" for k in ks) + " | by category |")
    lines.append("|---|---:|---:|---:|" + "---:|" * len(ks) + "---|")
    for s in report.summaries:
        marks = [passk_text(s, k) for k in ks]
        lines.append(
            f"| {s.label} | {s.problems} | {s.solved} | {_pct(s.rate)} | {' | '.join(marks)} | {s.category_text} |"
        )
    lines += [
        "",
        "pass@k: unbiased estimator over n samples with c successes per problem (dedup attempts carry the verdict "
        "they duplicate, unparsed ones are failures); `≥` marks a lower bound, `–` a k above the attempt budget. "
        "Union: solved by any run, samples pooled.",
        "",
        "| | solved | as written | gaps filled | coarsened | resting on an oracle |",
        "|---|---:|---:|---:|---:|---|",
        *(
            f"| {s.label} | {s.solved} | {s.salvage.get('as_written', 0)} | {s.salvage.get('gaps_filled', 0)} "
            f"| {sum(v for k, v in s.salvage.items() if k.startswith('coarsened'))} "
            f"| {s.with_oracles}{_oracle_text(s.oracles)} |"
            for s in report.summaries
        ),
        "",
        "How the checker obtained each solved problem's proof (salvage: failing steps of the proof as written became "
        "gaps it closed, or their blocks were coarsened), and how many of those proofs rest on an oracle besides "
        "the kernel (Isabelle's own `thm_oracles`; `holds_by_evaluation` is `by eval`'s, allowed unless "
        "`allowed_oracles = []`).",
        "",
        "## Cost",
        "",
        "| | attempts | checked | dedup | unparsed | cancelled | skipped | cache hits | generated tokens | Isabelle s "
        "| attempts/solved | tokens/solved | Isabelle s/solved |",
        "|---|" + "---:|" * 12,
    ]
    for s in report.summaries:
        c, per = s.cost, s.cost.per_solved(s.solved)
        lines.append(
            f"| {s.label} | {c.attempts} | {c.checked} | {c.dedup} | {c.unparsed} | {c.cancelled} | {c.skipped} "
            f"| {c.cache_hits} | {c.completion_tokens} | {c.isabelle_s:.1f} | {_num(per['attempts'])} "
            f"| {_num(per['completion_tokens'])} | {_num(per['isabelle_s'])} |"
        )
    lines += [
        "",
        "Isabelle s is wall-clock check time (start of a check to its verdict, waiting for a session included), not "
        "CPU seconds; cache hits are not counted. Per solved: totals divided by the problems solved.",
    ]
    if report.comparisons:
        lines += ["", "## Compared with published results", ""]
        lines += [
            "| published | split | our problems | both | only ours | only theirs | theirs not attempted by us |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for row in report.comparisons:
            lines.append(
                f"| {row.label} | {row.split} | {row.scope} | {len(row.both)} | {len(row.only_ours)} "
                f"| {len(row.only_theirs)} | {row.theirs_outside_scope} |"
            )
        for row in report.comparisons:
            if row.split == "all" or (row.only_ours or row.only_theirs):
                lines += ["", f"- {row.label} ({row.split}) only ours: {', '.join(row.only_ours) or 'none'}"]
                lines.append(f"- {row.label} ({row.split}) only theirs: {', '.join(row.only_theirs) or 'none'}")
        if report.unmapped_ours:
            lines += ["", f"Our problems the reference does not hold: {', '.join(report.unmapped_ours)}."]
    lines += ["", "## Problems", ""]
    run_cols = [r.run_id for r in report.runs] if len(report.runs) > 1 else []
    labels = report.published_labels
    stated = any(p.statement_source == "model" for p in report.problems)
    header = ["problem", "split", "category", "solved", *run_cols, "n", "c", "tokens", "Isabelle s", *labels]
    if stated:
        header.insert(3, "statement by")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in report.problems:
        cells = [
            f"[{p.name}](#proof-{p.name})" if p.solved else p.name,
            p.split or "-",
            CATEGORY_LABELS.get(p.category, p.category),
            "yes" if p.solved else "no",
            *("yes" if p.solved_by[r] else "no" for r in run_cols),
            str(p.n),
            str(p.c),
            str(p.tokens),
            f"{p.isabelle_s:.1f}",
            *(("yes" if p.published[x] else "no") if x in p.published else "-" for x in labels),
        ]
        if stated:
            cells.insert(3, p.statement_source)
        lines.append("| " + " | ".join(cells) + " |")
    own = [o for p in report.problems for o in p.own_statement_proofs]
    if own:
        lines += [
            "",
            "## Proved own statement (not counted)",
            "",
            "Proofs of statements the model wrote (autoformalization) for problems that have their own formal "
            "statement. They do not solve the benchmark problem and count nowhere else in this report.",
        ]
        for o in own:
            lines += ["", f"### {o.problem} (run {o.run_id}, attempt {o.attempt_index})", "", "Statement proved:", ""]
            lines += [_fence(o.statement), "", "Proof:", "", _fence(o.proof or "")]
    solved = [p for p in report.problems if p.solved]
    if solved:
        lines += ["", "## Proofs"]
        for p in solved:
            lines += ["", f'### <a id="proof-{p.name}"></a>{p.name}', ""]
            lines += [f"Run {p.proof_run}, attempt {p.winning_attempt}.", "", _fence(p.proof or "")]
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _oracle_text(oracles: dict[str, int]) -> str:
    return " (" + ", ".join(f"{k} {v}" for k, v in oracles.items()) + ")" if oracles else ""
