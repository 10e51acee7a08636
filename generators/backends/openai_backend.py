"""Any OpenAI-compatible server (`vllm serve MODEL`, a hosted API), through the `openai` client.

Requests run on a thread pool of `max_concurrency` workers shared by all callers, so the number in flight
is bounded however many threads call in. Retries are ours (the client's own are off): 429, 5xx, timeouts
and connection errors back off exponentially (honouring Retry-After, capped at `backoff_max`); other
4xx errors fail at once with what the server said. Scoring uses the completions API with
`echo=True, logprobs=1`: the server returns the prompt's tokens with their log-probabilities and character
offsets (`text_offset`), and the completion's tokens are those whose span reaches past the prompt.

One server may serve many models: `vllm serve BASE --enable-lora --lora-modules NAME=PATH ...` serves each
adapter under its NAME, and a request's `model` field picks it; `_generate_adapter` and `_generate_groups`
send requests to the model they name (None: `config.model`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from generators.backend import (
    Backend,
    BackendError,
    BackendUnavailable,
    Completion,
    SamplingParams,
    ScoreResult,
    ScoringUnsupported,
    prompt_seeds,
)
from generators.backends.config import OpenAIConfig

log = logging.getLogger(__name__)
RETRY_STATUS = frozenset({408, 409, 429})


def _import_openai() -> Any:
    try:
        import openai
    except ImportError:
        raise BackendUnavailable("the openai backend needs the `openai` package: pip install 'openai>=3.57'") from None
    return openai


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def completion_span_logprobs(
    tokens: list[str], logprobs: list[float | None], offsets: list[int], prompt_chars: int, completion_chars: int
) -> list[float]:
    """Log-probabilities of the tokens covering characters [prompt_chars, prompt_chars + completion_chars).

    A token straddling the prompt/completion boundary counts as completion (it carries completion text);
    tokens the server generated after the echoed text start at or beyond its end and are left out.
    """
    end = prompt_chars + completion_chars
    values = []
    for k, (offset, logprob) in enumerate(zip(offsets, logprobs, strict=True)):
        token_end = offsets[k + 1] if k + 1 < len(offsets) else offset + len(tokens[k])
        if offset >= end:
            break
        if token_end <= prompt_chars or logprob is None:
            continue
        values.append(float(logprob))
    return values


class OpenAIBackend(Backend):
    """A client for one served model; thread-safe, bounded concurrency, retries with backoff."""

    kind = "openai"

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.model = config.model
        self._openai = _import_openai()
        self.client = self._openai.OpenAI(
            base_url=config.base_url, api_key=config.api_key, timeout=config.timeout, max_retries=0
        )
        self._pool = ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix="openai-backend")
        self._lock = threading.Lock()
        self.in_flight = 0
        self.requests_sent = 0
        self.max_concurrent_calls = config.max_concurrency  # requests of concurrent calls share the one pool

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "base_url": self.config.base_url, "api": self.config.api}

    # --------------------------------------------------------------------------------------- requests

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One API call with our retry policy; errors become BackendError naming the server and the cause."""
        openai, cfg = self._openai, self.config
        for attempt in range(cfg.max_retries + 1):
            with self._lock:
                self.in_flight += 1
                self.requests_sent += 1
            try:
                return fn(**kwargs)
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status not in RETRY_STATUS and status < 500:
                    raise BackendError(f"{cfg.base_url} answered {status}: {exc.message}") from exc
                failure: Exception = exc
                cause = f"HTTP {status}"
            except openai.APITimeoutError as exc:
                failure, cause = exc, f"no answer within {cfg.timeout:g} s"
            except openai.APIConnectionError as exc:
                failure, cause = exc, f"connection failed ({exc.__cause__ or exc})"
            finally:
                with self._lock:
                    self.in_flight -= 1
            if attempt == cfg.max_retries:
                raise BackendError(
                    f"{cfg.base_url}: {cause}, after {attempt + 1} attempt(s); is the server up and the "
                    f"model {cfg.model!r} served? (raise timeout / max_retries in OpenAIConfig if it is just slow)"
                ) from failure
            delay = min(cfg.backoff_max, cfg.backoff_initial * 2**attempt)
            hinted = _retry_after(failure)
            if hinted is not None:
                delay = min(cfg.backoff_max, max(delay, hinted))
            delay *= 1 + random.random() / 4
            log.warning("%s: %s; retry %d/%d in %.2f s", cfg.base_url, cause, attempt + 1, cfg.max_retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        futures = [self._pool.submit(fn, item) for item in items]
        return [f.result() for f in futures]

    # --------------------------------------------------------------------------------------- generation

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        return self._generate_adapter(prompts, params, None)

    def adapter_names(self) -> tuple[str, ...]:
        """The server knows which models it serves; any name is sent as asked."""
        return ()

    def _generate_adapter(
        self, prompts: list[str], params: SamplingParams, adapter: str | None
    ) -> list[list[Completion]]:
        return self._generate_groups([(adapter, prompts, params)])[0]

    def _generate_groups(
        self, groups: list[tuple[str | None, list[str], SamplingParams]]
    ) -> list[list[list[Completion]]]:
        """Every request of every (served model, prompts, params) group in flight together on the pool."""
        items = [
            (prompt, params, seed, model)
            for model, prompts, params in groups
            for prompt, seed in zip(prompts, prompt_seeds(params.seed, len(prompts)), strict=True)
        ]
        flat = iter(self._generate_items(items))
        return [[next(flat) for _ in prompts] for _, prompts, _ in groups]

    def _generate_seeded(
        self, prompts: list[str], params: SamplingParams, seeds: list[int | None]
    ) -> list[list[Completion]]:
        """One request per prompt, each with its own seed, all in flight together on the pool."""
        return self._generate_items([(p, params, s, None) for p, s in zip(prompts, seeds, strict=True)])

    def _generate_items(
        self, items: list[tuple[str, SamplingParams, int | None, str | None]]
    ) -> list[list[Completion]]:
        one = self._complete_one if self.config.api == "completions" else self._chat_one
        return self._map(lambda item: one(*item), items)

    def _sampling_kwargs(self, params: SamplingParams, seed: int | None, model: str | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": model or self.config.model,
            "n": params.n,
            "temperature": float(params.temperature),
            "top_p": float(params.top_p),
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if seed is not None:
            kwargs["seed"] = seed
        return kwargs

    def _complete_one(
        self, prompt: str, params: SamplingParams, seed: int | None, model: str | None = None
    ) -> list[Completion]:
        kwargs = self._sampling_kwargs(params, seed, model)
        if self.config.request_token_counts:
            kwargs["logprobs"] = 0
        response = self._call(self.client.completions.create, prompt=prompt, **kwargs)
        choices = sorted(response.choices, key=lambda c: c.index)
        counts = [len(c.logprobs.tokens) if c.logprobs and c.logprobs.tokens is not None else None for c in choices]
        return self._completions(
            response, [c.text for c in choices], [c.finish_reason for c in choices], counts, params, seed
        )

    def _chat_one(
        self, prompt: str, params: SamplingParams, seed: int | None, model: str | None = None
    ) -> list[Completion]:
        messages = [{"role": "user", "content": prompt}]
        if self.config.system_prompt:
            messages.insert(0, {"role": "system", "content": self.config.system_prompt})
        kwargs = self._sampling_kwargs(params, seed, model)
        if self.config.request_token_counts:
            kwargs["logprobs"] = True
        response = self._call(self.client.chat.completions.create, messages=messages, **kwargs)
        choices = sorted(response.choices, key=lambda c: c.index)
        counts = [
            len(c.logprobs.content) if c.logprobs is not None and c.logprobs.content is not None else None
            for c in choices
        ]
        texts = [c.message.content or "" for c in choices]
        return self._completions(response, texts, [c.finish_reason for c in choices], counts, params, seed)

    def _completions(
        self,
        response: Any,
        texts: list[str],
        reasons: list[str | None],
        counts: list[int | None],
        params: SamplingParams,
        seed: int | None = None,
    ) -> list[Completion]:
        if len(texts) != params.n:
            raise BackendError(f"{self.config.base_url} returned {len(texts)} choices for n={params.n}")
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage is not None else 0
        if params.n == 1 and counts[0] is None and usage is not None:
            counts = [usage.completion_tokens]
        return [
            Completion(text, prompt_tokens, count, "length" if reason == "length" else "stop", seed)
            for text, reason, count in zip(texts, reasons, counts, strict=True)
        ]

    # --------------------------------------------------------------------------------------- scoring

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return self._score_adapter(pairs, None)

    def _score_adapter(self, pairs: list[tuple[str, str]], adapter: str | None) -> list[ScoreResult]:
        if self.config.api != "completions":
            raise ScoringUnsupported(
                "the chat API cannot score a given text; use api='completions' against a server that "
                "supports echo+logprobs (e.g. `vllm serve`)"
            )
        return self._map(lambda pair: self._score_one(pair, adapter), pairs)

    def _score_one(self, pair: tuple[str, str], model: str | None = None) -> ScoreResult:
        prompt, completion = pair
        if not completion:
            return ScoreResult.from_logprobs([])
        try:
            response = self._call(
                self.client.completions.create,
                model=model or self.config.model,
                prompt=prompt + completion,
                echo=True,
                logprobs=1,
                max_tokens=1,
                temperature=0.0,
            )
        except BackendError as exc:
            if isinstance(exc.__cause__, self._openai.BadRequestError | self._openai.UnprocessableEntityError):
                raise ScoringUnsupported(f"{self.config.base_url} refused echo+logprobs: {exc}") from exc
            raise
        logprobs = response.choices[0].logprobs if response.choices else None
        if logprobs is None or not logprobs.text_offset or logprobs.token_logprobs is None:
            raise ScoringUnsupported(
                f"{self.config.base_url} returned no prompt logprobs for echo=True; it cannot score text"
            )
        values = completion_span_logprobs(
            list(logprobs.tokens),
            list(logprobs.token_logprobs),
            list(logprobs.text_offset),
            len(prompt),
            len(completion),
        )
        return ScoreResult.from_logprobs(values)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
