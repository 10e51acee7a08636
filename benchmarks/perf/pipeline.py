"""Pipeline overhead and growth: the real `ProofSearch`, Ray actors and SQLite store, with synthetic work.

pipeline: N attempts over P problems whose checks sleep a log-normal latency. Side by side in one run:
  - the scheduler: `ProofSearch` driving `CheckDispatcher` over synthetic checker actors, writing the `RunStore`;
  - the ideal makespan: the slot-seconds the checkers actually slept / (checkers x sessions); no schedule can
    beat max(ideal, longest single check) either, reported as the bound (a heavy tail makes it the larger);
  - a naive sequential loop (generate, check, commit one row; stop a problem once proved; no dedup), run on
    the first `naive_attempts` attempts and projected to the whole workload from its measured overhead.
  parallel efficiency = ideal / measured; overhead per attempt = (measured - ideal) / attempts recorded
  (wall clock the framework adds, amortised); driver CPU per attempt = the driver process's CPU time (the
  loop, Ray's client threads, the store's writer thread) / attempts recorded.
growth: the same at several N with zero latency (what is left is the framework's own cost): time per attempt,
  peak driver RSS and the time to resume the finished run, with their slopes over N.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.config import RunConfig, parse_config
from agent.search import CheckDispatcher, ProofSearch
from agent.store import RunStore
from benchmarks.perf.common import PeakRss, result, slope
from benchmarks.perf.synthetic import (
    CheckModel,
    LatencyModel,
    SyntheticProposer,
    SyntheticWorkload,
    actors_busy,
    start_synthetic_checkers,
    synthetic_verdict,
)


@dataclass(frozen=True)
class PipelineParams:
    attempts: int = 2000
    problems: int = 20
    checkers: int = 8
    sessions: int = 1  # per checker: capacity = checkers x sessions
    check_median_ms: float = 50.0
    sigma: float = 1.0
    gen_median_ms: float = 0.0
    generators: int = 4  # generation.actors: the scheduler keeps 4 x this many generations in flight
    prove_rate: float = 0.02
    solvable: float = 0.5
    duplicate_rate: float = 0.1
    naive_attempts: int = 300  # 0: the naive loop runs the whole workload
    max_checks: int = 0  # scheduling.max_checks_in_flight (0: the default, twice the slots)
    seed: int = 0

    def workload(self) -> SyntheticWorkload:
        per_problem = max(1, self.attempts // self.problems)
        return SyntheticWorkload(
            problems=self.problems,
            attempts_per_problem=per_problem,
            check=CheckModel(
                LatencyModel(self.check_median_ms / 1000, self.sigma), self.prove_rate, self.solvable, self.seed
            ),
            generation=LatencyModel(self.gen_median_ms / 1000, self.sigma),
            duplicate_rate=self.duplicate_rate,
        )


def search_config(
    workload: SyntheticWorkload, checkers: int, sessions: int, generators: int, max_checks: int = 0
) -> RunConfig:
    return parse_config(
        {
            "search": {"attempts_per_problem": workload.attempts_per_problem, "seed": workload.seed},
            "isabelle": {"checkers": checkers, "sessions_per_checker": sessions},
            "generation": {"actors": generators},
            "scheduling": {"max_checks_in_flight": max_checks},
        }
    )


def timed_search(
    store: RunStore, run_id: str, workload: SyntheticWorkload, dispatcher: CheckDispatcher, config: RunConfig
) -> dict[str, Any]:
    """One search through the real driver; wall and CPU time from construction to the final flush.

    `tenths` holds the wall time each tenth of the attempts took, to compare the start and the end of one run.
    """
    problems = workload.problem_list()
    marks: list[float] = []
    step = max(1, workload.attempts // 10)

    def on_progress(stats: Any) -> None:
        while len(marks) < 10 and stats.attempts_done - stats.resumed_attempts >= step * (len(marks) + 1):
            marks.append(time.perf_counter())

    resumed = store.open_run(run_id, config=config.model_dump(mode="json"), meta={"benchmark": "synthetic"})
    if not resumed:
        store.add_problems(run_id, [{"name": p.name, "split": p.split, "theory_text": p.theory_text} for p in problems])
    proposer = SyntheticProposer(workload)
    gc.collect()
    try:
        with PeakRss() as rss:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            search = ProofSearch(
                store=store,
                run_id=run_id,
                problems=problems,
                config=config,
                proposer=proposer,
                dispatcher=dispatcher,
                on_progress=on_progress,
            )
            stats = search.run()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        proposer.close()
    cpu -= rss.cpu_s
    tenths = [b - a for a, b in zip([wall0, *marks], marks, strict=False)]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "stats": stats,
        "peak_rss_mb": rss.peak_mb,
        "rss_growth_mb": rss.growth_mb,
        "tenths_s": tenths,
    }


def naive_loop(workload: SyntheticWorkload, limit: int, path: Path) -> dict[str, Any]:
    """What one writes without a framework: one attempt after another, one commit per row, stop when proved."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma synchronous=normal")
    conn.execute("create table if not exists attempts (problem text, attempt_index int, candidate text, verdict text)")
    done, slept = 0, 0.0
    started = time.perf_counter()
    for problem in workload.problem_list():
        for index in range(workload.attempts_per_problem):
            if done >= limit:
                break
            generation = workload.generation_latency(problem.name, index)
            if generation > 0:
                time.sleep(generation)
            candidate = workload.candidate(problem.name, index)
            latency, proved = workload.check.outcome(problem.theory_text, candidate)
            if latency > 0:
                time.sleep(latency)
            verdict = synthetic_verdict("proved" if proved else "failed", latency, "naive", candidate)
            conn.execute(
                "insert into attempts values (?, ?, ?, ?)", (problem.name, index, candidate, json.dumps(verdict))
            )
            done += 1
            slept += generation + latency
            if proved:
                break
    elapsed = time.perf_counter() - started
    conn.close()
    return {"attempts": done, "measured_s": elapsed, "slept_s": slept}


def naive_plan(workload: SyntheticWorkload) -> tuple[int, float]:
    """(attempts, seconds of latency) the naive loop would spend on the whole workload."""
    attempts, seconds = 0, 0.0
    for problem in workload.problem_list():
        for index in range(workload.attempts_per_problem):
            latency, proved = workload.check.outcome(problem.theory_text, workload.candidate(problem.name, index))
            attempts += 1
            seconds += latency + workload.generation_latency(problem.name, index)
            if proved:
                break
    return attempts, seconds


def run_pipeline(params: PipelineParams, *, workdir: Path | None = None) -> dict[str, Any]:
    """The scheduler, the ideal and the naive loop on one workload; see the module docstring."""
    workload = params.workload()
    config = search_config(workload, params.checkers, params.sessions, params.generators, params.max_checks)
    with tempfile.TemporaryDirectory(prefix="subgoalxl-bench-", dir=workdir) as folder:
        actors = start_synthetic_checkers(workload.check, params.checkers, params.sessions)
        dispatcher = CheckDispatcher(actors, params.sessions)
        try:
            with RunStore(Path(folder) / "runs.sqlite") as store:
                measured = timed_search(store, "pipeline", workload, dispatcher, config)
                busy = actors_busy(actors)
                counts = store.counts("pipeline")
                rows = store.attempts("pipeline")
        finally:
            dispatcher.close()
        sample = naive_loop(workload, params.naive_attempts or workload.attempts, Path(folder) / "naive.sqlite")
    stats = measured["stats"]
    capacity = params.checkers * params.sessions
    ideal = busy["busy_s"] / capacity
    bound = max(ideal, busy["longest_s"])
    wall = measured["wall_s"]
    done = stats.attempts_done
    texts = {p.name: p.theory_text for p in workload.problem_list()}
    planned_check_s = sum(
        workload.check.outcome(texts[p], workload.candidate(p, i))[0]
        for p in texts
        for i in range(workload.attempts_per_problem)
    )
    dedup_s = sum(
        workload.check.outcome(texts[r["problem"]], r["candidate"])[0] for r in rows if r["status"] == "dedup"
    )
    naive_attempts, naive_sleep = naive_plan(workload)
    naive_overhead = (sample["measured_s"] - sample["slept_s"]) / max(1, sample["attempts"])
    naive_projected = naive_sleep + naive_overhead * naive_attempts
    return result(
        "pipeline",
        asdict(params),
        attempts=workload.attempts,
        problems=workload.problems,
        checkers=params.checkers,
        capacity=capacity,
        attempts_done=done,
        checked=stats.checked,
        deduplicated=stats.deduplicated,
        cancelled=stats.cancelled,
        attempts_skipped=stats.skipped,
        solved=stats.solved,
        counts=counts,
        measured_s=round(wall, 4),
        ideal_s=round(ideal, 4),
        parallel_efficiency=round(ideal / wall, 4) if wall > 0 else 0.0,
        longest_check_s=round(busy["longest_s"], 4),
        bound_s=round(bound, 4),
        efficiency_vs_bound=round(bound / wall, 4) if wall > 0 else 0.0,
        overhead_ms_per_attempt=round((wall - ideal) / max(1, done) * 1000, 4),
        driver_cpu_ms_per_attempt=round(measured["cpu_s"] / max(1, done) * 1000, 4),
        driver_cpu_fraction=round(measured["cpu_s"] / wall, 4) if wall > 0 else 0.0,
        peak_rss_mb=round(measured["peak_rss_mb"], 1),
        check_s_busy=round(busy["busy_s"], 3),
        check_s_planned=round(planned_check_s, 3),
        saved_check_s_dedup=round(dedup_s, 3),
        saved_check_s_early_stop=round(max(0.0, planned_check_s - busy["busy_s"] - dedup_s), 3),
        naive={
            "sample_attempts": sample["attempts"],
            "sample_measured_s": round(sample["measured_s"], 4),
            "sample_slept_s": round(sample["slept_s"], 4),
            "overhead_ms_per_attempt": round(naive_overhead * 1000, 4),
            "workload_attempts": naive_attempts,
            "projected_s": round(naive_projected, 3),
        },
        speedup_vs_naive=round(naive_projected / wall, 3) if wall > 0 else 0.0,
    )


def pipeline_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    naive = data["naive"]
    return [
        ("attempts (done / skipped)", f"{data['attempts']} ({data['attempts_done']} / {data['attempts_skipped']})"),
        ("checkers x sessions", f"{data['checkers']} x {data['capacity'] // data['checkers']}"),
        ("scheduler, measured", f"{data['measured_s']:.2f} s"),
        ("ideal makespan (busy check s / slots)", f"{data['ideal_s']:.2f} s"),
        ("parallel efficiency (ideal / measured)", f"{data['parallel_efficiency']:.3f}  (target >= 0.9)"),
        (
            "longest check; bound max(ideal, longest) / measured",
            f"{data['longest_check_s']:.2f} s; {data['efficiency_vs_bound']:.3f}",
        ),
        ("overhead per attempt ((measured - ideal) / attempts)", f"{data['overhead_ms_per_attempt']:.3f} ms  (<= 1)"),
        (
            "driver CPU per attempt (share of one core)",
            f"{data['driver_cpu_ms_per_attempt']:.3f} ms ({data['driver_cpu_fraction']:.1%})",
        ),
        (
            "naive loop, projected (sample measured)",
            f"{naive['projected_s']:.1f} s ({naive['sample_measured_s']:.1f} s for {naive['sample_attempts']})",
        ),
        ("naive loop overhead per attempt", f"{naive['overhead_ms_per_attempt']:.3f} ms"),
        ("speedup vs naive", f"{data['speedup_vs_naive']:.2f}x"),
        (
            "checked / dedup / cancelled / solved",
            f"{data['checked']} / {data['deduplicated']} / {data['cancelled']} / {data['solved']}",
        ),
        ("check s: planned / spent", f"{data['check_s_planned']:.1f} / {data['check_s_busy']:.1f}"),
        (
            "check s saved: dedup / early stop",
            f"{data['saved_check_s_dedup']:.1f} / {data['saved_check_s_early_stop']:.1f}",
        ),
        ("driver peak RSS", f"{data['peak_rss_mb']:.0f} MB"),
    ]


# ---------------------------------------------------------------------------------------------------------- growth
@dataclass(frozen=True)
class GrowthParams:
    sizes: tuple[int, ...] = (1000, 10000, 100000)
    problems: int = 100
    checkers: int = 8
    sessions: int = 1
    check_median_ms: float = 0.0
    generators: int = 4
    seed: int = 0

    def workload(self, size: int) -> SyntheticWorkload:
        problems = min(self.problems, size)
        return SyntheticWorkload(
            problems=problems,
            attempts_per_problem=max(1, size // problems),
            check=CheckModel(LatencyModel(self.check_median_ms / 1000, 1.0), 0.0, 0.0, self.seed),
        )


def run_growth(params: GrowthParams, *, workdir: Path | None = None) -> dict[str, Any]:
    """Time per attempt, peak RSS and resume time at each size (ascending), one actor set for all."""
    sizes = sorted(params.sizes)
    points = []
    with tempfile.TemporaryDirectory(prefix="subgoalxl-bench-", dir=workdir) as folder:
        first = params.workload(sizes[0])
        actors = start_synthetic_checkers(first.check, params.checkers, params.sessions)
        dispatcher = CheckDispatcher(actors, params.sessions)
        try:
            for size in sizes:
                workload = params.workload(size)
                config = search_config(workload, params.checkers, params.sessions, params.generators)
                path = Path(folder) / f"growth-{size}.sqlite"
                with RunStore(path) as store:
                    measured = timed_search(store, "growth", workload, dispatcher, config)
                    actors_busy(actors)
                    resume = timed_search(store, "growth", workload, dispatcher, config)
                    progress_s = _time(lambda store=store: store.progress("growth"))
                    planned = workload.attempts_per_problem
                    counted_s = _time(lambda store=store, planned=planned: store.progress("growth", planned=planned))
                    report_s = _time(lambda store=store: (store.counts("growth"), store.problems("growth")))
                stats = measured["stats"]
                done = stats.attempts_done
                points.append(
                    {
                        "attempts": workload.attempts,
                        "attempts_done": done,
                        "wall_s": round(measured["wall_s"], 3),
                        "ms_per_attempt": round(measured["wall_s"] / max(1, done) * 1000, 4),
                        "ms_per_attempt_by_tenth": [round(t / (done / 10) * 1000, 4) for t in measured["tenths_s"]],
                        "driver_cpu_ms_per_attempt": round(measured["cpu_s"] / max(1, done) * 1000, 4),
                        "peak_rss_mb": round(measured["peak_rss_mb"], 1),
                        "rss_growth_mb": round(measured["rss_growth_mb"], 1),
                        "resume_s": round(resume["wall_s"], 4),
                        "resume_checked": resume["stats"].checked,
                        "progress_full_scan_s": round(progress_s, 4),
                        "progress_resume_s": round(counted_s, 4),
                        "report_query_s": round(report_s, 4),
                        "store_mb": round(path.stat().st_size / 1024**2, 1),
                    }
                )
        finally:
            dispatcher.close()
    xs = [p["attempts"] / 10_000 for p in points]
    tenths = points[-1]["ms_per_attempt_by_tenth"]
    return result(
        "growth",
        {**asdict(params), "sizes": sizes},
        points=points,
        attempts=sum(p["attempts"] for p in points),
        checkers=params.checkers,
        peak_rss_mb=max(p["peak_rss_mb"] for p in points),
        slope_ms_per_attempt_per_10k=round(slope(xs, [p["ms_per_attempt"] for p in points]), 5),
        slope_rss_growth_mb_per_10k=round(slope(xs, [p["rss_growth_mb"] for p in points]), 3),
        slope_peak_rss_mb_per_10k=round(slope(xs, [p["peak_rss_mb"] for p in points]), 3),
        slope_resume_s_per_10k=round(slope(xs, [p["resume_s"] for p in points]), 5),
        largest_last_over_second_tenth=round(tenths[-1] / tenths[1], 3) if len(tenths) == 10 and tenths[1] else None,
        slope_full_scan_s_per_10k=round(slope(xs, [p["progress_full_scan_s"] for p in points]), 5),
        time_per_attempt_ratio_largest_to_smallest=round(points[-1]["ms_per_attempt"] / points[0]["ms_per_attempt"], 3)
        if points[0]["ms_per_attempt"]
        else None,
    )


def _time(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def growth_rows(data: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        ("attempts", "ms/att", "CPU ms/att", "peak MB", "RSS +MB", "resume s", "re-scan s", "report s")
    ]
    for p in data["points"]:
        rows.append(
            (
                str(p["attempts"]),
                f"{p['ms_per_attempt']:.3f}",
                f"{p['driver_cpu_ms_per_attempt']:.3f}",
                f"{p['peak_rss_mb']:.0f}",
                f"{p['rss_growth_mb']:.1f}",
                f"{p['resume_s']:.3f}",
                f"{p['progress_full_scan_s']:.3f}",
                f"{p['report_query_s']:.3f}",
            )
        )
    rows.append(
        (
            "slope/10k",
            f"{data['slope_ms_per_attempt_per_10k']:+.4f}",
            "",
            f"{data['slope_peak_rss_mb_per_10k']:+.2f}",
            f"{data['slope_rss_growth_mb_per_10k']:+.2f}",
            f"{data['slope_resume_s_per_10k']:+.4f}",
            f"{data['slope_full_scan_s_per_10k']:+.4f}",
            "",
        )
    )
    ratio = data["largest_last_over_second_tenth"]
    if ratio is not None:
        rows.append(("last/2nd 10th", f"{ratio:.2f}x", "", "", "", "", "", ""))
    return rows
