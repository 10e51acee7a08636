"""Where Isabelle releases and AFP snapshots live, what they hash to, and how much disk they take: one place.

Release archives are named `{VERSION}_{PLATFORM}.tar.gz`. Every release keeps a website of its own
(`https://isabelle.in.tum.de/website-{VERSION}/dist/...`); the current one is also under `/dist/`. Both are
tried, in that order, so a version keeps working after it stops being the current release.
"""

from __future__ import annotations

import platform
import re
import sys

from isabelle_env.install.errors import InstallError

DEFAULT_VERSION = "Isabelle2025"
#: releases this installer knows; other well-formed names are tried with the same URL pattern
KNOWN_VERSIONS = (
    "Isabelle2021-1",
    "Isabelle2022",
    "Isabelle2023",
    "Isabelle2024",
    "Isabelle2025",
    "Isabelle2025-1",
    "Isabelle2025-2",
)
ISABELLE_SITE = "https://isabelle.in.tum.de"
#: environment variables that override the download location (a full archive URL, or a mirror's base URL)
URL_ENV = "SUBGOALXL_ISABELLE_URL"
AFP_URL_ENV = "SUBGOALXL_AFP_URL"

#: sessions whose heaps make miniF2F checks fast (others are loaded from sources, slowly)
MINIF2F_SESSIONS = ("HOL", "HOL-Library", "HOL-Computational_Algebra", "HOL-Number_Theory")
#: the AFP entry two miniF2F problems import
AFP_ENTRY_FOR_MINIF2F = "Symmetric_Polynomials"

#: SHA-256 of official archives, by file name. Not measured here: copied from nixpkgs
#: (pkgs/by-name/is/isabelle/package.nix, whose fetchurl checks them on every build); the Isabelle2025 and
#: Isabelle2025-2 linux and macOS values also agree with unrelated public build scripts. Archives not listed
#: are checked by size only, unless --sha256 is given.
KNOWN_SHA256: dict[str, str] = {
    "Isabelle2025_linux.tar.gz": "3d1d66de371823fe31aa8ae66638f73575bac244f00b31aee1dcb62f38147c56",
    "Isabelle2025_linux_arm.tar.gz": "a7f1e9fbb279809cb9b3a0550f931ad4cbb6392e7723c052ee0292398601d0f1",
    "Isabelle2025_macos.tar.gz": "ea5754c228857f5d9d3ae254ec9814797f2453ea290df20b2f6dcb2ef0e2e7f8",
    "Isabelle2025-2_linux.tar.gz": "a20a507bc7c1270d8be96a9f3fbec06345387789d2dc2c4d3df6260d47bfb33c",
    "Isabelle2025-2_linux_arm.tar.gz": "650a9669b4a087675afb34294d82ded2f0704d47d580dd9ed45cddc9f1764bdd",
    "Isabelle2025-2_macos.tar.gz": "8f187496e295f169952e944745af9e4ae00c9c1cd2ed4cadbcf7d898e444913e",
}

#: AFP snapshot released together with each Isabelle version (https://www.isa-afp.org/download/)
AFP_RELEASES = {"Isabelle2025": "afp-2025-03-17", "Isabelle2025-2": "afp-2026-02-06"}
AFP_SITE = "https://www.isa-afp.org/release"

# Disk estimates, as multiples of the archive size (rough upper bounds, not measurements). A release
# archive is about 1 GB; it packs a JDK, Poly/ML, Scala, VSCodium and the provers, compressed about 3:1, and
# the heaps of the four miniF2F sessions add less than the archive again. The archive itself is needed on
# the download folder's file system until the unpacked tree is in place. The AFP is text: about 6:1.
UNPACK_FACTOR = 3.0
HEAPS_FACTOR = 1.0
AFP_UNPACK_FACTOR = 6.0

_VERSION = re.compile(r"^Isabelle(\d{4})(?:-(\d+))?$")
_ARCHIVE_VERSION = re.compile(r"(Isabelle\d{4}(?:-\d+)?)_")


def check_version(version: str) -> str:
    if not _VERSION.match(version):
        raise InstallError(
            f"{version!r} is not an Isabelle release name: use one like {DEFAULT_VERSION} "
            f"(known: {', '.join(KNOWN_VERSIONS)})"
        )
    return version


def version_key(version: str) -> tuple[int, int]:
    """Release order: Isabelle2025 < Isabelle2025-1 < Isabelle2025-2; unparseable names sort first."""
    match = _VERSION.match(version)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)


def version_in_name(name: str) -> str | None:
    """The release a file name or URL belongs to (`.../Isabelle2024_linux.tar.gz` -> Isabelle2024)."""
    match = _ARCHIVE_VERSION.search(name.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def platform_suffix() -> str:
    """The archive flavour for this machine: linux, linux_arm or macos."""
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        return "linux_arm" if machine in ("aarch64", "arm64") else "linux"
    if sys.platform == "darwin":
        return "macos"
    raise InstallError(
        f"no automatic install for {sys.platform}: use the Windows installer from {ISABELLE_SITE}/installation.html "
        "and point ISABELLE_HOME at it, or run subgoalxl under WSL"
    )


def archive_name(version: str, suffix: str) -> str:
    return f"{version}_{suffix}.tar.gz"


def release_urls(version: str, suffix: str, override: str | None = None) -> list[str]:
    """Candidate URLs, tried in order until one is not 404. `override`: a full URL or a mirror's base URL."""
    name = archive_name(version, suffix)
    if override:
        return [override if _is_archive_url(override) else f"{override.rstrip('/')}/{name}"]
    return [f"{ISABELLE_SITE}/website-{version}/dist/{name}", f"{ISABELLE_SITE}/dist/{name}"]


def afp_url(version: str, override: str | None = None) -> str:
    if override:
        return override
    release = AFP_RELEASES.get(version)
    if release is None:
        raise InstallError(
            f"no AFP release is recorded for {version}: find the one made for {version} on "
            "https://www.isa-afp.org/download/ and pass --afp-url URL (or --afp-archive FILE)"
        )
    return f"{AFP_SITE}/{release}.tar.gz"


def _is_archive_url(url: str) -> bool:
    return url.split("?", 1)[0].endswith((".tar.gz", ".tgz"))
