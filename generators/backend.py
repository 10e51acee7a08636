"""The one interface every model backend offers: sample completions, and score a text given a prompt.

Backends (transformers in-process, vLLM in-process, any OpenAI-compatible server) differ in how they run a
model, not in what callers see: `generate` returns, per prompt, `n` `Completion`s with token counts and a
finish reason; `score` returns the length-normalised log-likelihood used to rank candidates before they are
sent to Isabelle. Nothing here imports torch or an HTTP client.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

FinishReason = Literal["stop", "length"]


class BackendError(RuntimeError):
    """A backend could not do what was asked; the message says what and how to fix it."""


class BackendUnavailable(BackendError):
    """The backend's library or model is not available here (the message holds the install command)."""


class ScoringUnsupported(BackendError):
    """This backend (or the server behind it) cannot return log-probabilities of a given text."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample; validated at construction. `temperature=0` is greedy; `seed=None` is unseeded."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError(f"SamplingParams.stop must be a sequence of non-empty strings, got {self.stop!r}")
        object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"SamplingParams.n must be an integer >= 1, got {self.n!r}")
        if not (isinstance(self.temperature, int | float) and 0 <= self.temperature <= 10):
            raise ValueError(f"SamplingParams.temperature must be in [0, 10] (0 = greedy), got {self.temperature!r}")
        if not (isinstance(self.top_p, int | float) and 0 < self.top_p <= 1):
            raise ValueError(f"SamplingParams.top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"SamplingParams.max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise ValueError(f"SamplingParams.seed must be a non-negative integer or None, got {self.seed!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data


@dataclass(frozen=True)
class Completion:
    """One sampled continuation. `completion_tokens` is None only when a server did not say (HTTP, n > 1).

    `seed` is the seed this sample was drawn with, when the backend knows it: with it (and the prompt and the
    sampling parameters) the sample can be drawn again, whatever else was in its batch.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int | None
    finish_reason: FinishReason
    seed: int | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ScoreResult:
    """log p(completion | prompt): the mean per token (`mean_logprob`, for ranking), the sum, the token count.

    An empty completion has no tokens: mean -inf, so it ranks last.
    """

    mean_logprob: float
    sum_logprob: float
    num_tokens: int

    @classmethod
    def from_logprobs(cls, logprobs: Sequence[float]) -> ScoreResult:
        total = float(sum(logprobs))
        return cls(total / len(logprobs) if logprobs else -math.inf, total, len(logprobs))

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def prompt_seeds(seed: int | None, count: int) -> list[int | None]:
    """The seed of each prompt of a call seeded with `seed`: prompt i gets seed + i (None: all unseeded)."""
    return [None] * count if seed is None else [seed + i for i in range(count)]


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop string (OpenAI semantics: the stop string is not returned)."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    if not cuts:
        return text, False
    return text[: min(cuts)], True


class Backend(ABC):
    """A loaded model. Subclasses implement `_generate` and `_score_many`; inputs are validated here.

    Seeds are per prompt: in a call seeded with s, prompt i is sampled with seed s + i, and what a prompt's
    seed draws does not depend on the other prompts of the call. `generate_seeded` gives every prompt its own
    seed, so requests from different callers (each with its own seed) run as one batch; a backend that can
    sample a batch with a seed per row overrides `_generate_seeded` (transformers, vLLM, OpenAI do).
    """

    #: "transformers" | "vllm" | "openai"
    kind: str = ""
    #: what the model is called in provenance (HF id, local path, or the server's model name)
    model: str = ""
    #: backend calls that may run at once on one instance (a model in this process: 1; an HTTP client: more)
    max_concurrent_calls: int = 1

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """For each prompt, `n` completions (in prompt order)."""
        params = SamplingParams(n, temperature, top_p, max_tokens, tuple(stop or ()), seed)
        return self.generate_with(prompts, params)

    def generate_with(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        if isinstance(prompts, str):
            raise TypeError("generate() takes a list of prompts, not one string")
        if not prompts:
            return []
        result = self._generate(list(prompts), params)
        if len(result) != len(prompts) or any(len(r) != params.n for r in result):
            shape = [len(r) for r in result]
            raise BackendError(
                f"{self.kind} backend returned {shape} completions for {len(prompts)} prompts x n={params.n}"
            )
        return result

    def generate_seeded(
        self, prompts: Sequence[str], params: SamplingParams, seeds: Sequence[int | None]
    ) -> list[list[Completion]]:
        """`generate_with` with one seed per prompt (`params.seed` is ignored); one batch whatever the seeds."""
        if isinstance(prompts, str):
            raise TypeError("generate_seeded() takes a list of prompts, not one string")
        if len(seeds) != len(prompts):
            raise ValueError(f"generate_seeded() needs one seed per prompt: {len(prompts)} prompts, {len(seeds)} seeds")
        if not prompts:
            return []
        result = self._generate_seeded(list(prompts), dataclasses.replace(params, seed=None), list(seeds))
        if len(result) != len(prompts) or any(len(r) != params.n for r in result):
            shape = [len(r) for r in result]
            raise BackendError(
                f"{self.kind} backend returned {shape} completions for {len(prompts)} prompts x n={params.n}"
            )
        return result

    def _generate_seeded(
        self, prompts: list[str], params: SamplingParams, seeds: list[int | None]
    ) -> list[list[Completion]]:
        """For backends that take one seed per call: one `_generate` per run of consecutive seeds (s, s+1, ...)."""
        results: list[list[Completion]] = []
        start = 0
        while start < len(prompts):
            end = start + 1
            first = seeds[start]
            while end < len(prompts) and (
                (first is None and seeds[end] is None)
                or (first is not None and seeds[end] is not None and seeds[end] == first + (end - start))
            ):
                end += 1
            results.extend(self._generate(prompts[start:end], dataclasses.replace(params, seed=first)))
            start = end
        return results

    def score(self, prompt: str, completion: str) -> ScoreResult:
        """Length-normalised log-likelihood of `completion` right after `prompt`."""
        return self.score_many([(prompt, completion)])[0]

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[ScoreResult]:
        """`score` for many (prompt, completion) pairs, batched where the backend can."""
        pairs = [(p, c) for p, c in pairs]
        return self._score_many(pairs) if pairs else []

    def describe(self) -> dict[str, object]:
        """Provenance: which backend and model."""
        return {"backend": self.kind, "model": self.model}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model or connection (a no-op by default)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]: ...

    @abstractmethod
    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]: ...
