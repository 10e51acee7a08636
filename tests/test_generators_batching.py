"""Requests with different seeds share one batch, and what a seed draws does not depend on its batch."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import asyncio
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

from generators.backend import Backend, BackendError, Completion, SamplingParams, ScoreResult
from generators.backends import TransformersConfig, VLLMConfig, make_backend
from generators.backends.row_sampling import sample_seed, top_p_filter, uniforms
from generators.ray_pool import GeneratorPool, GeneratorWorker, PoolConfig

PROMPTS = [
    "theorem t: shows",
    "Show that for every real number $x$, $x^2 - 6x + 10 > 0$, by completing the square first.",
    "x",
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    with make_backend(TransformersConfig(model=str(tiny_model_dir), batch_size=8)) as backend:
        yield backend


def test_row_streams_are_seeded_per_row_and_top_p_keeps_the_head():
    import torch

    assert sample_seed(7, 0) == 7 and sample_seed(7, 1) != sample_seed(7, 2) != 7
    a = uniforms(torch, [1, 2], 5)
    assert torch.equal(a[0], uniforms(torch, [1], 5)[0]) and not torch.equal(a[0], a[1])
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]], dtype=torch.float64)
    kept = top_p_filter(torch, probs, 0.7)  # 0.5 + 0.3 reaches 0.7: the rest is cut
    assert torch.allclose(kept, torch.tensor([[0.625, 0.375, 0.0, 0.0]], dtype=torch.float64))
    assert top_p_filter(torch, probs, 0.1).tolist() == [[1.0, 0.0, 0.0, 0.0]]  # never empty


def test_a_seeded_prompt_draws_the_same_sample_alone_and_in_any_batch(tiny):
    params = SamplingParams(n=2, temperature=1.0, max_tokens=24)
    alone = tiny.generate_seeded([PROMPTS[0]], params, [9])
    batched = tiny.generate_seeded(PROMPTS, params, [4, 9, None])  # longer and shorter neighbours pad it
    assert batched[0] == tiny.generate_seeded([PROMPTS[0]], params, [4])[0]
    assert batched[1] == tiny.generate_seeded([PROMPTS[1]], params, [9])[0]
    assert tiny.generate_seeded([PROMPTS[1], PROMPTS[0]], params, [5, 9])[1] == alone[0]
    # each sample records its seed: the prompt's for the first, a derived one for the next; random when unseeded
    assert [c.seed for c in alone[0]] == [9, sample_seed(9, 1)]
    unseeded = batched[2]
    assert all(c.seed is not None for c in unseeded)
    again = tiny.generate_seeded([PROMPTS[2]], params, [unseeded[0].seed])[0][0]
    assert again.text == unseeded[0].text  # an unseeded sample can be drawn again from its recorded seed
    # a call seeded s is the same as seeds s, s + 1, ... per prompt
    assert tiny.generate(PROMPTS[:2], n=2, max_tokens=24, seed=9) == tiny.generate_seeded(PROMPTS[:2], params, [9, 10])
    assert tiny.generate_seeded([PROMPTS[0]], params, [10]) != alone


class _Counting(Backend):
    """A backend with one seed per call: it records every call it gets."""

    kind = "counting"

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], int | None]] = []

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        self.calls.append((prompts, params.seed))
        seeds = [None if params.seed is None else params.seed + i for i in range(len(prompts))]  # the convention
        return [[Completion(f"{p}@{s}", 1, 1, "stop")] * params.n for p, s in zip(prompts, seeds, strict=True)]

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return [ScoreResult.from_logprobs([-1.0]) for _ in pairs]


def test_a_backend_with_one_seed_per_call_gets_one_call_per_run_of_consecutive_seeds():
    backend = _Counting()
    rows = backend.generate_seeded(["a", "b", "c", "d", "e"], SamplingParams(), [3, 4, 9, None, None])
    assert [r[0].text for r in rows] == ["a@3", "b@4", "c@9", "d@None", "e@None"]
    assert backend.calls == [(["a", "b"], 3), (["c"], 9), (["d", "e"], None)]
    with pytest.raises(ValueError, match="one seed per prompt: 2 prompts, 1 seeds"):
        backend.generate_seeded(["a", "b"], SamplingParams(), [1])


def test_the_vllm_backend_sends_a_batch_of_seeded_requests_in_one_call(monkeypatch):
    calls: list = []
    module = types.ModuleType("vllm")

    class Params:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class LLM:
        def __init__(self, **kwargs):
            pass

        def get_tokenizer(self):
            return None

        def generate(self, prompts, params, use_tqdm=False):
            calls.append((list(prompts), [p.kwargs["seed"] for p in params]))
            choice = types.SimpleNamespace(text="t", token_ids=[1, 2], finish_reason="stop")
            return [types.SimpleNamespace(prompt_token_ids=[0], outputs=[choice]) for _ in prompts]

    module.LLM, module.SamplingParams = LLM, Params
    monkeypatch.setitem(sys.modules, "vllm", module)
    backend = make_backend(VLLMConfig(model="/models/m"))
    rows = backend.generate_seeded(["a", "b", "c"], SamplingParams(seed=99), [11, None, 5])
    assert calls == [(["a", "b", "c"], [11, None, 5])]
    assert [r[0].seed for r in rows] == [11, None, 5]


@pytest.mark.ray
def test_concurrent_seeded_requests_are_merged_and_draw_what_they_draw_alone(ray_local, tiny_model_dir):
    backend = TransformersConfig(model=str(tiny_model_dir), batch_size=16)
    pool = GeneratorPool(backend, PoolConfig(num_actors=1, num_cpus=0.5, batch_window_ms=50))
    try:
        pool.wait_ready(timeout=120)
        seeds = [1000 + 37 * k for k in range(8)]
        one_by_one = [pool.generate([PROMPTS[k % 3]], max_tokens=16, seed=s) for k, s in enumerate(seeds)]
        before = pool.info()[0]
        with ThreadPoolExecutor(8) as threads:
            together = list(
                threads.map(lambda ks: pool.generate([PROMPTS[ks[0] % 3]], max_tokens=16, seed=ks[1]), enumerate(seeds))
            )
        after = pool.info()[0]
        assert together == one_by_one  # batching changed nothing a seed draws
        calls = after["backend_calls"] - before["backend_calls"]
        assert calls < 8 and after["largest_batch"] > 1, f"8 concurrent seeded requests took {calls} backend calls"
        # a pooled call seeded s gives prompt g the seed s + g, however it was chunked
        rows = pool.generate(PROMPTS, max_tokens=8, seed=40)
        assert [r[0].seed for r in rows] == [40, 41, 42]
    finally:
        pool.close()


class _Picky(Backend):
    """Fails any call that holds the prompt "bad"; counts calls (thread-safe)."""

    kind = "picky"

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        with self._lock:
            self.calls += 1
        if "bad" in prompts:
            raise BackendError("prompt 'bad' is too long for the model's context")
        return [[Completion(p.upper(), 1, 1, "stop")] for p in prompts]

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return []


@pytest.mark.ray
def test_a_bad_request_in_a_merged_batch_fails_only_its_own_caller(ray_local):
    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    pool = GeneratorPool(_Picky, PoolConfig(num_actors=1, num_cpus=0, batch_window_ms=100))
    try:
        pool.wait_ready(timeout=60)

        def ask(prompt: str):
            try:
                return pool.generate([prompt], max_tokens=4, seed=1)[0][0].text
            except BackendError as exc:
                return f"error: {exc}"

        with ThreadPoolExecutor(3) as threads:
            answers = list(threads.map(ask, ["good", "bad", "fine"]))
        assert answers[0] == "GOOD" and answers[2] == "FINE"
        assert answers[1].startswith("error:") and "too long" in answers[1]
    finally:
        pool.close()


class _Overlap(Backend):
    """Records how many calls run at once (each takes 0.2 s)."""

    kind = "overlap"

    def __init__(self, concurrent: int) -> None:
        self.max_concurrent_calls = concurrent
        self.running = self.most = 0
        self._lock = threading.Lock()

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.2)
        with self._lock:
            self.running -= 1
        return [[Completion(p, 1, 1, "stop")] for p in prompts]

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return []


def test_an_actor_merges_seeded_requests_and_overlaps_calls_only_where_the_backend_allows():
    async def three(worker: GeneratorWorker) -> list:
        asks = [
            worker.generate(["a"], {"temperature": 0.5, "seed": 1}),
            worker.generate(["b"], {"temperature": 0.5, "seed": 8}),  # another seed: merged all the same
            worker.generate(["c"], {"temperature": 0.9, "seed": 2}),  # other parameters: a call of its own
        ]
        return await asyncio.gather(*asks)

    for concurrent, overlapping in ((1, 1), (4, 2)):
        worker = GeneratorWorker(lambda c=concurrent: _Overlap(c), batch_window_ms=20)
        rows = asyncio.run(three(worker))
        assert [r[0][0].text for r in rows] == ["a", "b", "c"]
        assert worker.backend_calls == 2 and worker.largest_batch == 2
        assert worker.backend.most == overlapping  # a model in this process: one call at a time; HTTP: more
    assert make_openai_backend(max_concurrency=5).max_concurrent_calls == 5


def make_openai_backend(**options):
    from generators.backends import OpenAIConfig

    return make_backend(OpenAIConfig(model="m", base_url="http://127.0.0.1:9/v1", **options))
