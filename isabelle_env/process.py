"""Supervision of the processes we start: own process group, bounded waits, whole-tree kill, no zombies.

Isabelle starts helpers (the JVM, then one `poly` process per session) through its own bash wrapper, which
puts them into new process groups and sessions. Killing our child's group alone would orphan them, so a kill
collects every process that belongs to the child: its descendant tree, and every process carrying the child's
token in its environment (inherited by all descendants, so even those orphaned when their parent died are
found; the technique of Jenkins' process-tree killer). On Linux this process becomes a "child subreaper"
before it spawns, so orphaned descendants are re-parented to us and reaped instead of lingering as zombies.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pexpect
import psutil

from isabelle_env.errors import IsabelleError, IsabelleTimeoutError

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36
_subreaper_done = False
_live: weakref.WeakSet[SupervisedProcess] = weakref.WeakSet()
_PASSWORD = re.compile(r'(password\s*"?)[^"\s)]+')


def redact(text: str) -> str:
    """Hide server passwords in text that may reach a log or an error message."""
    return _PASSWORD.sub(r"\1***", text)


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux) so that killing a tree never leaves zombies behind."""
    global _subreaper_done
    if _subreaper_done or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # not fatal: only the zombie guarantee is weaker
        log.debug("could not become a child subreaper")
    _subreaper_done = True


TOKEN_VARIABLE = "SUBGOALXL_PROCESS_TOKEN"


def new_token() -> str:
    return uuid.uuid4().hex


def with_token(env: Mapping[str, str] | None, token: str) -> dict[str, str]:
    return {**(dict(env) if env is not None else os.environ), TOKEN_VARIABLE: token}


def _carrying(token: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get(TOKEN_VARIABLE) == token:
                found.append(proc)
    return found


def kill_process_tree(pid: int, *, grace: float = 5.0, token: str | None = None) -> list[int]:
    """SIGTERM the process, its group, its descendants and every process carrying `token`; SIGKILL what is
    left after `grace` seconds. Returns the pids that were found. Our own process group is never signalled.
    """
    procs: list[psutil.Process] = []
    with contextlib.suppress(psutil.NoSuchProcess):
        procs = _tree(psutil.Process(pid))
    if token is not None:
        procs += [p for p in _carrying(token) if p.pid not in {q.pid for q in procs}]
    if not procs:
        _reap(pid)
        return []
    _signal_all(procs, signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=grace)
    if alive:
        alive = alive + [p for p in _tree_of_all(alive) if p not in alive]
        _signal_all(alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5.0)
    for proc in procs:
        _reap(proc.pid)
    return [p.pid for p in procs]


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return [root]


def _tree_of_all(procs: list[psutil.Process]) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            found.extend(proc.children(recursive=True))
    return found


def _signal_all(procs: Sequence[psutil.Process], sig: signal.Signals) -> None:
    own_group = os.getpgrp()
    groups: set[int] = set()
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            groups.add(os.getpgid(proc.pid))
    for group in groups - {own_group}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run_command(
    argv: Sequence[str | Path], *, timeout: float, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> CommandResult:
    """Run a short command in its own session; on timeout its whole tree is killed."""
    become_subreaper()
    args = [str(a) for a in argv]
    token = new_token()
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=with_token(env, token),
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process_tree(proc.pid, grace=1.0, token=token)
        proc.communicate()
        raise IsabelleTimeoutError(f"`{' '.join(args)}` did not finish within {timeout}s and was killed") from None
    except BaseException:
        kill_process_tree(proc.pid, grace=1.0, token=token)
        proc.wait()
        raise
    return CommandResult(tuple(args), proc.returncode, out, err)


class SupervisedProcess:
    """A long-running child on a pseudo-terminal (pexpect), in its own session and process group.

    Read its start-up output with `expect`; after that, `start_draining` keeps its output flowing into a
    small ring buffer (a child writing to a full pty would block). `stop()` kills the whole tree.
    """

    def __init__(self, argv: Sequence[str | Path], *, env: Mapping[str, str] | None = None, cwd: Path | None = None):
        become_subreaper()
        args = [str(a) for a in argv]
        self.argv = tuple(args)
        self.token = new_token()
        self._child = pexpect.spawn(
            args[0],
            args[1:],
            env=with_token(env, self.token),
            cwd=str(cwd) if cwd else None,
            encoding="utf-8",
            codec_errors="replace",
            echo=False,
            timeout=None,
            dimensions=(24, 500),
        )
        self.pid: int = self._child.pid
        self._tail: collections.deque[str] = collections.deque(maxlen=200)
        self._drainer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False
        _live.add(self)

    def __repr__(self) -> str:
        return f"<SupervisedProcess pid={self.pid} {self.argv[0]} {'alive' if self.alive() else 'exited'}>"

    def expect(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str]:
        """Wait for `pattern` in the output; raise with the output seen so far when it does not come."""
        try:
            self._child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            raise IsabelleTimeoutError(
                f"`{' '.join(self.argv)}` printed no {getattr(pattern, 'pattern', pattern)!r} within {timeout}s; "
                f"output so far: {redact(self._seen())!r}"
            ) from None
        except pexpect.EOF:
            raise IsabelleError(
                f"`{' '.join(self.argv)}` exited (status {self.exit_status()}) before printing the expected line; "
                f"its output: {redact(self._seen())!r}"
            ) from None
        self._tail.append(redact(str(self._child.before) + str(self._child.after)))
        match = self._child.match
        assert isinstance(match, re.Match)
        return match

    def _seen(self) -> str:
        before = self._child.before
        return (str(before) if before else "")[-2000:]

    def start_draining(self) -> None:
        if self._drainer is None:
            self._drainer = threading.Thread(target=self._drain, name=f"drain-{self.pid}", daemon=True)
            self._drainer.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = self._child.read_nonblocking(4096, timeout=1.0)
            except pexpect.TIMEOUT:
                if self._stopped:
                    return
                continue
            except (pexpect.EOF, OSError, ValueError):
                return
            self._tail.append(redact(chunk))

    def output_tail(self, chars: int = 2000) -> str:
        return "".join(self._tail)[-chars:]

    def alive(self) -> bool:
        return not self._stopped and self._child.isalive()

    def exit_status(self) -> int | None:
        if self._child.isalive():
            return None
        return self._child.exitstatus if self._child.exitstatus is not None else -(self._child.signalstatus or 0)

    def stop(self, grace: float = 5.0) -> None:
        """Kill the child with its group and all descendants; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        kill_process_tree(self.pid, grace=grace, token=self.token)
        with contextlib.suppress(Exception):
            self._child.close(force=True)
        _live.discard(self)

    def __enter__(self) -> SupervisedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _stop_all_at_exit() -> None:
    for proc in list(_live):
        with contextlib.suppress(Exception):
            proc.stop(grace=2.0)
