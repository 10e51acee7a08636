"""Starting and supervising an `isabelle server` process."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import uuid
from pathlib import Path

from isabelle_env.address import ServerAddress
from isabelle_env.client import IsabelleClient
from isabelle_env.errors import IsabelleConnectionError, IsabelleError
from isabelle_env.installation import IsabelleInstallation
from isabelle_env.process import SupervisedProcess, redact, run_command

log = logging.getLogger(__name__)

_BANNER = re.compile(r'server "[^"]*" = \S+:\d+ \(password "[^"]*"\)')


class IsabelleServer:
    """An `isabelle server` we started and own: the OS picks its port, it listens on loopback only.

    A context manager: leaving the block (or the interpreter exiting) kills the server and every process
    it started. `restart()` replaces a server that died.
    """

    def __init__(
        self,
        installation: IsabelleInstallation,
        *,
        name: str | None = None,
        startup_timeout: float = 120.0,
        log_file: Path | None = None,
    ):
        self.installation = installation
        self.name = name or f"subgoalxl-{uuid.uuid4().hex[:12]}"
        self.startup_timeout = startup_timeout
        self.log_file = log_file
        self._process: SupervisedProcess | None = None
        self._address: ServerAddress | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    def __repr__(self) -> str:
        return f"<IsabelleServer {self.name} {self._address or 'not started'}>"

    @property
    def address(self) -> ServerAddress:
        if self._address is None:
            raise IsabelleError("the Isabelle server is not started: call start() or use it as a context manager")
        return self._address

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> ServerAddress:
        with self._lock:
            if self._process is not None and self._process.alive():
                return self.address
            argv: list[str | Path] = [self.installation.executable, "server", "-n", self.name]
            if self.log_file is not None:
                argv += ["-L", self.log_file]
            process = SupervisedProcess(argv)
            try:
                match = process.expect(_BANNER, timeout=self.startup_timeout)
            except BaseException:
                process.stop(grace=2.0)
                raise
            process.start_draining()
            self._process = process
            self._address = ServerAddress.from_banner(match.group(0))
            log.info("started Isabelle server %s at %s (pid %d)", self.name, self._address, process.pid)
            return self._address

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def connect(self, **client_options: float) -> IsabelleClient:
        return IsabelleClient(self.start() if not self.alive() else self.address, **client_options)

    def stop(self, grace: float = 5.0) -> None:
        """Ask the server to shut down, then kill its whole process tree whatever it answered."""
        with self._lock:
            process, self._process = self._process, None
            address = self._address
        if process is None:
            return
        if process.alive() and address is not None:
            with contextlib.suppress(IsabelleError, OSError), IsabelleClient(address, connect_timeout=2) as client:
                client.command("shutdown", timeout=grace)
        process.stop(grace=grace)

    def restart(self) -> ServerAddress:
        self.stop(grace=2.0)
        self.restarts += 1
        return self.start()

    def output_tail(self) -> str:
        """Recent output of the server process (passwords redacted), for error messages."""
        return self._process.output_tail() if self._process else ""

    def __enter__(self) -> IsabelleServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def find_running_server(installation: IsabelleInstallation, name: str, *, timeout: float = 60.0) -> ServerAddress:
    """The address of a server someone started with `isabelle server -n NAME` (the banner holds the password)."""
    result = run_command([installation.executable, "server", "-n", name, "-s"], timeout=timeout)
    match = _BANNER.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise IsabelleConnectionError(
            f"no running Isabelle server named {name!r} ({redact((result.stderr or result.stdout).strip())[:200]}): "
            f"start one with `isabelle server -n {name}`, or pass --isabelle-server HOST:PORT --password PW"
        )
    return ServerAddress.from_banner(match.group(0))
