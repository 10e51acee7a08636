"""What the installer and the session builder share: progress reporting, and running `isabelle build` with its
output streamed, under a timeout, its whole process tree killed on the way out."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from isabelle_env.process import become_subreaper, kill_process_tree

__all__ = ["MARKER", "Reporter", "default_jobs", "run_streaming"]

#: written into every tree this installer unpacks; only such trees are adopted, replaced or deleted
MARKER = ".subgoalxl-install.json"


def default_jobs() -> int:
    """miniF2F's sessions form a chain (HOL -> Library -> Computational_Algebra -> Number_Theory): few jobs do."""
    return max(1, min(4, os.cpu_count() or 1))


class Reporter:
    """Where progress goes. This base class is silent (library use); the command line passes one that draws
    progress bars (`cli.progress.RichReporter`)."""

    def step(self, text: str) -> None:
        """One line about what happens next or what was done."""

    def warn(self, text: str) -> None:
        """Something the user should know that does not stop the install."""

    def build_line(self, text: str) -> None:
        """One line of `isabelle build` output, as it comes."""

    @contextlib.contextmanager
    def transfer(self, label: str, total: int | None) -> Iterator[Callable[[int, int | None], None]]:
        """A progress display for `label`; yields `update(done, total)`."""
        yield lambda done, total: None


def run_streaming(argv: list[str], log_path: Path, timeout: float, reporter: Reporter) -> tuple[int | None, list[str]]:
    """Run `argv` in its own session, streaming its lines; returns (status or None on timeout, last lines).

    On timeout, Ctrl-C or any error the whole process tree is killed (Isabelle's `poly` processes included).
    """
    become_subreaper()
    tail: deque[str] = deque(maxlen=40)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name=f"build-output-{proc.pid}", daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        with log_path.open("w") as log:
            log.write(f"$ {' '.join(argv)}\n")
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    kill_process_tree(proc.pid, grace=5.0)
                    proc.wait()
                    return None, list(tail)
                try:
                    line = lines.get(timeout=min(left, 1.0))
                except queue.Empty:
                    continue
                if line is None:
                    break
                log.write(line)
                log.flush()
                tail.append(line.rstrip())
                reporter.build_line(line.rstrip())
        return proc.wait(), list(tail)
    except BaseException:
        kill_process_tree(proc.pid, grace=5.0)
        proc.wait()
        raise
