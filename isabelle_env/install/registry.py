"""The record of Isabelle releases installed by `subgoalxl isabelle install`, so commands find them without flags.

One JSON file, `data_dir()/isabelle/installations.json`, one entry per version:

    {"format": 1, "installations": {"Isabelle2025": {"version": ..., "home": ..., "heaps": [...],
     "complete": true, "afp_thys": null, "installed_at": "2025-...Z", "source": URL, "sha256": HEX}}}

It is replaced atomically (write a temporary file, then rename), so a reader never sees half a file; writers
hold `install_lock()`. `complete` is true when every miniF2F heap was built; a tree whose build failed is
recorded with `complete: false` and the heaps that exist, because it is a working Isabelle that only lacks
heaps (`subgoalxl isabelle install` again builds the rest without downloading).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from isabelle_env.install.errors import InstallError
from isabelle_env.install.releases import version_key
from isabelle_env.user_dirs import data_dir

log = logging.getLogger(__name__)

FORMAT = 1


def install_root() -> Path:
    """Where releases are unpacked by default, and where the registry lives: data_dir()/isabelle."""
    return data_dir() / "isabelle"


def registry_path() -> Path:
    return install_root() / "installations.json"


@dataclass(frozen=True)
class InstallRecord:
    version: str
    home: str
    heaps: tuple[str, ...] = ()
    complete: bool = False
    afp_thys: str | None = None
    installed_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    source: str = ""
    sha256: str = ""

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    def usable(self) -> bool:
        """The recorded tree is still there and runnable (someone may have deleted it by hand)."""
        exe = self.home_path / "bin" / "isabelle"
        return exe.is_file() and os.access(exe, os.X_OK)

    def with_(self, **changes: object) -> InstallRecord:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["heaps"] = list(self.heaps)
        return data

    @classmethod
    def from_json(cls, data: object) -> InstallRecord:
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("version"), str)
            or not isinstance(data.get("home"), str)
        ):
            raise ValueError(f"not an installation record: {data!r}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["heaps"] = tuple(str(h) for h in known.get("heaps") or ())
        return cls(**known)


def read_records(path: Path | None = None) -> dict[str, InstallRecord]:
    """All records by version; an absent file is empty, a damaged entry is skipped (and logged)."""
    path = path or registry_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    records = {}
    entries = data.get("installations", {}) if isinstance(data, dict) else {}
    for version, entry in entries.items() if isinstance(entries, dict) else []:
        try:
            records[version] = InstallRecord.from_json(entry)
        except (TypeError, ValueError) as exc:
            log.warning("ignoring a damaged entry %r in %s: %s", version, path, exc)
    return records


def write_records(records: dict[str, InstallRecord], path: Path | None = None) -> None:
    path = path or registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "installations": {v: r.to_json() for v, r in sorted(records.items())}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


def save_record(record: InstallRecord) -> None:
    records = read_records()
    records[record.version] = record
    write_records(records)


def drop_record(version: str) -> None:
    records = read_records()
    if records.pop(version, None) is not None:
        write_records(records)


def newest_usable() -> InstallRecord | None:
    """The recorded installation with the newest release whose tree is still runnable."""
    usable = [r for r in read_records().values() if r.usable()]
    return max(usable, key=lambda r: version_key(r.version), default=None)


@contextlib.contextmanager
def install_lock() -> Iterator[None]:
    """Only one install or remove at a time per data folder; a second one fails at once and says why."""
    import fcntl

    root = install_root()
    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / ".lock"
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise InstallError(
                f"another `subgoalxl isabelle` install or remove is running ({holder}, lock {lock_path}): "
                "wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
