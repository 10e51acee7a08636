"""`subgoalxl prompts list|show`: templates with their versions, rendered on real miniF2F and DSP problems."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.commands.prompts import prompts_app
from generators.prompt_templates import available_prompts, load_prompt


@pytest.fixture(scope="module")
def run():
    app = typer.Typer()
    app.add_typer(prompts_app, name="prompts")

    def invoke(*args: object):
        return CliRunner().invoke(app, ["prompts", *(str(a) for a in args)])

    return invoke


def test_list_shows_every_template_version_with_its_role(run):
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    rows = {(r["name"], r["version"]): r for r in json.loads(result.output)}
    assert set(rows) == {(n, v) for n, versions in available_prompts().items() for v in versions}
    proof = rows["proof", 1]
    assert proof["used_by"] == "proof" and proof["sha256"] == load_prompt("proof", 1).sha256
    assert proof["fields"] == ["informal_statement", "subgoals", "formal_statement"] and proof["stop"] == ["\n###"]
    assert rows["posterior", 1]["used_by"] == "scorer"
    text = run("list").output
    assert f"proof.v1@{proof['sha256']}" in text and "used by: proof" in text


def test_show_renders_a_role_on_a_minif2f_problem_with_field_sources_and_token_count(run, shared, tiny_model_dir):
    from transformers import AutoTokenizer

    minif2f = shared / "datasets/minif2f"
    args = ["show", "proof", "--data", minif2f, "--problem", "mathd_algebra_10", "--tokenizer", tiny_model_dir]
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["prompt"] == load_prompt("proof").ref.to_json() and shown["role"] == "proof"
    assert shown["problem"]["name"] == "mathd_algebra_10" and shown["problem"]["split"] == "valid"
    assert shown["fields"]["informal_statement"].startswith("from the problem (")
    assert shown["fields"]["subgoals"] == "2 step(s) from the informal proof's lines (no subgoal model ran)"
    assert shown["text"].endswith('theorem mathd_algebra_10:\n  "abs ((120::real) / 100 * 30 - 130 / 100 * 20) = 10"\n')
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert shown["tokens"] == len(tokenizer(shown["text"]).input_ids) > 1000

    text = run(*args).output
    assert text.startswith(f"prompt {load_prompt('proof').ref} (")
    assert "problem mathd_algebra_10 (valid, " in text and f"{shown['tokens']} tokens" in text
    assert "{{subgoals}}: 2 step(s)" in text and text.rstrip().endswith('- 130 / 100 * 20) = 10"')


def test_show_on_jsonl_rows_other_templates_and_without_data(run, shared: Path):
    rows = shared / "datasets/dsp/new_complete_mini.jsonl"
    first = json.loads(rows.read_text().splitlines()[0])
    shown = json.loads(run("show", "subgoal", "--data", rows, "--version", "1", "--json").output)
    assert shown["problem"]["name"] == first["problem_name"] and shown["tokens"] is None
    assert set(shown["fields"]) == {"informal_statement", "formal_statement", "informal_proof"}
    assert first["informal_statement"].strip() in shown["text"]

    posterior = json.loads(run("show", "posterior", "--data", rows, "--json").output)
    assert posterior["role"] is None and posterior["fields"]["theorem"].startswith("the formal statement with `sorry`")

    bare = run("show", "statement")
    assert bare.exit_code == 0 and "{{informal_statement}}: not filled: give --data PATH" in bare.output
    assert bare.output.rstrip().endswith("{{informal_statement}}\n\n### Formal statement")


def test_show_fails_clearly(run, shared):
    version = run("show", "proof", "--version", "9")
    assert version.exit_code == 2 and "prompt 'proof' has no version 9; available: [1]" in version.output
    unknown = run("show", "prover")
    assert unknown.exit_code == 2 and "no prompt named 'prover'" in unknown.output
    assert "--problem needs --data" in run("show", "proof", "--problem", "x").output
    missing = run("show", "proof", "--data", shared / "datasets/minif2f", "--problem", "mathd_algebra_1000")
    assert missing.exit_code == 2 and "unknown problem name(s)" in missing.output
