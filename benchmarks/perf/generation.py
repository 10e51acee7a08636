"""Generation throughput: the vLLM backend against transformers on the same model, prompts and sampling.

Runs only on a machine with a CUDA GPU and vLLM installed (`pip install -e '.[vllm]'` in a GPU environment);
skips with a message otherwise. Tokens/s = generated tokens (as each backend counts them) / wall time of one
`generate` call over all prompts, after a one-prompt warm-up; transformers runs first and is released before
vLLM takes the GPU.
"""

from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.perf.common import result, skipped
from benchmarks.perf.synthetic import synthetic_problem


@dataclass(frozen=True)
class GenerationParams:
    model: str | None = None
    prompts: int = 64
    max_tokens: int = 256
    n: int = 1
    temperature: float = 1.0
    batch_size: int = 16  # transformers: sequences per forward pass
    gpu_memory_utilization: float = 0.5  # vLLM's share of the GPU


def unavailable() -> str | None:
    """Why the generation benchmark cannot run here, or None when it can."""
    try:
        import torch
    except ImportError:
        return "skipped: torch is not installed (pip install -e '.[ml]')"
    if not torch.cuda.is_available():
        return "skipped: no CUDA GPU here (torch.cuda.is_available() is False); run it on a GPU host"
    try:
        import vllm  # noqa: F401
    except ImportError:
        return "skipped: vLLM is not installed: pip install -e '.[vllm]' in a separate GPU environment"
    return None


def prompts(count: int) -> list[str]:
    """Proof-writing prompts of realistic length: a statement and the start of an Isar proof."""
    return [
        f"(* Complete the Isabelle proof. *)\n{synthetic_problem(i).formal_statement}\nproof -\n" for i in range(count)
    ]


def _throughput(config: Any, texts: list[str], params: GenerationParams) -> dict[str, Any]:
    from generators.backends import make_backend

    backend = make_backend(config)
    try:
        backend.generate(texts[:1], n=1, max_tokens=8, temperature=params.temperature, seed=0)  # warm-up
        started = time.perf_counter()
        out = backend.generate(
            texts, n=params.n, temperature=params.temperature, top_p=1.0, max_tokens=params.max_tokens, seed=0
        )
        elapsed = time.perf_counter() - started
    finally:
        backend.close()
        del backend
        gc.collect()
        try:
            import torch

            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - best effort: the next backend may then have less memory
            pass
    tokens = sum(c.completion_tokens or 0 for row in out for c in row)
    return {"tokens": tokens, "elapsed_s": round(elapsed, 4), "tokens_per_s": round(tokens / elapsed, 2)}


def run_generation(params: GenerationParams) -> dict[str, Any]:
    reason = unavailable()
    if reason is not None:
        return skipped("generation", asdict(params), reason)
    if params.model is None:
        raise ValueError("no model: pass --model (a local model directory or a HF id available offline)")
    from generators.backends import TransformersConfig, VLLMConfig

    texts = prompts(params.prompts)
    hf = _throughput(TransformersConfig(model=params.model, device="cuda", batch_size=params.batch_size), texts, params)
    vl = _throughput(
        VLLMConfig(model=params.model, gpu_memory_utilization=params.gpu_memory_utilization), texts, params
    )
    return result(
        "generation",
        asdict(params),
        transformers=hf,
        vllm=vl,
        vllm_over_transformers=round(vl["tokens_per_s"] / hf["tokens_per_s"], 2) if hf["tokens_per_s"] else None,
    )


def generation_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            "transformers tokens/s",
            f"{data['transformers']['tokens_per_s']:.1f} ({data['transformers']['tokens']} tokens)",
        ),
        ("vLLM tokens/s", f"{data['vllm']['tokens_per_s']:.1f} ({data['vllm']['tokens']} tokens)"),
        ("vLLM / transformers", f"{data['vllm_over_transformers']}x"),
    ]
