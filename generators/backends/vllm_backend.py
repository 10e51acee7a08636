"""A vLLM engine in this process, for GPU hosts: `LLM.generate` for sampling, `prompt_logprobs` for scoring.

vLLM pins its own CUDA torch and an older transformers, so it lives in a separate GPU environment
(`pip install -e '.[vllm]'`). Everything vLLM-specific is in this module and imported when the backend is
built; to reach a vLLM deployment from anywhere else, run `vllm serve` and use the OpenAI backend.
"""

from __future__ import annotations

from typing import Any

from generators.backend import Backend, BackendUnavailable, Completion, SamplingParams, ScoreResult
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
        self.llm = self._vllm.LLM(**engine_args)
        self.tokenizer = self.llm.get_tokenizer()

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "tensor_parallel_size": self.config.tensor_parallel_size}

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
        # one SamplingParams per prompt: prompt i gets seed + i, so equal prompts still get different samples
        per_prompt = [
            self.sampling_params(params, None if params.seed is None else params.seed + i) for i in range(len(prompts))
        ]
        outputs = self.llm.generate(prompts, per_prompt, use_tqdm=False)
        results: list[list[Completion]] = []
        for output in outputs:
            prompt_tokens = len(output.prompt_token_ids or [])
            results.append(
                [
                    Completion(
                        text=choice.text,
                        prompt_tokens=prompt_tokens,
                        completion_tokens=len(choice.token_ids),
                        finish_reason="length" if choice.finish_reason == "length" else "stop",
                    )
                    for choice in output.outputs
                ]
            )
        return results

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
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
        outputs = self.llm.generate(requests, score_params, use_tqdm=False)
        results = []
        for request, start, output in zip(requests, starts, outputs, strict=True):
            ids = request["prompt_token_ids"]
            logprobs = output.prompt_logprobs
            values = [_logprob_value(logprobs[t][ids[t]]) for t in range(start, len(ids))]
            results.append(ScoreResult.from_logprobs(values))
        return results

    def close(self) -> None:
        self.llm = None
