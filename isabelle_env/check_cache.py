"""Content-addressed cache of verdicts and Sledgehammer findings, in SQLite.

A check is identified by everything that can change its answer: Isabelle version, session, imports,
statement, normalised proof text, tactic list and timeouts. Only definite answers are stored (proved,
failed); timeouts and infrastructure errors depend on the machine's load and are retried. Sledgehammer
suggestions are stored per goal so that re-checks are deterministic; a suggestion is always re-checked
by Isabelle before it is used, so a stale entry can cost time but never a wrong verdict.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlite_utils

from isabelle_env.sqlite_setup import when_settled
from isabelle_env.verdict import Verdict, VerdictKind

CACHEABLE = frozenset({VerdictKind.PROVED, VerdictKind.FAILED})


def content_key(**parts: Any) -> str:
    """A stable hash of named parts (sorted JSON), used as the cache key."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class CheckCache:
    """Thread-safe; one SQLite file in WAL mode shared by every checker on the machine."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            when_settled(self._db.enable_wal)  # checkers starting together open one new file at once
        self._lock = threading.Lock()
        when_settled(self._create_tables)
        self.hits = 0
        self.misses = 0

    def _create_tables(self) -> None:
        checks = self._db.table("checks")
        if not checks.exists():
            checks.create({"key": str, "kind": str, "verdict": str, "created": float}, pk="key")
        hammer = self._db.table("sledgehammer")
        if not hammer.exists():
            hammer.create({"key": str, "goal": str, "suggestions": str, "created": float}, pk="key")

    def get_verdict(self, key: str) -> Verdict | None:
        with self._lock:
            rows = list(self._db.query("select verdict from checks where key = ?", [key]))
        if not rows:
            self.misses += 1
            return None
        self.hits += 1
        return replace(Verdict.from_json(json.loads(rows[0]["verdict"])), cached=True)

    def put_verdict(self, key: str, verdict: Verdict) -> None:
        if verdict.kind not in CACHEABLE:
            return
        row = {"key": key, "kind": str(verdict.kind), "verdict": json.dumps(verdict.to_json()), "created": time.time()}
        with self._lock:
            self._db.table("checks").upsert(row, pk="key")

    def get_suggestions(self, key: str) -> list[str] | None:
        with self._lock:
            rows = list(self._db.query("select suggestions from sledgehammer where key = ?", [key]))
        return json.loads(rows[0]["suggestions"]) if rows else None

    def put_suggestions(self, key: str, goal: str, suggestions: Sequence[str]) -> None:
        row = {"key": key, "goal": goal, "suggestions": json.dumps(list(suggestions)), "created": time.time()}
        with self._lock:
            self._db.table("sledgehammer").upsert(row, pk="key")

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"checks": self._db.table("checks").count, "sledgehammer": self._db.table("sledgehammer").count}

    def close(self) -> None:
        with self._lock:
            self._db.conn.close()
