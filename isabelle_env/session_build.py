"""Building a session of our own (`isabelle build-session`, and the last step of `isabelle install`).

Writes the session's ROOT into `data_dir()/isabelle/sessions/NAME/` (a session directory holding only that file;
its theories are other sessions' theories, named qualified), runs `isabelle build -d THAT_DIR -b NAME`
supervised (src/Doc/System/Sessions.thy, "Invoking the build process": `-d DIR` includes a session directory,
`-b` builds heap images, ancestors included), and records the session with the installation it was built for.
Heaps go inside an installation subgoalxl unpacked (`-o system_heaps`: "store and load happens only in the
system directory", $ISABELLE_HEAPS_SYSTEM, so the heap is removed with it), else into the user's heap folder
($ISABELLE_HEAPS), from where a plain session_start loads it ("For system_heaps=false, heaps are stored in the
user directory and may be loaded from both directories"; src/Pure/Thy/sessions.scala, Store.input_dirs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from isabelle_env.errors import IsabelleError
from isabelle_env.install.errors import BuildError, InstallError
from isabelle_env.install.registry import install_lock, install_root
from isabelle_env.install.runner import MARKER, Reporter, default_jobs, run_streaming
from isabelle_env.installation import IsabelleInstallation
from isabelle_env.session_registry import SessionRecord, read_sessions, save_session, session_roots
from isabelle_env.sessions import SessionSpec


@dataclass(frozen=True)
class SessionBuildOptions:
    """What to build and how; `extra_dirs` are more session directories (e.g. an AFP `thys` folder)."""

    spec: SessionSpec
    extra_dirs: tuple[str, ...] = ()
    jobs: int = 0  # 0: default_jobs()
    timeout: float = 6 * 3600.0
    system_heaps: bool | None = None  # None: inside installations subgoalxl unpacked, else the user's heaps

    def __post_init__(self) -> None:
        if self.jobs < 0 or self.timeout <= 0:
            raise InstallError("--jobs must be 0 or more and --build-timeout more than 0 seconds")


def is_ours(installation: IsabelleInstallation) -> bool:
    """An installation `subgoalxl isabelle install` unpacked (its heaps may go inside it)."""
    return (installation.home / MARKER).is_file()


def root_folder(name: str) -> Path:
    return session_roots() / name


def write_root(spec: SessionSpec) -> Path:
    """Write (or keep) the ROOT of `spec`; returns its folder. Refuses to change a session recorded elsewhere.

    An unchanged ROOT is left alone: Isabelle compares sources, and a rewritten but equal file changes nothing.
    """
    folder = root_folder(spec.name)
    root = folder / "ROOT"
    text = spec.root_text()
    if root.is_file() and root.read_text() == text:
        return folder
    clash = [
        r for r in read_sessions() if r.name == spec.name and (r.parent, r.theories) != (spec.parent, spec.theories)
    ]
    if clash:
        other = clash[0]
        raise InstallError(
            f"a session {spec.name} with other contents ({other.parent} + {', '.join(other.theories)}) is recorded "
            f"for {other.isabelle_home}; changing its ROOT would make that heap stale: pick another --name"
        )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".ROOT.tmp"
    tmp.write_text(text)
    tmp.replace(root)
    return folder


def build_command(
    installation: IsabelleInstallation, spec: SessionSpec, dirs: tuple[str, ...], *, system_heaps: bool, jobs: int
) -> list[str]:
    argv = [str(installation.executable), "build"]
    for folder in dirs:
        argv += ["-d", folder]
    if system_heaps:
        argv += ["-o", "system_heaps"]
    return [*argv, "-b", "-v", "-j", str(jobs or default_jobs()), spec.name]


def build_session(
    installation: IsabelleInstallation, options: SessionBuildOptions, reporter: Reporter | None = None
) -> SessionRecord:
    """Write the ROOT, build the heap, record the session (holding the install lock). See module doc."""
    with install_lock():
        return build_session_locked(installation, options, reporter)


def build_session_locked(
    installation: IsabelleInstallation, options: SessionBuildOptions, reporter: Reporter | None = None
) -> SessionRecord:
    """`build_session` for callers that already hold `install_lock()` (the installer)."""
    reporter = reporter or Reporter()
    spec = options.spec
    try:
        version = installation.version
    except IsabelleError as exc:
        raise InstallError(f"{installation.executable} does not run ({exc}): check the installation") from None
    folder = write_root(spec)
    dirs = (str(folder), *options.extra_dirs)
    system = is_ours(installation) if options.system_heaps is None else options.system_heaps
    argv = build_command(installation, spec, dirs, system_heaps=system, jobs=options.jobs)
    command = " ".join(argv)
    log_path = install_root() / "logs" / f"build-session-{spec.name}-{version}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    reporter.step(f"building session {spec.name} = {spec.parent} + {', '.join(spec.theories)}: {command}")
    started = time.monotonic()
    try:
        status, tail = run_streaming(argv, log_path, options.timeout, reporter)
    except OSError as exc:
        raise BuildError(f"cannot run `{command}`: {exc}; check {installation.home}") from None
    again = f"subgoalxl isabelle build-session --isabelle {installation.home}"
    if status is None:
        raise BuildError(
            f"`{command}` ran past {options.timeout:.0f}s and was stopped (its whole process tree was killed); "
            f"output: {log_path}. Run `{again} --build-timeout SECONDS` to go on (finished ancestors are kept)",
            log=log_path,
        )
    if status != 0:
        last = "\n  ".join(tail[-8:])
        raise BuildError(
            f"building session {spec.name} failed: `{command}` exited with status {status}; last lines:\n  {last}\n"
            f"Full output: {log_path}. Fix the cause (often memory: try --jobs 1), then run `{again}`",
            log=log_path,
        )
    try:
        heaps = installation.built_heaps()
    except IsabelleError as exc:
        raise BuildError(f"built {spec.name}, but cannot list the heaps of {installation.home}: {exc}") from None
    if spec.name not in heaps:
        raise BuildError(
            f"`{command}` finished, but no heap {spec.name} is in {', '.join(map(str, installation.heap_dirs()))} "
            f"(see {log_path})",
            log=log_path,
        )
    record = SessionRecord(
        name=spec.name,
        isabelle_home=str(installation.home),
        isabelle_version=version,
        parent=spec.parent,
        theories=spec.theories,
        dirs=dirs,
        system_heaps=system,
    )
    save_session(record)
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    reporter.step(f"session {spec.name} built in {minutes}m {seconds:02d}s and recorded for {installation.home}")
    return record
