"""One way in for every command that checks proofs: a server we start, or one that already runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from isabelle_env.address import ServerAddress
from isabelle_env.installation import find_isabelle
from isabelle_env.server import IsabelleServer
from isabelle_env.session_pool import SessionPool, SessionPoolConfig


@contextlib.contextmanager
def open_session_pool(
    config: SessionPoolConfig,
    *,
    isabelle: str | Path | None = None,
    server: ServerAddress | None = None,
) -> Iterator[SessionPool]:
    """Warm sessions on `server` if given, else on a server started from `isabelle` (or the one found).

    Everything started here is stopped when the block ends, however it ends.
    """
    if server is not None:
        with SessionPool(server, config) as pool:
            yield pool
        return
    installation = find_isabelle(isabelle)
    with IsabelleServer(installation) as owned, SessionPool(owned, config) as pool:
        yield pool
