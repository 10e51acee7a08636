"""A pool of warm Isabelle sessions: check out, check, purge, return; hung sessions are replaced.

Starting a session costs seconds (a `poly` process loads a heap); checking a small theory in a warm one
costs milliseconds. The pool keeps `size` sessions warm on one connection, hands each to one caller at a
time, purges the theories that caller checked after every use so memory stays flat, and replaces a session
whose check ran past its deadline and would not cancel. If the server process dies, a server we own is
restarted.

Only the checked theories are purged, never `all`: a library theory that the session's heap lacks is loaded
from source by the first check that imports it (tens of seconds for HOL-Number_Theory in session HOL, see
STACK_NOTES) and stays loaded for the next one (`Pure/Tools/server_commands.scala` `purge_theories`: with
`all = false` only the named nodes go).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from isabelle_env.address import ServerAddress
from isabelle_env.client import IsabelleClient, NoteCallback
from isabelle_env.errors import IsabelleConnectionError, IsabelleError, IsabelleTimeoutError
from isabelle_env.protocol import SessionInfo, UseTheoriesResult
from isabelle_env.server import IsabelleServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionPoolConfig:
    """How many sessions of which logic, and how long each step may take (seconds)."""

    session: str = "HOL"
    size: int = 1
    dirs: tuple[str, ...] = ()
    include_sessions: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    start_timeout: float = 900.0  # session_start may have to build a heap first
    check_timeout: float = 300.0
    cancel_grace: float = 10.0
    stop_timeout: float = 30.0
    checkout_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"a session pool needs size >= 1, got {self.size}")
        for name in ("start_timeout", "check_timeout", "cancel_grace", "stop_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SessionPoolConfig.{name} must be positive, got {getattr(self, name)}")


@dataclass
class PooledSession:
    """A warm session lent to one caller. `use_theories` enforces the pool's deadline."""

    pool: SessionPool
    info: SessionInfo
    generation: int
    broken: bool = False
    checks: int = 0
    _loaded: dict[str, list[str]] = field(default_factory=dict, repr=False)  # master_dir -> theories checked

    @property
    def session_id(self) -> str:
        return self.info.session_id

    def use_theories(
        self,
        theories: Sequence[str],
        *,
        master_dir: str | Path | None = None,
        timeout: float | None = None,
        on_note: NoteCallback | None = None,
    ) -> UseTheoriesResult:
        cfg = self.pool.config
        self._loaded.setdefault(str(master_dir or ""), []).extend(str(t) for t in theories)
        self.checks += 1
        client = self.pool.client
        try:
            return client.use_theories(
                self.session_id,
                theories,
                master_dir=master_dir,
                timeout=cfg.check_timeout if timeout is None else timeout,
                cancel_grace=cfg.cancel_grace,
                on_note=on_note,
            )
        except IsabelleTimeoutError:
            self.broken = True  # cancelled, but a session that ran over is not trusted to be clean
            raise
        except IsabelleConnectionError:
            self.broken = True
            raise


class SessionPool:
    """Warm sessions on one `isabelle server`, either one we own (`IsabelleServer`) or a running one."""

    def __init__(self, server: IsabelleServer | ServerAddress, config: SessionPoolConfig | None = None):
        self.config = config or SessionPoolConfig()
        self._server = server if isinstance(server, IsabelleServer) else None
        self._address = server if isinstance(server, ServerAddress) else None
        self._client: IsabelleClient | None = None
        self._idle: queue.Queue[PooledSession] = queue.Queue()
        self._lock = threading.RLock()
        self._generation = 0
        self._closed = False
        self.sessions_started = 0
        self.sessions_replaced = 0
        self.server_restarts = 0

    # ---------------------------------------------------------------- lifecycle
    @property
    def client(self) -> IsabelleClient:
        with self._lock:
            if self._client is None or self._client.closed:
                self._client = self._connect()
            return self._client

    def _connect(self) -> IsabelleClient:
        if self._server is not None:
            return self._server.connect()
        assert self._address is not None
        return IsabelleClient(self._address)

    def start(self) -> SessionPool:
        with self._lock:
            client = self.client
            generation = self._generation
        with ThreadPoolExecutor(max_workers=self.config.size) as executor:
            infos = list(executor.map(lambda _: self._start_session(client), range(self.config.size)))
        for info in infos:
            self._idle.put(PooledSession(self, info, generation))
        return self

    def _start_session(self, client: IsabelleClient) -> SessionInfo:
        cfg = self.config
        info = client.session_start(
            cfg.session,
            dirs=cfg.dirs,
            options=cfg.options,
            include_sessions=cfg.include_sessions,
            timeout=cfg.start_timeout,
        )
        self.sessions_started += 1
        return info

    def close(self) -> None:
        """Stop every session and close the connection; a server we own is stopped by its owner."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            client = self._client
        while True:
            try:
                session = self._idle.get_nowait()
            except queue.Empty:
                break
            if client is not None and not client.closed:
                with contextlib.suppress(IsabelleError):
                    client.session_stop(session.session_id, timeout=self.config.stop_timeout)
        if client is not None:
            client.close()

    def __enter__(self) -> SessionPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- lending
    @contextlib.contextmanager
    def session(self, timeout: float | None = None) -> Iterator[PooledSession]:
        """Borrow a warm session for one check; it is purged (or replaced) when the block ends."""
        if self._closed:
            raise IsabelleError("the session pool is closed")
        wait = self.config.checkout_timeout if timeout is None else timeout
        try:
            lent = self._idle.get(timeout=wait)
        except queue.Empty:
            raise IsabelleTimeoutError(
                f"no free Isabelle session within {wait}s (pool size {self.config.size})"
            ) from None
        try:
            yield lent
        finally:
            self._give_back(lent)

    def use_theories(
        self, theories: Sequence[str], *, master_dir: str | Path | None = None, timeout: float | None = None
    ) -> UseTheoriesResult:
        with self.session() as lent:
            return lent.use_theories(theories, master_dir=master_dir, timeout=timeout)

    def _give_back(self, lent: PooledSession) -> None:
        if self._closed:
            return
        if lent.generation != self._generation:  # the server was restarted meanwhile: session is gone
            self._replace(lent, stop_old=False)
            return
        if not lent.broken and lent._loaded:
            try:
                for master_dir, theories in lent._loaded.items():
                    self.client.purge_theories(
                        lent.session_id,
                        list(dict.fromkeys(theories)),
                        master_dir=master_dir or None,
                        timeout=self.config.stop_timeout,
                    )
            except IsabelleError as exc:
                log.warning("purging session %s failed (%s); replacing it", lent.session_id, exc)
                lent.broken = True
        lent._loaded = {}
        if lent.broken:
            self._replace(lent, stop_old=True)
        else:
            self._idle.put(lent)

    def _replace(self, old: PooledSession, *, stop_old: bool) -> None:
        """Stop a broken session and start a fresh one; restart the server if it no longer answers."""
        self._heal_server()
        client = self.client
        if stop_old and old.generation == self._generation:
            try:
                client.session_stop(old.session_id, timeout=self.config.stop_timeout)
            except IsabelleError as exc:
                log.warning("session %s did not stop (%s); restarting the server", old.session_id, exc)
                self._restart_server()
                client = self.client
        info = self._start_session(client)
        self.sessions_replaced += 1
        self._idle.put(PooledSession(self, info, self._generation))

    def _heal_server(self) -> None:
        with self._lock:
            dead = self._server is not None and not self._server.alive()
            lost = self._client is not None and self._client.closed
        if dead or (lost and self._server is not None):
            self._restart_server()

    def _restart_server(self) -> None:
        with self._lock:
            if self._server is None:  # not ours to restart; its sessions outlive a connection: reconnect
                if self._client is not None:
                    self._client.close()
                    self._client = None
                return
            if self._client is not None:
                self._client.close()
                self._client = None
            started = time.monotonic()
            self._server.restart()
            self.server_restarts += 1
            self._generation += 1
            log.warning("restarted the Isabelle server in %.1fs", time.monotonic() - started)
            # sessions still idle belong to the dead server: drop them, their replacements start lazily
            stale: list[PooledSession] = []
            while True:
                try:
                    stale.append(self._idle.get_nowait())
                except queue.Empty:
                    break
        for session in stale:
            self._replace(session, stop_old=False)
