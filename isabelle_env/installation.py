"""Finding an Isabelle installation and asking it about itself (version, heaps)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from isabelle_env.errors import IsabelleError, IsabelleNotFoundError
from isabelle_env.process import run_command

HOW_TO_GET_ISABELLE = (
    "set ISABELLE_HOME to an Isabelle installation (the folder holding bin/isabelle), put `isabelle` on PATH, "
    "or pass --isabelle PATH; or connect to a running server with --isabelle-server HOST:PORT --password PW. "
    "Releases: https://isabelle.in.tum.de/installation.html"
)


@dataclass(frozen=True)
class IsabelleInstallation:
    """An Isabelle distribution on disk; `executable` is its `bin/isabelle`."""

    home: Path
    executable: Path
    found_via: str = "explicit"

    def run(self, *args: str, timeout: float = 120.0) -> str:
        result = run_command([self.executable, *args], timeout=timeout)
        if result.returncode != 0:
            raise IsabelleError(
                f"`isabelle {' '.join(args)}` failed with status {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-1000:]}"
            )
        return result.stdout

    @cached_property
    def version(self) -> str:
        """The release name, e.g. ``Isabelle2025`` (from `isabelle version`)."""
        return self.run("version", timeout=60).strip()

    def getenv(self, *names: str) -> dict[str, str]:
        lines = self.run("getenv", "-b", *names, timeout=60).splitlines()
        return dict(zip(names, [*lines, *[""] * len(names)], strict=False))

    def heap_dirs(self) -> list[Path]:
        env = self.getenv("ISABELLE_HEAPS", "ISABELLE_HEAPS_SYSTEM", "ML_IDENTIFIER")
        dirs = []
        for key in ("ISABELLE_HEAPS", "ISABELLE_HEAPS_SYSTEM"):
            if env[key] and env["ML_IDENTIFIER"]:
                dirs.append(Path(env[key]) / env["ML_IDENTIFIER"])
        return dirs

    def built_heaps(self) -> list[str]:
        """Names of sessions whose heap image is built (user and system heap folders)."""
        names: set[str] = set()
        for folder in self.heap_dirs():
            if folder.is_dir():
                names.update(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        return sorted(names)


def _from_home(home: Path, found_via: str) -> IsabelleInstallation | None:
    exe = home / "bin" / "isabelle"
    if exe.is_file() and os.access(exe, os.X_OK):
        return IsabelleInstallation(home.resolve(), exe.resolve(), found_via)
    return None


def find_isabelle(explicit: str | Path | None = None) -> IsabelleInstallation:
    """Locate Isabelle: an explicit path (home folder or executable), then $ISABELLE_HOME, then PATH."""
    if explicit:
        path = Path(explicit).expanduser()
        found = _from_home(path, "explicit")
        if found is None and path.is_file() and os.access(path, os.X_OK):
            found = IsabelleInstallation(path.resolve().parent.parent, path.resolve(), "explicit")
        if found is None:
            raise IsabelleNotFoundError(
                f"{path} is not an Isabelle installation (no executable bin/isabelle in it): "
                "pass the folder that holds bin/isabelle, or bin/isabelle itself"
            )
        return found
    env_home = os.environ.get("ISABELLE_HOME")
    if env_home:
        found = _from_home(Path(env_home).expanduser(), "ISABELLE_HOME")
        if found is None:
            raise IsabelleNotFoundError(
                f"ISABELLE_HOME={env_home} holds no executable bin/isabelle: point it at the folder of an "
                "Isabelle release (e.g. ~/Isabelle2025) or unset it"
            )
        return found
    on_path = shutil.which("isabelle")
    if on_path:
        exe = Path(on_path).resolve()
        return IsabelleInstallation(exe.parent.parent, exe, "PATH")
    raise IsabelleNotFoundError(f"no Isabelle found: {HOW_TO_GET_ISABELLE}")


def isabelle_or_none(explicit: str | Path | None = None) -> IsabelleInstallation | None:
    try:
        return find_isabelle(explicit)
    except IsabelleNotFoundError:
        return None
