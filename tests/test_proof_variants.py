"""Proof variants and per-role templates: which model, template and informal-proof setting each attempt uses.

The mapping follows the SubgoalXL release (zhaoxlpku/SubgoalXL inference/README.md: four proof generators, each
run with and without the informal proof; inference/informal_to_formal.py: v3/v4 alternate two instructions by
sample index, `instructions[sample_idx % 2]`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config, parse_config
from tests.test_search import PROBLEMS

REPO = Path(__file__).resolve().parent.parent

PROBLEM = PROBLEMS[2].__class__(
    **{**PROBLEMS[2].__dict__, "informal_statement": "If x = 2 then x + 2 = 4.", "informal_proof": "Substitute."}
)


RELEASE_SUBGOALS = "Step 1: Since x = 2, substitute.\n\nThen 2 + 2 = 4.\n\nStep 2: Conclude."


def _release_canned():
    """The canned backend, answering the release's subgoal prompt with a subgoal proof in its paragraph style."""
    from generators.backend import Completion
    from tests.canned_backend import CannedBackend

    class ReleaseCanned(CannedBackend):
        def _generate(self, prompts, params):
            rows = super()._generate(prompts, params)
            for i, prompt in enumerate(prompts):
                if prompt.endswith("### Subogal-based Proof"):
                    rows[i] = [Completion("\n" + RELEASE_SUBGOALS + "\n", 10, 12, "stop")] * params.n
            return rows

    return ReleaseCanned()


def _proposer(generation: dict):
    import sys

    import ray

    import tests.canned_backend as canned
    from agent.subgoal_proposer import SubgoalProposer

    ray.cloudpickle.register_pickle_by_value(canned)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cfg = parse_config({"search": {"prover": "subgoal"}, "generation": {"num_cpus": 0.25, **generation}})
    return SubgoalProposer(cfg.generation, backend_factory=lambda model: _release_canned)


@pytest.mark.ray
def test_attempts_cycle_through_the_variants_and_their_templates(ray_local):
    proposer = _proposer(
        {
            "generate_subgoals": False,
            "prompts": {"proof": "release_proof"},
            "variants": [
                {"name": "v1-informal", "proof_model": "gen-v1", "use_informal_proof": True},
                {
                    "name": "v3-bare",
                    "proof_model": "gen-v3",
                    "use_informal_proof": False,
                    "proof_prompts": ["release_proof_input", "release_proof_isabelle"],
                },
            ],
        }
    )
    try:
        proposals = [proposer.propose(PROBLEM, i, 100 + i).result(timeout=60) for i in range(4)]
        models = proposer.models()
    finally:
        proposer.close()
    assert [p.variant for p in proposals] == ["v1-informal", "v3-bare", "v1-informal", "v3-bare"]
    samples = [p.samples for p in proposals]
    assert all(len(s) == 1 and s[0]["stage"] == "proof" for s in samples)  # no subgoal stage
    assert [s[0]["prompt_name"] for s in samples] == [
        "release_proof",
        "release_proof_input",  # the variant's sample 0: the first instruction
        "release_proof",
        "release_proof_isabelle",  # its sample 1: the second
    ]
    assert [s[0]["model"] for s in samples] == ["gen-v1", "gen-v3", "gen-v1", "gen-v3"]
    assert samples[0][0]["prompt"].endswith('shows "x + 2 = 4" (*Substitute.*)\n')  # with the informal proof
    assert samples[1][0]["prompt"].endswith("### Output")  # without: the model writes its own comment
    assert samples[0][0]["params"]["variant"] == "v1-informal"
    assert all(p.candidate and p.problem_text is None and p.statement.startswith("theorem toy2") for p in proposals)
    assert [v["name"] for v in models["variants"]] == ["v1-informal", "v3-bare"]
    assert models["variants"][1]["prompts"][0].startswith("release_proof_input.v1@")


@pytest.mark.ray
def test_templates_per_role_drive_the_subgoal_stage_too(ray_local):
    proposer = _proposer({"model": "canned", "prompts": {"subgoal": "release_subgoal", "proof": "release_proof"}})
    try:
        proposal = proposer.propose(PROBLEM, 0, 7).result(timeout=60)
    finally:
        proposer.close()
    stages = {s["stage"]: s for s in proposal.samples}
    assert stages["subgoal"]["prompt_name"] == "release_subgoal"
    assert stages["subgoal"]["prompt"].endswith("### Subogal-based Proof")
    # the subgoal proof is read as two steps (the second paragraph joins step 1) and put back as the comment
    assert stages["subgoal"]["parsed"]["value"] == [
        "Step 1: Since x = 2, substitute.\n\nThen 2 + 2 = 4.",
        "Step 2: Conclude.",
    ]
    assert stages["proof"]["prompt"].endswith(f'shows "x + 2 = 4" (*{RELEASE_SUBGOALS}*)\n')
    assert proposal.candidate is not None


def test_variant_and_prompt_keys_fail_at_load_time_naming_the_problem():
    with pytest.raises(ConfigError, match="unknown key 'generation.variants.0.model'; allowed here: name, proof_model"):
        parse_config({"generation": {"variants": [{"name": "a", "model": "m"}]}})
    with pytest.raises(ConfigError, match="release_subgoal.v1@.* is for subgoal, not the proof role"):
        parse_config({"generation": {"variants": [{"name": "a", "proof_prompts": ["release_subgoal"]}]}})
    with pytest.raises(ConfigError, match="needs a model for proof"):
        parse_config({"search": {"prover": "subgoal"}, "generation": {"generate_subgoals": False}})
    # variants with their own models and servers need no shared model or base_url when subgoals are not sampled
    parse_config(
        {
            "search": {"prover": "subgoal"},
            "generation": {
                "backend": "openai",
                "generate_subgoals": False,
                "variants": [{"name": "a", "proof_model": "m", "base_url": "http://h:1/v1"}],
            },
        }
    )


def test_the_paper_config_is_the_release_recipe():
    path = REPO / "configs" / "subgoalxl-paper.toml"
    cfg = load_config(path)
    g = cfg.generation
    assert cfg.search.prover == "subgoal" and g.backend == "openai" and not g.autoformalize
    # inference/README.md: --num_samples 512 --temperature 0.8 --max_response_len 2048, for each of 8 runs
    assert (g.temperature, g.top_p, g.max_tokens, g.proof_samples) == (0.8, 1.0, 2048, 1)
    assert len(g.variants) == 8 and cfg.search.attempts_per_problem == 8 * 512
    assert not g.generate_subgoals and not g.rank_with_scorer
    models = [v.proof_model for v in g.variants]
    assert sorted(set(models)) == [f"xl-zhao/formal_proof_generator_v{i}_iter3" for i in range(1, 5)]
    for version in range(1, 5):
        mine = [v for v in g.variants if v.proof_model.endswith(f"v{version}_iter3")]
        assert sorted(v.use_informal_proof for v in mine) == [False, True]
        prompts = {p for v in mine for p in v.proof_prompts}
        # InformalToFormalMinif2fPromptManager for v1/v2, ...TwoInstructPromptManager for v3/v4 (inference/README.md)
        expected = {"release_proof"} if version <= 2 else {"release_proof_input", "release_proof_isabelle"}
        assert prompts == expected
    raw = tomllib.loads(path.read_text())
    assert "autoformalize" in raw["generation"]  # said explicitly: the benchmark's statements are the task
