"""Unpacking release and AFP archives safely, and finding the Isabelle home inside an unpacked tree.

Every member is checked before it is written: no absolute paths, no `..`, no device files or FIFOs, links
only to places inside the tree. Then tarfile's `data` filter checks again, with symlinks already on disk
resolved (it allows relative symlinks within the destination, which release archives contain). The archive
is read as one forward stream, so a 1 GB `.tar.gz` is decompressed once.
"""

from __future__ import annotations

import errno
import os
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from isabelle_env.install.errors import ArchiveError, DiskSpaceError

#: (compressed bytes read so far) while unpacking
ReadProgressFn = Callable[[int], None]
#: called for each member just before it is written (after its checks)
MemberFn = Callable[[tarfile.TarInfo], None]


def extract_archive(
    archive: Path, dest: Path, *, on_read: ReadProgressFn | None = None, on_member: MemberFn | None = None
) -> int:
    """Unpack the `.tar.gz` `archive` into the folder `dest`; returns the number of members."""
    count = 0

    def checked(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
        nonlocal count
        for member in tar:
            problem = unsafe_member(member)
            if problem:
                raise ArchiveError(
                    f"{archive.name} is unsafe: member {member.name!r} {problem}; refusing to unpack it "
                    "(download the official archive again, or check where --url/--archive points)"
                )
            if on_member is not None:
                on_member(member)
            count += 1
            yield member

    try:
        with archive.open("rb") as raw, tarfile.open(fileobj=_Counting(raw, on_read), mode="r|*") as tar:
            tar.extractall(dest, members=checked(tar), filter="data")
    except tarfile.FilterError as exc:
        raise ArchiveError(f"{archive.name} is unsafe ({exc}); refusing to unpack it") from None
    except EOFError:
        raise _truncated(archive) from None
    except (tarfile.ReadError, tarfile.CompressionError, zlib.error) as exc:
        if "unexpected end" in str(exc) or "ended before" in str(exc):
            raise _truncated(archive) from None
        raise ArchiveError(
            f"{archive} is not a readable .tar.gz archive ({exc}): it is corrupt or not a release archive; "
            "delete it and download again, or pass the right file with --archive"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskSpaceError(
                f"the disk filled up while unpacking into {dest.parent}: free space there, or install elsewhere "
                "with --dir DIR"
            ) from None
        raise
    if count == 0:
        raise ArchiveError(f"{archive} is empty: download it again, or pass the right file with --archive")
    return count


def unsafe_member(member: tarfile.TarInfo) -> str | None:
    """What is wrong with `member` for unpacking into a folder of its own, or None."""
    name = member.name
    if name.startswith("/") or os.path.isabs(name):
        return "has an absolute path"
    if ".." in name.split("/"):
        return "escapes the target folder (..)"
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return "is a device file, FIFO or other special file"
    if member.issym() or member.islnk():
        target = member.linkname
        if target.startswith("/") or os.path.isabs(target):
            return f"links to the absolute path {target!r}"
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == ".." or resolved.startswith("../"):
            return f"links outside the archive's folder ({target!r})"
    return None


def find_isabelle_home(tree: Path, depth: int = 2) -> Path | None:
    """The folder holding `bin/isabelle` at most `depth` levels below `tree` (`Isabelle2025/`, `X.app/`)."""
    level = [tree]
    for _ in range(depth + 1):
        for folder in level:
            if (folder / "bin" / "isabelle").is_file():
                return folder
        level = sorted(p for folder in level for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    return None


def find_afp_thys(tree: Path) -> Path | None:
    """The AFP's `thys` folder (it holds a ROOTS file) in an unpacked AFP archive."""
    for candidate in (tree / "thys", *sorted(tree.glob("*/thys"))):
        if (candidate / "ROOTS").is_file():
            return candidate
    return None


def _truncated(archive: Path) -> ArchiveError:
    return ArchiveError(
        f"{archive} ends early (truncated): delete it and download again; if it came from a mirror (--url), "
        "try the official site"
    )


class _Counting:
    """A read-only file wrapper that reports how many bytes were read (progress over the compressed size)."""

    def __init__(self, raw: BinaryIO, on_read: ReadProgressFn | None):
        self._raw = raw
        self._on_read = on_read
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._done += len(data)
        if self._on_read is not None:
            self._on_read(self._done)
        return data
