"""The per-round learning curve of a loop, read from the store: what `subgoalxl iterate-report` prints."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from expert_iteration.state import IterationStore


class CurveError(ValueError):
    """No such store or loop; the message lists what exists."""


def round_curve(store_path: Path | str, loop_id: str) -> list[dict[str, Any]]:
    """One row per recorded round: solved and pass@N (N attempts per problem), the union so far, data sizes."""
    path = Path(store_path)
    if not path.is_file():
        raise CurveError(f"no run store at {path}: pass --store (default DATA_DIR/runs.sqlite)")
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=60)) as db:  # a report never creates tables
            found = db.execute("select 1 from sqlite_master where name = 'ei_loops'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise CurveError(f"{path} is not a run store (SQLite: {exc}): pass --store PATH to the loop's store") from None
    if found is None:
        raise CurveError(f"{path} holds no expert-iteration loop (run `subgoalxl iterate` first)")
    with IterationStore(path) as store:
        if store.loop(loop_id) is None:
            known = ", ".join(r["loop_id"] for r in store.loops()) or "none"
            raise CurveError(f"no loop {loop_id!r} in {path}; loops there: {known}")
        rounds = store.rounds(loop_id)
    curve = []
    for r in rounds:
        ev = r.get("evaluation") or {}
        attempts = ev.get("attempts_per_problem")
        datasets = r.get("datasets") or {}
        selected = {role: v.get("selected", 0) for role, v in (r.get("select") or {}).items()}
        curve.append(
            {
                "round": r["round"],
                "evaluated": ev.get("evaluated"),
                "solved": ev.get("solved"),
                "k": attempts,
                "pass_at_k": ev.get(f"pass@{attempts}") if attempts else None,
                "union_solved": ev.get("union_solved"),
                "heldout": ev.get("heldout"),
                "union_rate": ev.get("union_rate"),
                "data_size": sum(d.get("examples", 0) for d in datasets.values()),
                "data": {name: d.get("examples", 0) for name, d in datasets.items()},
                "selected": selected,
                "models": r.get("models", {}),
                "eval_run_id": ev.get("run_id"),
            }
        )
    return curve
