"""A vLLM engine in this process, for GPU hosts: `LLM.generate` for sampling, `prompt_logprobs` for scoring.

vLLM pins its own CUDA torch and an older transformers, so it lives in a separate GPU environment
(`pip install -e '.[vllm]'`). Everything vLLM-specific is in this module and imported when the backend is
built; to reach a vLLM deployment from anywhere else, run `vllm serve` and use the OpenAI backend.

With LoRA (`enable_lora` or `adapters`), every request may name an adapter (a per-request `LoRARequest`);
vLLM batches requests for different adapters together, so `_generate_groups` sends them in one call.
"""

from __future__ import annotations

import importlib
from typing import Any

from generators.backend import (
    Backend,
    BackendError,
    BackendUnavailable,
    Completion,
    SamplingParams,
    ScoreResult,
    prompt_seeds,
)
from generators.backends.config import VLLMConfig

INSTALL_HINT = (
    "vLLM is not installed here: pip install -e '.[vllm]' on a GPU host (vLLM pins its own CUDA torch; "
    "use a separate environment), or run `vllm serve MODEL` there and use --backend openai --base-url URL"
)


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise BackendUnavailable(f"{INSTALL_HINT} ({exc})") from None
    return vllm


def _logprob_value(entry: Any) -> float:
    """vLLM keeps a `Logprob` object per token (`.logprob`); accept a plain float or dict too."""
    if isinstance(entry, int | float):
        return float(entry)
    if isinstance(entry, dict):
        return float(entry["logprob"])
    return float(entry.logprob)


class VLLMBackend(Backend):
    """One `vllm.LLM` engine; vLLM batches all prompts of a call itself (continuous batching)."""

    kind = "vllm"

    def __init__(self, config: VLLMConfig) -> None:
        self.config = config
        self.model = config.model
        self._vllm = import_vllm()
        engine_args: dict[str, Any] = {
            "model": config.model,
            "tokenizer": config.tokenizer or config.model,
            "tensor_parallel_size": config.tensor_parallel_size,
            "gpu_memory_utilization": config.gpu_memory_utilization,
            "dtype": config.dtype,
            "seed": config.seed,
            "enforce_eager": config.enforce_eager,
            "trust_remote_code": config.trust_remote_code,
        }
        if config.max_model_len is not None:
            engine_args["max_model_len"] = config.max_model_len
        if config.lora:
            engine_args |= {"enable_lora": True, "max_loras": config.max_loras, "max_lora_rank": config.max_lora_rank}
            if config.max_cpu_loras is not None:
                engine_args["max_cpu_loras"] = config.max_cpu_loras
        self.llm = self._vllm.LLM(**engine_args)
        self.tokenizer = self.llm.get_tokenizer()
        self.adapters: dict[str, str] = {}
        self.default_adapter: str | None = config.adapter
        self._lora_ids: dict[str, int] = {}
        for name, path in config.adapters.items():
            self.load_adapter(name, path)

    def describe(self) -> dict[str, object]:
        info = {**super().describe(), "tensor_parallel_size": self.config.tensor_parallel_size}
        if self.adapters:
            info |= {"adapter": self.default_adapter, "adapters": sorted(self.adapters)}
        return info

    # --------------------------------------------------------------------------------------- adapters

    def adapter_names(self) -> tuple[str, ...]:
        return tuple(self.adapters)

    def load_adapter(self, name: str, path: str) -> None:
        """Register an adapter; vLLM loads it on its first request (`max_cpu_loras` stay cached)."""
        from generators.backends.config import check_adapters

        if not self.config.lora:
            raise BackendError("this vLLM engine was started without LoRA: set enable_lora = true in its config")
        check_adapters({name: path}, None)
        if name in self.adapters:
            raise BackendError(f"adapter {name!r} is already registered (from {self.adapters[name]})")
        self.adapters[name] = path
        self._lora_ids[name] = len(self._lora_ids) + 1  # vLLM's adapter ids are positive and unique per engine

    def lora_request(self, adapter: str | None) -> Any:
        """vLLM's `LoRARequest` for a registered adapter (None for the base model)."""
        if adapter is None:
            return None
        if adapter not in self.adapters:
            raise BackendError(f"no adapter {adapter!r} registered; registered: {sorted(self.adapters) or 'none'}")
        request_module = importlib.import_module("vllm.lora.request")
        return request_module.LoRARequest(adapter, self._lora_ids[adapter], self.adapters[adapter])

    def sampling_params(self, params: SamplingParams, seed: int | None) -> Any:
        """vLLM's SamplingParams for ours; `seed` is per request (vLLM seeds each request separately)."""
        return self._vllm.SamplingParams(
            n=params.n,
            temperature=float(params.temperature),
            top_p=float(params.top_p),
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
            seed=seed,
        )

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        return self._generate_adapter(prompts, params, self.default_adapter)

    def _generate_adapter(
        self, prompts: list[str], params: SamplingParams, adapter: str | None
    ) -> list[list[Completion]]:
        return self._generate_groups([(adapter, prompts, params)])[0]

    def _generate_groups(
        self, groups: list[tuple[str | None, list[str], SamplingParams]]
    ) -> list[list[list[Completion]]]:
        """Several (adapter, prompts, params) groups in one `LLM.generate` call: vLLM mixes adapters in a batch."""
        # one SamplingParams per prompt: prompt i gets seed + i, so equal prompts still get different samples
        items = [
            (adapter, prompt, params, seed)
            for adapter, group_prompts, params in groups
            for prompt, seed in zip(group_prompts, prompt_seeds(params.seed, len(group_prompts)), strict=True)
        ]
        flat = iter(self._generate_items(items))
        return [[next(flat) for _ in group_prompts] for _, group_prompts, _ in groups]

    def _generate_seeded(
        self, prompts: list[str], params: SamplingParams, seeds: list[int | None]
    ) -> list[list[Completion]]:
        """One request per prompt with its own seed, all in one `LLM.generate` call (vLLM seeds per request)."""
        return self._generate_items([(self.default_adapter, p, params, s) for p, s in zip(prompts, seeds, strict=True)])

    def _generate_items(
        self, items: list[tuple[str | None, str, SamplingParams, int | None]]
    ) -> list[list[Completion]]:
        prompts = [prompt for _, prompt, _, _ in items]
        per_prompt = [self.sampling_params(params, seed) for _, _, params, seed in items]
        loras = [self.lora_request(adapter) for adapter, _, _, _ in items]
        extra = {"lora_request": loras} if any(lora is not None for lora in loras) else {}
        outputs = self.llm.generate(prompts, per_prompt, use_tqdm=False, **extra)
        return [self._completions(output, seed) for output, (_, _, _, seed) in zip(outputs, items, strict=True)]

    @staticmethod
    def _completions(output: Any, seed: int | None) -> list[Completion]:
        prompt_tokens = len(output.prompt_token_ids or [])
        return [
            Completion(
                text=choice.text,
                prompt_tokens=prompt_tokens,
                completion_tokens=len(choice.token_ids),
                finish_reason="length" if choice.finish_reason == "length" else "stop",
                seed=seed,
            )
            for choice in output.outputs
        ]

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return self._score_adapter(pairs, self.default_adapter)

    def _score_adapter(self, pairs: list[tuple[str, str]], adapter: str | None) -> list[ScoreResult]:
        """Run prompt+completion as one prompt with `prompt_logprobs`, and read the completion's tokens."""
        requests: list[dict[str, list[int]]] = []
        starts: list[int] = []
        for prompt, completion in pairs:
            prompt_ids = self.tokenizer.encode(prompt) if prompt else []
            if not prompt_ids and getattr(self.tokenizer, "bos_token_id", None) is not None:
                prompt_ids = [self.tokenizer.bos_token_id]
            completion_ids = self.tokenizer.encode(completion, add_special_tokens=False) if completion else []
            requests.append({"prompt_token_ids": prompt_ids + completion_ids})
            starts.append(max(len(prompt_ids), 1))
        score_params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        lora = self.lora_request(adapter)
        extra = {"lora_request": lora} if lora is not None else {}
        outputs = self.llm.generate(requests, score_params, use_tqdm=False, **extra)
        results = []
        for request, start, output in zip(requests, starts, outputs, strict=True):
            ids = request["prompt_token_ids"]
            logprobs = output.prompt_logprobs
            values = [_logprob_value(logprobs[t][ids[t]]) for t in range(start, len(ids))]
            results.append(ScoreResult.from_logprobs(values))
        return results

    def close(self) -> None:
        self.llm = None
