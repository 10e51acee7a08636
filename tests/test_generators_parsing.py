"""Output parsers, prompt templates, roles and input rows: pure text, no model, no torch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from generators.backend import SamplingParams
from generators.backends.config import backend_config, resolve_model_source
from generators.parsing import (
    format_subgoals,
    parse_proof,
    parse_statement,
    parse_subgoals,
    subgoals_from_informal_proof,
    theorem_text,
)
from generators.prompt_templates import PromptTemplate, available_prompts, load_prompt, parse_prompt_spec
from generators.roles import Problem, Role, render_prompt
from generators.samples import InputError, read_problems
from isabelle_env.syntax.scan import strip_comments

STATEMENT = (
    'theorem sum_diff:\n  fixes a b :: real\n  assumes h0: "a + b = 7"\n    and h1: "a - b = 1"\n  shows "a * b = 12"'
)
PROOF = (
    "proof -\n"
    "  (* Step 1: a = 4 *)\n"
    '  have c1: "a = 4"\n'
    "    using h0 h1 sledgehammer\n"
    "  (* Step 2: b = 3 *)\n"
    '  have c2: "b = 3"\n'
    "    using h0 c1 sledgehammer\n"
    "  show ?thesis\n"
    "    using c1 c2 sledgehammer\n"
    "qed"
)


@pytest.fixture(scope="module")
def dsp_rows(shared: Path) -> list[dict]:
    with open(shared / "datasets/dsp/new_complete_mini.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def dsp_proofs(shared: Path) -> list[dict]:
    with tarfile.open(shared / "datasets/dsp/results/human_100_proofs.jsonl.tar.gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".jsonl"))
        return [json.loads(line) for line in tar.extractfile(member).read().decode().splitlines()]


# ------------------------------------------------------------------------------------------------ real data


def test_every_minif2f_formal_statement_parses_back_to_itself(dsp_rows):
    assert len(dsp_rows) == 488
    for row in dsp_rows:
        result = parse_statement(row["formal_statement"])
        assert result.ok and result.problems == [], (row["problem_name"], result.problems)
        assert result.value == row["formal_statement"].strip()


def test_every_dsp_proof_splits_into_statement_and_proof(dsp_proofs):
    assert len(dsp_proofs) == 200
    for row in dsp_proofs:
        text = row["proof"]
        statement = parse_statement(text)
        proof = parse_proof(text, statement.value)
        assert statement.ok and proof.ok and proof.problems == [], (row["problem_name"], proof.problems)
        assert theorem_text(statement.value, proof.value).split() == text.split()
        alone = parse_proof(text[text.index(statement.value) + len(statement.value) :])
        assert alone.value == proof.value


def test_dsp_proofs_cut_short_are_reported_incomplete(dsp_proofs):
    cut = 0
    for row in dsp_proofs:
        text = row["proof"]
        if "\nqed" not in text:
            continue
        truncated = text[: text.rindex("\nqed")]
        result = parse_proof(truncated, finish_reason="length")
        assert not result.ok and "max tokens" in result.problems[-1], row["problem_name"]
        cut += 1
    assert cut > 100


# ------------------------------------------------------------------------------------------------ statements


def test_statement_in_a_code_block_with_chatter():
    completion = f"Here is the formalization:\n\n```isabelle\n{STATEMENT}\n```\n\nThis captures both hypotheses."
    result = parse_statement(completion)
    assert result.ok and result.value == STATEMENT
    assert any("outside the code block" in p for p in result.problems)


def test_statement_followed_by_a_proof_and_the_next_demo():
    completion = f"{STATEMENT}\nproof -\n  show ?thesis sledgehammer\nqed\n\n### Informal statement\nShow that"
    result = parse_statement(completion)
    assert result.ok and result.value == STATEMENT
    assert any("after the statement" in p for p in result.problems)


def test_statement_as_a_prefilled_continuation_and_short_forms():
    assert parse_statement('theorem t: "(2::nat) + 2 = 4"\n\n').value == 'theorem t: "(2::nat) + 2 = 4"'
    pattern = 'theorem p:\n  fixes x :: nat\n  shows "x + 0 = x" (is "?L = ?R")'
    assert parse_statement(pattern + "\nby simp").value == pattern
    two = 'lemma two:\n  shows "0 < (1::int)"\n    and "0 < (2::int)"'
    assert parse_statement(two + "\nThat is all.").value == two


def test_statement_cut_at_max_tokens_is_not_ok():
    result = parse_statement('theorem t:\n  fixes x :: real\n  shows "x \\<le> x^2 +', finish_reason="length")
    assert not result.ok and result.value is None
    assert "unterminated string" in result.problems[-1] and "max tokens" in result.problems[-1]


def test_statement_without_theorem_or_goal():
    assert parse_statement("I cannot formalise this problem.").problems == ["no `theorem` or `lemma` found"]
    result = parse_statement('theorem t:\n  fixes x :: real\n  assumes h0: "x > 0"\n')
    assert not result.ok and "no `shows`" in result.problems[-1]


def test_statement_in_unicode_is_converted_to_isabelle_ascii():
    result = parse_statement('theorem u:\n  fixes x :: real\n  assumes h0: "x ≥ 0 ∧ x ≠ 1"\n  shows "x ≤ x^2 ∨ x < 1"')
    assert result.ok
    assert result.value == (
        'theorem u:\n  fixes x :: real\n  assumes h0: "x \\<ge> 0 \\<and> x \\<noteq> 1"\n'
        '  shows "x \\<le> x^2 \\<or> x < 1"'
    )
    assert any("Unicode" in p for p in result.problems)


# ------------------------------------------------------------------------------------------------ subgoals


def test_subgoals_as_the_prompt_asks_for_them():
    completion = (
        "Step 1: Adding the equations gives $2a = 8$.\nStep 2: So $a = 4$ and\n  $b = 3$.\nStep 3: Hence $ab = 12$.\n"
    )
    result = parse_subgoals(completion)
    assert result.ok and result.problems == []
    assert result.value == ["Adding the equations gives $2a = 8$.", "So $a = 4$ and $b = 3$.", "Hence $ab = 12$."]


def test_subgoals_as_a_chat_model_writes_them():
    completion = (
        "Sure! Here are the subgoals:\n\n1. Complete the square.\n2) A square is non-negative.\n\n"
        "These two steps establish the claim, since ..."
    )
    result = parse_subgoals(completion)
    assert result.value == ["Complete the square.", "A square is non-negative."]
    assert [p.split(":")[0] for p in result.problems] == ["ignored text before the list", "ignored text after the list"]
    bullets = parse_subgoals("- first claim\n- second claim\n\n### Formal proof\ntheorem")
    assert bullets.value == ["first claim", "second claim"]


def test_subgoals_cut_at_max_tokens_lose_the_last_step():
    result = parse_subgoals("Step 1: One.\nStep 2: Two.\nStep 3: Thr", finish_reason="length")
    assert result.ok and result.value == ["One.", "Two."]
    assert "max tokens" in result.problems[0]


def test_subgoals_missing_or_misnumbered():
    assert not parse_subgoals("The answer is 12.").ok
    assert "not numbered consecutively" in parse_subgoals("Step 1: a\nStep 3: b").problems[0]


def test_subgoals_round_trip_and_from_an_informal_proof():
    subgoals = ["First claim.", "Second claim, with $x^2$."]
    assert parse_subgoals(format_subgoals(subgoals)).value == subgoals
    assert subgoals_from_informal_proof("A holds.\nB holds.") == ["A holds.", "B holds."]
    assert subgoals_from_informal_proof("A holds. So $B$ holds.") == ["A holds.", "So $B$ holds."]


# ------------------------------------------------------------------------------------------------ proofs


def test_proof_as_a_prefilled_continuation_with_the_next_demo_after_it():
    result = parse_proof(PROOF + "\n\n### Informal statement\nShow that", STATEMENT)
    assert result.ok and result.value == PROOF
    assert any("after the proof" in p for p in result.problems)


def test_proof_from_a_chat_model_that_repeats_the_statement():
    completion = (
        f"Here is a proof by calculation:\n```isabelle\n{STATEMENT}\n{PROOF}\n```\nEach step is closed by sledgehammer."
    )
    result = parse_proof(completion, STATEMENT)
    assert result.ok and result.value == PROOF
    assert not any("differently" in p for p in result.problems)


def test_proof_of_a_different_statement_is_kept_apart_and_reported():
    weaker = STATEMENT.replace('    and h1: "a - b = 1"\n', "")
    result = parse_proof(f"{weaker}\n{PROOF}", STATEMENT)
    assert result.ok and result.value == PROOF
    assert any("restates the theorem differently" in p for p in result.problems)


def test_proof_cut_at_max_tokens():
    inside_string = parse_proof(
        'proof -\n  have c1: "a = 4"\n    sledgehammer\n  have c2: "b =', finish_reason="length"
    )
    assert not inside_string.ok and "unterminated string" in inside_string.problems[0]
    assert "max tokens" in inside_string.problems[0]
    unclosed = parse_proof('proof -\n  have c1: "a = 4"\n    sledgehammer\n', finish_reason="length")
    assert not unclosed.ok and "1 `proof` block(s) not closed" in unclosed.problems[0]


def test_nested_blocks_one_liners_apply_scripts_and_unicode():
    nested = (
        "proof (induct n)\n  case 0\n  then show ?case by simp\nnext\n  case (Suc n)\n"
        '  have "P n"\n  proof -\n    show ?thesis sledgehammer\n  qed\n  then show ?case by auto\nqed'
    )
    assert parse_proof(nested + "\nend\n").value == nested
    assert parse_proof("using h0\n(*<ATP>*) by (simp add: field_simps) (*</ATP>*)\nDone.").value == (
        "using h0\n(*<ATP>*) by (simp add: field_simps) (*</ATP>*)"
    )
    assert parse_proof("apply (induct n)\n apply simp\ndone").value == "apply (induct n)\n apply simp\ndone"
    converted = parse_proof('proof -\n  have "x ≤ y" sledgehammer\n  show ?thesis sledgehammer\nqed')
    assert converted.ok and "\\<le>" in converted.value


def test_proof_keyword_in_chatter_is_not_a_proof():
    result = parse_proof("The proof is by completing the square, which I cannot finish.")
    assert not result.ok and "no proof found" in result.problems[0]


def test_strip_comments_drops_comment_lines_only():
    stripped = strip_comments(PROOF)
    assert "Step 1" not in stripped and stripped.count("\n") == PROOF.count("\n") - 2
    assert parse_proof(stripped).ok


# ------------------------------------------------------------------------------------------------ prompts


def test_shipped_prompts_load_with_name_version_and_hash():
    assert set(available_prompts()) >= {"statement", "subgoal", "proof", "posterior"}
    for name in available_prompts():
        template = load_prompt(name)
        assert (template.name, template.version) == (name, available_prompts()[name][-1])
        raw = (
            Path(__import__("generators").__file__).parent / "prompts" / f"{name}.v{template.version}.txt"
        ).read_bytes()
        assert template.sha256 == hashlib.sha256(raw).hexdigest()[:16]
        # ours end a section at the next header; the release's formats at Llama 3's end-of-text, as it trained them
        assert template.stop == (("<|end_of_text|>",) if name.startswith("release_") else ("\n###",))
        assert str(template.ref) == f"{name}.v{template.version}@{template.sha256}"
    assert load_prompt("proof").fields == ("informal_statement", "subgoals", "formal_statement")


def test_prompt_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="available: posterior, proof, release_proof, .*, repair, statement, subgoal"):
        load_prompt("proofs")
    with pytest.raises(ValueError, match=r"no version 9; available: \[1\]"):
        load_prompt("proof", 9)
    with pytest.raises(KeyError, match="needs fields \\['subgoals'\\]"):
        load_prompt("proof").render(informal_statement="x", formal_statement="y")
    with pytest.raises(ValueError, match="header line 'author: me'"):
        PromptTemplate.parse("name: x\nversion: 1\nauthor: me\n---\nbody")
    with pytest.raises(ValueError, match="a line `---`"):
        PromptTemplate.parse("just a body")
    assert parse_prompt_spec("proof.v2") == ("proof", 2) and parse_prompt_spec("proof") == ("proof", None)


def test_the_demonstrations_in_the_prompts_parse_as_their_role_expects():
    def sections(template: PromptTemplate, title: str) -> list[str]:
        parts = [p.split("\n### ")[0].strip() for p in template.body.split(f"### {title}\n")[1:]]
        return [p for p in parts if p and "{{" not in p]

    statements = sections(load_prompt("statement"), "Formal statement")
    assert len(statements) == 4 and all(parse_statement(s).value == s for s in statements)
    for demo in sections(load_prompt("proof"), "Formal proof"):
        statement = parse_statement(demo)
        proof = parse_proof(demo, statement.value)
        assert proof.ok and proof.problems == [] and proof.value.count("sledgehammer") == 3
        assert proof.value.count("(* Step") == 3
    for demo in sections(load_prompt("subgoal"), "Subgoals"):
        assert parse_subgoals(demo).ok and len(parse_subgoals(demo).value) == 3


def test_the_proof_prompt_ends_with_the_statement_so_a_model_continues_with_proof():
    problem = Problem(problem_name="p", formal_statement=STATEMENT, subgoals=["a = 4", "b = 3"])
    rendered = render_prompt(Role.PROOF, problem)
    assert rendered.text.endswith("### Formal proof\n" + STATEMENT + "\n")
    assert "Step 1: a = 4\nStep 2: b = 3" in rendered.text and rendered.subgoals_source == "subgoals"


# ------------------------------------------------------------------------------------------------ roles, rows


def test_roles_render_from_a_dsp_row(dsp_rows):
    problem = Problem.model_validate(dsp_rows[0])
    for role in Role:
        rendered = render_prompt(role, problem)
        assert "{{" not in rendered.text and problem.informal_statement in rendered.text
    proof = render_prompt(Role.PROOF, problem)
    assert proof.subgoals_source == "informal_proof" and len(proof.subgoals) == 5
    sample_row = {**dsp_rows[0], "role": "subgoal", "subgoals": ["x", "y"], "parse_ok": True}
    assert Problem.model_validate(sample_row).subgoals == ("x", "y")
    with pytest.raises(ValueError, match="needs formal_statement, subgoals"):
        render_prompt(Role.PROOF, Problem(problem_name="p"))


def test_bad_input_rows_name_the_line_and_the_field(tmp_path, dsp_rows):
    path = tmp_path / "problems.jsonl"
    good = json.dumps(dsp_rows[0])
    path.write_text(good + "\n\n" + json.dumps({"problem_name": "x", "informal_statement": "s"}) + "\n")
    assert len(read_problems(path, Role.STATEMENT)) == 2
    with pytest.raises(InputError, match=r"problems.jsonl:3: missing field 'formal_statement' \(role subgoal needs"):
        read_problems(path, Role.SUBGOAL)
    path.write_text(good + "\n{not json\n")
    with pytest.raises(InputError, match=r":2: not a JSON object"):
        read_problems(path, Role.STATEMENT)
    path.write_text(json.dumps({"informal_statement": "s"}) + "\n")
    with pytest.raises(InputError, match=r":1: field 'problem_name': Field required"):
        read_problems(path, Role.STATEMENT)


# ------------------------------------------------------------------------------------------------ configs


def test_configs_fail_naming_the_field_and_what_is_allowed():
    with pytest.raises(ValueError, match="SamplingParams.top_p must be in"):
        SamplingParams(top_p=0)
    with pytest.raises(ValueError, match="SamplingParams.stop must be a sequence"):
        SamplingParams(stop="\n")
    with pytest.raises(
        ValueError, match=r"unknown field\(s\) \['batchsize'\]; TransformersConfig allows: .*batch_size"
    ):
        backend_config({"kind": "transformers", "model": "m", "batchsize": 2})
    with pytest.raises(ValueError, match="'auto', 'float32', 'bfloat16' or 'float16'"):
        backend_config({"kind": "transformers", "model": "m", "dtype": "int8"})
    with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda, cuda:N, mps"):
        backend_config({"kind": "transformers", "model": "m", "device": "gpu"})
    with pytest.raises(ValueError, match="'transformers', 'vllm', 'openai'"):
        backend_config({"kind": "tgi", "model": "m"})
    with pytest.raises(ValueError, match="base_url must start with http"):
        backend_config({"kind": "openai", "model": "m", "base_url": "localhost:8000"})


def test_model_sources_local_paths_and_hub_ids(tmp_path):
    assert resolve_model_source("org/model") == ("org/model", False)
    with pytest.raises(FileNotFoundError, match=f"model path {tmp_path / 'nope'} does not exist"):
        resolve_model_source(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="no config.json"):
        resolve_model_source(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model_source(str(tmp_path)) == (str(tmp_path.resolve()), True)


def test_generators_and_the_generate_command_import_no_ml_stack():
    heavy = ("torch", "transformers", "vllm", "ray", "openai", "trl", "peft", "datasets")
    code = (
        "import sys\nimport generators, generators.backends, generators.samples, generators.scoring\n"
        "import generators.ray_pool, cli.commands.generate\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_a_sketch_closed_by_sledgehammer_as_a_whole_is_a_proof():
    from generators.parsing import parse_proof

    parsed = parse_proof("using assms sledgehammer\n\nSome chatter after it.")
    assert parsed.ok and parsed.value == "using assms sledgehammer"
    assert any("ignored text after the proof" in p for p in parsed.problems)
