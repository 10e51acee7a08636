"""Setting up an SQLite file that several processes open at the same moment (checkers sharing the check cache,
drivers racing for one run store).

Switching to WAL and creating tables need a write lock, and SQLite answers a process that loses that race at
once ("database is locked", or "table ... already exists" after an exists-check) instead of waiting on the busy
timeout. The set-up steps are idempotent, so the loser simply runs them again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_RACES = ("database is locked", "database table is locked", "already exists")


def when_settled(step: Callable[[], T], timeout: float = 60.0) -> T:
    """Run an idempotent set-up `step`, again while a concurrent set-up makes it fail, up to `timeout`."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if not any(race in str(exc) for race in _RACES) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
