"""Checker workers: each owns warm Isabelle sessions and verifies candidates; hosted as Ray actors.

`CheckerSpec` is what travels to a worker (plain data); the worker builds its server, pool, checker and
cache where it runs, so a cluster node starts its own Isabelle. A check can be cancelled between round
trips (early stop); it then returns `None` and decides nothing.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isabelle_env.address import ServerAddress
from isabelle_env.check_cache import CheckCache
from isabelle_env.checker import CheckCancelled, CheckerConfig, ProofChecker
from isabelle_env.installation import find_isabelle
from isabelle_env.server import IsabelleServer
from isabelle_env.session_pool import SessionPool, SessionPoolConfig
from isabelle_env.theory_text import parse_problem
from isabelle_env.user_dirs import cache_dir


@dataclass(frozen=True)
class CheckerSpec:
    checker: CheckerConfig = field(default_factory=CheckerConfig)
    session: str = "HOL"
    dirs: tuple[str, ...] = ()
    sessions: int = 1
    isabelle_path: str | None = None
    server: ServerAddress | None = None  # a running server instead of starting one
    cache_path: str | None = None  # default: the user cache folder; "" disables the cache


class CheckWorker:
    """The in-process worker; `CheckerActor` below is the same thing as a Ray actor."""

    def __init__(self, spec: CheckerSpec):
        self.spec = spec
        self._server: IsabelleServer | None = None
        if spec.server is None:
            self._server = IsabelleServer(find_isabelle(spec.isabelle_path))
            self._server.start()
        pool_config = SessionPoolConfig(
            session=spec.session,
            size=spec.sessions,
            dirs=spec.dirs,
            check_timeout=spec.checker.proof_timeout + 60,
        )
        self.pool = SessionPool(self._server or spec.server, pool_config)
        try:
            self.pool.start()
        except BaseException:
            self.close()
            raise
        cache = None
        if spec.cache_path != "":
            cache = CheckCache(Path(spec.cache_path) if spec.cache_path else cache_dir() / "check_cache.sqlite")
        self.checker = ProofChecker(self.pool, spec.checker, cache=cache)
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def info(self) -> dict[str, Any]:
        return {"worker": self.name, "isabelle_version": self.checker.isabelle_version, "sessions": self.spec.sessions}

    def verify(self, key: str, problem_text: str, candidate: str) -> dict[str, Any] | None:
        """The verdict as JSON, or None when cancelled before it was decided."""
        try:
            verdict = self.checker.verify(problem_text, candidate, should_stop=lambda: key in self._cancelled)
        except CheckCancelled:
            return None
        finally:
            with self._lock:
                self._cancelled.discard(key)
        return {**verdict.to_json(), "worker": self.name}

    def check_statement(self, theory_text: str) -> dict[str, Any]:
        """Whether a problem theory's statement is well-formed: checked with its proof assumed (`sorry`)."""
        problem = parse_problem(theory_text)
        probe = problem.bare().replace("\nbegin\n", "\nbegin\ndeclare [[quick_and_dirty = true]]\n", 1)
        name = f"SXL_statement_{uuid.uuid4().hex[:12]}"
        probe = probe.replace(f"theory {problem.theory_name}", f"theory {name}", 1)
        with tempfile.TemporaryDirectory(prefix="subgoalxl-statement-") as folder:
            path = Path(folder) / f"{name}.thy"
            path.write_text(probe)
            result = self.pool.use_theories([str(path.with_suffix(""))], master_dir=folder, timeout=120)
        node = result.nodes[0] if result.nodes else None
        errors = [{"line": m.pos.line, "text": m.text} for m in (node.errors if node else result.errors)]
        return {"ok": bool(node is not None and node.checked_ok), "errors": errors}

    def cancel(self, keys: list[str]) -> None:
        with self._lock:
            self._cancelled.update(keys)

    def close(self) -> None:
        if getattr(self, "pool", None) is not None:
            self.pool.close()
        if self._server is not None:
            self._server.stop()


def checker_actor_class(max_concurrency: int):  # noqa: ANN201 - a Ray actor class
    """`CheckWorker` as a threaded Ray actor (one thread per session, plus one for cancel/info calls)."""
    import ray

    return ray.remote(num_cpus=0, max_restarts=3, max_task_retries=0, max_concurrency=max_concurrency)(CheckWorker)
