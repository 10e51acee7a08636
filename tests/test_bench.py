"""`subgoalxl bench`: every benchmark at a tiny size, for the shape and sanity of its JSON (never for speed)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli_bench import bench_app
from benchmarks.perf.synthetic import (
    CheckModel,
    LatencyModel,
    SyntheticCheckWorker,
    SyntheticWorkload,
    synthetic_problem,
)

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
