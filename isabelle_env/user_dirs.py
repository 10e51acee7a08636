"""Per-user folders for caches and data, following platform conventions (overridable by environment)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "subgoalxl"


def cache_dir() -> Path:
    """Check caches, downloads: $SUBGOALXL_CACHE_DIR or e.g. ~/.cache/subgoalxl."""
    return Path(os.environ.get("SUBGOALXL_CACHE_DIR") or platformdirs.user_cache_dir(APP)).expanduser()


def data_dir() -> Path:
    """Run stores, Isabelle installs, models: $SUBGOALXL_DATA_DIR or e.g. ~/.local/share/subgoalxl."""
    return Path(os.environ.get("SUBGOALXL_DATA_DIR") or platformdirs.user_data_dir(APP)).expanduser()


def writable_problem(path: Path) -> str | None:
    """None when `path` is (or can be made) a writable folder, else what is wrong."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {path}: {exc.strerror}"
    probe = path / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"{path} is not writable: {exc.strerror}"
    return None
