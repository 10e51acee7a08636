"""Run-store throughput: batched attempt/verdict writes under concurrent producers, against one commit per row.

Side by side in one run, on the same rows and the same number of producer threads:
  - batched: `RunStore.record_attempt` (producers enqueue, one writer thread commits batches);
  - naive: each producer inserts through its own SQLite connection and commits every row (WAL, as the store).
Then the queries a report makes over the batched run (counts, problems, solutions, resume progress, and
`benchmarks.report.build_report` when that module is present), timed on the full run.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.config import parse_config
from agent.store import RunStore
from benchmarks.perf.common import result
from benchmarks.perf.synthetic import synthetic_candidate, synthetic_problem, synthetic_verdict


@dataclass(frozen=True)
class StoreParams:
    rows: int = 100_000  # attempt rows through the batched store (the report queries run on these)
    producers: int = 4
    naive_rows: int = 2000  # rows committed one by one (the baseline; slow, so fewer)
    problems: int = 100


def attempt_rows(count: int, problems: int, start: int = 0) -> list[dict[str, Any]]:
    """Rows shaped like the driver's `_record` output for a checked attempt with a verdict."""
    rows = []
    for n in range(start, start + count):
        problem, index = synthetic_problem(n % problems).name, n // problems
        candidate = synthetic_candidate(index)
        verdict = synthetic_verdict("failed", 0.05, "bench", candidate)
        verdict["steps"] = [
            {"index": i, "line": 3 + i, "proposition": f"c{i}", "closed_by": None, "source": None, "tried": ["auto"]}
            for i in range(3)
        ]
        verdict["messages"] = [{"kind": "error", "text": "Failed to finish proof", "line": 7, "offset": 120}]
        rows.append(
            {
                "problem": problem,
                "attempt_index": index,
                "status": "checked",
                "candidate": candidate,
                "proof_hash": f"{n:032x}",
                "verdict_kind": verdict["kind"],
                "reason": verdict["reason"],
                "final_proof": None,
                "steps": verdict["steps"],
                "messages": verdict["messages"],
                "findings": [],
                "timings": verdict["timings"],
                "isabelle_version": verdict["isabelle_version"],
                "cached": 0,
                "check_s": 0.05,
                "worker": "bench",
            }
        )
    return rows


def _in_threads(producers: int, rows: list[dict[str, Any]], write: Callable[[int, list[dict[str, Any]]], None]) -> None:
    chunks = [rows[i::producers] for i in range(producers)]
    threads = [threading.Thread(target=write, args=(i, chunk)) for i, chunk in enumerate(chunks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def batched_writes(store: RunStore, run_id: str, rows: list[dict[str, Any]], producers: int) -> dict[str, float]:
    enqueue_s = [0.0] * producers

    def write(i: int, chunk: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        for row in chunk:
            store.record_attempt(run_id, row)
        enqueue_s[i] = time.perf_counter() - started

    started = time.perf_counter()
    _in_threads(producers, rows, write)
    store.flush(timeout=600)
    elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "enqueue_us_per_row": sum(enqueue_s) / max(1, len(rows)) * 1e6}


def naive_writes(path: Path, run_id: str, rows: list[dict[str, Any]], producers: int) -> dict[str, float]:
    RunStore(path).close()  # the same schema and indexes
    spent = [0.0] * producers

    def write(i: int, chunk: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)
        conn.execute("pragma synchronous=NORMAL")
        for row in chunk:
            full = {"run_id": run_id, "created": time.time(), **row}
            for key in ("steps", "messages", "findings", "timings"):
                full[key] = json.dumps(full[key])
            names = ", ".join(full)
            marks = ", ".join("?" for _ in full)
            conn.execute("begin immediate")
            conn.execute(f"insert or ignore into attempts ({names}) values ({marks})", list(full.values()))
            conn.execute("commit")
        conn.close()
        spent[i] = time.perf_counter() - started

    started = time.perf_counter()
    _in_threads(producers, rows, write)
    return {"elapsed_s": time.perf_counter() - started, "producer_us_per_row": sum(spent) / max(1, len(rows)) * 1e6}


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def report_queries(store: RunStore, run_id: str, planned: int) -> dict[str, Any]:
    times = {
        "counts_s": _timed(lambda: store.counts(run_id)),
        "problems_s": _timed(lambda: store.problems(run_id)),
        "solutions_s": _timed(lambda: store.solutions(run_id)),
        "progress_full_scan_s": _timed(lambda: store.progress(run_id)),
        "progress_resume_s": _timed(lambda: store.progress(run_id, planned=planned)),
    }
    try:
        from benchmarks.report import build_report
    except ImportError:
        times["build_report_s"] = None
    else:
        try:
            times["build_report_s"] = _timed(lambda: build_report(store, [run_id]))
        except Exception as exc:  # another module's trouble is reported, not fatal to this benchmark
            times["build_report_s"] = None
            times["build_report_error"] = f"{type(exc).__name__}: {exc}"
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in times.items()}


def run_store(params: StoreParams, *, workdir: Path | None = None) -> dict[str, Any]:
    rows = attempt_rows(params.rows, params.problems)
    naive = attempt_rows(params.naive_rows, params.problems)
    planned = max(1, params.rows // params.problems)
    config = parse_config({"search": {"attempts_per_problem": planned}})
    with tempfile.TemporaryDirectory(prefix="subgoalxl-bench-", dir=workdir) as folder:
        with RunStore(Path(folder) / "batched.sqlite") as store:
            store.open_run("store", config=config.model_dump(mode="json"), meta={"benchmark": "synthetic"})
            problems = [synthetic_problem(i) for i in range(params.problems)]
            store.add_problems("store", [{"name": p.name, "theory_text": p.theory_text} for p in problems])
            batched = batched_writes(store, "store", rows, params.producers)
            for p in problems:
                store.set_problem("store", p.name, status="exhausted", attempts_planned=planned)
            store.update_run("store", status="finished")
            store.flush()
            queries = report_queries(store, "store", planned)
            written = store.counts("store").get("attempts_checked", 0)
        one_by_one = naive_writes(Path(folder) / "naive.sqlite", "naive", naive, params.producers)
    batched_rate = params.rows / batched["elapsed_s"]
    naive_rate = params.naive_rows / one_by_one["elapsed_s"]
    return result(
        "store",
        asdict(params),
        rows=params.rows,
        rows_written=written,
        producers=params.producers,
        batched_rows_per_s=round(batched_rate, 1),
        batched_elapsed_s=round(batched["elapsed_s"], 4),
        enqueue_us_per_row=round(batched["enqueue_us_per_row"], 2),
        naive_rows_per_s=round(naive_rate, 1),
        naive_elapsed_s=round(one_by_one["elapsed_s"], 4),
        naive_producer_us_per_row=round(one_by_one["producer_us_per_row"], 2),
        batched_over_naive=round(batched_rate / naive_rate, 2) if naive_rate else None,
        report=queries,
    )


def store_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    q = data["report"]
    rows = [
        ("producers", str(data["producers"])),
        ("batched: rows/s (rows)", f"{data['batched_rows_per_s']:.0f} ({data['rows']})"),
        (
            "producer wait per row: batched / one commit per row",
            f"{data['enqueue_us_per_row']:.1f} / {data['naive_producer_us_per_row']:.1f} us",
        ),
        ("one commit per row: rows/s (rows)", f"{data['naive_rows_per_s']:.0f} ({data['params']['naive_rows']})"),
        ("batched / one commit per row", f"{data['batched_over_naive']:.1f}x"),
        (
            "report: counts / problems / solutions",
            f"{q['counts_s']:.3f} / {q['problems_s']:.3f} / {q['solutions_s']:.3f} s",
        ),
        (
            "resume progress: full scan / closed counted",
            f"{q['progress_full_scan_s']:.3f} / {q['progress_resume_s']:.3f} s",
        ),
    ]
    if q.get("build_report_s") is not None:
        rows.append(("benchmarks.report.build_report", f"{q['build_report_s']:.3f} s"))
    elif q.get("build_report_error"):
        rows.append(("benchmarks.report.build_report", q["build_report_error"]))
    return rows
