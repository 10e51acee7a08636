"""Batched generation on CPU: N concurrent seeded requests through the actor pool vs the same requests one by one.

The agent seeds every request (one seed per attempt), so batching only helps if requests with different seeds
share a backend call. One `GeneratorPool` actor serves a tiny random Llama built on the spot (`tiny_lm`). First
the N requests go one at a time (each waits for the previous answer: what an actor did when seeded requests
were never merged); then the same N requests are sent at once from N threads, and the actor merges them. Both
phases generate the same tokens (the seeds are the same and a seed's sample does not depend on its batch, which
is checked), so tokens/s compare like for like; the ratio is concurrent / one-by-one.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.perf.common import result
from benchmarks.perf.synthetic import synthetic_problem


@dataclass(frozen=True)
class BatchingParams:
    requests: int = 16  # concurrent seeded requests, one prompt each
    max_tokens: int = 64
    hidden_size: int = 64  # of the tiny model
    layers: int = 2
    batch_window_ms: float = 20.0
    model: str | None = None  # a local model directory instead of the tiny one


def prompts(count: int) -> list[str]:
    return [f"{synthetic_problem(i).formal_statement}\nproof -\n" for i in range(count)]


def _phase(pool: Any, texts: list[str], seeds: list[int], max_tokens: int, concurrent: bool) -> dict[str, Any]:
    def one(k: int) -> Any:
        return pool.generate([texts[k]], temperature=1.0, max_tokens=max_tokens, seed=seeds[k])[0]

    before = pool.info()[0]
    started = time.perf_counter()
    if concurrent:
        with ThreadPoolExecutor(len(texts)) as threads:
            rows = list(threads.map(one, range(len(texts))))
    else:
        rows = [one(k) for k in range(len(texts))]
    elapsed = time.perf_counter() - started
    after = pool.info()[0]
    tokens = sum(c.completion_tokens or 0 for row in rows for c in row)
    return {
        "tokens": tokens,
        "elapsed_s": round(elapsed, 4),
        "tokens_per_s": round(tokens / elapsed, 1) if elapsed else None,
        "backend_calls": after["backend_calls"] - before["backend_calls"],
        "texts": [[c.text for c in row] for row in rows],
    }


def run_batching(params: BatchingParams) -> dict[str, Any]:
    from benchmarks.perf.tiny_lm import build_tiny_lm
    from generators.backends import TransformersConfig
    from generators.ray_pool import GeneratorPool, PoolConfig

    with tempfile.TemporaryDirectory(prefix="subgoalxl-bench-lm-") as folder:
        model = params.model or str(
            build_tiny_lm(Path(folder) / "tiny", hidden_size=params.hidden_size, layers=params.layers)
        )
        backend = TransformersConfig(model=model, device="cpu", batch_size=params.requests)
        config = PoolConfig(
            num_actors=1, num_cpus=0, batch_window_ms=params.batch_window_ms, max_batch_prompts=params.requests
        )
        texts = prompts(params.requests)
        seeds = [1009 * (k + 1) for k in range(params.requests)]
        with GeneratorPool(backend, config) as pool:
            pool.wait_ready()
            pool.generate(texts[:1], max_tokens=4, seed=0)  # warm-up
            alone = _phase(pool, texts, seeds, params.max_tokens, concurrent=False)
            together = _phase(pool, texts, seeds, params.max_tokens, concurrent=True)
            largest = pool.info()[0]["largest_batch"]
    same = alone.pop("texts") == together.pop("texts")
    ratio = (
        round(together["tokens_per_s"] / alone["tokens_per_s"], 2)
        if together["tokens_per_s"] and alone["tokens_per_s"]
        else None
    )
    return result(
        "generation-batching",
        asdict(params),
        model=params.model or f"tiny random Llama ({params.layers} layers, hidden {params.hidden_size}), CPU",
        one_at_a_time=alone,
        concurrent=together,
        largest_batch=largest,
        same_samples=same,
        concurrent_over_one_at_a_time=ratio,
    )


def batching_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    alone, together = data["one_at_a_time"], data["concurrent"]
    n = data["params"]["requests"]
    return [
        ("model", data["model"]),
        (
            f"{n} seeded requests one at a time",
            f"{alone['tokens_per_s']} tokens/s ({alone['tokens']} tokens, {alone['backend_calls']} backend calls)",
        ),
        (
            f"{n} seeded requests concurrently",
            f"{together['tokens_per_s']} tokens/s ({together['tokens']} tokens, {together['backend_calls']} backend "
            f"calls, largest batch {data['largest_batch']})",
        ),
        ("concurrent / one at a time", f"{data['concurrent_over_one_at_a_time']}x"),
        ("same samples either way", "yes" if data["same_samples"] else "NO"),
    ]
