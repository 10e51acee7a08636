"""The run store: every run, problem, sample, attempt, verdict and solution, in one SQLite file.

WAL mode, one writer thread, batched transactions: producers enqueue rows and never wait on the disk (nor wake
the writer: it collects a batch by polling, so a row costs its producer a queue append); `flush()` makes
everything enqueued so far durable. A crash loses at most what was still queued (the
in-flight attempts); re-opening a run id resumes from what is on disk. A proved attempt, its solution and the
problem's status are one queue item, so they share a transaction. One driver at a time holds a run (a lease,
`agent.run_lease`); `read_only=True` opens a store for reading alone (reports; read-only media).
"""

from __future__ import annotations

import contextlib
import errno
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

from agent import run_lease
from isabelle_env.sqlite_setup import when_settled

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


class RunRefused(StoreError):
    """This run may not go on here (another problem set, or another driver holds it): its message is the whole
    answer; a resume hint would be wrong."""


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


def store_open_error(path: Path, exc: BaseException, read_only: bool) -> StoreError:
    """One line naming the store, what is wrong with it and what to do."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    number = getattr(exc, "errno", None)
    text = str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
    other = "pass --store PATH to the run store's file (a new path starts a new store)"
    if path.is_dir():
        return StoreError(f"the run store {path} is a folder, not a file: pass --store {path / 'runs.sqlite'}")
    if code.startswith("SQLITE_NOTADB") or code.startswith("SQLITE_CORRUPT"):
        return StoreError(f"{path} is not a run store (SQLite: {text}): {other}")
    if code.startswith("SQLITE_FULL") or number == errno.ENOSPC:
        return StoreError(
            f"cannot create the run store {path}: the disk is full; free space there or {other} on another disk"
        )
    if read_only:
        return StoreError(f"cannot read the run store {path} ({text}): check that it exists and is readable")
    if code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or number in (
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
    ):
        return StoreError(
            f"cannot write the run store {path} ({text}): its folder is read-only or not writable by you; "
            "pass --store PATH in a writable folder (`subgoalxl report` only reads, and works on read-only stores)"
        )
    return StoreError(f"cannot open the run store {path} ({text}): {other}")


class RunStore:
    def __init__(
        self, path: Path | str, *, batch_size: int = 500, flush_interval: float = 0.2, read_only: bool = False
    ):
        self.path = Path(path)
        self.read_only = read_only
        self._held: dict[str, run_lease.RunLease] = {}  # run id -> this store's lease on it
        self._closed = False
        if self.path.is_dir():
            raise store_open_error(self.path, IsADirectoryError(errno.EISDIR, "is a folder"), read_only)
        try:
            if read_only:
                self._db = self._connect_read_only()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = when_settled(self._connect)  # another driver may be creating the same store now
                when_settled(self._create_schema)
        except (sqlite3.Error, OSError) as exc:
            raise store_open_error(self.path, exc, read_only) from None
        self._error: BaseException | None = None
        if read_only:
            return
        self._queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._writer = threading.Thread(target=self._write_loop, name="run-store-writer", daemon=True)
        self._writer.start()

    def _connect(self) -> sqlite_utils.Database:
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60, isolation_level=None)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        conn.execute("pragma synchronous=NORMAL")
        return db

    def _connect_read_only(self) -> sqlite_utils.Database:
        """Never writes: `mode=ro`; on read-only media (no `-shm` file can be made) the file is read as immutable."""
        if not self.path.is_file():
            raise StoreError(
                f"no run store at {self.path}: pass --store PATH (the file `subgoalxl eval --store` wrote)"
            )
        uri = self.path.resolve().as_uri()
        try:
            return self._read_only_db(uri + "?mode=ro")
        except sqlite3.OperationalError as exc:
            if not getattr(exc, "sqlite_errorname", "").startswith("SQLITE_CANTOPEN"):
                raise
        return self._read_only_db(uri + "?mode=ro&immutable=1")

    def _read_only_db(self, uri: str) -> sqlite_utils.Database:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=60, isolation_level=None)
        try:
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        except sqlite3.Error:
            conn.close()
            raise
        if "runs" not in tables:
            conn.close()
            raise StoreError(
                f"{self.path} is not a run store (an SQLite file without the run tables): pass --store PATH "
                "to the file `subgoalxl eval --store` wrote"
            )
        return sqlite_utils.Database(conn)

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
            meta.insert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key", ignore=True)
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
            for table, row, pk, mode in payload if kind == "rows" else [payload]:
                groups.setdefault((table, tuple(row), pk, mode), []).append(tuple(row.values()))
        conn = self._wconn
        try:
            conn.execute("begin immediate")
            self._check_leases(conn)
            for (table, columns, pk, mode), rows in groups.items():
                conn.executemany(_statement(table, columns, pk, mode), rows)
            conn.execute("commit")
        except BaseException as exc:  # surfaced to the producer on its next call
            if conn.in_transaction:
                conn.execute("rollback")
            self._error = exc
        for event in events:
            event.set()

    def _check_leases(self, conn: sqlite3.Connection) -> None:
        """Inside the writer's transaction: a run whose lease was taken over gets no more rows from here."""
        for run_id, lease in list(self._held.items()):
            holder = run_lease.still_owned(conn, run_id, lease.owner)
            if holder is not None:
                raise RunRefused(
                    f"run {run_id} was taken over by {holder.describe(time.time())}: this driver stops so that the "
                    "run has one owner"
                )

    def _put(self, table: str, row: dict[str, Any], pk: Any, mode: str = "replace") -> None:
        self._check_writable()
        self._queue.put(("row", (table, row, pk, mode)))

    def _put_group(self, items: list[tuple[str, dict[str, Any], Any, str]]) -> None:
        """Rows that must land together: one queue item, so one batch and one transaction."""
        self._check_writable()
        self._queue.put(("rows", items))

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the run store {self.path} was opened read-only")
        if isinstance(self._error, RunRefused):
            raise RunRefused(str(self._error)) from None
        if self._error is not None:
            raise StoreError(f"the run store {self.path} failed to write: {self._error}") from self._error

    def flush(self, timeout: float = 60.0) -> None:
        """Block until everything enqueued so far is committed."""
        if self.read_only:
            return
        done = threading.Event()
        self._queue.put(("event", done))
        if not done.wait(timeout):
            raise StoreError(f"the run store {self.path} did not commit within {timeout}s")
        self._check_writable()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.read_only:
            self._queue.put(None)
            self._writer.join(timeout=60)
        for run_id in list(self._held):
            self.release_lease(run_id)
        self._db.conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ runs
    def check_resumable(self, run_id: str, meta: dict[str, Any]) -> dict[str, Any] | None:
        """The run's row (None for a new run); `RunRefused` when it was started on another problem set."""
        rows = list(self._db.query("select * from runs where run_id = ?", [run_id]))
        if not rows:
            return None
        old = rows[0]
        for key in ("benchmark", "split", "fingerprint"):
            if meta.get(key) is not None and old.get(key) not in (None, "", meta[key]):
                raise RunRefused(
                    f"run {run_id} was started on {key}={old[key]!r}, not {meta[key]!r}: results on different "
                    "problem sets are never mixed; use a new --run-id"
                )
        return old

    def acquire_lease(
        self, run_id: str, *, heartbeat_s: float = run_lease.HEARTBEAT_S, stale_after_s: float = run_lease.STALE_AFTER_S
    ) -> run_lease.RunLease:
        """Make this process the run's one driver, or raise `RunRefused` naming the live owner.

        A stale lease (its owner's process gone, or no heartbeat for `stale_after_s`) is taken over; from then
        on the writer commits rows only while the lease is still ours.
        """
        if self.read_only:
            raise StoreError(f"the run store {self.path} was opened read-only")
        if run_id in self._held:
            return self._held[run_id]
        try:
            lease = run_lease.RunLease(self.path, run_id, heartbeat_s=heartbeat_s, stale_after_s=stale_after_s)
        except run_lease.LeaseHeld as exc:
            raise RunRefused(str(exc)) from None
        except sqlite3.Error as exc:
            raise store_open_error(self.path, exc, False) from None
        self._held[run_id] = lease
        return lease

    def release_lease(self, run_id: str) -> None:
        """After the run's last row is committed: another driver may take the run."""
        lease = self._held.get(run_id)
        if lease is None:
            return
        if not self.read_only and not self._closed:
            with contextlib.suppress(StoreError):  # a write error was raised to the run already
                self.flush()
        del self._held[run_id]
        lease.release()

    def lease_holder(self, run_id: str) -> run_lease.LeaseHolder | None:
        """Who holds the run now (None when nobody does)."""
        try:
            return run_lease.read_holder(self._db.conn, run_id)
        except sqlite3.OperationalError:  # a store no driver has leased yet has no lease table
            return None

    def open_run(self, run_id: str, *, config: dict[str, Any], meta: dict[str, Any]) -> bool:
        """Create the run, or check that an existing one is compatible. Returns True when resuming."""
        now = time.time()
        if self.check_resumable(run_id, meta) is not None:
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

    def record_attempt(self, run_id: str, attempt: dict[str, Any], *, solved: bool = False) -> None:
        """One attempt row. `solved`: the attempt proved its problem first; its solution (the row's
        `final_proof`) and the problem's proved status are written in the same transaction."""
        row = {"run_id": run_id, "created": time.time(), "repair_round": 0, "final": 1, **attempt}
        for key in ("steps", "messages", "findings", "timings", "oracles", "replaced"):
            if key in row and not isinstance(row[key], str):
                row[key] = _json(row[key])
        if not solved:
            self._put("attempts", row, "id", mode="ignore")
            return
        solution = {
            "run_id": run_id,
            "problem": row["problem"],
            "attempt_index": row["attempt_index"],
            "proof": row.get("final_proof"),
            "created": row["created"],
        }
        problem = {"run_id": run_id, "name": row["problem"], "status": "proved", "solved_at": row["created"]}
        self._put_group(
            [
                ("attempts", row, "id", "ignore"),
                ("solutions", solution, ("run_id", "problem"), "ignore"),
                ("problems", problem, ("run_id", "name"), "upsert"),
            ]
        )

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
        if not self.read_only:
            self.heal_solutions(run_id)
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

    def heal_solutions(self, run_id: str) -> list[str]:
        """Write the solution of every proved attempt that lacks one, and mark its problem proved.

        Stores written before a proved attempt and its solution shared a transaction can hold such attempts;
        without this a resumed run would count the problem as unsolved. Returns the problems healed.
        """
        query = (
            "select problem, attempt_index, final_proof, created from attempts a where run_id = ? and "
            "verdict_kind = 'proved' and status = 'checked' and not exists (select 1 from solutions s where "
            "s.run_id = a.run_id and s.problem = a.problem) order by id"
        )
        conn = self._db.conn
        first: dict[str, tuple[Any, ...]] = {}
        for problem, index, proof, created in conn.execute(query, [run_id]).fetchall():
            first.setdefault(problem, (run_id, problem, index, proof, created))
        if not first:
            return []
        conn.execute("begin immediate")
        try:
            conn.executemany(
                "insert or ignore into solutions (run_id, problem, attempt_index, proof, created) "
                "values (?, ?, ?, ?, ?)",
                list(first.values()),
            )
            conn.executemany(
                "update problems set status = 'proved', solved_at = ? where run_id = ? and name = ?",
                [(row[4], run_id, problem) for problem, row in first.items()],
            )
            conn.execute("commit")
        except BaseException:
            if conn.in_transaction:
                conn.execute("rollback")
            raise
        return sorted(first)

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
