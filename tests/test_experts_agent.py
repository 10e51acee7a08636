"""The agent samples from LoRA experts through a router and records which expert wrote each sample."""

from __future__ import annotations

import pytest

from agent.config import parse_config
from tests.test_experts import lora_experts  # noqa: F401 - module fixture: two tiny LoRA adapters
from tests.test_search import PROBLEMS

pytestmark = pytest.mark.ray


def test_routed_experts_are_recorded_per_sample(tiny_model_dir, lora_experts, tmp_path, ray_local):  # noqa: F811
    from agent.subgoal_proposer import SubgoalProposer

    experts = tmp_path / "experts.toml"
    experts.write_text(
        "".join(
            f'[[expert]]\nrole = "{role}"\nvariant = "v1"\nround = {r}\nbase_model = "{tiny_model_dir}"\n'
            f'adapter = "{lora_experts[name]}"\n\n'
            for role, r, name in (("proof", 1, "a"), ("proof", 2, "b"), ("subgoal", 1, "a"))
        )
    )
    cfg = parse_config(
        {
            "search": {"prover": "subgoal"},
            "generation": {
                "experts_file": str(experts),
                "routers": {
                    "proof": {"strategy": "round_robin", "experts": ["proof/v1/r1", "proof/v1/r2"]},
                    "subgoal": {"strategy": "fixed", "experts": ["subgoal/v1/r1"]},
                },
                "num_cpus": 0.25,
                "proof_samples": 2,
                "max_tokens": 8,
            },
        }
    )
    problem = PROBLEMS[2].__class__(**{**PROBLEMS[2].__dict__, "informal_statement": "Show it.", "informal_proof": "x"})
    proposer = SubgoalProposer(cfg.generation)
    try:
        proposal = proposer.propose(problem, 0, seed=3).result(timeout=120)
    finally:
        proposer.close()
    by_stage = {}
    for sample in proposal.samples:
        by_stage.setdefault(sample["stage"], []).append(sample["model"])
    assert by_stage["subgoal"] == ["subgoal/v1/r1"]
    assert sorted(by_stage["proof"]) == ["proof/v1/r1", "proof/v1/r2"]  # round robin over the two experts
    assert proposer.models()["proof"] == "router:proof"


def test_routers_need_an_experts_file():
    from agent.config import ConfigError

    with pytest.raises(ConfigError, match="generation.routers needs generation.experts_file"):
        parse_config({"generation": {"routers": {"proof": {"experts": ["proof/v1/r1"]}}}})
