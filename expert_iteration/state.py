"""The loop's state and model registry: `ei_*` tables in the run store's SQLite file.

Everything a resumed loop needs is here or on disk, written before the step that produced it is marked done:
- `ei_loops`: one row per loop (config, its fingerprint, rounds planned);
- `ei_steps`: per round and step, started/done with a summary; `ei_units`: finished pieces of a step
  (a chunk of problems sampled, one model trained), so a step killed half-way redoes only the rest;
- `ei_models`: the model registry: every version with its parent, training-data hash, config and metrics;
- `ei_candidates`: every sampled statement, subgoal list and proof with its verdict, score and selection;
- `ei_examples`: every training example with the candidate (or library row) it came from, kept or dropped;
- `ei_rounds`: the per-round numbers the report draws.
The agent's own tables (runs, attempts, ...) live in the same file and are written by `agent.store.RunStore`.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from agent.store import store_open_error

_TABLES: dict[str, tuple[dict[str, Any], Any, list[list[str]]]] = {
    "ei_loops": (
        {
            "loop_id": str,
            "created": float,
            "updated": float,
            "status": str,
            "config": str,
            "fingerprint": str,
            "problems_fingerprint": str,  # of the training and held-out statements: a resume must see the same
            "rounds_planned": int,
            "work_dir": str,
            "code_version": str,
        },
        "loop_id",
        [],
    ),
    "ei_steps": (
        {
            "loop_id": str,
            "round": int,
            "step": str,
            "status": str,  # running | done
            "started": float,
            "finished": float,
            "runs": int,  # times the step was started (> 1: it was resumed)
            "summary": str,
        },
        ("loop_id", "round", "step"),
        [],
    ),
    "ei_units": (
        {"loop_id": str, "round": int, "step": str, "unit": str, "finished": float, "info": str},
        ("loop_id", "round", "step", "unit"),
        [],
    ),
    "ei_models": (
        {
            "version": str,
            "loop_id": str,
            "round": int,
            "role": str,  # statement | subgoal | proof | all
            "path": str,
            "parent": str,
            "data_hash": str,
            "dataset_path": str,
            "examples": int,
            "config": str,
            "metrics": str,
            "created": float,
        },
        "version",
        [["loop_id", "round", "role"]],
    ),
    "ei_candidates": (
        {
            "id": str,
            "loop_id": str,
            "round": int,
            "problem": str,
            "role": str,
            "idx": int,
            "parent": str,  # proofs: the subgoal candidate they were written for
            "model_version": str,
            "prompt_ref": str,
            "seed": int,
            "completion": str,
            "value": str,  # JSON: the parsed statement, subgoal list or proof
            "parse_ok": int,
            "parse_problems": str,
            "subgoals": str,  # proofs: the subgoal list their prompt showed (JSON)
            "subgoals_source": str,
            "proof_hash": str,
            "verdict": str,  # accepted | rejected | unparsed (statements); proved | failed | ... (proofs)
            "verdict_reason": str,
            "final_proof": str,
            "checked_at": float,
            "score": float,
            "score_tokens": int,
            "scored_at": float,
            "selected": int,
            "created": float,
        },
        "id",
        [],
    ),
    "ei_examples": (
        {
            "id": int,
            "loop_id": str,
            "round": int,
            "dataset": str,
            "example_id": str,
            "role": str,
            "source": str,
            "problem": str,
            "origin": str,  # JSON: candidate id, verdict and proof hash, or the library row
            "status": str,  # kept | near_duplicate | short_proof | mixed_out | capped
            "duplicate_of": str,
            "copies": int,
        },
        "id",
        [],
    ),
    "ei_rounds": (
        {"loop_id": str, "round": int, "finished": float, "metrics": str},
        ("loop_id", "round"),
        [],
    ),
}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class ModelVersion:
    version: str
    role: str
    round: int
    path: str
    parent: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> ModelVersion:
        return cls(row["version"], row["role"], row["round"], row["path"], row["parent"])


class IterationStore:
    """Synchronous, durable writes (each call commits): the loop's state must survive a SIGKILL."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._open()
        except (sqlite3.Error, OSError) as exc:  # one line naming the store and the fix, never a traceback
            raise store_open_error(self.path, exc, False) from None

    def _open(self) -> None:
        if self.path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.enable_wal()
        with self._lock:
            for name, (columns, pk, uniques) in _TABLES.items():
                table = self.db.table(name)
                if not table.exists():
                    table.create(columns, pk=pk)
                    for cols in uniques:
                        table.create_index(cols, unique=True, if_not_exists=True)
            self.db.table("ei_candidates").create_index(["loop_id", "round", "problem"], if_not_exists=True)
            self.db.table("ei_examples").create_index(["loop_id", "round", "dataset"], if_not_exists=True)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> IterationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self.db.conn
            conn.execute("begin immediate")
            try:
                yield conn
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query(sql, list(params)))

    # ------------------------------------------------------------------ loops
    def loop(self, loop_id: str) -> dict[str, Any] | None:
        rows = self._query("select * from ei_loops where loop_id = ?", [loop_id])
        return rows[0] if rows else None

    def loops(self) -> list[dict[str, Any]]:
        return self._query("select loop_id, created, status, rounds_planned from ei_loops order by created")

    def create_loop(self, loop_id: str, *, config: dict[str, Any], fingerprint: str, rounds: int, **meta: Any) -> None:
        now = time.time()
        row = {"loop_id": loop_id, "created": now, "updated": now, "status": "running", "config": _json(config)}
        row |= {"fingerprint": fingerprint, "rounds_planned": rounds, **meta}
        with self._lock:
            self.db.table("ei_loops").insert(row, pk="loop_id")

    def update_loop(self, loop_id: str, **fields: Any) -> None:
        values = {k: (_json(v) if isinstance(v, dict | list) else v) for k, v in fields.items()}
        with self._lock:
            self.db.table("ei_loops").update(loop_id, {**values, "updated": time.time()})

    # ------------------------------------------------------------------ steps and units
    def step(self, loop_id: str, round_: int, step: str) -> dict[str, Any] | None:
        rows = self._query(
            "select * from ei_steps where loop_id = ? and round = ? and step = ?", [loop_id, round_, step]
        )
        return rows[0] if rows else None

    def steps(self, loop_id: str) -> list[dict[str, Any]]:
        return self._query("select * from ei_steps where loop_id = ? order by round, started", [loop_id])

    def start_step(self, loop_id: str, round_: int, step: str) -> None:
        old = self.step(loop_id, round_, step)
        row = {"loop_id": loop_id, "round": round_, "step": step, "status": "running", "started": time.time()}
        row |= {"finished": None, "runs": (old["runs"] if old else 0) + 1, "summary": "{}"}
        with self._lock:
            self.db.table("ei_steps").upsert(row, pk=("loop_id", "round", "step"))

    def finish_step(self, loop_id: str, round_: int, step: str, summary: dict[str, Any]) -> None:
        row = {"loop_id": loop_id, "round": round_, "step": step, "status": "done", "finished": time.time()}
        with self._lock:
            self.db.table("ei_steps").upsert({**row, "summary": _json(summary)}, pk=("loop_id", "round", "step"))

    def unit_done(self, loop_id: str, round_: int, step: str, unit: str) -> bool:
        sql = "select 1 from ei_units where loop_id = ? and round = ? and step = ? and unit = ?"
        return bool(self._query(sql, [loop_id, round_, step, unit]))

    def finish_unit(self, loop_id: str, round_: int, step: str, unit: str, info: dict[str, Any] | None = None) -> None:
        row = {"loop_id": loop_id, "round": round_, "step": step, "unit": unit, "finished": time.time()}
        with self._lock:
            self.db.table("ei_units").upsert(
                {**row, "info": _json(info or {})}, pk=("loop_id", "round", "step", "unit")
            )

    # ------------------------------------------------------------------ model registry
    def register_model(
        self,
        *,
        loop_id: str,
        round_: int,
        role: str,
        path: str,
        parent: str | None,
        data_hash: str | None = None,
        dataset_path: str | None = None,
        examples: int | None = None,
        config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> ModelVersion:
        version = f"{loop_id}/r{round_}/{role}"
        row = {
            "version": version,
            "loop_id": loop_id,
            "round": round_,
            "role": role,
            "path": path,
            "parent": parent,
            "data_hash": data_hash,
            "dataset_path": dataset_path,
            "examples": examples,
            "config": _json(config or {}),
            "metrics": _json(metrics or {}),
            "created": time.time(),
        }
        with self._lock:
            self.db.table("ei_models").upsert(row, pk="version")
        return ModelVersion(version, role, round_, path, parent)

    def add_model_metrics(self, version: str, metrics: dict[str, Any]) -> None:
        row = self.model(version)
        if row is not None:
            merged = {**json.loads(row["metrics"] or "{}"), **metrics}
            with self._lock:
                self.db.table("ei_models").update(version, {"metrics": _json(merged)})

    def model(self, version: str) -> dict[str, Any] | None:
        rows = self._query("select * from ei_models where version = ?", [version])
        return rows[0] if rows else None

    def models(self, loop_id: str) -> list[dict[str, Any]]:
        return self._query("select * from ei_models where loop_id = ? order by round, role", [loop_id])

    def model_for(self, loop_id: str, round_: int, role: str) -> ModelVersion | None:
        rows = self._query(
            "select * from ei_models where loop_id = ? and round = ? and role = ?", [loop_id, round_, role]
        )
        return ModelVersion.of(rows[0]) if rows else None

    def current_model(self, loop_id: str, role: str, before_round: int) -> ModelVersion | None:
        """The newest version of `role` (or of the one model for all roles) from a round before `before_round`."""
        rows = self._query(
            "select * from ei_models where loop_id = ? and role in (?, 'all') and round < ? order by round desc",
            [loop_id, role, before_round],
        )
        return ModelVersion.of(rows[0]) if rows else None

    # ------------------------------------------------------------------ candidates
    def put_candidates(self, rows: list[dict[str, Any]]) -> None:
        now = time.time()
        with self.transaction() as conn:
            for row in rows:
                row = {"created": now, "selected": 0, **row}
                for key in ("value", "parse_problems", "subgoals"):  # Python values in, JSON text stored
                    if key in row:
                        row[key] = _json(row[key]) if row[key] is not None else None
                cols = list(row)
                marks = ", ".join("?" for _ in cols)
                names = ", ".join(f"[{c}]" for c in cols)
                conn.execute(f"insert or replace into ei_candidates ({names}) values ({marks})", [row[c] for c in cols])

    def candidates(self, loop_id: str, round_: int, role: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from ei_candidates where loop_id = ? and round = ?"
        params: list[Any] = [loop_id, round_]
        if role is not None:
            sql += " and role = ?"
            params.append(role)
        rows = self._query(sql + " order by problem, role, idx", params)
        for row in rows:
            for key in ("value", "subgoals", "parse_problems"):
                row[key] = json.loads(row[key]) if row[key] is not None else None
        return rows

    def update_candidates(self, updates: list[tuple[str, dict[str, Any]]]) -> None:
        """(candidate id, fields) pairs, in one transaction."""
        with self.transaction() as conn:
            for cid, fields in updates:
                sets = ", ".join(f"[{k}] = ?" for k in fields)
                conn.execute(f"update ei_candidates set {sets} where id = ?", [*fields.values(), cid])

    def clear_selection(self, loop_id: str, round_: int) -> None:
        with self._lock:
            self.db.conn.execute(
                "update ei_candidates set selected = 0 where loop_id = ? and round = ?", [loop_id, round_]
            )

    # ------------------------------------------------------------------ examples and rounds
    def replace_examples(self, loop_id: str, round_: int, rows: list[dict[str, Any]]) -> None:
        with self.transaction() as conn:
            conn.execute("delete from ei_examples where loop_id = ? and round = ?", [loop_id, round_])
            for row in rows:
                row = {"loop_id": loop_id, "round": round_, **row, "origin": _json(row.get("origin"))}
                cols = list(row)
                names = ", ".join(f"[{c}]" for c in cols)
                conn.execute(
                    f"insert into ei_examples ({names}) values ({', '.join('?' for _ in cols)})", [row[c] for c in cols]
                )

    def examples(self, loop_id: str, round_: int, dataset: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from ei_examples where loop_id = ? and round = ?"
        params: list[Any] = [loop_id, round_]
        if dataset is not None:
            sql += " and dataset = ?"
            params.append(dataset)
        rows = self._query(sql + " order by id", params)
        for row in rows:
            row["origin"] = json.loads(row["origin"]) if row["origin"] else None
        return rows

    def record_round(self, loop_id: str, round_: int, metrics: dict[str, Any]) -> None:
        row = {"loop_id": loop_id, "round": round_, "finished": time.time(), "metrics": _json(metrics)}
        with self._lock:
            self.db.table("ei_rounds").upsert(row, pk=("loop_id", "round"))

    def rounds(self, loop_id: str) -> list[dict[str, Any]]:
        rows = self._query("select * from ei_rounds where loop_id = ? order by round", [loop_id])
        return [{"round": r["round"], "finished": r["finished"], **json.loads(r["metrics"])} for r in rows]
