"""Statistical rejection sampling (RSO; Liu et al. 2023, "Statistical Rejection Sampling Improves Preference
Optimization", Algorithm 1): choose k of n scored candidates so that the kept set follows the tilted distribution
pi(y) ~ p(y) * exp(r(y) / beta), not just the top k.

Each pass goes over the remaining candidates in order, accepting candidate i with probability
exp((r_i - r_max) / beta), r_max the best remaining score; accepted ones leave the pool. The best remaining
candidate is always accepted (probability 1), so every pass accepts at least one and the loop ends after at most
k passes, or when the pool is empty. Small beta approaches greedy top-k; large beta approaches uniform sampling.
Seeded: the same scores, k, beta and seed choose the same candidates.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def rejection_sample(scores: Sequence[float], k: int, beta: float, seed: int | str) -> list[int]:
    """Indices of the accepted candidates, in acceptance order; at most k, fewer when n < k.

    Scores of -inf (an empty text, say) are accepted only once every finite score is gone; NaN counts as -inf.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    rng = random.Random(str(seed))  # a string seed hashes the same way in every process
    remaining = {i: (s if not math.isnan(s) else -math.inf) for i, s in enumerate(scores)}
    accepted: list[int] = []
    while remaining and len(accepted) < k:
        best = max(remaining.values())
        taken = []
        for i, score in remaining.items():
            u = rng.random()
            # once only unscorable candidates remain they are all alike: accept in order
            probability = 1.0 if best == -math.inf else _acceptance(score, best, beta)
            if u < probability:
                accepted.append(i)
                taken.append(i)
                if len(accepted) == k:
                    break
        for i in taken:
            del remaining[i]
    return accepted


def _acceptance(score: float, best: float, beta: float) -> float:
    return math.exp((score - best) / beta) if score > -math.inf else 0.0
