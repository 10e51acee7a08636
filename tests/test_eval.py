"""The main job end to end: `subgoalxl eval` with the hammer prover, and the SubgoalXL pipeline on actors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agent.config import parse_config
from agent.store import RunStore
from cli.main import app
from tests.conftest import address_of
from tests.scripted_prover import ScriptedProver
from tests.test_search import PROBLEMS, SCRIPT, SOLVABLE, search_toys

pytestmark = pytest.mark.ray


def test_eval_command_runs_resumes_and_summarises(standin, tmp_path, ray_local, monkeypatch):
    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    data = tmp_path / "problems"
    data.mkdir()
    for problem in PROBLEMS:
        (data / f"{problem.name}.thy").write_text(problem.theory_text)
    address = address_of(server)
    monkeypatch.setenv("SUBGOALXL_ISABELLE_PASSWORD", address.password)
    monkeypatch.setenv("SUBGOALXL_CACHE_DIR", str(tmp_path / "cache"))
    config = tmp_path / "run.toml"
    config.write_text("[isabelle]\ncheckers = 2\n\n[checking]\ntactic_timeout = 5\nsledgehammer_timeout = 2\n")
    args = ["eval", "--data", str(data), "--config", str(config), "--isabelle-server", str(address)]
    args += ["--store", str(tmp_path / "runs.sqlite"), "--json", "--run-id", "e1"]
    runner = CliRunner()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["run_id"] == "e1" and summary["solved"] == len(SOLVABLE) and summary["problems"] == 10
    assert summary["by_category"] == {"other": len(SOLVABLE)} and len(summary["fingerprint"]) == 64
    with RunStore(tmp_path / "runs.sqlite") as store:  # every verdict's oracles, salvage path and header recorded
        proved = [a for a in store.attempts("e1") if a.get("verdict_kind") == "proved"]
    assert proved and all(a["oracles"] == "[]" and a["salvage"] == "as_written" for a in proved)
    assert all(a["header"] == "benchmark" for a in proved)  # eval's --benchmark minif2f: miniF2F's fixed header
    again = runner.invoke(app, args)
    assert json.loads(again.stdout.strip().splitlines()[-1])["checked"] == 0  # resumed: nothing redone
    limited = runner.invoke(app, [*args[:-2], "--run-id", "e2", "--problems", "toy2,toy5"])
    assert json.loads(limited.stdout.strip().splitlines()[-1])["problems"] == 2
    bad = runner.invoke(app, [*args, "--split", "train"])
    assert bad.exit_code == 2 and "--split must be valid or test" in bad.stderr
    wrong_key = tmp_path / "bad.toml"
    wrong_key.write_text("[search]\natempts = 3\n")
    bad = runner.invoke(app, ["eval", "--data", str(data), "--config", str(wrong_key)])
    assert bad.exit_code == 2 and "unknown key 'search.atempts'" in bad.stderr
    assert runner.invoke(app, ["eval"]).exit_code == 2


def test_prove_prints_the_proof(standin, tmp_path, ray_local, monkeypatch):
    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    address = address_of(server)
    monkeypatch.setenv("SUBGOALXL_ISABELLE_PASSWORD", address.password)
    theory = tmp_path / "toy4.thy"
    theory.write_text(PROBLEMS[4].theory_text)
    args = ["prove", "--statement", str(theory), "--isabelle-server", str(address)]
    result = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "runs.sqlite")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "using assms by simp"
    theory5 = tmp_path / "toy5.thy"
    theory5.write_text(PROBLEMS[5].theory_text)
    failed = CliRunner().invoke(app, ["prove", "--statement", str(theory5), "--isabelle-server", str(address)])
    assert failed.exit_code == 1 and "no proof found for toy5" in failed.stderr


def test_subgoal_pipeline_on_generator_actors(standin, tmp_path, ray_local):
    import ray

    import tests.canned_backend as canned
    from agent.subgoal_proposer import SubgoalProposer

    ray.cloudpickle.register_pickle_by_value(canned)
    prover = ScriptedProver({"x = x": {"by auto"}, "?thesis": {"by simp"}})
    server = standin(rename_theories=True, choose_transcript=prover)
    cfg = parse_config(
        {
            "search": {"prover": "subgoal", "attempts_per_problem": 2},
            "generation": {"model": "canned", "num_cpus": 0.25, "subgoal_samples": 1, "proof_samples": 2},
            "checking": {"tactic_timeout": 5, "sledgehammer_timeout": 2},
        }
    )
    problems = [p.__class__(**{**p.__dict__, "informal_statement": f"Show {p.name}."}) for p in PROBLEMS[:4]]
    proposer = SubgoalProposer(cfg.generation, backend_factory=lambda model: canned.CannedBackend)
    with RunStore(tmp_path / "runs.sqlite") as store:
        stats = search_toys(store, "sg", server, cfg=cfg, problems=problems, proposer=proposer)
        assert stats.solved == 4
        solution = store.solutions("sg")["toy1"]
        assert '(* Step 1: Since x is given, compute the sum. *)\n  have c1: "x = x" using h0 by auto' in solution
        samples = [s for s in store.samples_for("sg", "toy1", 0)]
        assert [s["stage"] for s in samples] == ["proof", "proof", "subgoal"]
        assert samples[0]["prompt_name"] == "proof" and samples[0]["prompt_version"].startswith("1:")
        assert all(s["parse_ok"] == 1 and s["model"] == "canned" for s in samples)
        assert json.loads(store.run("sg")["models"])["proof"] == "canned"


def test_a_ten_problem_run_with_the_tiny_model_completes(standin, tmp_path, ray_local, tiny_model_dir):
    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    cfg = parse_config(
        {
            "search": {"prover": "subgoal"},
            "generation": {"model": str(tiny_model_dir), "num_cpus": 0.5, "max_tokens": 24},
            "checking": {"tactic_timeout": 5, "sledgehammer_timeout": 2},
        }
    )
    problems = [p.__class__(**{**p.__dict__, "informal_statement": f"Show {p.name}."}) for p in PROBLEMS]
    with RunStore(tmp_path / "runs.sqlite") as store:
        stats = search_toys(store, "tiny", server, cfg=cfg, problems=problems)
        assert stats.status == "finished" and stats.attempts_done == 10
        counts = store.counts("tiny")
        # an untrained model writes no parseable proof: every attempt is recorded as such, with its samples
        assert counts.get("attempts_unparsed", 0) + counts.get("attempts_checked", 0) == 10
        assert counts["samples"] >= 10
        sample = store.samples_for("tiny", "toy0", 0)[0]
        assert sample["model"] == str(tiny_model_dir) and sample["backend"] == "transformers"


def test_persistent_generation_errors_stop_the_run_loudly(standin, tmp_path, ray_local):
    from concurrent.futures import Future

    from agent.search import SearchAborted

    class Broken:
        name = "broken"

        def propose(self, problem, attempt_index, seed):
            future: Future = Future()
            future.set_exception(RuntimeError("model server unreachable"))
            return future

        def models(self):
            return {}

        def close(self):
            pass

    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    with RunStore(tmp_path / "runs.sqlite") as store, pytest.raises(SearchAborted, match="model server unreachable"):
        search_toys(store, "broken", server, proposer=Broken())


def _autoformalizing_run(standin, tmp_path, problem, run_id):
    """One subgoal search with autoformalization on (canned model: its statement is `2 + x = 4`)."""
    import ray

    import tests.canned_backend as canned
    from agent.run import start_checkers
    from agent.subgoal_proposer import SubgoalProposer

    ray.cloudpickle.register_pickle_by_value(canned)
    prover = ScriptedProver({"x = x": {"by auto"}, "?thesis": {"by simp"}})
    server = standin(rename_theories=True, choose_transcript=prover)
    cfg = parse_config(
        {
            "search": {"prover": "subgoal"},
            "generation": {"model": "canned", "num_cpus": 0.25, "autoformalize": True, "statement_samples": 2},
            "checking": {"tactic_timeout": 5, "sledgehammer_timeout": 2},
        }
    )
    dispatcher = start_checkers(cfg, address_of(server), cache_path="")
    try:
        proposer = SubgoalProposer(
            cfg.generation, statement_checker=dispatcher.check_statement, backend_factory=lambda m: canned.CannedBackend
        )
        store = RunStore(tmp_path / "runs.sqlite")
        stats = search_toys(store, run_id, server, cfg=cfg, problems=[problem], proposer=proposer)
    finally:
        dispatcher.close()
    return store, stats, prover


def test_a_proof_of_an_autoformalized_statement_never_solves_a_benchmark_problem(standin, tmp_path, ray_local):
    from agent.proposers import statement_hash
    from benchmarks.report import build_report, to_json

    # the benchmark says x + 2 = 4; the model states (and proves) 2 + x = 4: that is not the task
    problem = PROBLEMS[2].__class__(**{**PROBLEMS[2].__dict__, "informal_statement": "If x = 2 then x + 2 = 4."})
    store, stats, prover = _autoformalizing_run(standin, tmp_path, problem, "auto")
    with store:
        assert stats.solved == 0 and stats.proved_own_statement == 1
        assert store.solutions("auto") == {}
        stages = [s["stage"] for s in store.samples_for("auto", "toy2", 0)]
        assert stages.count("statement") == 2 and "proof" in stages
        (attempt,) = store.attempts("auto")
        assert attempt["verdict_kind"] == "proved" and attempt["benchmark_statement"] == 0
        assert 'shows "2 + x = 4"' in attempt["statement"]
        assert attempt["statement_hash"] == statement_hash(attempt["statement"])
        report = build_report(store, ["auto"])
    union = report.union
    assert union.solved == 0 and union.pass_at_k[1] == 0.0 and union.proved_own_statement == ("toy2",)
    (row,) = [p.to_json() for p in report.problems]
    assert row["solved"] is False and (row["n"], row["c"]) == (1, 0) and row["statement_source"] == "benchmark"
    assert "2 + x" not in str(row)  # the leaderboard rows never carry the model's statement
    (own,) = to_json(report)["proved_own_statement"]
    assert own["problem"] == "toy2" and 'shows "2 + x = 4"' in own["statement"]
    # the statement was checked on its own (with `sorry`, quick_and_dirty on) before any proof of it
    statement_probe = next(t for t in prover.seen if "SXL_statement_" in t)
    assert 'shows "2 + x = 4"' in statement_probe and "sorry" in statement_probe
    assert 'shows "2 + x = 4"' in prover.seen[-1] and "sorry" not in prover.seen[-1]


def test_a_problem_without_a_formal_statement_is_stated_by_the_model_and_the_report_says_so(
    standin, tmp_path, ray_local
):
    from benchmarks.report import build_report

    problem = PROBLEMS[2].__class__(
        name="toy2", theory_text="", formal_statement="", informal_statement="If x = 2 then 2 + x = 4."
    )
    store, stats, _ = _autoformalizing_run(standin, tmp_path, problem, "informal")
    with store:
        assert stats.solved == 1 and stats.proved_own_statement == 0
        (attempt,) = store.attempts("informal")
        assert attempt["benchmark_statement"] == 0 and 'shows "2 + x = 4"' in attempt["statement"]
        assert store.problems("informal")[0]["has_formal_statement"] == 0
        report = build_report(store, ["informal"])
    assert report.union.solved == 1 and report.union.model_stated == 1
    (row,) = [p.to_json() for p in report.problems]
    assert row["solved"] is True and row["statement_source"] == "model"
    assert any(n.startswith("STATEMENTS BY THE MODEL: 1 problem(s)") for n in report.notes)
    assert 'shows "2 + x = 4"' in report.problems[0].statement  # the statement shown is the one proved


def test_an_informal_only_source_needs_autoformalization(standin, tmp_path, monkeypatch):
    rows = tmp_path / "informal.jsonl"
    row = {"problem_name": "toy9", "informal_statement": "Show 1 + 1 = 2.", "informal_proof": None}
    rows.write_text(json.dumps({**row, "formal_statement": None}) + "\n")
    server = standin()
    address = address_of(server)
    monkeypatch.setenv("SUBGOALXL_ISABELLE_PASSWORD", address.password)
    args = ["eval", "--data", str(rows), "--isabelle-server", str(address), "--store", str(tmp_path / "r.sqlite")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "toy9 have no formal statement" in result.stderr and "generation.autoformalize = true" in result.stderr
    listed = CliRunner().invoke(app, ["problems", str(rows)])
    assert listed.exit_code == 0 and "no formal statement (the model states it)" in listed.stdout


def test_the_subgoal_proposer_repairs_from_the_verdict(ray_local):
    import ray

    import tests.canned_backend as canned
    from agent.subgoal_proposer import SubgoalProposer

    ray.cloudpickle.register_pickle_by_value(canned)
    cfg = parse_config({"search": {"prover": "subgoal"}, "generation": {"model": "canned", "num_cpus": 0.25}})
    proposer = SubgoalProposer(cfg.generation, backend_factory=lambda model: canned.CannedBackend)
    verdict = {
        "kind": "failed",
        "reason": "no tactic closed the sledgehammer steps on lines 2",
        "steps": [{"line": 2, "closed_by": None, "tried": ["by auto", "by simp"]}],
        "messages": [{"line": 3, "text": "Failed to finish proof"}],
        "findings": [],
    }
    try:
        proposal = proposer.repair(PROBLEMS[2], 0, 1, 'proof -\n  have c1: "x = 0" sledgehammer\nqed', verdict, 5)
        proposal = proposal.result(timeout=60)
    finally:
        proposer.close()
    assert proposal.repair_round == 1 and proposal.candidate == canned.PROOF.strip()
    (sample,) = proposal.samples
    assert (sample["stage"], sample["k"], sample["prompt_name"]) == ("repair", 1, "repair")
    assert "line 2: no tactic closed this step (tried: by auto, by simp)" in sample["prompt"]
    assert "line 3: Failed to finish proof" in sample["prompt"]


def test_eval_without_isabelle_fails_before_starting_anything(tmp_path, monkeypatch):
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    data = tmp_path / "problems"
    data.mkdir()
    (data / "toy2.thy").write_text(PROBLEMS[2].theory_text)
    store = tmp_path / "runs.sqlite"
    result = CliRunner().invoke(app, ["eval", "--data", str(data), "--store", str(store), "--run-id", "none"])
    assert result.exit_code == 2
    assert "no Isabelle found: run `subgoalxl isabelle install`" in result.stderr
    assert "resume" not in result.stderr and not store.exists()  # nothing was started, nothing to resume


def test_the_server_named_in_the_config_is_the_one_checks_use(standin, tmp_path, ray_local, monkeypatch):
    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    address = address_of(server)
    monkeypatch.setenv("SUBGOALXL_ISABELLE_PASSWORD", address.password)
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no local Isabelle: only [isabelle] server can serve the checks
    theory = tmp_path / "toy4.thy"
    theory.write_text(PROBLEMS[4].theory_text)
    config = tmp_path / "run.toml"
    config.write_text(f'[isabelle]\nserver = "{address.host}:{address.port}"\n')
    args = ["prove", "--statement", str(theory), "--config", str(config), "--store", str(tmp_path / "runs.sqlite")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert any(name == "session_start" for name, _ in server.received)  # the checkers' sessions are on it
