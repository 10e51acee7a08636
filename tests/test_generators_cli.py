"""`subgoalxl generate` through typer's CliRunner: every role, files and stdout, bad rows, the HTTP backend."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.commands.generate import generate
from tests.openai_standin import CannedEngine, OpenAIStandin


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command()(generate)
    return app


@pytest.fixture
def run(app):
    def invoke(*args: str):
        return CliRunner().invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def problems(tmp_path, shared: Path) -> Path:
    path = tmp_path / "problems.jsonl"
    with open(shared / "datasets/dsp/new_complete_mini.jsonl", encoding="utf-8") as f:
        path.write_text("".join(next(f) for _ in range(2)))
    return path


@pytest.mark.parametrize("role", ["statement", "subgoal", "proof"])
def test_every_role_writes_one_sample_per_line_to_stdout(run, tiny_model_dir, problems, role):
    result = run(
        "--role", role, "--model", tiny_model_dir, "--input", problems, "--n", "2", "--max-tokens", "8", "--seed", "5"
    )
    assert result.exit_code == 0, result.output
    samples = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(samples) == 4 and {s["role"] for s in samples} == {role}
    first = samples[0]
    assert first["problem_name"] == "algebra_binomnegdiscrineq_10alt28asqp1" and isinstance(first["completion"], str)
    prov = first["provenance"]
    assert prov["model"] == str(tiny_model_dir) and prov["backend"] == "transformers" and prov["seed"] == 5
    assert prov["prompt"]["name"] == role and prov["prompt"]["version"] == 1
    assert prov["sampling"] == {
        "n": 2,
        "temperature": 0.7,
        "top_p": 0.95,
        "max_tokens": 8,
        "stop": ["\n###"],
        "seed": 5,
    }
    assert prov["prompt_tokens"] > 0 and prov["completion_tokens"] <= 8 and prov["finish_reason"] in ("stop", "length")
    assert {"parse_ok", "parse_problems", "formal_statement", "subgoals"} <= set(first)
    assert "4 samples" in result.stderr


def test_output_file_and_a_sample_file_feeds_the_next_role(run, tiny_model_dir, problems, tmp_path):
    out = tmp_path / "subgoals.jsonl"
    result = run(
        "--role", "subgoal", "--model", tiny_model_dir, "--input", problems, "--max-tokens", "4", "--output", out
    )
    assert result.exit_code == 0 and result.stdout == "" and f"to {out}" in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    rows[0]["subgoals"] = ["first claim", "second claim"]  # as a model that parsed would have written
    chained = tmp_path / "chained.jsonl"
    chained.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run("--role", "proof", "--model", tiny_model_dir, "--input", chained, "--max-tokens", "4", "--limit", "1")
    assert result.exit_code == 0, result.output
    [sample] = [json.loads(line) for line in result.stdout.splitlines()]
    assert sample["subgoals"] == ["first claim", "second claim"]
    assert sample["provenance"]["subgoals_source"] == "subgoals"


def test_bad_rows_and_options_fail_with_a_clear_message(run, tiny_model_dir, problems, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(problems.read_text() + json.dumps({"problem_name": "x", "informal_statement": "y"}) + "\n")
    result = run("--role", "subgoal", "--model", tiny_model_dir, "--input", bad)
    assert result.exit_code == 2 and "bad.jsonl:3: missing field 'formal_statement'" in result.stderr
    result = run("--role", "proof", "--model", tmp_path / "no-model", "--input", problems)
    assert result.exit_code == 2 and f"model path {tmp_path / 'no-model'} does not exist" in result.stderr
    result = run("--role", "proof", "--model", "m", "--input", problems, "--base-url", "http://127.0.0.1:1/v1")
    assert result.exit_code == 2 and "--base-url is only used with --backend openai" in result.stderr
    result = run("--role", "proof", "--model", "m", "--input", problems, "--backend", "openai")
    assert result.exit_code == 2 and "needs --base-url" in result.stderr
    result = run("--role", "proof", "--model", "m", "--input", tmp_path / "none.jsonl")
    assert result.exit_code == 2 and "does not exist" in result.stderr
    result = run("--role", "proof", "--model", tiny_model_dir, "--input", problems, "--prompt", "nope")
    assert result.exit_code == 2 and "no prompt named 'nope'" in result.stderr


def test_the_openai_backend_through_the_command(run, problems):
    proof = 'proof -\n  have c1: "x = x"\n    sledgehammer\n  show ?thesis\n    using c1 sledgehammer\nqed'
    with OpenAIStandin(CannedEngine([proof + "\n\n### Informal statement\n"])) as server:
        args = ["--role", "proof", "--model", "tiny", "--input", problems, "--backend", "openai"]
        url = server.base_url
        result = run(*args, "--base-url", url)
    assert result.exit_code == 0, result.output
    samples = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["proof"] for s in samples] == [proof, proof] and all(s["parse_ok"] for s in samples)
    assert samples[0]["provenance"]["backend"] == "openai" and samples[0]["provenance"]["base_url"] == url
