"""`subgoalxl bench`: every benchmark at a tiny size, for the shape and sanity of its JSON (never for speed)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.perf.synthetic import (
    CheckModel,
    LatencyModel,
    SyntheticCheckWorker,
    SyntheticWorkload,
    synthetic_problem,
)
from cli.commands.bench import bench_app

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parent.parent


def test_pipeline_json_has_the_promised_fields_and_its_counts_add_up(ray_local, tmp_path):
    out = tmp_path / "pipeline.json"
    args = ["pipeline", "--json", "--attempts", "60", "--problems", "3", "--checkers", "2", "--check-median-ms", "5"]
    args += ["--prove-rate", "0.1", "--solvable", "1", "--duplicate-rate", "0.3", "--naive-attempts", "10"]
    result = CliRunner().invoke(bench_app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == json.loads(out.read_text())
    for key in ("parallel_efficiency", "overhead_ms_per_attempt", "attempts", "checkers", "peak_rss_mb"):
        assert key in data
    assert data["attempts"] == 60 and data["checkers"] == 2 and data["peak_rss_mb"] > 0
    assert 0 < data["parallel_efficiency"] <= 1.05
    assert data["attempts_done"] + data["attempts_skipped"] == data["attempts"]
    assert data["checked"] + data["deduplicated"] + data["cancelled"] == data["attempts_done"]
    counts = data["counts"]
    assert counts["attempts_checked"] == data["checked"] and counts.get("attempts_dedup", 0) == data["deduplicated"]
    assert counts.get("verdict_proved", 0) >= data["solved"] == counts["solutions"]
    assert data["deduplicated"] > 0  # 30% duplicates: the scheduler caught some
    assert data["check_s_busy"] <= data["check_s_planned"] + 1e-6
    naive = data["naive"]
    assert naive["sample_attempts"] == 10 and naive["projected_s"] > 0
    assert data["machine"]["cpus_logical"] >= 1 and data["command"]


def test_growth_reports_every_size_and_resumes_without_redoing_work(ray_local, tmp_path):
    from benchmarks.perf.pipeline import GrowthParams, run_growth

    data = run_growth(GrowthParams(sizes=(120, 40), problems=4, checkers=2))
    assert [p["attempts"] for p in data["points"]] == [40, 120]
    for point in data["points"]:
        assert point["attempts_done"] == point["attempts"]
        assert point["resume_checked"] == 0 and point["resume_s"] >= 0
        assert point["peak_rss_mb"] > 0 and point["ms_per_attempt"] > 0
    for key in ("slope_ms_per_attempt_per_10k", "slope_rss_growth_mb_per_10k", "slope_resume_s_per_10k"):
        assert isinstance(data[key], float)


def test_store_benchmark_writes_every_row_and_times_the_report_queries(tmp_path):
    from benchmarks.perf.store import StoreParams, run_store

    data = run_store(StoreParams(rows=400, producers=3, naive_rows=60, problems=4), workdir=tmp_path)
    assert data["rows_written"] == 400
    assert data["batched_rows_per_s"] > 0 and data["naive_rows_per_s"] > 0 and data["batched_over_naive"] > 0
    for key in ("counts_s", "problems_s", "solutions_s", "progress_full_scan_s", "progress_resume_s"):
        assert data["report"][key] >= 0


def test_isabelle_benchmark_skips_with_a_message_without_isabelle(monkeypatch, tmp_path, shared):
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "isabelle.json"
    data_dir = shared / "datasets" / "minif2f"
    result = CliRunner().invoke(bench_app, ["isabelle", "--data", str(data_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.stdout and "Isabelle" in result.stdout
    data = json.loads(out.read_text())
    assert data["skipped"] is True and "isabelle install" in data["reason"]


def test_isabelle_inputs_are_shipped_proofs_written_as_checkable_theories(shared, tmp_path):
    from benchmarks.perf.isabelle import HEAP_IMPORTS, shipped_proofs, write_theories
    from isabelle_env.theory_text import parse_problem

    problems = shipped_proofs(shared / "datasets" / "minif2f", 20)
    assert len({p.name for p in problems}) == 20
    assert all(p.had_shipped_proof and set(p.imports) <= HEAP_IMPORTS for p in problems)
    paths = write_theories(problems, tmp_path)
    for problem, path in zip(problems, paths, strict=True):
        theory = parse_problem(path.read_text())
        assert path.stem == theory.theory_name == problem.name
        assert theory.has_shipped_proof and "sorry" not in theory.proof
    assert len(shipped_proofs(shared / "datasets" / "minif2f", 147, all_imports=True)) == 147
    with pytest.raises(ValueError, match="--all-imports"):
        shipped_proofs(shared / "datasets" / "minif2f", 147)


DSP = "datasets/dsp/results/human_100_proofs.jsonl.tar.gz"


def test_isabelle_benchmark_arguments_are_checked_before_anything_runs(tmp_path, shared):
    runner = CliRunner()
    bad = runner.invoke(bench_app, ["isabelle", "--isabelle-server", "localhost:http", "--password", "x"])
    assert bad.exit_code == 2 and "expected HOST:PORT" in bad.stderr
    nopw = runner.invoke(bench_app, ["isabelle", "--isabelle-server", "127.0.0.1:9"], env={})
    assert nopw.exit_code == 2 and "needs its password" in nopw.stderr
    no_data = runner.invoke(bench_app, ["isabelle", "--isabelle-server", "127.0.0.1:9", "--password", "x"], env={})
    assert no_data.exit_code == 2 and "pass --data PATH" in no_data.stderr
    data = ["--data", str(shared / "datasets" / "minif2f")]
    down = runner.invoke(bench_app, ["isabelle", "--isabelle-server", "127.0.0.1:9", "--password", "x", *data])
    assert down.exit_code == 2 and "cannot connect to the Isabelle server at 127.0.0.1:9" in down.stderr
    assert runner.invoke(bench_app, ["isabelle", "--dsp", "0"]).exit_code == 2


def test_dsp_sketches_are_a_fixed_set_checked_under_the_minif2f_header(shared, tmp_path):
    from benchmarks.perf.isabelle import BENCH_IMPORTS, dsp_cases, read_dsp_proofs
    from isabelle_env.theory_text import parse_problem

    cases = dsp_cases(shared / DSP, 10)
    names = [c.name for c in cases]
    assert names == sorted(names) and len(set(names)) == 10 and names[0] == "aime1983_2"
    for case in cases:
        finished = parse_problem(case.finished_theory)
        assert finished.imports == BENCH_IMPORTS == case.problem.imports and finished.has_shipped_proof
        assert finished.theory_name == case.problem.theory_name and finished.statement == case.problem.statement
        assert case.sketch.count("sledgehammer") == case.sites > 0 and "<ATP>" not in case.sketch
    assert "Symmetric_Polynomials.Vieta" not in BENCH_IMPORTS and "HOL-Analysis.Analysis" in BENCH_IMPORTS
    with pytest.raises(ValueError, match="does not exist"):
        read_dsp_proofs(tmp_path / "nope.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"name": 1}\n')
    with pytest.raises(ValueError, match="problem_name"):
        read_dsp_proofs(tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match="lower --dsp"):
        dsp_cases(shared / DSP, 1000)


def test_the_overhead_is_verify_time_over_the_finished_proofs_time():
    from benchmarks.perf.isabelle import dsp_summary

    rows = [
        {"finished_ok": True, "finished_s": 1.0, "verdict": "proved", "verify_s": 3.0},
        {"finished_ok": True, "finished_s": 0.5, "verdict": "failed", "verify_s": 4.5},
        {"finished_ok": False, "finished_s": 2.5, "verdict": "proved", "verify_s": 2.5},
    ]
    summary = dsp_summary(rows)
    assert (summary["finished_s"], summary["verify_s"], summary["overhead"]) == (4.0, 10.0, 2.5)
    assert summary["median_overhead"] == 3.0 and summary["finished_ok"] == 2 and summary["proved"] == 2


def test_isabelle_benchmark_side_by_side_against_a_running_server(standin, shared, tmp_path):
    """The stand-in replays recorded replies: this checks the contenders and the JSON, never Isabelle's speed."""
    from tests.conftest import address_of

    server = standin(rename_theories=True)
    address = address_of(server)
    out = tmp_path / "isabelle.json"
    args = ["isabelle", "--isabelle-server", str(address), "--data", str(shared / "datasets" / "minif2f")]
    args += ["--proofs", "3", "--dsp-proofs", str(shared / DSP), "--dsp", "2", "--out", str(out)]
    refused = CliRunner().invoke(bench_app, args, env={"SUBGOALXL_ISABELLE_PASSWORD": address.password})
    assert refused.exit_code == 2  # nothing recorded for the server's release holds the miniF2F imports
    assert "does not hold" in refused.stderr and "build-session" in refused.stderr and "--session" in refused.stderr

    result = CliRunner().invoke(
        bench_app, [*args, "--session", "HOL"], env={"SUBGOALXL_ISABELLE_PASSWORD": address.password}
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["session"] == "HOL" and data["isabelle"] == f"server {address}" and len(data["proofs"]) == 3
    assert data["warm"]["ok"] == data["fresh_session"]["ok"] == 3 and data["fresh_server"] is None
    assert data["warm_checks_per_s"] > 0 and data["fresh_session_checks_per_s"] > 0
    ratio = data["warm_checks_per_s"] / data["fresh_session_checks_per_s"]
    assert data["warm_over_fresh_session"] == pytest.approx(ratio, rel=0.01)
    starts = [a for name, a in server.received if name == "session_start"]
    assert starts == [{"session": "HOL"}] * 4  # one warm session, then one per check
    dsp = data["dsp"]
    assert [p["name"] for p in dsp["proofs"]] == ["aime1983_2", "aime1989_8"]
    verify, finished = (sum(p[k] for p in dsp["proofs"]) for k in ("verify_s", "finished_s"))
    assert dsp["overhead"] == pytest.approx(verify / finished, rel=0.05) and dsp["median_overhead"] > 0
    assert data["session_rss_mb"] == []  # a server we do not own has no process tree here to measure
    assert "checker overhead: verify / finished" in result.stdout and "warm / fresh session" in result.stdout


def test_generation_benchmark_skips_without_a_gpu_and_vllm(tmp_path):
    from benchmarks.perf.generation import unavailable

    if unavailable() is None:
        pytest.skip("a CUDA GPU and vLLM are present here: the skip path is not taken")
    out = tmp_path / "generation.json"
    args = ["generation", "--case", "vllm", "--model", "whatever", "--out", str(out)]
    result = CliRunner().invoke(bench_app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("skipped:")
    assert json.loads(out.read_text())["skipped"] is True


def test_generation_batching_measures_both_phases_on_the_same_samples(ray_local, tmp_path):
    out = tmp_path / "batching.json"
    args = ["generation", "--requests", "4", "--max-tokens", "8", "--json", "--out", str(out)]
    result = CliRunner().invoke(bench_app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["benchmark"] == "generation-batching" and data == json.loads(out.read_text())
    alone, together = data["one_at_a_time"], data["concurrent"]
    assert data["same_samples"] is True and alone["tokens"] == together["tokens"] > 0
    assert alone["backend_calls"] == 4 and together["backend_calls"] < 4 and data["largest_batch"] > 1
    assert data["concurrent_over_one_at_a_time"] == round(together["tokens_per_s"] / alone["tokens_per_s"], 2)
    bad = CliRunner().invoke(bench_app, ["generation", "--case", "tpu"])
    assert bad.exit_code == 2 and "--case must be batching or vllm" in bad.output


def test_the_synthetic_checker_sleeps_cancels_and_says_it_is_synthetic():
    model = CheckModel(LatencyModel(0.2, 0.0), prove_rate=1.0, solvable=1.0)
    worker = SyntheticCheckWorker(model, sessions=1)
    problem = synthetic_problem(0)
    verdict = SyntheticCheckWorker(CheckModel(LatencyModel(0.0)), 1).verify("k0", problem.theory_text, "by simp")
    assert (
        verdict["kind"] == "failed" and verdict["isabelle_version"] == "synthetic" and "synthetic" in verdict["reason"]
    )
    worker.cancel(["early"])
    assert worker.verify("early", problem.theory_text, "by simp") is None  # cancelled before it started
    model = CheckModel(LatencyModel(60.0, 0.0))  # a check that only a cancel ends
    slow = SyntheticCheckWorker(model, sessions=1)
    results = {}
    thread = threading.Thread(target=lambda: results.update(v=slow.verify("late", problem.theory_text, "by auto")))
    thread.start()
    while not slow._running:
        time.sleep(0.01)
    slow.cancel(["late"])
    thread.join(30)
    assert not thread.is_alive() and results["v"] is None
    assert worker.verify("k1", problem.theory_text, "by auto")["kind"] == "proved"
    assert worker.busy()["checks"] == 1 and worker.busy()["checks"] == 0  # busy() resets
    assert slow.busy()["cancelled"] == 1


def test_the_workload_is_deterministic_and_duplicates_repeat_earlier_candidates():
    workload = SyntheticWorkload(3, 50, CheckModel(LatencyModel(0.05), 0.1, 0.5, seed=7), duplicate_rate=0.5)
    again = SyntheticWorkload(3, 50, CheckModel(LatencyModel(0.05), 0.1, 0.5, seed=7), duplicate_rate=0.5)
    names = [p.name for p in workload.problem_list()]
    texts = {p.name: p.theory_text for p in workload.problem_list()}
    cands = [workload.candidate(n, i) for n in names for i in range(50)]
    assert cands == [again.candidate(n, i) for n in names for i in range(50)]
    assert 0 < len(set(cands)) < len(cands)
    for n in names:
        for i in range(50):
            assert workload.variant(n, i) <= i
            c = workload.candidate(n, i)
            assert workload.check.outcome(texts[n], c) == again.check.outcome(texts[n], c)


def test_nothing_outside_benchmarks_perf_reaches_the_synthetic_checker():
    """A made-up verdict must never reach `eval` or `prove`: only the bench CLI imports benchmarks.perf."""
    offenders = []
    for package in ("agent", "isabelle_env", "generators", "expert_iteration", "benchmarks"):
        for path in (REPO / package).rglob("*.py"):
            if path.name == "cli_bench.py" or "perf" in path.relative_to(REPO).parts:
                continue
            if re.search(r"benchmarks\.perf|from benchmarks import perf", path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_salvage_benchmark_breaks_every_automated_step_and_skips_without_isabelle(monkeypatch, tmp_path, shared):
    from benchmarks.perf.salvage import broken_proofs
    from isabelle_env.theory_text import find_atp_spans

    proofs = broken_proofs(str(shared / DSP), 5)
    assert len(proofs) == 5 and all(p.steps >= 1 for p in proofs)
    assert all("(*<ATP>*)" not in p.candidate and p.candidate.count("by (simp only:)") >= p.steps for p in proofs)
    assert all(not find_atp_spans(p.candidate) for p in proofs)
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    result = CliRunner().invoke(
        bench_app, ["salvage", "--dsp-proofs", str(shared / DSP), "--out", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 0, result.output
    assert "skipped: this benchmark needs a real Isabelle" in result.stdout
    bad = CliRunner().invoke(bench_app, ["salvage", "--broken", "sorry", "--isabelle-server", "127.0.0.1:9"])
    assert bad.exit_code == 2 and "not allowed" in bad.stderr


def test_salvage_benchmark_side_by_side_against_a_running_server(standin, shared, tmp_path):
    """The stand-in closes every goal `by auto` and nothing `by (simp only:)`: the modes differ as salvage does."""
    from tests.conftest import address_of
    from tests.scripted_prover import ScriptedProver

    server = standin(rename_theories=True, choose_transcript=ScriptedProver({}, everywhere={"by auto"}))
    address = address_of(server)
    out = tmp_path / "salvage.json"
    args = ["salvage", "--isabelle-server", str(address), "--dsp-proofs", str(shared / DSP), "--limit", "3"]
    args += ["--session", "HOL", "--no-sledgehammer", "--out", str(out)]
    result = CliRunner().invoke(bench_app, args, env={"SUBGOALXL_ISABELLE_PASSWORD": address.password})
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    modes = data["modes"]
    assert list(modes) == ["off", "gaps", "coarsening:3"] and data["proofs"] == 3
    assert modes["off"]["closed"] == 0 and modes["gaps"]["closed"] == 3
    assert modes["gaps"]["by_path"] == {"gaps_filled": 3} and modes["gaps"]["seconds_per_closed"] > 0
    assert "gaps: closed" in result.stdout
