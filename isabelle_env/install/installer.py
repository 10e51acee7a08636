"""`subgoalxl isabelle install|list|remove`: from nothing to a recorded Isabelle with the heaps miniF2F needs.

Steps, each leaving nothing half-done behind:
1. fetch the release archive (resumable, see `download`), with a free-space check once its size is known,
   and verify its size and SHA-256 (`--sha256`, else the table in `isabelle_install_releases`);
2. unpack into a hidden sibling of the target (`.VERSION.partial-*`), check that `bin/isabelle version`
   answers, mark the tree as ours (`.subgoalxl-install.json`), then rename into place: the final folder
   exists only when complete. Leftovers of a killed run are deleted by the next install. Folders without
   the mark (a hand-installed release) are never adopted, replaced or deleted;
3. record it (`isabelle_install_registry`) so `find_isabelle()` falls back to it;
4. optionally unpack the AFP into `HOME/afp` and append `HOME/afp/thys` to `HOME/ROOTS`, the session roots
   this installation reads at every start (per installation, nothing in ~/.isabelle changes);
5. build the heaps with `isabelle build -o system_heaps -b -j N`, so they land inside HOME (removed with it),
   supervised and streamed, its output kept in `HOME/subgoalxl-build.log`;
6. write and build our session holding all of miniF2F's imports (`sessions.minif2f_spec`: SubgoalXL_MiniF2F,
   or SubgoalXL_MiniF2F_AFP with the AFP) and record it (`session_registry`), so checks pick it by default.
The downloaded archive is deleted at the end (success or failure); only a cut download keeps its `.part`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from isabelle_env.errors import IsabelleError
from isabelle_env.install.archive import extract_archive, find_afp_thys, find_isabelle_home
from isabelle_env.install.download import Downloaded, UrlNotFoundError, download, sha256_of
from isabelle_env.install.errors import (
    ArchiveError,
    BuildError,
    ChecksumError,
    DiskSpaceError,
    InstallError,
)
from isabelle_env.install.registry import (
    InstallRecord,
    drop_record,
    install_lock,
    install_root,
    read_records,
    save_record,
)
from isabelle_env.install.releases import (
    AFP_ENTRY_FOR_MINIF2F,
    AFP_UNPACK_FACTOR,
    AFP_URL_ENV,
    DEFAULT_VERSION,
    HEAPS_FACTOR,
    KNOWN_SHA256,
    KNOWN_VERSIONS,
    MINIF2F_SESSIONS,
    UNPACK_FACTOR,
    URL_ENV,
    afp_url,
    archive_name,
    check_version,
    platform_suffix,
    release_urls,
    version_in_name,
)
from isabelle_env.install.runner import MARKER, Reporter, default_jobs, run_streaming
from isabelle_env.installation import IsabelleInstallation
from isabelle_env.user_dirs import cache_dir

BUILD_LOG = "subgoalxl-build.log"
_LEFTOVER = re.compile(r"^\..+\.(partial|old|removing)-\w+$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class InstallOptions:
    """What `subgoalxl isabelle install` was asked for; defaults install the default release with heaps."""

    version: str | None = None  # None: read from --archive/--url's file name, else DEFAULT_VERSION
    root: Path | None = None  # the release goes to ROOT/VERSION; default data_dir()/isabelle
    url: str | None = None  # a full archive URL or a mirror's base URL; default $SUBGOALXL_ISABELLE_URL
    archive: Path | None = None
    sha256: str | None = None
    with_afp: bool = False
    afp_url: str | None = None
    afp_archive: Path | None = None
    build: bool = True
    sessions: tuple[str, ...] = MINIF2F_SESSIONS
    minif2f_session: bool = True  # step 6: our session with every miniF2F import in its heap
    jobs: int = 0  # 0: default_jobs()
    build_timeout: float = 6 * 3600.0
    force: bool = False  # replace an existing tree of this version
    retry_delays: tuple[float, ...] | None = None  # None: download.RETRY_DELAYS

    def __post_init__(self) -> None:
        if self.sha256 is not None and not _HEX64.match(self.sha256):
            raise InstallError(f"--sha256 {self.sha256!r} is not a SHA-256 (64 hex digits)")
        if self.jobs < 0 or self.build_timeout <= 0:
            raise InstallError("--jobs must be 0 or more and --build-timeout more than 0 seconds")
        if self.archive is not None and self.url is not None:
            raise InstallError("give either --archive FILE or --url URL, not both")


# ---------------------------------------------------------------------------------------------- install


def install_isabelle(options: InstallOptions, reporter: Reporter | None = None) -> InstallRecord:
    """Download (or take), verify, unpack, record and build one release; returns its record. See module doc."""
    reporter = reporter or Reporter()
    version = _resolve_version(options)
    with install_lock():
        existing = read_records().get(version)
        home = _target_home(version, options, existing)
        _clean_leftovers(home.parent, reporter)
        if existing and existing.usable() and existing.home_path == home and not options.force:
            reporter.step(f"{version} is already installed at {home}; checking the remaining steps")
            record = existing
        elif home.exists() and not options.force:
            record = _adopt(home, version, reporter)
        else:
            record = _fetch_and_unpack(version, home, options, reporter)
        if options.with_afp or options.afp_archive or options.afp_url:
            record = _ensure_afp(record, options, reporter)
        if options.build:
            record = _build_heaps(record, options, reporter)
            if options.minif2f_session:
                _build_minif2f_session(record, options, reporter)
        else:
            record = _save(record.with_(heaps=tuple(_heaps_of(record))))
            reporter.step("heap build skipped (--no-build); `subgoalxl doctor` says which heaps are missing")
        return record


def _resolve_version(options: InstallOptions) -> str:
    if options.version:
        return check_version(options.version)
    for name in (str(options.archive or ""), options.url or os.environ.get(URL_ENV, "")):
        found = version_in_name(name) if name else None
        if found:
            return found
    return DEFAULT_VERSION


def _target_home(version: str, options: InstallOptions, existing: InstallRecord | None) -> Path:
    if options.root is not None:
        home = options.root.expanduser().resolve() / version
        if existing and existing.usable() and existing.home_path != home:
            raise InstallError(
                f"{version} is already installed at {existing.home}: run `subgoalxl isabelle remove {version}` "
                "first to install it elsewhere, or drop --dir"
            )
        return home
    if existing and existing.usable():
        return existing.home_path
    return install_root().resolve() / version


def _adopt(home: Path, version: str, reporter: Reporter) -> InstallRecord:
    """A complete tree without a record (the run was killed between rename and record): take it over."""
    _refuse_foreign(home)
    _validate(home, version)
    reporter.step(f"found a complete {version} at {home} from an earlier run; recording it")
    return _save(InstallRecord(version=version, home=str(home), source="(found on disk)"))


def _refuse_foreign(home: Path) -> None:
    """Never adopt, replace or delete a folder this installer did not unpack (e.g. a hand-installed release)."""
    if not (home / MARKER).is_file():
        raise InstallError(
            f"{home} exists but was not installed by subgoalxl: to use it as it is, set ISABELLE_HOME={home}; "
            "otherwise move or delete it, or install elsewhere with --dir DIR"
        )


def _fetch_and_unpack(version: str, home: Path, options: InstallOptions, reporter: Reporter) -> InstallRecord:
    if home.exists():  # --force: replace it, but only if it is ours
        _refuse_foreign(home)
    archive, downloaded = _obtain_release(version, home, options, reporter)
    try:
        digest = _verify(archive.path, options.sha256, reporter, downloaded=downloaded)
        size = archive.path.stat().st_size
        _check_space({home.parent: int(size * (UNPACK_FACTOR + HEAPS_FACTOR))}, what="the unpacked release")
        _unpack_into(archive.path, home, version, reporter, replace=options.force)
    finally:
        if downloaded:
            archive.path.unlink(missing_ok=True)
    record = InstallRecord(version=version, home=str(home), source=archive.url, sha256=digest)
    reporter.step(f"{version} unpacked into {home}")
    return _save(record.with_(heaps=tuple(_heaps_of(record))))


def _obtain_release(version: str, home: Path, options: InstallOptions, reporter: Reporter) -> tuple[Downloaded, bool]:
    """The archive on disk, and whether we downloaded it (then it is ours to delete)."""
    override = options.url or os.environ.get(URL_ENV) or None
    local = options.archive or _file_url_path(override)
    if local is not None:
        return _local_archive(local), False
    suffix = platform_suffix()
    urls = release_urls(version, suffix, override)
    not_found = []
    for url in urls:
        dest = cache_dir() / "downloads" / _file_name(url)
        space = _space_check(dest, home.parent, UNPACK_FACTOR + HEAPS_FACTOR, "the release")
        reporter.step(f"downloading {url}")
        try:
            with reporter.transfer(dest.name, None) as update:
                got = download(
                    url,
                    dest,
                    on_progress=update,
                    on_size=space,
                    retry_delays=options.retry_delays,
                    on_retry=lambda why: reporter.warn(f"{why}; trying again (resuming where it stopped)"),
                )
        except UrlNotFoundError:
            not_found.append(url)
            continue
        if got.resumed_from:
            reporter.step(f"resumed an earlier download after {got.resumed_from} bytes")
        return got, True
    raise InstallError(
        f"no {archive_name(version, suffix)} found at {' or '.join(not_found)} (HTTP 404): check --version "
        f"(known: {', '.join(KNOWN_VERSIONS)}; all releases: https://isabelle.in.tum.de/installation.html), "
        "or pass --url URL / --archive FILE"
    )


def _local_archive(path: Path) -> Downloaded:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise InstallError(f"--archive {path} does not exist (or is not a file): pass the downloaded .tar.gz")
    return Downloaded(path, path.stat().st_size, str(path), 0)


def _file_url_path(url: str | None) -> Path | None:
    return Path(url.removeprefix("file://")) if url and url.startswith("file://") else None


def _file_name(url: str) -> str:
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "download.tar.gz"


def _verify(archive: Path, expected: str | None, reporter: Reporter, *, downloaded: bool) -> str:
    """The archive's SHA-256, checked against --sha256 or the known table when there is a value."""
    want = (expected or KNOWN_SHA256.get(archive.name, "")).lower()
    digest = sha256_of(archive)
    if want and digest != want:
        source = "--sha256" if expected else "the known checksum of this release"
        fix = (
            "it was deleted: run the command again to download it afresh, or use another mirror (--url)"
            if downloaded
            else "download it again, or check which file --archive names"
        )
        raise ChecksumError(
            f"{archive.name} has SHA-256 {digest}, but {source} is {want}: the file is damaged or not the official "
            f"one; {fix}"
        )
    if not want:
        reporter.step(f"no known SHA-256 for {archive.name} (pass --sha256 HEX to check it); it has {digest}")
    return digest


def _unpack_into(archive: Path, home: Path, version: str, reporter: Reporter, *, replace: bool) -> None:
    """Unpack into a hidden sibling, validate, then rename into place (replacing an old tree if asked)."""
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.partial-", dir=home.parent))
    try:
        with reporter.transfer(f"unpacking {archive.name}", archive.stat().st_size) as update:
            extract_archive(archive, staging, on_read=lambda done: update(done, None))
        found = find_isabelle_home(staging)
        if found is None:
            raise ArchiveError(
                f"{archive.name} holds no bin/isabelle: it is not an Isabelle release archive; pass the right file "
                "with --archive, or check --url"
            )
        _validate(found, version)
        (found / MARKER).write_text(json.dumps({"version": version, "archive": archive.name}) + "\n")
        old = None
        if home.exists() and replace:
            old = home.rename(home.with_name(f".{version}.old-{os.getpid()}"))
        found.rename(home)
        if old is not None:
            _rmtree(old)
    finally:
        _rmtree(staging)


def _validate(home: Path, version: str) -> None:
    """`bin/isabelle` is executable and `isabelle version` answers with this release's name."""
    exe = home / "bin" / "isabelle"
    if not os.access(exe, os.X_OK):
        raise ArchiveError(f"{exe} from the archive is not executable: the archive is damaged; download it again")
    try:
        answer = IsabelleInstallation(home, exe, "install").run("version", timeout=180).strip()
    except IsabelleError as exc:
        raise ArchiveError(
            f"the unpacked Isabelle does not run ({exc}); is the archive for this platform? Download it again, "
            "or pick the right one with --url/--archive"
        ) from None
    got = version_in_name(answer.split()[0] + "_") if answer else None
    if got and got != version:
        raise ArchiveError(f"the archive holds {got}, not {version}: pass --version {got}")


# ---------------------------------------------------------------------------------------------- AFP


def _ensure_afp(record: InstallRecord, options: InstallOptions, reporter: Reporter) -> InstallRecord:
    home = record.home_path
    thys = home / "afp" / "thys"
    if record.afp_thys and Path(record.afp_thys).is_dir() and not (options.afp_archive or options.afp_url):
        _register_roots(home, Path(record.afp_thys))
        reporter.step(f"the AFP is already registered: {record.afp_thys}")
        return record
    local = options.afp_archive or _file_url_path(options.afp_url or os.environ.get(AFP_URL_ENV))
    downloaded = local is None
    if local is not None:
        archive = _local_archive(local)
    else:
        url = afp_url(record.version, options.afp_url or os.environ.get(AFP_URL_ENV) or None)
        dest = cache_dir() / "downloads" / _file_name(url)
        reporter.step(f"downloading {url}")
        try:
            with reporter.transfer(dest.name, None) as update:
                archive = download(
                    url,
                    dest,
                    on_progress=update,
                    on_size=_space_check(dest, home, AFP_UNPACK_FACTOR, "the AFP"),
                    retry_delays=options.retry_delays,
                    on_retry=lambda why: reporter.warn(f"{why}; trying again (resuming where it stopped)"),
                )
        except UrlNotFoundError as exc:
            raise InstallError(
                f"{exc}: find the AFP release for {record.version} on https://www.isa-afp.org/download/ and pass "
                "--afp-url URL (or --afp-archive FILE)"
            ) from None
    staging = Path(tempfile.mkdtemp(prefix=".afp.partial-", dir=home))
    try:
        _check_space({home: int(archive.path.stat().st_size * AFP_UNPACK_FACTOR)}, what="the AFP")
        with reporter.transfer(f"unpacking {archive.path.name}", archive.path.stat().st_size) as update:
            extract_archive(archive.path, staging, on_read=lambda done: update(done, None))
        found = find_afp_thys(staging)
        if found is None:
            raise ArchiveError(f"{archive.path.name} holds no thys/ROOTS: it is not an AFP release archive")
        if thys.parent.exists():
            _rmtree(thys.parent)
        found.parent.rename(thys.parent)
    finally:
        _rmtree(staging)
        if downloaded:
            archive.path.unlink(missing_ok=True)
    if not (thys / AFP_ENTRY_FOR_MINIF2F).is_dir():
        reporter.warn(f"this AFP has no {AFP_ENTRY_FOR_MINIF2F}, which two miniF2F problems import")
    _register_roots(home, thys)
    reporter.step(f"AFP unpacked into {thys.parent} and registered in {home / 'ROOTS'}")
    return _save(record.with_(afp_thys=str(thys)))


def _register_roots(home: Path, thys: Path) -> None:
    """List `thys` in HOME/ROOTS (idempotent), so this installation finds AFP sessions at every start."""
    roots = home / "ROOTS"
    text = roots.read_text() if roots.exists() else ""
    if str(thys) in text.splitlines():
        return
    tmp = roots.with_name(".ROOTS.tmp")
    tmp.write_text(text + ("" if not text or text.endswith("\n") else "\n") + f"{thys}\n")
    tmp.replace(roots)


# ---------------------------------------------------------------------------------------------- build


def build_command(record: InstallRecord, sessions: tuple[str, ...], jobs: int) -> list[str]:
    exe = str(record.home_path / "bin" / "isabelle")
    return [exe, "build", "-o", "system_heaps", "-b", "-v", "-j", str(jobs or default_jobs()), *sessions]


def _build_heaps(record: InstallRecord, options: InstallOptions, reporter: Reporter) -> InstallRecord:
    argv = build_command(record, options.sessions, options.jobs)
    command = " ".join(argv)
    log_path = record.home_path / BUILD_LOG
    reporter.step(f"building heaps {', '.join(options.sessions)} (this takes a while): {command}")
    started = time.monotonic()
    try:
        status, tail = run_streaming(argv, log_path, options.build_timeout, reporter)
    except OSError as exc:
        _save(record.with_(heaps=tuple(_heaps_of(record)), complete=False))
        raise BuildError(f"cannot run `{command}`: {exc}; check {record.home}, or reinstall with --force") from None
    except BaseException:
        _save(record.with_(heaps=tuple(_heaps_of(record)), complete=False))
        raise
    elapsed = _duration(time.monotonic() - started)
    heaps = tuple(_heaps_of(record))
    missing = [s for s in options.sessions if s not in heaps]
    record = _save(record.with_(heaps=heaps, complete=not missing))
    if status is None:
        raise BuildError(
            f"`{command}` ran past {options.build_timeout:.0f}s and was stopped (its whole process tree was killed); "
            f"output: {log_path}. Run `subgoalxl isabelle install --version {record.version} --build-timeout "
            "SECONDS` to continue building",
            log=log_path,
        )
    if status != 0:
        last = "\n  ".join(tail[-8:])
        raise BuildError(
            f"heap build failed: `{command}` exited with status {status} after {elapsed}; last lines:\n  {last}\n"
            f"Full output: {log_path}. The unpacked {record.version} is kept and recorded without the heaps "
            f"{', '.join(missing) or '(none missing)'}. Fix the cause (often memory: try --jobs 1), then run "
            f"`subgoalxl isabelle install --version {record.version}` (builds only) or the command above",
            log=log_path,
        )
    if missing:
        reporter.warn(f"the build finished, but these heaps are not there: {', '.join(missing)} (see {log_path})")
    reporter.step(f"heaps built in {elapsed}: {', '.join(heaps)}")
    return record


def _build_minif2f_session(record: InstallRecord, options: InstallOptions, reporter: Reporter) -> None:
    """Step 6: our miniF2F session (with Vieta when the installation's AFP has it), recorded for this release."""
    from isabelle_env.session_build import SessionBuildOptions, build_session_locked
    from isabelle_env.sessions import minif2f_spec

    afp = bool(record.afp_thys) and (Path(record.afp_thys or "") / AFP_ENTRY_FOR_MINIF2F).is_dir()
    spec = minif2f_spec(afp=afp)  # the AFP is in HOME/ROOTS already: no extra session directory
    installation = IsabelleInstallation(record.home_path, record.home_path / "bin" / "isabelle", "recorded")
    build = SessionBuildOptions(spec, jobs=options.jobs, timeout=options.build_timeout, system_heaps=True)
    try:
        build_session_locked(installation, build, reporter)
    except BuildError as exc:
        raise BuildError(
            f"{exc}\nThe installation and its heaps are fine; only session {spec.name} is missing. Build it with "
            f"`subgoalxl isabelle install --version {record.version}` again, or install without it (--no-session)",
            log=exc.log,
        ) from None


# ---------------------------------------------------------------------------------------------- list, remove


@dataclass(frozen=True)
class InstalledIsabelle:
    """A recorded installation as it is on disk now."""

    record: InstallRecord
    present: bool
    heaps: tuple[str, ...]
    size_bytes: int

    def to_json(self) -> dict[str, object]:
        return {
            **self.record.to_json(),
            "present": self.present,
            "heaps": list(self.heaps),
            "size_bytes": self.size_bytes,
        }


def list_installations(*, sizes: bool = True) -> list[InstalledIsabelle]:
    found = []
    for record in sorted(read_records().values(), key=lambda r: r.version):
        present = record.usable()
        heaps = tuple(_system_heaps(record.home_path)) if present else record.heaps
        size = _tree_size(record.home_path) if present and sizes else 0
        found.append(InstalledIsabelle(record, present, heaps, size))
    return found


def remove_installation(version: str, reporter: Reporter | None = None) -> InstallRecord:
    """Delete a recorded installation's folder (AFP and heaps inside it included) and its record."""
    reporter = reporter or Reporter()
    with install_lock():
        records = read_records()
        record = records.get(version)
        if record is None:
            installed = ", ".join(sorted(records)) or "none"
            raise InstallError(f"{version} is not installed (installed: {installed}); see `subgoalxl isabelle list`")
        home = record.home_path
        if home.exists():
            if not (home / MARKER).is_file():
                drop_record(version)
                raise InstallError(
                    f"{home} was not unpacked by subgoalxl (no {MARKER}), so it was left alone; its record was "
                    "dropped: delete the folder by hand if it is yours"
                )
            doomed = home.rename(home.with_name(f".{version}.removing-{os.getpid()}"))
            _rmtree(doomed)
        drop_record(version)
        from isabelle_env.session_registry import drop_sessions_of

        for session in drop_sessions_of(home):  # their heaps were inside the removed tree (or are stale)
            reporter.step(f"forgot session {session.name} built for {version}")
    user_home = Path.home() / ".isabelle" / version
    if user_home.exists():
        reporter.step(f"Isabelle's per-user folder {user_home} (settings, user heaps) is left in place")
    return record


# ---------------------------------------------------------------------------------------------- helpers


def free_bytes(path: Path) -> int:
    """Free space on the file system that holds `path` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def _space_check(dest: Path, home_parent: Path, factor: float, what: str) -> Callable[[int | None, int], None]:
    def check(total: int | None, have: int) -> None:
        if total is not None:
            _check_space({dest.parent: total - have, home_parent: int(total * factor)}, what=what)

    return check


def _check_space(needs: dict[Path, int], *, what: str) -> None:
    """Sum what is needed per file system and compare with what is free there."""
    by_device: dict[int, tuple[Path, int]] = {}
    for path, need in needs.items():
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        device = probe.stat().st_dev
        first, total = by_device.get(device, (path, 0))
        by_device[device] = (first, total + need)
    for path, need in by_device.values():
        free = free_bytes(path)
        if free < need:
            raise DiskSpaceError(
                f"not enough free disk space for {what}: about {human_size(need)} needed on the disk holding {path} "
                f"(archive, unpacked files ~{UNPACK_FACTOR:g}x and heaps ~{HEAPS_FACTOR:g}x its size), "
                f"{human_size(free)} free: free space there, or install elsewhere with --dir DIR "
                "(downloads go to SUBGOALXL_CACHE_DIR)"
            )


def human_size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _heaps_of(record: InstallRecord) -> list[str]:
    """Built heaps as Isabelle reports them (user and system folders); the system folder if it cannot answer."""
    exe = record.home_path / "bin" / "isabelle"
    try:
        return IsabelleInstallation(record.home_path, exe, "recorded").built_heaps()
    except IsabelleError:
        return _system_heaps(record.home_path)


def _system_heaps(home: Path) -> list[str]:
    names: set[str] = set()
    for folder in (home / "heaps").glob("*"):
        if folder.is_dir():
            names.update(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(names)


def _tree_size(path: Path) -> int:
    total = 0
    stack = [path]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    with contextlib.suppress(OSError):
                        total += entry.stat(follow_symlinks=False).st_size
    return total


def _save(record: InstallRecord) -> InstallRecord:
    save_record(record)
    return record


def _clean_leftovers(root: Path, reporter: Reporter) -> None:
    """Delete hidden staging folders of installs that were killed (callers hold the install lock)."""
    if not root.is_dir():
        return
    candidates = [p for p in root.iterdir() if _LEFTOVER.match(p.name)]
    for record in read_records().values():
        if record.home_path.is_dir():
            candidates += list(record.home_path.glob(".afp.partial-*"))
    for path in candidates:
        reporter.step(f"removing leftovers of an interrupted run: {path}")
        _rmtree(path)


def _rmtree(path: Path) -> None:
    """Delete a tree, read-only folders and files included; a missing path is fine."""

    def make_writable_and_retry(func, failed_path, _exc_info):  # noqa: ANN001 - shutil's callback signature
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed_path), stat.S_IRWXU)
            os.chmod(failed_path, stat.S_IRWXU)
            func(failed_path)

    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, onerror=make_writable_and_retry)
