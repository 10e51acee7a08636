"""The report's PNG plots: pass@k curves, solved per category, solved over wall-clock time.

matplotlib is imported inside `render_plots` (and through `Figure`, never pyplot: no global state, no GUI
backend), so importing the report machinery or running `subgoalxl --help` stays light.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from benchmarks.data.names import CATEGORIES, CATEGORY_LABELS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from benchmarks.report.model import Report

__all__ = ["PLOTS", "render_plots"]

#: File name -> what it shows (the HTML page uses these as captions).
PLOTS: dict[str, str] = {
    "passk.png": "pass@k against k (unbiased estimator; union pools samples of all runs)",
    "categories.png": "problems solved per category (outline: problems attempted)",
    "solved_over_time.png": "problems solved against wall-clock time since each run started",
}


def render_plots(report: Report) -> dict[str, bytes]:
    """PNG bytes for every plot in PLOTS."""
    from matplotlib.figure import Figure

    plots = {
        "passk.png": _pass_at_k(Figure(figsize=(7, 4.2), dpi=110), report),
        "categories.png": _categories(Figure(figsize=(8, 4.2), dpi=110), report),
        "solved_over_time.png": _over_time(Figure(figsize=(7, 4.2), dpi=110), report),
    }
    return {name: _png(fig) for name, fig in plots.items()}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _colors(report: Report) -> dict[str, str]:
    """One colour per run in every plot; the union in black."""
    return {**{r.run_id: f"C{i % 10}" for i, r in enumerate(report.runs)}, "union": "black"}


def _pass_at_k(fig: Figure, report: Report) -> Figure:
    from matplotlib.ticker import FixedLocator, NullLocator

    ax = fig.subplots()
    colors = _colors(report)
    top = 1
    for label, (ks, values) in report.curves.items():
        width = 2.2 if label == "union" else 1.6
        marker = "o" if len(ks) <= 16 else None
        ax.plot(ks, values, marker=marker, markersize=4, label=label, color=colors[label], linewidth=width)
        top = max(top, ks[-1] if ks else 1)
    if top >= 8:
        ax.set_xscale("log", base=2)
        ticks = [2**i for i in range(top.bit_length()) if 2**i <= top]
        ax.xaxis.set_major_locator(FixedLocator(ticks if ticks[-1] == top else [*ticks, top]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter("{x:g}")
        ax.set_xlim(0.9, top * 1.1)
    else:
        ax.xaxis.set_major_locator(FixedLocator(list(range(1, top + 1))))
        ax.set_xlim(0.8, top + 0.2)
    ax.set_xlabel("k (samples per problem)")
    ax.set_ylabel("pass@k")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title("pass@k")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def _categories(fig: Figure, report: Report) -> Figure:
    ax = fig.subplots()
    from matplotlib.patches import Patch

    union = report.union
    colors = _colors(report)
    cats = [c for c in CATEGORIES if union.totals.get(c)] or ["other"]
    series = [(s.label, s) for s in report.summaries] if len(report.summaries) > 2 else [(report.runs[0].run_id, union)]
    width = 0.8 / len(series)
    xs = range(len(cats))
    for i, (label, summary) in enumerate(series):
        offset = (i - (len(series) - 1) / 2) * width
        solved = [summary.by_category.get(c, 0) for c in cats]
        totals = [summary.totals.get(c, 0) for c in cats]
        color = colors.get(label, "C0")
        ax.bar([x + offset for x in xs], totals, width, fill=False, edgecolor="0.6", linewidth=0.8)
        bars = ax.bar([x + offset for x in xs], solved, width, label=label, color=color, alpha=0.85)
        ax.bar_label(bars, fontsize=7, padding=1)
    ax.set_xticks(list(xs), [CATEGORY_LABELS.get(c, c) for c in cats], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("problems")
    ax.set_title("solved per category")
    handles, _ = ax.get_legend_handles_labels()
    attempted = Patch(fill=False, edgecolor="0.6", label="attempted")
    ax.legend(handles=[*handles, attempted], fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _over_time(fig: Figure, report: Report) -> Figure:
    from matplotlib.ticker import MaxNLocator

    ax = fig.subplots()
    longest = max([r.cost.wall_s or 0.0 for r in report.runs] + [t for r in report.runs for t in r.solved_after])
    scale, unit = (1.0, "s") if longest < 120 else (60.0, "min") if longest < 7200 else (3600.0, "h")
    colors = _colors(report)
    for run in report.runs:
        times = [t / scale for t in run.solved_after]
        end = max((run.cost.wall_s or 0.0) / scale, times[-1] if times else 0.0)
        xs = [0.0, *times, end]
        ys = [0, *range(1, len(times) + 1), len(times)]
        label = f"{run.run_id} ({len(times)} solved)"
        ax.step(xs, ys, where="post", label=label, linewidth=1.6, color=colors[run.run_id])
    ax.set_xlabel(f"wall-clock since run start ({unit})")
    ax.set_ylabel("problems solved")
    ax.set_title("solved over time")
    ax.set_xlim(0, max(longest / scale, 1.0) * 1.02)
    ax.set_ylim(0, max([1, *(len(r.solved_after) for r in report.runs)]) * 1.05)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig
