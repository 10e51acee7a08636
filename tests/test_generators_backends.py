"""The transformers backend on a tiny local model, the posterior scorer, and the vLLM backend against a fake vllm."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
import math
import random
import sys
import types
from pathlib import Path

import pytest

from generators.backend import BackendError, BackendUnavailable, SamplingParams
from generators.backends import TransformersConfig, VLLMConfig, make_backend
from generators.prompt_templates import PromptTemplate
from generators.roles import Problem, Role
from generators.samples import generate_samples
from generators.scoring import Candidate, PosteriorScorer
from tests.tiny_model import MINI_PROOF, MINI_PROOF_TEMPLATE, MINI_STATEMENT, mini_prompt


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    with make_backend(TransformersConfig(model=str(tiny_model_dir), batch_size=4)) as backend:
        yield backend


@pytest.fixture(scope="module")
def tuned(tuned_model_dir):
    with make_backend({"kind": "transformers", "model": str(tuned_model_dir)}) as backend:
        yield backend


@pytest.fixture(scope="module")
def dsp_problems(shared: Path) -> list[Problem]:
    with open(shared / "datasets/dsp/new_complete_mini.jsonl", encoding="utf-8") as f:
        return [Problem.model_validate_json(next(f)) for _ in range(2)]


@pytest.mark.parametrize("role", list(Role))
def test_every_role_generates_through_the_transformers_backend(tiny, dsp_problems, role):
    params = SamplingParams(n=2, temperature=1.0, max_tokens=12, seed=7)
    samples = list(generate_samples(dsp_problems, role, tiny, params, provenance=tiny.describe()))
    assert [(s["problem_name"], s["sample_index"]) for s in samples] == [
        (p.problem_name, i) for p in dsp_problems for i in range(2)
    ]
    for sample in samples:
        prov = sample["provenance"]
        assert sample["role"] == role and isinstance(sample["completion"], str)
        assert prov["backend"] == "transformers" and prov["model"] == tiny.model and prov["device"] == "cpu"
        assert (
            prov["prompt"]["name"] == str(role)
            and prov["prompt"]["version"] == 1
            and len(prov["prompt"]["sha256"]) == 16
        )
        assert prov["prompt_tokens"] > 500 and 1 <= prov["completion_tokens"] <= 12
        assert prov["finish_reason"] in ("stop", "length") and prov["sampling"]["stop"] == ["\n###"]
        assert sample["parse_ok"] is False or sample["parse_problems"] is not None
        json.dumps(sample)  # serialisable as is


def test_seeded_sampling_is_reproducible_and_leaves_the_callers_rng_alone(tiny):
    import torch

    prompts = ["theorem t:\n  fixes x :: real\n", "Show that"]
    state = torch.random.get_rng_state()
    first = tiny.generate(prompts, n=3, max_tokens=16, seed=11)
    assert torch.equal(state, torch.random.get_rng_state())
    assert tiny.generate(prompts, n=3, max_tokens=16, seed=11) == first
    assert tiny.generate(prompts, n=3, max_tokens=16, seed=12) != first
    assert len({c.text for c in first[0]}) == 3  # n samples differ from each other
    assert all(c.finish_reason == "length" and c.completion_tokens == 16 for row in first for c in row)


def test_greedy_batches_keep_prompt_order_and_stop_strings(tuned):
    prompt = mini_prompt()
    rows = tuned.generate([prompt, "Show that", prompt], temperature=0, max_tokens=120, stop=["\n###"])
    assert rows[0][0].text.strip() == MINI_PROOF and rows[2] == rows[0]
    assert rows[0][0].finish_reason == "stop" and rows[0][0].completion_tokens < 120
    [[cut]] = tuned.generate([prompt], temperature=0, max_tokens=120, stop=["sledgehammer", "qed"])
    assert cut.text == MINI_PROOF[: MINI_PROOF.index("sledgehammer")] and cut.finish_reason == "stop"
    [[short]] = tuned.generate([prompt], temperature=0, max_tokens=5)
    assert short.finish_reason == "length" and short.completion_tokens == 5 and MINI_PROOF.startswith(short.text)


def test_a_tuned_model_writes_a_proof_that_parses(tuned):
    template = PromptTemplate.parse(MINI_PROOF_TEMPLATE)
    problem = Problem(problem_name="t", formal_statement=MINI_STATEMENT, subgoals=["complete the square"])
    [sample] = generate_samples(
        [problem], Role.PROOF, tuned, SamplingParams(temperature=0, max_tokens=150), template=template
    )
    assert sample["parse_ok"] and sample["proof"] == MINI_PROOF and sample["parse_problems"] == []
    assert sample["provenance"]["prompt"]["name"] == "mini_proof"


def test_scores_are_finite_batched_like_single_and_rank_the_memorised_text_first(tiny, tuned):
    prompt = mini_prompt()
    words = MINI_PROOF.split(" ")
    random.Random(0).shuffle(words)
    shuffled = " ".join(words)
    exact, scrambled = tuned.score_many([(prompt, MINI_PROOF), (prompt, shuffled)])
    assert math.isfinite(exact.mean_logprob) and exact.mean_logprob > scrambled.mean_logprob + 1
    assert exact.num_tokens > 20 and math.isclose(exact.sum_logprob, exact.mean_logprob * exact.num_tokens)
    pairs = [(prompt, MINI_PROOF), ("theorem", " t"), (prompt + prompt, "qed"), ("", "proof -")]
    batched = tiny.score_many(pairs)
    for pair, result in zip(pairs, batched, strict=True):
        single = tiny.score(*pair)
        assert math.isfinite(result.mean_logprob) and result.num_tokens == single.num_tokens
        assert math.isclose(result.sum_logprob, single.sum_logprob, rel_tol=1e-4, abs_tol=1e-3)
    assert tiny.score("theorem", "").mean_logprob == -math.inf


def test_posterior_scorer_ranks_candidates(tiny):
    scorer = PosteriorScorer(tiny)
    candidates = [
        Candidate(MINI_STATEMENT, MINI_PROOF, ("complete the square",)),
        Candidate(MINI_STATEMENT, MINI_PROOF, ("complete the square", "a square is non-negative", "conclude")),
    ]
    prompt, completion = scorer.pair(candidates[0])
    assert "(* Step" not in prompt and prompt.endswith("### Subgoals\n") and completion == "Step 1: complete the square"
    ranked = scorer.rank(candidates)
    assert sorted(i for i, _ in ranked) == [0, 1] and all(math.isfinite(s.mean_logprob) for _, s in ranked)
    assert ranked[0][1].mean_logprob >= ranked[1][1].mean_logprob


def test_context_overflow_and_missing_models_fail_clearly(tiny, tmp_path):
    with pytest.raises(BackendError, match="exceeds the model's context"):
        tiny.generate(["x " * 5000], max_tokens=8)
    with pytest.raises(FileNotFoundError, match=f"model path {tmp_path / 'missing'} does not exist"):
        make_backend({"kind": "transformers", "model": str(tmp_path / "missing")})


# ------------------------------------------------------------------------------------------------ vLLM (faked)


class _FakeLogprob:
    def __init__(self, value: float) -> None:
        self.logprob = value


def _fake_vllm(calls: list) -> types.ModuleType:
    """A stand-in for the `vllm` module with the documented shapes: LLM, SamplingParams, RequestOutput."""
    module = types.ModuleType("vllm")

    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class Tokenizer:
        bos_token_id = 1

        def encode(self, text, add_special_tokens=True):
            return [10 + len(word) for word in text.split()]

    class LLM:
        def __init__(self, **kwargs):
            calls.append(("LLM", kwargs))

        def get_tokenizer(self):
            return Tokenizer()

        def generate(self, prompts, params, use_tqdm=True):
            calls.append(("generate", prompts, params))
            outputs = []
            for k, prompt in enumerate(prompts):
                p = params[k] if isinstance(params, list) else params
                if "prompt_token_ids" in prompt:  # scoring: -0.1 * position for every prompt token
                    ids = prompt["prompt_token_ids"]
                    logprobs = [None] + [
                        {tid: _FakeLogprob(-0.1 * t), 999: _FakeLogprob(-9.0)} for t, tid in enumerate(ids) if t
                    ]
                    outputs.append(types.SimpleNamespace(prompt_token_ids=ids, prompt_logprobs=logprobs, outputs=[]))
                    continue
                choices = [
                    types.SimpleNamespace(
                        text=f"out{k}.{j}", token_ids=[1] * (j + 1), finish_reason=["stop", "length"][j % 2]
                    )
                    for j in range(p.kwargs["n"])
                ]
                outputs.append(types.SimpleNamespace(prompt_token_ids=[0] * 7, prompt_logprobs=None, outputs=choices))
            return outputs

    module.LLM, module.SamplingParams = LLM, SamplingParams
    return module


def test_vllm_backend_maps_arguments_and_outputs(monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "vllm", _fake_vllm(calls))
    backend = make_backend(VLLMConfig(model="/models/m", tensor_parallel_size=2, max_model_len=4096, seed=3))
    assert calls[0] == (
        "LLM",
        {
            "model": "/models/m",
            "tokenizer": "/models/m",
            "tensor_parallel_size": 2,
            "gpu_memory_utilization": 0.9,
            "dtype": "auto",
            "seed": 3,
            "enforce_eager": False,
            "trust_remote_code": False,
            "max_model_len": 4096,
        },
    )
    rows = backend.generate(["a", "b"], n=2, temperature=0.5, top_p=0.9, max_tokens=64, stop=["\n###"], seed=5)
    _, prompts, params = calls[1]
    assert prompts == ["a", "b"]
    assert [p.kwargs for p in params] == [
        {"n": 2, "temperature": 0.5, "top_p": 0.9, "max_tokens": 64, "stop": ["\n###"], "seed": 5 + i} for i in range(2)
    ]
    assert [[(c.text, c.prompt_tokens, c.completion_tokens, c.finish_reason) for c in row] for row in rows] == [
        [("out0.0", 7, 1, "stop"), ("out0.1", 7, 2, "length")],
        [("out1.0", 7, 1, "stop"), ("out1.1", 7, 2, "length")],
    ]
    score = backend.score("one two", "three four five")  # prompt ids at 0..1, completion at 2..4
    _, requests, score_params = calls[-1]
    assert requests == [{"prompt_token_ids": [13, 13, 15, 14, 14]}]
    assert score_params.kwargs == {"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 1}
    assert score.num_tokens == 3 and math.isclose(score.sum_logprob, -0.9) and math.isclose(score.mean_logprob, -0.3)


def test_vllm_missing_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(BackendUnavailable, match=r"pip install -e '\.\[vllm\]' on a GPU host"):
        make_backend({"kind": "vllm", "model": "m"})
