"""Finding an Isabelle installation and asking it about itself (version, heaps, Sledgehammer's provers)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from isabelle_env.errors import IsabelleError, IsabelleNotFoundError
from isabelle_env.process import run_command

HOW_TO_GET_ISABELLE = (
    "run `subgoalxl isabelle install` (downloads and builds a release into the data folder), or "
    "set ISABELLE_HOME to an Isabelle installation (the folder holding bin/isabelle), put `isabelle` on PATH, "
    "or pass --isabelle PATH; or connect to a running server with --isabelle-server HOST:PORT --password PW. "
    "Releases: https://isabelle.in.tum.de/installation.html"
)

#: the automatic provers Sledgehammer runs, with the settings that point at them (first set one wins) and the
#: prefix of their component folder in a release's contrib/
SLEDGEHAMMER_PROVERS: dict[str, tuple[tuple[str, ...], str]] = {
    "E": (("E_HOME",), "e-"),
    "Vampire": (("VAMPIRE_HOME",), "vampire-"),
    "Z3": (("Z3_HOME", "Z3_SOLVER"), "z3-"),
    "cvc5": (("CVC5_HOME", "CVC5_SOLVER"), "cvc5-"),
    "veriT": (("ISABELLE_VERIT", "VERIT_HOME"), "verit-"),
}


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

    def sledgehammer_provers(self) -> dict[str, str | None]:
        """Where each of Sledgehammer's provers is (a setting's value or a contrib folder), or None.

        Asks `isabelle getenv`; when that fails, looks for the components in the installation's contrib/.
        """
        names = [name for settings, _ in SLEDGEHAMMER_PROVERS.values() for name in settings]
        try:
            env = self.getenv(*names)
        except IsabelleError:
            env = {}
        contrib = self.home / "contrib"
        components = sorted(p.name for p in contrib.iterdir()) if contrib.is_dir() else []
        found: dict[str, str | None] = {}
        for prover, (settings, prefix) in SLEDGEHAMMER_PROVERS.items():
            value = next((f"{name}={env[name]}" for name in settings if env.get(name)), None)
            if value is None and not env:
                value = next((f"contrib/{c}" for c in components if c.lower().startswith(prefix)), None)
            found[prover] = value
        return found

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
    """Locate Isabelle: an explicit path (home folder or executable), then $ISABELLE_HOME, then PATH, then the
    newest release recorded by `subgoalxl isabelle install` (in data_dir()/isabelle/installations.json)."""
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
    recorded = recorded_isabelle()
    if recorded is not None:
        return recorded
    raise IsabelleNotFoundError(f"no Isabelle found: {HOW_TO_GET_ISABELLE}")


def recorded_isabelle() -> IsabelleInstallation | None:
    """The newest installation recorded by `subgoalxl isabelle install` whose tree is still there, if any."""
    from isabelle_env.install.registry import newest_usable

    record = newest_usable()
    return _from_home(record.home_path, "recorded") if record else None


def isabelle_or_none(explicit: str | Path | None = None) -> IsabelleInstallation | None:
    try:
        return find_isabelle(explicit)
    except IsabelleNotFoundError:
        return None
