"""One driver per run: a lease row in the run store names the owner (host, pid, command) and its heartbeat.

A second driver on the same run id is refused at once with the owner's name; a stale lease is taken over: on
the same host (and pid namespace) when the owner's process is gone, elsewhere when its heartbeat is older than
`STALE_AFTER_S`. The writer checks the lease inside every transaction (`still_owned`), so a driver whose lease
was taken over cannot commit another row.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sqlite3
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from isabelle_env.process import redact

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
STALE_AFTER_S = 30.0  # six missed heartbeats: only then is a lease held from another host taken over

_SCHEMA = (
    "create table if not exists leases (run_id text primary key, owner text not null, host text, pidns text, "
    "pid integer, pid_started real, command text, acquired real, heartbeat real)"
)
_COLUMNS = ("run_id", "owner", "host", "pidns", "pid", "pid_started", "command", "acquired", "heartbeat")


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds (or held) a run."""

    run_id: str
    owner: str
    host: str
    pidns: str
    pid: int
    pid_started: float
    command: str
    acquired: float
    heartbeat: float

    @classmethod
    def me(cls, run_id: str) -> LeaseHolder:
        now = time.time()
        command = redact(" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))[:300] if sys.argv else ""
        started = psutil.Process().create_time()
        return cls(
            run_id, uuid.uuid4().hex, socket.gethostname(), _pid_namespace(), os.getpid(), started, command, now, now
        )

    def describe(self, now: float) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.acquired))
        what = f" ({self.command})" if self.command else ""
        return (
            f"pid {self.pid} on host {self.host}{what}, since {since}, last heartbeat {now - self.heartbeat:.0f}s ago"
        )

    def stale_because(self, now: float, stale_after_s: float) -> str | None:
        """Why this lease may be taken over, or None while its owner may still be running."""
        if self.host == socket.gethostname() and self.pidns == _pid_namespace():
            try:
                process = psutil.Process(self.pid)
                alive = abs(process.create_time() - self.pid_started) < 1.0 and process.status() != "zombie"
            except psutil.Error:
                alive = False
            return None if alive else f"its process (pid {self.pid} on this host) has ended"
        if now - self.heartbeat > stale_after_s:
            return f"no heartbeat from host {self.host} for {now - self.heartbeat:.0f}s"
        return None


class LeaseHeld(RuntimeError):
    """Another live driver holds the run."""

    def __init__(self, holder: LeaseHolder):
        self.holder = holder
        super().__init__(
            f"run {holder.run_id} is being run by {holder.describe(time.time())}: one driver per run; wait for it "
            f"to finish or stop it (Ctrl-C or `kill {holder.pid}` there), or start another run with a new --run-id"
        )


def ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(_SCHEMA)


def read_holder(conn: sqlite3.Connection, run_id: str) -> LeaseHolder | None:
    row = conn.execute(f"select {', '.join(_COLUMNS)} from leases where run_id = ?", [run_id]).fetchone()
    return LeaseHolder(*row) if row else None


def still_owned(conn: sqlite3.Connection, run_id: str, owner: str) -> LeaseHolder | None:
    """Inside the caller's transaction: None while `owner` holds the run, else who holds it now (or held it)."""
    holder = read_holder(conn, run_id)
    if holder is not None and holder.owner == owner:
        return None
    return holder or LeaseHolder(run_id, "", "", "", 0, 0.0, "(lease released)", 0.0, 0.0)


class RunLease:
    """A held lease: a heartbeat thread on its own connection keeps it fresh until `release()`."""

    def __init__(
        self,
        path: Path,
        run_id: str,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_AFTER_S,
        timeout: float = 60.0,
    ):
        self.path = path
        self.run_id = run_id
        self.me = LeaseHolder.me(run_id)
        self.taken_over: str | None = None  # set when this lease was found stale and taken from its last owner
        self._heartbeat_s = heartbeat_s
        self._conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            self._acquire(stale_after_s)
        except BaseException:
            self._conn.close()
            raise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"run-lease-{run_id}", daemon=True)
        self._thread.start()

    @property
    def owner(self) -> str:
        return self.me.owner

    def _acquire(self, stale_after_s: float) -> None:
        conn = self._conn
        ensure_table(conn)
        conn.execute("begin immediate")
        try:
            holder = read_holder(conn, self.run_id)
            now = time.time()
            if holder is not None:
                reason = holder.stale_because(now, stale_after_s)
                if reason is None:
                    raise LeaseHeld(holder)
                self.taken_over = f"took over run {self.run_id} from {holder.describe(now)}: {reason}"
            marks = ", ".join("?" for _ in _COLUMNS)
            values = [getattr(self.me, c) for c in _COLUMNS]
            conn.execute(f"insert or replace into leases ({', '.join(_COLUMNS)}) values ({marks})", values)
            conn.execute("commit")
        except BaseException:
            if conn.in_transaction:
                conn.execute("rollback")
            raise
        if self.taken_over:
            log.warning("%s", self.taken_over)

    def _beat(self) -> None:
        lost = False
        while not self._stop.wait(self._heartbeat_s):
            try:
                cursor = self._conn.execute(
                    "update leases set heartbeat = ? where run_id = ? and owner = ?",
                    [time.time(), self.run_id, self.owner],
                )
            except sqlite3.Error as exc:  # a busy or full disk: the next beat tries again
                log.warning("run %s: lease heartbeat failed (%s)", self.run_id, exc)
                continue
            if cursor.rowcount == 0 and not lost:
                lost = True
                log.error("run %s: this driver's lease was taken over; its writes are refused", self.run_id)

    def release(self) -> None:
        """Give the run up (only if still ours); idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=self._heartbeat_s + 5)
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("delete from leases where run_id = ? and owner = ?", [self.run_id, self.owner])
        self._conn.close()
