"""Finding which sessions have built heaps where checks will run, and choosing one for a set of imports.

`select_session` is what commands call: with a local installation, the distribution sessions whose heaps are built
there and the sessions recorded for it (`session_registry`); with a running server, those of the installations of
the release it reports in its handshake (`isabelle_name`), since a server must see this machine's files anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from isabelle_env.address import ServerAddress
from isabelle_env.errors import IsabelleError, IsabelleNotFoundError
from isabelle_env.installation import IsabelleInstallation, find_isabelle
from isabelle_env.session_registry import read_sessions, sessions_of
from isabelle_env.sessions import DISTRIBUTION_HEAPS, HeapSession, SessionChoice, choose_session, distribution_session

log = logging.getLogger(__name__)


def installation_sessions(installation: IsabelleInstallation) -> list[HeapSession]:
    """Sessions with a built heap in `installation`: distribution ones we know, and ours recorded for it."""
    try:
        heaps = set(installation.built_heaps())
    except IsabelleError as exc:
        log.warning("cannot list the heaps of %s: %s", installation.home, exc)
        return []
    found = [distribution_session(name) for name in DISTRIBUTION_HEAPS if name in heaps and name != "Pure"]
    found += [r.heap_session() for r in sessions_of(installation.home) if r.name in heaps]
    return found


def server_isabelle_name(address: ServerAddress, *, timeout: float = 10.0) -> str:
    """The release a running server reports when a client connects (`isabelle_name`, e.g. Isabelle2025)."""
    from isabelle_env.client import IsabelleClient

    with IsabelleClient(address, connect_timeout=timeout) as client:
        return str(client.server_info.get("isabelle_name") or "")


def _homes_of_release(name: str, explicit: str | Path | None) -> list[IsabelleInstallation]:
    from isabelle_env.install.registry import read_records

    homes: dict[str, None] = {}
    for record in read_records().values():
        if record.version == name and record.usable():
            homes.setdefault(record.home, None)
    for record in read_sessions():
        if record.isabelle_version == name:
            homes.setdefault(record.isabelle_home, None)
    found = []
    for home in homes:
        exe = Path(home) / "bin" / "isabelle"
        if exe.is_file():
            found.append(IsabelleInstallation(Path(home), exe, "recorded"))
    try:
        local = find_isabelle(explicit)
        if local.version == name and all(i.home != local.home for i in found):
            found.append(local)
    except IsabelleError:
        pass
    return found


def _unique(sessions: Iterable[HeapSession]) -> list[HeapSession]:
    by_name: dict[str, HeapSession] = {}
    for session in sessions:
        by_name.setdefault(session.name, session)
    return list(by_name.values())


def select_session(
    imports: Iterable[str],
    override: str | None = None,
    *,
    isabelle: str | Path | None = None,
    server: ServerAddress | None = None,
    dirs: Sequence[str] = (),
) -> SessionChoice:
    """The session to check `imports` in: `override` if given (with its recorded dirs), else the smallest built
    session whose heap holds them all (`sessions.choose_session`). `dirs` are session directories the user gave.

    Raises IsabelleConnectionError when `server` does not answer (it would not check anything either).
    """
    imports = tuple(imports)
    installations: list[IsabelleInstallation]
    if server is not None:
        release = server_isabelle_name(server)
        installations = _homes_of_release(release, isabelle) if release else []
        where = f"the server at {server} ({release or 'release unknown'})"
    else:
        try:
            installations = [find_isabelle(isabelle)]
            where = str(installations[0].home)
        except IsabelleNotFoundError:
            installations, where = [], ""
    available = _unique(s for inst in installations for s in installation_sessions(inst))
    unbuilt = []  # named, but its heap is not built: session_start builds it; its dirs are still needed
    if override and all(s.name != override for s in available):
        unbuilt = [r.heap_session() for inst in installations for r in sessions_of(inst.home) if r.name == override]
    return choose_session(imports, available, override, extra_dirs=dirs, where=where, recorded_unbuilt=unbuilt[:1])
