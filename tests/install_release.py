"""Small archives laid out like an Isabelle release and an AFP snapshot, for tests of `isabelle install`.

The release's `bin/isabelle` is a Python script standing in for the real launcher: `version`, `getenv -b`
and `build` (tests/fake_build.py: sessions from ROOT files, progress lines, heap files; `-o system_heaps` puts
them inside the installation, as the real one does). Environment knobs: FAKE_BUILD_FAIL=SESSION fails that
session, FAKE_BUILD_SLEEP=SECONDS hangs the build (with a helper in its own session, like Isabelle's `poly`),
FAKE_BUILD_PIDS=FILE records both pids.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
from pathlib import Path

ML_IDENTIFIER = "polyml-5.9_x86_64_32-linux"
REPO = Path(__file__).resolve().parent.parent

LAUNCHER = r"""#!{python}
import os, subprocess, sys, time
from pathlib import Path

HOME = Path(__file__).resolve().parent.parent
VERSION = {version!r}
ML_ID = {ml_id!r}


def getenv(names):
    values = {{
        "ISABELLE_HOME": str(HOME),
        "ISABELLE_HEAPS": os.environ.get("FAKE_USER_HEAPS", str(HOME / "user-heaps")),
        "ISABELLE_HEAPS_SYSTEM": str(HOME / "heaps"),
        "ML_IDENTIFIER": ML_ID,
        "E_HOME": str(HOME / "contrib" / "e-3.1" / "x86_64-linux"),
        "VAMPIRE_HOME": str(HOME / "contrib" / "vampire-4.8" / "x86_64-linux"),
        "Z3_HOME": str(HOME / "contrib" / "z3-4.4" / "x86_64-linux"),
        "ISABELLE_VERIT": "",
        "CVC5_HOME": "",
    }}
    for name in names:
        print(values.get(name, ""))


def build(args):
    sys.path.insert(0, {repo!r})
    from tests.fake_build import build as fake_build

    user = Path(os.environ.get("FAKE_USER_HEAPS", HOME / "user-heaps"))
    return fake_build(args, HOME, user, HOME / "heaps", ML_ID)


def main(argv):
    tool, args = (argv[0], argv[1:]) if argv else ("", [])
    if tool == "version":
        print(VERSION)
        return 0
    if tool == "getenv":
        getenv([a for a in args if not a.startswith("-")])
        return 0
    if tool == "build":
        return build(args)
    print(f"Unknown Isabelle tool: {{tool}}", file=sys.stderr)
    return 2


sys.exit(main(sys.argv[1:]))
"""


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", mode: int = 0o644, **kind: object) -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = 1_700_000_000
    for key, value in kind.items():
        setattr(info, key, value)
    if info.isreg():
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def release_archive(
    version: str = "Isabelle2025",
    *,
    filler: int = 256 * 1024,
    extra: list[tarfile.TarInfo] | None = None,
    launcher: bool = True,
    top: str | None = None,
) -> bytes:
    """A `.tar.gz` shaped like `{version}_linux.tar.gz`: top folder, bin/isabelle, ROOTS, contrib, heaps."""
    top = top or version
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        _add(tar, f"{top}/", type=tarfile.DIRTYPE, mode=0o755)
        _add(tar, f"{top}/bin/", type=tarfile.DIRTYPE, mode=0o755)
        if launcher:
            script = LAUNCHER.format(python=sys.executable, version=version, ml_id=ML_IDENTIFIER, repo=str(REPO))
            _add(tar, f"{top}/bin/isabelle", script.encode(), mode=0o755)
        _add(tar, f"{top}/ROOTS", b"src/Pure\nsrc/HOL\n")
        _add(tar, f"{top}/etc/settings", b"ISABELLE_HOME_USER=...\n")
        for component in ("e-3.1", "vampire-4.8", "z3-4.4"):
            _add(tar, f"{top}/contrib/{component}/etc/settings", b"# component\n")
        # a relative symlink inside the tree, as real releases have
        _add(tar, f"{top}/contrib/z3-4.4/current", type=tarfile.SYMTYPE, linkname="etc")
        _add(tar, f"{top}/heaps/{ML_IDENTIFIER}/Pure", b"prebuilt heap")
        _add(tar, f"{top}/lib/payload.bin", os.urandom(filler))  # incompressible: the archive has some size
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return buffer.getvalue()


def afp_archive(name: str = "afp-2025-03-17", *, with_entry: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        entries = ["Symmetric_Polynomials"] if with_entry else ["Other_Entry"]
        _add(tar, f"{name}/thys/ROOTS", "".join(f"{e}\n" for e in entries).encode())
        for entry in entries:
            _add(tar, f"{name}/thys/{entry}/ROOT", f'session "{entry}" = "HOL-Library" + theories {entry}\n'.encode())
            _add(tar, f"{name}/thys/{entry}/{entry}.thy", f"theory {entry} imports Main begin end\n".encode())
        _add(tar, f"{name}/etc/settings", b"AFP_BASE=...\n")
    return buffer.getvalue()


def member(name: str, **kind: object) -> tarfile.TarInfo:
    """A hand-made archive member (for unsafe archives: `..`, absolute paths, devices, escaping links)."""
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    for key, value in kind.items():
        setattr(info, key, value)
    return info


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
