"""Real read-only and full file systems for store tests: a read-only bind mount or a small tmpfs (as root, e.g.
in a container), else `chmod` for read-only; tests skip where neither can be made."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip()})")


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder` (with what it holds) made read-only: a read-only bind mount as root (EROFS: what read-only media
    give), or write permission removed otherwise."""
    if _can_mount():
        _mount("--bind", str(folder), str(folder))
        try:
            _mount("-o", "remount,bind,ro", str(folder))
            yield folder
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
    for path, mode in modes.items():
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield folder
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@contextlib.contextmanager
def full_disk(folder: Path) -> Iterator[Path]:
    """`folder` on a 64 KiB tmpfs that is already full (root only)."""
    if not _can_mount():
        pytest.skip("a full file system needs root to mount a small tmpfs")
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder))
    try:
        with contextlib.suppress(OSError), (folder / "filler").open("wb") as out:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
