"""A Hugging Face causal LM in this process: sampling with `generate`, scoring with one forward pass.

The default backend for tests and small models. Prompts x n are flattened and run in chunks of
`batch_size` sequences with left padding (so every row's next token sits at the same position). Every row
samples from its own random stream (`generators.backends.row_sampling`): sample j of a prompt seeded s uses
`sample_seed(s, j)`, an unseeded row a fresh random seed, and each completion records its seed. A row's sample
therefore depends on its seed alone, not on the rows it shares a batch with (so requests with different seeds
are batched together), and the caller's RNG is never touched. torch and transformers are imported when the
backend is built.

LoRA adapters (`adapters`) sit over the one base model (peft): each is loaded once, and a call names the
adapter it runs on (`_generate_adapter`, used by `generators.experts_serving`), switched with `set_adapter`
only when it differs from the last call's; `None` runs the base model with the adapters disabled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Iterator
from typing import Any

from generators.backend import (
    Backend,
    BackendError,
    BackendUnavailable,
    Completion,
    SamplingParams,
    ScoreResult,
    apply_stop,
    prompt_seeds,
)
from generators.backends.config import TransformersConfig, resolve_model_source
from generators.backends.row_sampling import RowSampler, fresh_seed, sample_seed

log = logging.getLogger(__name__)


def _import_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise BackendUnavailable(
            f"the transformers backend needs torch and transformers ({exc.name} is missing): "
            "pip install torch==2.13.0 && pip install -e '.[ml]'"
        ) from None
    return torch, transformers


class TransformersBackend(Backend):
    """One model and tokenizer, loaded once; `generate` and `score_many` batch internally."""

    kind = "transformers"

    def __init__(self, config: TransformersConfig) -> None:
        self.config = config
        source, local_only = resolve_model_source(config.model)  # a missing path fails before torch loads
        torch, transformers = _import_torch()
        self._torch = torch
        self._transformers = transformers
        self._lock = threading.Lock()  # one call at a time: the tokenizer's padding side, the forked global RNG
        self.model = config.model
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                source, local_files_only=local_only, trust_remote_code=config.trust_remote_code
            )
            device = config.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = config.dtype
            if dtype == "auto":
                dtype = "bfloat16" if device.startswith("cuda") else "float32"
            self.lm = transformers.AutoModelForCausalLM.from_pretrained(
                source,
                local_files_only=local_only,
                dtype=getattr(torch, dtype),
                trust_remote_code=config.trust_remote_code,
            ).to(device)
        except OSError as exc:
            where = "local directory" if local_only else "HF model id (set HF_HUB_OFFLINE=0 to allow downloads)"
            raise BackendUnavailable(f"could not load model {config.model!r} as a {where}: {exc}") from None
        self.lm.eval()
        self.device = device
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_length: int | None = getattr(self.lm.config, "max_position_embeddings", None)
        self.adapters: dict[str, str] = {}
        self.default_adapter: str | None = config.adapter
        self.adapter_switches = 0  # set_adapter calls that changed the adapter (benchmarks, tests)
        for name, path in config.adapters.items():
            self.load_adapter(name, path)

    def describe(self) -> dict[str, object]:
        info = {**super().describe(), "device": self.device, "dtype": str(self.lm.dtype).removeprefix("torch.")}
        if self.adapters:
            info |= {"adapter": self.default_adapter, "adapters": sorted(self.adapters)}
        return info

    # --------------------------------------------------------------------------------------- adapters

    def adapter_names(self) -> tuple[str, ...]:
        return tuple(self.adapters)

    def load_adapter(self, name: str, path: str) -> None:
        """Load a peft LoRA adapter over the base model (the first one wraps the model in a PeftModel)."""
        from generators.backends.config import check_adapters

        check_adapters({name: path}, None)
        if name in self.adapters:
            raise BackendError(f"adapter {name!r} is already loaded (from {self.adapters[name]})")
        try:
            import peft
        except ImportError:
            raise BackendUnavailable("LoRA adapters need peft: pip install 'peft>=0.21'") from None
        with self._lock:
            try:
                if not self.adapters:
                    self.lm = peft.PeftModel.from_pretrained(self.lm, path, adapter_name=name, is_trainable=False)
                else:
                    self.lm.load_adapter(path, adapter_name=name, is_trainable=False)
            except (OSError, ValueError) as exc:
                raise BackendUnavailable(f"could not load LoRA adapter {name!r} from {path}: {exc}") from None
            self.lm.eval()
            self.adapters[name] = path

    @contextlib.contextmanager
    def _on_adapter(self, adapter: str | None) -> Iterator[None]:
        """Run the block on `adapter` (None: the base model); call with the lock held."""
        if adapter is not None and adapter not in self.adapters:
            raise BackendError(f"no adapter {adapter!r} loaded; loaded: {sorted(self.adapters) or 'none'}")
        if not self.adapters:
            yield
        elif adapter is None:
            with self.lm.disable_adapter():
                yield
        else:
            if adapter != self.lm.active_adapter:
                self.lm.set_adapter(adapter, inference_mode=True)
                self.adapter_switches += 1
            yield

    # --------------------------------------------------------------------------------------- generation

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        return self._generate_adapter(prompts, params, self.default_adapter)

    def _generate_seeded(
        self, prompts: list[str], params: SamplingParams, seeds: list[int | None]
    ) -> list[list[Completion]]:
        return self._generate_adapter_seeded(prompts, params, seeds, self.default_adapter)

    def _generate_adapter(
        self, prompts: list[str], params: SamplingParams, adapter: str | None
    ) -> list[list[Completion]]:
        seeds = prompt_seeds(params.seed, len(prompts))
        return self._generate_adapter_seeded(prompts, dataclasses.replace(params, seed=None), seeds, adapter)

    def _generate_adapter_seeded(
        self, prompts: list[str], params: SamplingParams, seeds: list[int | None], adapter: str | None
    ) -> list[list[Completion]]:
        """Prompts x n rows, each with its own seed (none when greedy), in chunks of `batch_size`."""

        def row_seed(seed: int | None, j: int) -> int | None:
            if params.greedy:
                return None
            return fresh_seed() if seed is None else sample_seed(seed, j)

        flat = [
            (i, p, row_seed(s, j)) for i, (p, s) in enumerate(zip(prompts, seeds, strict=True)) for j in range(params.n)
        ]
        results: list[list[Completion]] = [[] for _ in prompts]
        size = self.config.batch_size
        with self._lock, self._on_adapter(adapter), self._torch.inference_mode():
            for start in range(0, len(flat), size):
                chunk = flat[start : start + size]
                completions = self._generate_chunk([p for _, p, _ in chunk], params, [s for _, _, s in chunk])
                for (index, _, _), completion in zip(chunk, completions, strict=True):
                    results[index].append(completion)
        return results

    def _generate_chunk(self, prompts: list[str], params: SamplingParams, seeds: list[int | None]) -> list[Completion]:
        tok = self.tokenizer
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", padding=True).to(self.lm.device)
        width = enc.input_ids.shape[1]
        if self.max_length is not None and width + params.max_tokens > self.max_length:
            raise BackendError(
                f"prompt ({width} tokens) + max_tokens ({params.max_tokens}) exceeds the model's context "
                f"({self.max_length} tokens): shorten the prompt or lower max_tokens"
            )
        # greedy decoding; when sampling, the row sampler (the last logits processor) leaves one token per row
        sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if not params.greedy:
            sampler = RowSampler(
                self._torch, [int(s) for s in seeds], params.max_tokens, params.temperature, params.top_p, width
            )
            sampling["logits_processor"] = self._transformers.LogitsProcessorList([sampler])
        if params.stop:
            sampling |= {"stop_strings": list(params.stop), "tokenizer": tok}
        out = self.lm.generate(
            **enc,
            **sampling,
            max_new_tokens=params.max_tokens,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
        generated = out[:, width:].tolist()
        prompt_lengths = enc.attention_mask.sum(dim=1).tolist()
        eos, pad = tok.eos_token_id, tok.pad_token_id
        completions = []
        for row, prompt_length, seed in zip(generated, prompt_lengths, seeds, strict=True):
            hit_eos = eos is not None and eos in row
            if hit_eos:
                row = row[: row.index(eos) + 1]
            else:  # a row that stopped early (stop string) is padded up to the longest in the chunk
                while row and row[-1] == pad:
                    row = row[:-1]
            text, hit_stop = apply_stop(tok.decode(row, skip_special_tokens=True), params.stop)
            finish = "stop" if hit_eos or hit_stop or len(row) < params.max_tokens else "length"
            completions.append(Completion(text, int(prompt_length), len(row), finish, seed))
        return completions

    # --------------------------------------------------------------------------------------- scoring

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return self._score_adapter(pairs, self.default_adapter)

    def _score_adapter(self, pairs: list[tuple[str, str]], adapter: str | None) -> list[ScoreResult]:
        """Tokenise prompt and completion separately (as generation sees them), one forward pass per chunk."""
        tok = self.tokenizer
        encoded: list[tuple[list[int], int]] = []  # (ids, completion start)
        for prompt, completion in pairs:
            prompt_ids = tok(prompt).input_ids if prompt else []
            if not prompt_ids and tok.bos_token_id is not None:
                prompt_ids = [tok.bos_token_id]
            completion_ids = tok(completion, add_special_tokens=False).input_ids if completion else []
            ids = prompt_ids + completion_ids
            if self.max_length is not None and len(ids) > self.max_length:
                raise BackendError(
                    f"prompt + completion ({len(ids)} tokens) exceed the model's context ({self.max_length})"
                )
            encoded.append((ids, max(len(prompt_ids), 1)))
        with self._lock, self._on_adapter(adapter):
            return self._score_encoded(encoded)

    def _score_encoded(self, encoded: list[tuple[list[int], int]]) -> list[ScoreResult]:
        tok = self.tokenizer
        results: list[ScoreResult] = []
        torch = self._torch
        for start in range(0, len(encoded), self.config.batch_size):
            chunk = encoded[start : start + self.config.batch_size]
            width = max(len(ids) for ids, _ in chunk)
            pad = tok.pad_token_id
            input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in chunk], device=self.lm.device)
            mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in chunk], device=self.lm.device)
            with torch.inference_mode():
                logits = self.lm(input_ids=input_ids, attention_mask=mask).logits.float()
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None])[..., 0]
            for row, (ids, first) in enumerate(chunk):
                # token t is predicted at position t-1; completion tokens are ids[first:]
                values = logprobs[row, first - 1 : len(ids) - 1].tolist()
                results.append(ScoreResult.from_logprobs(values))
        return results

    def token_logprobs(self, text: str) -> list[tuple[str, int, float | None]]:
        """(token text, character offset, log p(token | text before it)) for every token of `text`.

        What an OpenAI-compatible server returns for `echo=True, logprobs=1`; the first token has None.
        """
        tok = self.tokenizer
        enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
        ids = enc.input_ids
        if not ids:
            return []
        torch = self._torch
        with self._lock, self._on_adapter(self.default_adapter), torch.inference_mode():
            logits = self.lm(input_ids=torch.tensor([ids], device=self.lm.device)).logits.float()
        logprobs = torch.log_softmax(logits[0, :-1], dim=-1).gather(
            -1, torch.tensor(ids[1:], device=self.lm.device)[:, None]
        )
        values: list[float | None] = [None, *logprobs[:, 0].tolist()]
        return [(text[s:e], s, v) for (s, e), v in zip(enc.offset_mapping, values, strict=True)]

    def close(self) -> None:
        self.lm = None  # type: ignore[assignment]
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()
