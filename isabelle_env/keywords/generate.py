"""Make a keyword table from an Isabelle source tree (a release's ``src/`` folder, or the release folder itself).

    python -m isabelle_env.keywords.generate --isabelle-src ~/Isabelle2025 --release Isabelle2025 \\
        --out Isabelle2025.json

It reads ``src/Pure/Thy/thy_header.ML`` (the bootstrap keywords) and the ``keywords`` clause of every theory
header in the sessions this project checks in (see ``DEFAULT_INCLUDES``; ``--include`` replaces them,
``--extra-dir`` adds e.g. an AFP entry), and writes one JSON table with, per keyword, the files that declare it,
and per file its SHA-256, so that a table says exactly what it was made from.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isabelle_env.keywords.bootstrap import parse_bootstrap_keywords
from isabelle_env.keywords.header import Declaration, HeaderParseError, parse_keywords
from isabelle_env.keywords.kinds import COMMAND_KINDS
from isabelle_env.keywords.table import KeywordEntry, KeywordTable

__all__ = ["BOOTSTRAP", "DEFAULT_INCLUDES", "GenerateError", "build_table", "main", "resolve_src"]

BOOTSTRAP = "Pure/Thy/thy_header.ML"
#: theory files (globs relative to src/) of Pure, HOL and the sessions miniF2F imports, with what they import
DEFAULT_INCLUDES = (
    "Pure/*.thy",
    "Tools/Code_Generator.thy",
    "HOL/*.thy",
    "HOL/Library/**/*.thy",
    "HOL/Combinatorics/**/*.thy",
    "HOL/Computational_Algebra/**/*.thy",
    "HOL/Number_Theory/**/*.thy",
    "HOL/Analysis/**/*.thy",
)
#: example folders hold separate sessions (e.g. HOL-Analysis-ex), not part of the ones above
EXCLUDED_PARTS = frozenset({"ex", "Examples"})


class GenerateError(RuntimeError):
    """The source tree cannot be read as asked; says what is missing and what to pass instead."""


@dataclass
class _Merged:
    """Declarations in load order; like ``Keyword.add_keywords`` (``Symtab.update``) a later one replaces."""

    commands: dict[str, KeywordEntry] = field(default_factory=dict)
    minor: dict[str, KeywordEntry] = field(default_factory=dict)
    redeclarations: list[dict[str, Any]] = field(default_factory=list)

    def add(self, decl: Declaration, file: str) -> None:
        table = self.commands if decl.kind in COMMAND_KINDS else self.minor
        old = table.get(decl.word)
        files: tuple[str, ...] = (file,)
        if old is not None:
            files = old.files if file in old.files else (*old.files, file)
            if (old.kind, old.tags, old.load_command) != (decl.kind, decl.tags, decl.load_command):
                self.redeclarations.append(
                    {
                        "word": decl.word,
                        "was": {"kind": old.kind.value, "tags": list(old.tags), "files": list(old.files)},
                        "now": {"kind": decl.kind.value, "tags": list(decl.tags), "file": file},
                    }
                )
        table[decl.word] = KeywordEntry(decl.word, decl.kind, decl.tags, decl.load_command, files)


def resolve_src(path: Path) -> Path:
    """The ``src`` folder of ``path`` (a release folder or its ``src``)."""
    for candidate in (path / "src", path):
        if (candidate / BOOTSTRAP).is_file():
            return candidate
    raise GenerateError(
        f"{path} is not an Isabelle source tree: neither {path / 'src' / BOOTSTRAP} nor {path / BOOTSTRAP} "
        "exists. Pass --isabelle-src the release folder (the one holding bin/isabelle and src/)."
    )


def _theory_files(src: Path, includes: Iterable[str]) -> list[Path]:
    found: set[Path] = set()
    for pattern in includes:
        for path in src.glob(pattern):
            rel = path.relative_to(src)
            if path.is_file() and not EXCLUDED_PARTS.intersection(rel.parts[:-1]):
                found.add(path)

    # Pure.thy first, as Isabelle loads it first; then a stable order
    def order(path: Path) -> tuple[bool, str]:
        rel = path.relative_to(src).as_posix()
        return rel != "Pure/Pure.thy", rel

    return sorted(found, key=order)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_table(
    isabelle_src: Path,
    release: str,
    includes: Sequence[str] = DEFAULT_INCLUDES,
    extra_dirs: Sequence[Path] = (),
) -> KeywordTable:
    """Read the tree and merge every declaration; a redeclaration that changes a keyword is kept in the provenance."""
    src = resolve_src(isabelle_src)
    merged = _Merged()
    files: dict[str, dict[str, Any]] = {}

    def read(path: Path, name: str, bootstrap: bool = False) -> None:
        data = path.read_bytes()
        text = data.decode("utf-8", errors="replace")
        decls = parse_bootstrap_keywords(text, name) if bootstrap else parse_keywords(text, name)
        if decls or bootstrap:
            files[name] = {"sha256": _sha256(data), "declarations": len(decls)}
        for decl in decls:
            merged.add(decl, name)

    read(src / BOOTSTRAP, f"src/{BOOTSTRAP}", bootstrap=True)
    theories = _theory_files(src, includes)
    if not any(p.relative_to(src).as_posix() == "Pure/Pure.thy" for p in theories):
        raise GenerateError(f"{src / 'Pure/Pure.thy'} was not among the files read: keep 'Pure/*.thy' in --include")
    for path in theories:
        read(path, f"src/{path.relative_to(src).as_posix()}")
    for extra in extra_dirs:
        if not extra.is_dir():
            raise GenerateError(f"--extra-dir {extra} is not a folder")
        for path in sorted(extra.rglob("*.thy")):
            read(path, f"{extra.name}/{path.relative_to(extra).as_posix()}")
    provenance = {
        "generator": "isabelle_env.keywords.generate",
        "isabelle_src": str(src),
        "includes": list(includes),
        "extra_dirs": [str(d) for d in extra_dirs],
        "files": files,
        "redeclarations": merged.redeclarations,
    }
    return KeywordTable(release, provenance, merged.commands, merged.minor)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m isabelle_env.keywords.generate",
        description="Write the outer-syntax keyword table of an Isabelle source tree as JSON.",
    )
    parser.add_argument("--isabelle-src", type=Path, required=True, help="release folder or its src/ folder")
    parser.add_argument("--release", required=True, help="release name recorded in the table, e.g. Isabelle2025")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument(
        "--include",
        action="append",
        metavar="GLOB",
        help=f"theory globs relative to src/, replacing the defaults ({', '.join(DEFAULT_INCLUDES)})",
    )
    parser.add_argument(
        "--extra-dir", action="append", type=Path, default=[], help="another folder of theories (an AFP entry)"
    )
    args = parser.parse_args(argv)
    try:
        table = build_table(args.isabelle_src, args.release, tuple(args.include or DEFAULT_INCLUDES), args.extra_dir)
    except (GenerateError, HeaderParseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    redeclared = table.provenance["redeclarations"]
    summary = f"{args.out}: {len(table.commands)} commands, {len(table.minor)} minor keywords"
    summary += f" from {len(table.provenance['files'])} files"
    if redeclared:
        summary += f"; {len(redeclared)} keywords redeclared differently (see provenance.redeclarations)"
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
