"""pass@k as papers report it: the unbiased per-problem estimator, its benchmark mean, unions over runs.

The estimator (Chen et al. 2021, Codex) is 1 - C(n-c, k)/C(n, k) for n samples with c successes; it is
computed as a product so that n in the thousands neither overflows nor loses precision. miniF2F papers
usually report "solved" counts instead: the union over all runs and samples (`union_solved`), per category.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from benchmarks.data.names import CATEGORIES, CATEGORY_LABELS, categories_of, current_name

__all__ = [
    "benchmark_pass_at_k",
    "category_counts",
    "format_category_counts",
    "pass_at_k",
    "solved_names",
    "union_solved",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n samples, got n={n}, k={k}")
    if not 0 <= c <= n:
        raise ValueError(f"the number of successes must be within 0..n, got n={n}, c={c} (k={k})")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def benchmark_pass_at_k(results: Mapping[str, tuple[int, int]], k: int, *, total: int | None = None) -> float:
    """Mean pass@k over problems, from name -> (n samples, c successes).

    `total` is the benchmark's size when `results` lacks problems never attempted: they count as 0, as a
    paper's denominator (244) would. Without it the mean is over the problems given.
    """
    if total is not None and total < len(results):
        raise ValueError(f"total={total} is smaller than the {len(results)} problems given")
    denominator = len(results) if total is None else total
    if denominator == 0:
        raise ValueError("pass@k of an empty benchmark is undefined: give results or a total > 0")
    scores = []
    for name, (n, c) in results.items():
        try:
            scores.append(pass_at_k(n, c, k))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return sum(scores) / denominator


def solved_names(results: Mapping[str, tuple[int, int]]) -> frozenset[str]:
    """The problems with at least one success among their samples."""
    return frozenset(name for name, (_, c) in results.items() if c > 0)


def union_solved(*runs: Iterable[str]) -> frozenset[str]:
    """Problems solved by any of the runs (each an iterable of solved names), in current miniF2F spelling."""
    return frozenset(current_name(name) for run in runs for name in run)


def category_counts(solved: Iterable[str]) -> dict[str, int]:
    """Solved problems per category (every category present, in reporting order); any name spelling."""
    return categories_of({current_name(name) for name in solved})


def format_category_counts(counts: Mapping[str, int], totals: Mapping[str, int] | None = None) -> str:
    """`"41 AMC12, 9 AIME, 3 IMO"` (non-zero categories in reporting order); with totals `"41/45 AMC12"`."""
    parts = []
    for cat in CATEGORIES:
        solved = counts.get(cat, 0)
        of = totals.get(cat, 0) if totals is not None else 0
        if solved or of:
            parts.append(
                f"{solved}/{of} {CATEGORY_LABELS[cat]}" if totals is not None else f"{solved} {CATEGORY_LABELS[cat]}"
            )
    return ", ".join(parts) if parts else "none"
