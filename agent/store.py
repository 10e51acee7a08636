"""The run store: every run, problem, sample, attempt, verdict and solution, in one SQLite file.

WAL mode, one writer thread, batched transactions: producers enqueue rows and never wait on the disk (nor wake
the writer: it collects a batch by polling, so a row costs its producer a queue append); `flush()` makes
everything enqueued so far durable. A crash loses at most what was still queued (the
in-flight attempts); re-opening a run id resumes from what is on disk.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

SCHEMA_VERSION = 1
_POLL_S = 0.005  # how often the writer looks for more rows while a batch fills (a flush waits at most this)

_TABLES: dict[str, tuple[dict[str, Any], Any, list[list[str]]]] = {
    "runs": (
        {
            "run_id": str,
            "created": float,
            "updated": float,
            "status": str,
            "config": str,
            "code_version": str,
            "isabelle_version": str,
            "models": str,
            "benchmark": str,
            "split": str,
            "fingerprint": str,
            "summary": str,
        },
        "run_id",
        [],
    ),
    "problems": (
        {
            "run_id": str,
            "name": str,
            "split": str,
            "category": str,
            "theory_text": str,
            "informal_statement": str,
            "informal_proof": str,
            "status": str,
            "attempts_planned": int,
            "skipped": int,
            "solved_at": float,
            "has_formal_statement": int,  # 0: the source had none (informal only): statements are the model's
        },
        ("run_id", "name"),
        [],
    ),
    "samples": (
        {
            "id": int,
            "run_id": str,
            "problem": str,
            "attempt_index": int,
            "stage": str,
            "k": int,
            "prompt": str,
            "completion": str,
            "parsed": str,
            "parse_ok": int,
            "model": str,
            "backend": str,
            "prompt_name": str,
            "prompt_version": str,
            "params": str,
            "seed": int,
            "prompt_tokens": int,
            "completion_tokens": int,
            "finish_reason": str,
            "created": float,
        },
        "id",
        [["run_id", "problem", "attempt_index", "stage", "k"]],
    ),
    "attempts": (
        {
            "id": int,
            "run_id": str,
            "problem": str,
            "attempt_index": int,
            "repair_round": int,  # 0, or the repair round whose proof this is
            "final": int,  # 1 when nothing follows this row for the attempt (no further repair)
            "status": str,  # checked | dedup | unparsed | cancelled
            "candidate": str,
            "proof_hash": str,
            "dedup_of": int,
            "verdict_kind": str,
            "reason": str,
            "final_proof": str,
            "steps": str,
            "messages": str,
            "findings": str,
            "timings": str,
            "isabelle_version": str,
            "oracles": str,  # JSON list: the oracles Isabelle reported the proved theorem rests on
            "salvage": str,  # as_written | gaps_filled | coarsened:K (how the checker obtained the proof)
            "replaced": str,  # JSON list of {line, original, replacement}: the steps salvage replaced
            "header": str,  # "problem" or "benchmark": the imports the check ran under
            "cached": int,
            "check_s": float,
            "worker": str,
            "created": float,
            "statement": str,  # the formal statement the candidate was checked against
            "statement_hash": str,  # sha256 of it, whitespace-normalised (32 hex digits)
            "benchmark_statement": int,  # 1: the problem's own statement; 0: one the model wrote
            "variant": str,  # the proof variant that wrote the candidate (generation.variants), if any
        },
        "id",
        [["run_id", "problem", "attempt_index", "repair_round"]],
    ),
    "solutions": (
        {"run_id": str, "problem": str, "attempt_index": int, "proof": str, "created": float},
        ("run_id", "problem"),
        [],
    ),
}


class StoreError(RuntimeError):
    """The run store cannot be used as asked (e.g. resuming a run with another benchmark)."""


@dataclass
class RunProgress:
    """What a run already has on disk: enough to resume without redoing finished work."""

    solved: dict[str, int] = field(default_factory=dict)  # problem -> winning attempt index
    finished: dict[str, set[int]] = field(default_factory=dict)  # problem -> attempt indices with a result
    proof_hashes: dict[str, dict[str, int]] = field(default_factory=dict)  # problem -> hash -> attempt index
    # problem -> attempts with a result, for problems with nothing left to do (solved, or every planned
    # attempt finished): counted from the index alone, never read row by row (only with `planned`)
    closed: dict[str, int] = field(default_factory=dict)
    # problem -> attempts whose last proof failed and awaits a repair: the last attempt row of each
    open_repairs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def attempts_done(self) -> int:
        return sum(len(v) for v in self.finished.values()) + sum(self.closed.values())


def _statement(table: str, columns: tuple[str, ...], pk: Any, mode: str) -> str:
    names = ", ".join(f"[{c}]" for c in columns)
    marks = ", ".join("?" for _ in columns)
    if mode == "upsert":
        keys = (pk,) if isinstance(pk, str) else tuple(pk)
        updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns if c not in keys)
        conflict = ", ".join(f"[{k}]" for k in keys)
        return f"insert into [{table}] ({names}) values ({marks}) on conflict({conflict}) do update set {updates}"
    verb = "insert or ignore" if mode == "ignore" else "insert or replace"
    return f"{verb} into [{table}] ({names}) values ({marks})"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class RunStore:
    def __init__(self, path: Path | str, *, batch_size: int = 500, flush_interval: float = 0.2):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect()
        self._create_schema()
        self._queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="run-store-writer", daemon=True)
        self._writer.start()
        self._closed = False

    def _connect(self) -> sqlite_utils.Database:
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60, isolation_level=None)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        conn.execute("pragma synchronous=NORMAL")
        return db

    def _create_schema(self) -> None:
        for name, (columns, pk, uniques) in _TABLES.items():
            table = self._db.table(name)
            if not table.exists():
                table.create(columns, pk=pk, not_null=set(), defaults={})
                for cols in uniques:
                    table.create_index(cols, unique=True, if_not_exists=True)
        self._db.table("attempts").create_index(["run_id", "verdict_kind"], if_not_exists=True)
        self._db.table("samples").create_index(["run_id", "problem"], if_not_exists=True)
        meta = self._db.table("meta")
        if not meta.exists():
            meta.insert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Migrate a store written by an older version: add the columns it lacks (their values stay null)."""
        for name, (columns, _, _) in _TABLES.items():
            table = self._db.table(name)
            present = set(table.columns_dict)
            for column, kind in columns.items():
                if column not in present:
                    try:
                        table.add_column(column, kind)
                    except sqlite3.OperationalError as exc:  # another process opening the store added it first
                        if "duplicate column" not in str(exc):
                            raise

    # ------------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        self._wconn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self._wconn.execute("pragma synchronous=NORMAL")
        try:
            self._drain()
        finally:
            self._wconn.close()

    def _drain(self) -> None:
        """Batches of up to `batch_size` rows or `flush_interval` seconds; a flush or close commits at once.

        After the first item the writer takes what is queued without blocking and sleeps between looks: a
        producer's put then never wakes a thread (waking the writer per row cost the driver a thread switch
        and a GIL hand-over for every row).
        """
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + self._flush_interval
            while True:
                while len(batch) < self._batch_size and batch[-1] is not None and batch[-1][0] != "event":
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                left = deadline - time.monotonic()
                if len(batch) >= self._batch_size or batch[-1] is None or batch[-1][0] == "event" or left <= 0:
                    break
                time.sleep(min(left, _POLL_S))
            stop = batch[-1] is None
            if stop:
                batch.pop()
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[str, Any]]) -> None:
        """One transaction per batch; rows of the same shape go through one executemany."""
        groups: dict[tuple[str, tuple[str, ...], Any, str], list[tuple[Any, ...]]] = {}
        events = []
        for kind, payload in batch:
            if kind == "event":
                events.append(payload)
                continue
            table, row, pk, mode = payload
            groups.setdefault((table, tuple(row), pk, mode), []).append(tuple(row.values()))
        conn = self._wconn
        try:
            conn.execute("begin immediate")
            for (table, columns, pk, mode), rows in groups.items():
                conn.executemany(_statement(table, columns, pk, mode), rows)
            conn.execute("commit")
        except BaseException as exc:  # surfaced to the producer on its next call
            if conn.in_transaction:
                conn.execute("rollback")
            self._error = exc
        for event in events:
            event.set()

    def _put(self, table: str, row: dict[str, Any], pk: Any, mode: str = "replace") -> None:
        if self._error is not None:
            raise StoreError(f"the run store {self.path} failed to write: {self._error}") from self._error
        self._queue.put(("row", (table, row, pk, mode)))

    def flush(self, timeout: float = 60.0) -> None:
        """Block until everything enqueued so far is committed."""
        done = threading.Event()
        self._queue.put(("event", done))
        if not done.wait(timeout):
            raise StoreError(f"the run store {self.path} did not commit within {timeout}s")
        if self._error is not None:
            raise StoreError(f"the run store {self.path} failed to write: {self._error}") from self._error

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join(timeout=60)
        self._db.conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ runs
    def open_run(self, run_id: str, *, config: dict[str, Any], meta: dict[str, Any]) -> bool:
        """Create the run, or check that an existing one is compatible. Returns True when resuming."""
        rows = list(self._db.query("select * from runs where run_id = ?", [run_id]))
        now = time.time()
        if rows:
            old = rows[0]
            for key in ("benchmark", "split", "fingerprint"):
                if meta.get(key) is not None and old.get(key) not in (None, "", meta[key]):
                    raise StoreError(
                        f"run {run_id} was started on {key}={old[key]!r}, not {meta[key]!r}: results on different "
                        "problem sets are never mixed; use a new --run-id"
                    )
            self._db.table("runs").update(run_id, {"status": "running", "updated": now})
            return True
        row = {
            "run_id": run_id,
            "created": now,
            "updated": now,
            "status": "running",
            "config": _json(config),
            "summary": "{}",
            **{k: (v if isinstance(v, str) or v is None else _json(v)) for k, v in meta.items()},
        }
        self._db.table("runs").insert(row, pk="run_id")
        return False

    def update_run(self, run_id: str, **fields: Any) -> None:
        values = {k: (v if isinstance(v, str | int | float) or v is None else _json(v)) for k, v in fields.items()}
        self._put("runs", {"run_id": run_id, "updated": time.time(), **values}, "run_id", mode="upsert")

    def run(self, run_id: str) -> dict[str, Any] | None:
        rows = list(self._db.query("select * from runs where run_id = ?", [run_id]))
        return rows[0] if rows else None

    def runs(self) -> list[dict[str, Any]]:
        return list(self._db.query("select run_id, created, status, benchmark, split from runs order by created"))

    # ------------------------------------------------------------------ problems, samples, attempts
    def add_problems(self, run_id: str, problems: Iterable[dict[str, Any]]) -> None:
        rows = [{"run_id": run_id, "status": "open", "skipped": 0, **p} for p in problems]
        self._db.table("problems").insert_all(rows, pk=("run_id", "name"), ignore=True)

    def set_problem(self, run_id: str, name: str, **fields: Any) -> None:
        self._put("problems", {"run_id": run_id, "name": name, **fields}, ("run_id", "name"), mode="upsert")

    def record_sample(self, run_id: str, sample: dict[str, Any]) -> None:
        row = {"run_id": run_id, "created": time.time(), **sample}
        for key in ("params", "parsed"):
            if key in row and not isinstance(row[key], str):
                row[key] = _json(row[key])
        self._put("samples", row, "id", mode="ignore")

    def record_attempt(self, run_id: str, attempt: dict[str, Any]) -> None:
        row = {"run_id": run_id, "created": time.time(), "repair_round": 0, "final": 1, **attempt}
        for key in ("steps", "messages", "findings", "timings", "oracles", "replaced"):
            if key in row and not isinstance(row[key], str):
                row[key] = _json(row[key])
        self._put("attempts", row, "id", mode="ignore")

    def record_solution(self, run_id: str, problem: str, attempt_index: int, proof: str) -> None:
        row = {"run_id": run_id, "problem": problem, "attempt_index": attempt_index, "proof": proof}
        self._put("solutions", {**row, "created": time.time()}, ("run_id", "problem"), mode="ignore")

    # ------------------------------------------------------------------ reading
    def progress(self, run_id: str, *, planned: int | None = None) -> RunProgress:
        """Solved problems, finished attempts and known proof hashes, to resume a run.

        Without `planned`, every attempt row of the run is read. With it (attempts per problem), problems that
        are solved or have all `planned` attempts finished are only counted (an index-only query) and go to
        `closed`; rows are read for the open ones alone, so resuming a finished run does not re-read its history.
        """
        progress = RunProgress()
        for row in self._db.query("select problem, attempt_index from solutions where run_id = ?", [run_id]):
            progress.solved[row["problem"]] = row["attempt_index"]
        conn = self._db.conn
        scan = "select problem, attempt_index, proof_hash, status, final from attempts where run_id = ?"
        if planned is None:
            self._read_progress(progress, conn.execute(scan, [run_id]))
            self._read_open_repairs(progress, run_id, None)
            return progress
        per_problem = conn.execute(
            "select problem, sum(final != 0), sum(final != 0 and attempt_index < ?) from attempts where run_id = ? "
            "group by problem",
            [planned, run_id],
        )
        for problem, count, below in per_problem.fetchall():
            if problem in progress.solved or count == below == planned:
                progress.closed[problem] = count
            else:
                self._read_progress(progress, conn.execute(scan + " and problem = ?", [run_id, problem]))
                self._read_open_repairs(progress, run_id, problem)
        return progress

    @staticmethod
    def _read_progress(progress: RunProgress, rows: Iterable[tuple[Any, ...]]) -> None:
        for problem, index, proof_hash, status, final in rows:
            if final != 0:
                progress.finished.setdefault(problem, set()).add(index)
            if proof_hash and status == "checked":
                progress.proof_hashes.setdefault(problem, {}).setdefault(proof_hash, index)

    def _read_open_repairs(self, progress: RunProgress, run_id: str, problem: str | None) -> None:
        """Attempts whose latest row is a failed proof waiting for its repair (no final row yet)."""
        query = (
            "select * from attempts a where run_id = ? and final = 0"
            + (" and problem = ?" if problem is not None else "")
            + " and repair_round = (select max(repair_round) from attempts b where b.run_id = a.run_id"
            " and b.problem = a.problem and b.attempt_index = a.attempt_index)"
            " and not exists (select 1 from attempts c where c.run_id = a.run_id and c.problem = a.problem"
            " and c.attempt_index = a.attempt_index and c.final = 1)"
        )
        params = [run_id] if problem is None else [run_id, problem]
        for row in self._db.query(query, params):
            if row["problem"] not in progress.solved:
                progress.open_repairs.setdefault(row["problem"], []).append(row)

    def samples_for(self, run_id: str, problem: str, attempt_index: int) -> list[dict[str, Any]]:
        query = "select * from samples where run_id = ? and problem = ? and attempt_index = ? order by stage, k"
        return list(self._db.query(query, [run_id, problem, attempt_index]))

    def sample_token_totals(self, run_id: str) -> dict[str, tuple[int, int, int, int]]:
        """Per problem: (samples, prompt tokens, completion tokens, samples without a completion count), one query."""
        query = (
            "select problem, count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), "
            "sum(completion_tokens is null) from samples where run_id = ? group by problem"
        )
        return {row[0]: tuple(row[1:]) for row in self._db.conn.execute(query, [run_id])}

    def problems(self, run_id: str) -> list[dict[str, Any]]:
        return list(self._db.query("select * from problems where run_id = ? order by name", [run_id]))

    def attempts(self, run_id: str, problem: str | None = None) -> list[dict[str, Any]]:
        if problem is None:
            return list(self._db.query("select * from attempts where run_id = ? order by id", [run_id]))
        query = "select * from attempts where run_id = ? and problem = ? order by id"
        return list(self._db.query(query, [run_id, problem]))

    def solutions(self, run_id: str) -> dict[str, str]:
        rows = self._db.query("select problem, proof from solutions where run_id = ?", [run_id])
        return {r["problem"]: r["proof"] for r in rows}

    def counts(self, run_id: str) -> dict[str, int]:
        """Totals for reports and tests: attempts by status and verdict, samples, solutions, skips."""
        out: dict[str, int] = {}
        for status, n in self._db.conn.execute(
            "select status, count(*) from attempts where run_id = ? group by status", [run_id]
        ):
            out[f"attempts_{status}"] = n
        for kind, n in self._db.conn.execute(
            "select verdict_kind, count(*) from attempts where run_id = ? and status = 'checked' group by 1", [run_id]
        ):
            out[f"verdict_{kind}"] = n
        out["samples"] = self._db.conn.execute("select count(*) from samples where run_id = ?", [run_id]).fetchone()[0]
        out["solutions"] = self._db.conn.execute(
            "select count(*) from solutions where run_id = ?", [run_id]
        ).fetchone()[0]
        out["skipped"] = self._db.conn.execute(
            "select coalesce(sum(skipped), 0) from problems where run_id = ?", [run_id]
        ).fetchone()[0]
        return out
