"""Experts: records and sets, the router, LoRA experts served over one tiny base, vLLM and OpenAI mappings (faked)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math
import pickle
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

from generators.backend import SamplingParams
from generators.backends import TransformersConfig, make_backend
from generators.experts import (
    ExpertCompletion,
    ExpertError,
    ExpertSet,
    RouterConfig,
    expert_of,
    group_cells,
)
from generators.experts_serving import ExpertServer, ServingConfig, routed_backend_factory, serve_commands

PROMPTS = ["theorem t:\n  fixes x :: real\n", "lemma"]


def _experts(base: str, a: str = "/adapters/a", b: str = "/adapters/b", full: str | None = None) -> ExpertSet:
    rows: list[dict[str, object]] = [
        {"role": "proof", "round": 0, "base_model": base},
        {"role": "proof", "round": 1, "base_model": base, "adapter": a},
        {"role": "proof", "round": 2, "base_model": base, "adapter": b},
    ]
    if full:
        rows.append({"role": "proof", "variant": "full", "round": 1, "base_model": base, "model_path": full})
    return ExpertSet.from_records(rows)


# ------------------------------------------------------------------------------------------------ records, router


def test_experts_are_named_by_role_variant_round_and_load_from_toml(tmp_path):
    path = tmp_path / "experts.toml"
    path.write_text(
        '[[expert]]\nrole = "proof"\nround = 2\nbase_model = "org/base"\nadapter = "r2/proof"\n\n'
        '[[expert]]\nrole = "subgoal"\nvariant = "v2"\nround = 1\nbase_model = "./base"\nmodel_path = "/m/full"\n'
    )
    experts = ExpertSet.from_toml(path)
    proof, subgoal = experts
    assert (proof.name, proof.slug, proof.request_name) == ("proof/v1/r2", "proof-v1-r2", "proof-v1-r2")
    assert proof.adapter == str(tmp_path / "r2/proof") and proof.base_model == "org/base"  # hub ids stay
    assert subgoal.base_model == str(tmp_path / "base") and subgoal.served_model == "/m/full"
    assert not subgoal.is_adapter and subgoal.request_name == "/m/full"
    assert experts.latest("proof") is proof and experts.select(role="subgoal", variant="v2").names == ("subgoal/v2/r1",)
    assert experts.served_models() == {"org/base": [proof], "/m/full": [subgoal]}
    assert proof.to_json()["name"] == "proof/v1/r2"

    with pytest.raises(ExpertError, match="listed twice"):
        ExpertSet([proof, proof])
    with pytest.raises(ExpertError, match=r"expert 1: give adapter \(LoRA over base_model\) or model_path, not both"):
        ExpertSet.from_records([{"role": "proof", "base_model": "b", "adapter": "a", "model_path": "m"}])
    with pytest.raises(ExpertError, match=r"expert 1: .*unknown field\(s\) \['lora'\]; Expert allows: role"):
        ExpertSet.from_records([{"role": "proof", "base_model": "b", "lora": "a"}])
    with pytest.raises(ExpertError, match=r"expert 1: role: Input should be 'statement', 'subgoal' or 'proof'"):
        ExpertSet.from_records([{"role": "prover", "base_model": "b"}])
    with pytest.raises(ExpertError, match="no expert 'proof/v9/r0'; known: proof/v1/r2"):
        experts.get("proof/v9/r0")


def test_router_configs_are_checked_and_assignments_follow_them():
    experts = _experts("/base")
    names = experts.names
    with pytest.raises(ValueError, match="'fixed' takes exactly one expert"):
        RouterConfig(strategy="fixed", experts=names)
    with pytest.raises(ValueError, match="'weighted' needs weights, one per expert"):
        RouterConfig(strategy="weighted", experts=names, weights=(1, 1))
    with pytest.raises(ValueError, match="weights are only used with strategy 'weighted'"):
        RouterConfig(strategy="round_robin", experts=names, weights=(1, 1, 1))
    with pytest.raises(ExpertError, match=r"router names unknown expert\(s\) \['proof/v1/r7'\]"):
        experts.router(RouterConfig(experts=("proof/v1/r7",)))

    fixed = experts.router(RouterConfig(experts=("proof/v1/r1",)))
    assert {e.name for row in fixed.assign(3, 4) for e in row} == {"proof/v1/r1"}

    robin = experts.router(RouterConfig(strategy="round_robin", experts=names))
    first = robin.assign(2, 3)
    assert [[e.round for e in row] for row in first] == [[0, 1, 2], [0, 1, 2]]
    assert [e.round for e in robin.assign(1, 2)[0]] == [0, 1]  # unseeded calls continue the counter
    assert [e.round for e in robin.assign(1, 4, seed=5)[0]] == [2, 0, 1, 2]  # seeded: start at seed mod 3
    assert robin.assign(1, 4, seed=5) == robin.assign(1, 4, seed=5)

    config = RouterConfig(strategy="weighted", experts=names, weights=(3, 1, 0), seed=1)
    weighted = experts.router(config)
    draws = Counter(e.round for row in weighted.assign(100, 40) for e in row)
    assert draws[2] == 0 and 0.72 < draws[0] / 4000 < 0.78
    assert weighted.assign(2, 8, seed=9) == experts.router(config).assign(2, 8, seed=9)  # seeded: reproducible
    assert experts.router(config).assign(2, 8) == experts.router(config).assign(2, 8)  # config.seed: reproducible


def test_cells_are_grouped_by_expert_then_by_count():
    r0, r1, r2 = _experts("/base")
    groups = group_cells([[r0, r1, r0], [r1, r1, r2], [r0, r2, r0]])
    assert [(e.round, count, prompts) for e, count, prompts in groups] == [
        (0, 2, [0, 2]),
        (1, 1, [0]),
        (1, 2, [1]),
        (2, 1, [1, 2]),
    ]


# ------------------------------------------------------------------------------------------------ LoRA experts


@pytest.fixture(scope="module")
def lora_experts(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """Two LoRA adapters over the tiny model (random B, seeds 1 and 2) and a full model with adapter a merged in."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("lora-experts")
    paths = {"a": root / "a", "b": root / "b", "full": root / "full"}
    for seed, name in ((1, "a"), (2, "b")):
        torch.manual_seed(seed)
        lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), lora)
        model.save_pretrained(paths[name])
        if name == "a":
            model.merge_and_unload().save_pretrained(paths["full"])
            AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(paths["full"])
    return paths


@pytest.fixture(scope="module")
def server(tiny_model_dir, lora_experts):
    experts = _experts(str(tiny_model_dir), str(lora_experts["a"]), str(lora_experts["b"]), str(lora_experts["full"]))
    with ExpertServer(experts, ServingConfig(options={"device": "cpu", "batch_size": 4})) as served:
        yield served


def _greedy(backend, prompts=PROMPTS):
    return [row[0].text for row in backend.generate(prompts, temperature=0, max_tokens=12)]


def test_adapters_over_one_base_give_different_outputs_and_match_models_loaded_alone(server, tiny_model_dir):
    assert len(server.backends) == 2  # the base with both adapters, and the full fine-tune
    base_backend = server.backends[str(tiny_model_dir)]
    assert base_backend.adapter_names() == ("proof-v1-r1", "proof-v1-r2")
    outputs = {name: _greedy(server.backend_for(name)) for name in server.experts.names}
    base, a, b, full = (outputs[n] for n in ("proof/v1/r0", "proof/v1/r1", "proof/v1/r2", "proof/full/r1"))
    assert base != a and a != b and base != b
    assert full == a  # the adapter served over the shared base == the same weights merged into a full model
    with make_backend(TransformersConfig(model=str(tiny_model_dir), device="cpu")) as plain:
        assert _greedy(plain) == base  # adapters disabled == the base model as it was
        base_score = plain.score(PROMPTS[0], "  shows")

    [completion] = server.backend_for("proof/v1/r1").generate(PROMPTS[:1], temperature=0, max_tokens=4)[0]
    assert isinstance(completion, ExpertCompletion) and expert_of(completion) == "proof/v1/r1"
    scores = {n: server.backend_for(n).score(PROMPTS[0], "  shows") for n in server.experts.names}
    assert math.isclose(scores["proof/v1/r0"].sum_logprob, base_score.sum_logprob, rel_tol=1e-5)
    assert math.isclose(scores["proof/v1/r1"].sum_logprob, scores["proof/full/r1"].sum_logprob, rel_tol=1e-3)
    assert scores["proof/v1/r1"].sum_logprob != scores["proof/v1/r2"].sum_logprob
    assert server.backend_for("proof/v1/r2").describe()["model"] == "proof/v1/r2"


def test_the_router_sends_each_sample_where_the_config_says(server):
    own = {name: _greedy(server.backend_for(name)) for name in server.experts.names}
    names = server.experts.names
    base_backend = next(iter(server.backends.values()))

    routed = server.routed(RouterConfig(strategy="round_robin", experts=names))
    switches = base_backend.adapter_switches
    rows = routed.generate(PROMPTS, n=4, temperature=0, max_tokens=12)
    assert base_backend.adapter_switches - switches <= 2  # grouped by adapter: one switch per adapter at most
    for i, row in enumerate(rows):
        assert [c.expert for c in row] == list(names)  # 4 samples, 4 experts, in order
        assert [c.text for c in row] == [own[c.expert][i] for c in row]  # each written by the expert it names
    assert routed.describe()["router"] == {"strategy": "round_robin", "experts": list(names)}

    weighted = server.routed(RouterConfig(strategy="weighted", experts=names, weights=(0, 0, 1, 0)))
    rows = weighted.generate(PROMPTS, n=3, temperature=0, max_tokens=12, seed=3)
    assert {c.expert for row in rows for c in row} == {"proof/v1/r2"}
    assert [row[0].text for row in rows] == own["proof/v1/r2"]

    fixed = server.routed(RouterConfig(experts=("proof/full/r1",)))
    assert fixed.model == "proof/full/r1" and _greedy(fixed) == own["proof/full/r1"]

    sampled = server.routed(RouterConfig(strategy="weighted", experts=names[:3], weights=(1, 1, 1)))
    params = SamplingParams(n=6, temperature=1.0, max_tokens=8, seed=11)
    first = sampled.generate_with(PROMPTS, params)
    assert first == sampled.generate_with(PROMPTS, params)  # a seeded call is reproducible, experts and texts
    assert len({c.expert for row in first for c in row}) > 1


def test_a_routed_backend_is_a_picklable_factory_for_generator_actors(tiny_model_dir, lora_experts):
    experts = _experts(str(tiny_model_dir), str(lora_experts["a"]), str(lora_experts["b"]))
    factory = routed_backend_factory(
        experts, {"options": {"device": "cpu"}}, {"strategy": "round_robin", "experts": experts.names}
    )
    backend = pickle.loads(pickle.dumps(factory))()  # what a Ray actor does with it
    try:
        row = backend.generate(PROMPTS[:1], n=3, temperature=0, max_tokens=4)[0]
        assert [c.expert for c in row] == list(experts.names)
    finally:
        backend.close()
    assert backend.server.backends == {}
    with pytest.raises(ValueError, match="options may not set \\['model'\\]"):
        ServingConfig(options={"model": "x"})
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['batchsize'\]"):
        ServingConfig(options={"batchsize": 2})


# ------------------------------------------------------------------------------------------------ vLLM and OpenAI


def _fake_vllm(calls: list) -> dict[str, types.ModuleType]:
    """`vllm` with LLM / SamplingParams, and `vllm.lora.request` with LoRARequest, recording every call."""
    module, lora, request = (types.ModuleType(n) for n in ("vllm", "vllm.lora", "vllm.lora.request"))

    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class LoRARequest:
        def __init__(self, lora_name, lora_int_id, lora_path):
            self.args = (lora_name, lora_int_id, lora_path)

    class Tokenizer:
        bos_token_id = 1

        def encode(self, text, add_special_tokens=True):
            return [10 + len(word) for word in text.split()]

    class LLM:
        def __init__(self, **kwargs):
            self.model = kwargs["model"]
            calls.append(("LLM", kwargs))

        def get_tokenizer(self):
            return Tokenizer()

        def generate(self, prompts, params, use_tqdm=True, **kwargs):
            calls.append(("generate", self.model, prompts, kwargs.get("lora_request")))
            if not isinstance(params, list):  # scoring
                return [
                    types.SimpleNamespace(prompt_logprobs=[None] + [{t: -1.0} for t in p["prompt_token_ids"][1:]])
                    for p in prompts
                ]
            loras = kwargs.get("lora_request") or [None] * len(prompts)
            return [
                types.SimpleNamespace(
                    prompt_token_ids=[0, 0],
                    outputs=[
                        types.SimpleNamespace(
                            text=f"{lora.args[0] if lora else 'base'}|{p}", token_ids=[1], finish_reason="stop"
                        )
                        for _ in range(sp.kwargs["n"])
                    ],
                )
                for p, sp, lora in zip(prompts, params, loras, strict=True)
            ]

    module.LLM, module.SamplingParams, request.LoRARequest = LLM, SamplingParams, LoRARequest
    module.lora, lora.request = lora, request
    return {"vllm": module, "vllm.lora": lora, "vllm.lora.request": request}


def test_vllm_serves_adapters_per_request_in_one_batch(monkeypatch):
    calls: list = []
    for name, module in _fake_vllm(calls).items():
        monkeypatch.setitem(sys.modules, name, module)
    experts = _experts("/models/base", full="/models/full")
    serving = {"backend": "vllm", "options": {"max_lora_rank": 32, "max_loras": 2}}
    server = ExpertServer(experts, serving)
    engines = [c[1] for c in calls if c[0] == "LLM"]
    assert [e["model"] for e in engines] == ["/models/base", "/models/full"]
    assert {k: engines[0][k] for k in ("enable_lora", "max_loras", "max_lora_rank")} == {
        "enable_lora": True,
        "max_loras": 2,
        "max_lora_rank": 32,
    }
    assert "enable_lora" not in engines[1]  # a full fine-tune is a plain engine of its own

    routed = server.routed(RouterConfig(strategy="round_robin", experts=experts.names[:3]))
    rows = routed.generate(["p0", "p1"], n=3, max_tokens=8, seed=4)
    generate_calls = [c for c in calls if c[0] == "generate"]
    assert len(generate_calls) == 1  # every adapter's requests in one vLLM call
    _, model, prompts, loras = generate_calls[0]
    assert model == "/models/base" and prompts == ["p0", "p1", "p0", "p1", "p0", "p1"]
    # seed 4 starts round-robin at 4 mod 3 = 1: r1, r2, r0 for every prompt; requests grouped in that order
    assert [lora.args if lora else None for lora in loras] == [("proof-v1-r1", 1, "/adapters/a")] * 2 + [
        ("proof-v1-r2", 2, "/adapters/b")
    ] * 2 + [None, None]
    assert [[(c.expert, c.text) for c in row] for row in rows] == [
        [(f"proof/v1/r{r}", f"{'base' if r == 0 else f'proof-v1-r{r}'}|p{i}") for r in (1, 2, 0)] for i in range(2)
    ]
    score = server.backend_for("proof/v1/r2").score("one two", "three")
    assert calls[-1][3].args == ("proof-v1-r2", 2, "/adapters/b") and score.num_tokens == 1
    server.backend_for("proof/full/r1").generate(["q"], max_tokens=4)
    assert calls[-1][1:] == ("/models/full", ["q"], None)


def test_openai_requests_name_the_expert_as_their_model():
    from tests.openai_standin import OpenAIStandin

    class Models(str):
        """The stand-in's one model name, widened to every expert's: it still refuses any other model."""

        served: frozenset[str] = frozenset()

        def __ne__(self, other: object) -> bool:
            return other not in self.served

        __hash__ = str.__hash__

    class EchoModel:
        def complete(self, prompt, body):
            return [(f"from {body['model']}", 2, "stop")] * int(body.get("n") or 1)

        def echo_logprobs(self, text):
            return [(text, 0, None)]

    experts = _experts("/models/base", full="/models/full")
    with OpenAIStandin(EchoModel()) as standin:
        Models.served = frozenset(e.request_name for e in experts)
        standin.model = Models("experts")
        serving = {"backend": "openai", "options": {"base_url": standin.base_url, "max_retries": 0}}
        with ExpertServer(experts, serving) as server:
            routed = server.routed(RouterConfig(strategy="round_robin", experts=experts.names))
            [row] = routed.generate(["p"], n=4, max_tokens=4, seed=0)
    assert [(c.expert, c.text) for c in row] == [
        ("proof/v1/r0", "from /models/base"),
        ("proof/v1/r1", "from proof-v1-r1"),
        ("proof/v1/r2", "from proof-v1-r2"),
        ("proof/full/r1", "from /models/full"),
    ]
    assert sorted(body["model"] for _, body in standin.requests) == sorted(Models.served)
    assert serve_commands(experts) == [
        ["vllm", "serve", "/models/base", "--port", "8000", "--enable-lora", "--max-loras", "4", "--max-lora-rank",
         "16", "--lora-modules", "proof-v1-r1=/adapters/a", "proof-v1-r2=/adapters/b"],
        ["vllm", "serve", "/models/full", "--port", "8001"],
    ]  # fmt: skip
