"""Helpers for asserting that processes are really gone (no process, no zombie)."""

from __future__ import annotations

import contextlib
import time

import psutil


def remaining(pids: list[int], timeout: float = 5.0) -> list[str]:
    """Pids still present after `timeout`, with their state ('zombie' counts as present)."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                left.append(f"{pid}:{psutil.Process(pid).status()}")
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
