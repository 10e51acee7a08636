"""The record of sessions subgoalxl built (`isabelle install`, `isabelle build-session`), so checks can pick them.

One JSON file beside the installations' record, `data_dir()/isabelle/sessions.json`:

    {"format": 1, "sessions": [{"name": "SubgoalXL_MiniF2F", "isabelle_home": "/.../Isabelle2025",
      "isabelle_version": "Isabelle2025", "parent": "HOL-Number_Theory", "theories": ["HOL-Analysis.Analysis"],
      "dirs": ["/.../isabelle/sessions/SubgoalXL_MiniF2F"], "system_heaps": true, "built_at": "2025-...Z"}]}

A session is keyed by (installation folder, name): its heap lives with that installation (`-o system_heaps`
puts it inside an installation we unpacked, else in the user's heap folder), its ROOT in `dirs[0]`. Written
atomically, by writers holding `install_lock()`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from isabelle_env.install.registry import install_root
from isabelle_env.sessions import HeapSession, SessionSpec, recorded_session

log = logging.getLogger(__name__)

FORMAT = 1


def sessions_path() -> Path:
    return install_root() / "sessions.json"


def session_roots() -> Path:
    """Where our ROOT files live: one folder per session name (a session directory for Isabelle)."""
    return install_root() / "sessions"


@dataclass(frozen=True)
class SessionRecord:
    name: str
    isabelle_home: str
    isabelle_version: str
    parent: str
    theories: tuple[str, ...]
    dirs: tuple[str, ...]  # session directories for `isabelle build -d` and session_start's `dirs`
    system_heaps: bool = False
    built_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    @property
    def spec(self) -> SessionSpec:
        return SessionSpec(self.name, self.parent, self.theories)

    def heap_session(self) -> HeapSession:
        return recorded_session(self.spec, self.dirs)

    def same_home(self, home: str | Path) -> bool:
        return os.path.realpath(self.isabelle_home) == os.path.realpath(str(home))

    def with_(self, **changes: object) -> SessionRecord:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["theories"], data["dirs"] = list(self.theories), list(self.dirs)
        return data

    @classmethod
    def from_json(cls, data: object) -> SessionRecord:
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("name", "isabelle_home", "isabelle_version", "parent")
        ):
            raise ValueError(f"not a session record: {data!r}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["theories"] = tuple(str(t) for t in known.get("theories") or ())
        known["dirs"] = tuple(str(d) for d in known.get("dirs") or ())
        record = cls(**known)
        record.spec  # noqa: B018 - validates name, parent and theories
        return record


def read_sessions(path: Path | None = None) -> list[SessionRecord]:
    """Every recorded session; an absent file is empty, a damaged entry is skipped (and logged)."""
    path = path or sessions_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return []
    entries = data.get("sessions", []) if isinstance(data, dict) else []
    records = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            records.append(SessionRecord.from_json(entry))
        except (TypeError, ValueError) as exc:
            log.warning("ignoring a damaged session entry in %s: %s", path, exc)
    return records


def write_sessions(records: list[SessionRecord], path: Path | None = None) -> None:
    path = path or sessions_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(records, key=lambda r: (r.isabelle_home, r.name))
    payload = {"format": FORMAT, "sessions": [r.to_json() for r in ordered]}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


def save_session(record: SessionRecord) -> None:
    """Add or replace the record of (installation, name)."""
    kept = [r for r in read_sessions() if not (r.name == record.name and r.same_home(record.isabelle_home))]
    write_sessions([*kept, record])


def drop_sessions_of(home: str | Path) -> list[SessionRecord]:
    """Forget every session recorded for an installation (its heaps went with it); returns them."""
    records = read_sessions()
    dropped = [r for r in records if r.same_home(home)]
    if dropped:
        write_sessions([r for r in records if not r.same_home(home)])
    return dropped


def sessions_of(home: str | Path) -> list[SessionRecord]:
    return [r for r in read_sessions() if r.same_home(home)]
