"""Sampling a batch with one random stream per row, so a row's sample depends on its own seed alone.

`transformers`' `generate` draws every row of a batch from one global RNG: what a seed produces then depends on
which other requests shared the batch, and seeded requests could never be merged. Here each row owns a CPU
`torch.Generator` seeded with the row's seed, from which `max_tokens` uniform numbers are drawn up front; step t
of row r samples by inverse CDF with uniform U[r, t] from the row's tempered, top-p-truncated distribution. The
sampler runs as the last logits processor of a greedy `generate` and leaves only the sampled token finite, so
greedy decoding picks it, and stop strings, EOS and padding work as they always do. The uniforms come from CPU
generators whatever the device, so a seed draws the same numbers on CPU and GPU.

No top-k: like vLLM and the OpenAI API, sampling is over the whole vocabulary unless top_p cuts it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample `index` of a prompt seeded with `seed`: the seed itself for the first, then derived."""
    if index == 0:
        return seed
    digest = hashlib.sha256(f"subgoalxl-sample/{seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def fresh_seed() -> int:
    """A seed for an unseeded row: random, but recorded with the sample so it can be drawn again."""
    return secrets.randbits(63)


def uniforms(torch: Any, seeds: Sequence[int], steps: int) -> Any:
    """A (rows, steps) float64 tensor: row r holds the first `steps` uniforms of a generator seeded seeds[r]."""
    rows = []
    for seed in seeds:
        generator = torch.Generator(device="cpu")
        generator.manual_seed(int(seed))
        rows.append(torch.rand(steps, generator=generator, dtype=torch.float64))
    return torch.stack(rows)


class RowSampler:
    """A logits processor: samples row r at step t with uniform U[r, t]; only the sampled token stays finite."""

    def __init__(self, torch: Any, seeds: Sequence[int], steps: int, temperature: float, top_p: float, start: int):
        self.torch = torch
        self.u = uniforms(torch, seeds, steps)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.start = start  # input length before generation: step t sees start + t tokens

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self.torch
        step = input_ids.shape[1] - self.start
        probs = torch.softmax(scores.double() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            probs = top_p_filter(torch, probs, self.top_p)
        cdf = probs.cumsum(dim=-1)
        u = self.u[:, step].to(cdf.device)[:, None] * cdf[:, -1:]
        tokens = torch.searchsorted(cdf, u, right=True).clamp(max=probs.shape[-1] - 1)
        forced = torch.full_like(scores, -float("inf"))
        forced.scatter_(1, tokens, 0.0)
        return forced


def top_p_filter(torch: Any, probs: Any, top_p: float) -> Any:
    """Keep the most probable tokens whose mass reaches `top_p` (at least one), renormalised."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # the mass of the more probable tokens
    sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter(1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)
