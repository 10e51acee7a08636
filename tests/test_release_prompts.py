"""The SubgoalXL release's prompt formats, byte for byte, and the parsing each needs.

The expected prompts below are the release's f-strings filled in by hand, read from zhaoxlpku/SubgoalXL:
- proof generators v1/v2: inference/informal_to_formal.py, `InformalToFormalMinif2fPromptManager.get_prompt`
  (`### Problem:\\n{informal}\\n\\n### Proof:\\n{formal}`, and with_informal_proof appends ` (*{proof}*)\\n`);
- proof generators v3/v4: the same file, `InformalToFormalMinif2fTwoInstructPromptManager.instructions` (two
  instructions, sample i uses instructions[i % 2]); training/run_data_merging.py `Prompter_Llama3_v1/_v2`;
- statement generator: training/rejection_sampling_formal_statement.py `get_prompt`;
- subgoal generator: training/rejection_sampling_informal_proof.py `get_prompt` ("Subogal" as spelled there);
- completions: training/run_data_merging.py `compare_proofs` (`(*{informal proof}*)\\n{formal proof}`).
"""

from __future__ import annotations

import pytest

from generators.backend import Backend, Completion, SamplingParams, ScoreResult
from generators.prompt_templates import load_prompt
from generators.roles import Problem, Role, parse_output, render_prompt, role_template
from generators.samples import generate_samples

INFORMAL = "Show that for any real number $a$, $10a \\leq 28a^2 + 1$."
FORMAL = 'theorem algebra_binomnegdiscrineq_10alt28asqp1:\n  fixes a :: real\n  shows "10 * a \\<le> 28 * a^2 + 1"'
PROOF_TEXT = "It suffices to show $0 \\leq 28a^2 - 10a + 1$."
BARE = Problem(problem_name="p", informal_statement=INFORMAL, formal_statement=FORMAL)
WITH_PROOF = BARE.model_copy(update={"informal_proof": PROOF_TEXT})


def render(name: str, problem: Problem, role: Role = Role.PROOF) -> str:
    return render_prompt(role, problem, role_template(role, name)).text


def test_the_v1_v2_proof_format_with_and_without_the_informal_proof():
    assert render("release_proof", BARE) == f"### Problem:\n{INFORMAL}\n\n### Proof:\n{FORMAL}"
    assert render("release_proof", WITH_PROOF) == f"### Problem:\n{INFORMAL}\n\n### Proof:\n{FORMAL} (*{PROOF_TEXT}*)\n"
    subgoals = WITH_PROOF.model_copy(update={"subgoals": ("Step 1: expand.", "Step 2: conclude.")})
    rendered = render_prompt(Role.PROOF, subgoals, role_template(Role.PROOF, "release_proof"))
    assert rendered.text.endswith(f"{FORMAL} (*Step 1: expand.\n\nStep 2: conclude.*)\n")  # subgoals come first
    assert rendered.subgoals_source == "subgoals"


def test_the_two_v3_v4_instruction_formats():
    first = (
        "Develop formal proofs using Isabelle, leveraging auxiliary tools such as Sledgehammer to enhance the "
        f"proving process.\n\n### Input\n(*Informal Statement:\n{INFORMAL}*)\n{FORMAL}\n\n### Output"
    )
    second = (
        "Utilize Isabelle for the systematic verification of theorem proofs, employing Sledgehammer as a "
        f"supplementary tool. Approach the problem in a step-by-step manner.\n\n### Problem\n{INFORMAL}\n\n"
        f"### Isabelle Proof\n{FORMAL}"
    )
    assert render("release_proof_input", BARE) == first
    assert render("release_proof_input", WITH_PROOF) == f"{first} (*{PROOF_TEXT}*)\n"
    assert render("release_proof_isabelle", BARE) == second
    assert render("release_proof_isabelle", WITH_PROOF) == f"{second} (*{PROOF_TEXT}*)\n"


def test_the_statement_and_subgoal_generator_formats():
    assert render("release_statement", BARE, Role.STATEMENT) == (
        "Translate the informal statement into a formal statement by defining variables and assumptions explicitly, "
        f"and then stating the main claim clearly using precise mathematical notation.\n\n### Informal Statement\n"
        f"{INFORMAL}\n\n### Formal Statement"
    )
    assert render("release_subgoal", BARE, Role.SUBGOAL) == (
        "Generate a subgoal-based proof by identifying and breaking down the critical steps needed to achieve the "
        "overall proof, explaining each subgoal with clear mathematical reasoning and ensuring logical progression "
        f"from one subgoal to the next until the final proof is achieved.\n\n### Informal Statement\n{INFORMAL}\n\n"
        f"### Formal Statement\n{FORMAL}\n\n### Subogal-based Proof"
    )


def test_every_release_template_names_its_provenance_and_stops_at_end_of_text():
    for name in (
        "release_statement",
        "release_subgoal",
        "release_proof",
        "release_proof_input",
        "release_proof_isabelle",
    ):
        template = load_prompt(name)
        assert template.stop == ("<|end_of_text|>",) and template.role is not None
        assert template.sources and all(
            s.startswith(("zhaoxlpku/SubgoalXL ", "huggingface.co/")) for s in template.sources
        )


def test_a_template_is_only_used_for_its_role():
    with pytest.raises(ValueError, match="release_proof.v1@.* is for proof, not the statement role"):
        role_template(Role.STATEMENT, "release_proof")
    with pytest.raises(ValueError, match="posterior.v1@.* is for no generator role, not the proof role"):
        role_template(Role.PROOF, "posterior")
    assert role_template(Role.PROOF, "proof.v1").name == "proof"


SUBGOAL_COMPLETION = (
    "\nLet $d$ be the gcd. We aim to show that $d \\leq 13$.\n\n"
    "Step 1: Show that $d$ divides both numbers.\n\nSince $d$ is the gcd, $d$ divides $n + 7$.\n\n"
    "Step 2: Conclude that $d \\leq 13$ (the only divisors of 13 are 1 and 13*).\n"
)


def test_a_subgoal_proof_is_read_as_step_paragraphs():
    template = role_template(Role.SUBGOAL, "release_subgoal")
    parsed = parse_output(Role.SUBGOAL, SUBGOAL_COMPLETION, BARE, "stop", template)
    assert parsed.ok and parsed.value == [
        "Let $d$ be the gcd. We aim to show that $d \\leq 13$.",
        "Step 1: Show that $d$ divides both numbers.\n\nSince $d$ is the gcd, $d$ divides $n + 7$.",
        "Step 2: Conclude that $d \\leq 13$ (the only divisors of 13 are 1 and 13* ).",
    ]
    assert any("`*)`" in p for p in parsed.problems)  # it would have closed the proof prompt's comment
    cut = parse_output(Role.SUBGOAL, SUBGOAL_COMPLETION, BARE, "length", template)
    assert cut.ok and len(cut.value) == 2 and "cut at max tokens" in cut.problems[-1]


PROOF_BODY = (
    'proof -\n  have c0: "0 \\<le> 28*a^2 - 10*a + 1"\n    sledgehammer\n  then show ?thesis\n    sledgehammer\nqed'
)
COMMENTED = f" (*Step 1: complete the square (* nested *).\n\nStep 2: conclude.*)\n{PROOF_BODY}"


def test_a_release_proof_completion_is_its_subgoal_comment_then_the_proof():
    template = role_template(Role.PROOF, "release_proof")
    parsed = parse_output(Role.PROOF, COMMENTED, BARE, "stop", template)
    assert parsed.ok and parsed.value == PROOF_BODY and parsed.problems == []
    assert parsed.parts == {"subgoal_proof": "Step 1: complete the square (* nested *).\n\nStep 2: conclude."}
    # given an informal proof, the model goes straight to the proof
    assert parse_output(Role.PROOF, PROOF_BODY, WITH_PROOF, "stop", template).value == PROOF_BODY
    unclosed = parse_output(Role.PROOF, " (*Step 1: complete the", BARE, "length", template)
    assert not unclosed.ok and "not closed (the completion was cut at max tokens)" in unclosed.problems[0]


class _Release(Backend):
    kind = "fake"

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        return [[Completion(COMMENTED, 10, 20, "stop")] * params.n for _ in prompts]

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return []


def test_generate_samples_with_a_release_format_records_the_subgoal_comment():
    template = role_template(Role.PROOF, "release_proof")
    (sample,) = generate_samples([BARE], Role.PROOF, _Release(), SamplingParams(seed=1), template=template)
    assert sample["parse_ok"] and sample["proof"] == PROOF_BODY
    assert sample["subgoal_proof"].startswith("Step 1: complete the square")
    assert sample["provenance"]["prompt"]["name"] == "release_proof"
    assert sample["provenance"]["sampling"]["stop"] == ["<|end_of_text|>"]
