"""Errors of `subgoalxl isabelle install`: each names the cause and the command or flag that fixes it.

Partial state is removed before one of these is raised, except a resumable `.part` download after a cut
connection (`DownloadError.partial` names it): running the same command again resumes from it.
"""

from __future__ import annotations

from pathlib import Path

from isabelle_env.errors import IsabelleError


class InstallError(IsabelleError):
    """Installing, building or removing an Isabelle release failed."""


class DownloadError(InstallError):
    """The archive could not be fetched (no network, HTTP error, cut connection, size mismatch)."""

    def __init__(self, message: str, partial: Path | None = None):
        super().__init__(message)
        self.partial = partial


class ChecksumError(InstallError):
    """The archive's SHA-256 differs from the expected value."""


class ArchiveError(InstallError):
    """The archive is truncated, corrupt, unsafe (members escaping the target) or holds no Isabelle."""


class DiskSpaceError(InstallError):
    """Not enough free space for the archive, the unpacked release and its heaps."""


class BuildError(InstallError):
    """`isabelle build` of the heaps failed or ran past its time limit."""

    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log
