"""Benchmark problems from a path the user gives: a miniF2F checkout, a folder or file of theories, or JSONL rows.

Every problem comes out in one shape: the theory with any shipped proof stripped (a prover must only ever see
the statement), its informal statement and proof when the source has them, and a fingerprint of the whole
statement set, recorded with every run so that results on different benchmark versions are never mixed.

A JSONL row may give `formal_statement: null`: an informal-only problem (no theory, `formal_statement` ""),
which only autoformalization can attempt; its statements are then the model's, and reports say so.
Parsing is `isabelle_env.theory_text`'s; this module only finds files, joins data and names things.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from benchmarks.data.names import KNOWN_ERRATA, category, current_name
from isabelle_env.theory_text import ProblemTheory, TheoryParseError, parse_problem

__all__ = [
    "BENCHMARK_HEADERS",
    "JSONL_IMPORTS",
    "SPLITS",
    "BenchmarkProblem",
    "ProblemLoadError",
    "ProblemSet",
    "fingerprint",
    "load_problems",
]

SPLITS: tuple[str, ...] = ("valid", "test")

#: Imports for JSONL rows without an `imports` field: the miniF2F header DSP checked its rows under (its
#: `wrap_theorem`), less the AFP session Symmetric_Polynomials.Vieta, so that a plain Isabelle with the HOL
#: heaps loads every row. No statement needs Vieta (the two problems that import it use only `-``), and
#: HOL-Analysis (imported by valid/mathd_algebra_31 alone) is left out too: its `filterlim`/`nhds` are in
#: Complex_Main, and loading Analysis costs minutes per session.
JSONL_IMPORTS: tuple[str, ...] = (
    "HOL.HOL",
    "Complex_Main",
    "HOL-Library.Code_Target_Numeral",
    "HOL-Library.Sum_of_Squares",
    "HOL-Computational_Algebra.Computational_Algebra",
    "HOL-Number_Theory.Number_Theory",
)

#: The fixed header each benchmark's published checkers check every problem under (`[checking] imports =
#: "benchmark"`): for miniF2F, DSP's and SubgoalXL's header as above. A problem's own imports are added to it.
BENCHMARK_HEADERS: dict[str, tuple[str, ...]] = {"minif2f": JSONL_IMPORTS}

_JSONL_FIELDS = ("problem_name", "informal_statement", "informal_proof", "formal_statement")
_ACCEPTED = "a miniF2F checkout (isabelle/{valid,test}/*.thy), a folder of .thy files, a .thy file or a .jsonl file"
_FINGERPRINT_VERSION = "subgoalxl-problem-set-v1"


class ProblemLoadError(ValueError):
    """A problem source that cannot be read as given; the message names the file (and line) and the fix."""


@dataclass(frozen=True)
class BenchmarkProblem:
    """One problem as a prover and a run store see it: never with a shipped proof."""

    name: str  # file name = theory name = theorem name (current miniF2F spelling for JSONL rows)
    split: str  # "valid" | "test" | "" when unknown
    category: str
    theory_text: str  # ProblemTheory.bare(): header, preamble, statement, `sorry`, `end`
    formal_statement: str  # the `theorem NAME: ... shows ...` text only
    imports: tuple[str, ...]
    informal_statement: str | None
    informal_proof: str | None
    had_shipped_proof: bool
    source: str  # file path, or "path:line" for a JSONL row
    preamble: str = ""  # text between `begin` and the theorem (a local `definition`), part of the fingerprint

    @property
    def has_formal_statement(self) -> bool:
        """False for an informal-only row: the model must write the statement (autoformalization)."""
        return bool(self.formal_statement)

    @property
    def has_informal(self) -> bool:
        return self.informal_statement is not None or self.informal_proof is not None

    @property
    def erratum(self) -> str | None:
        """The known flaw of this problem's statement, if any (see `benchmarks.data.names.KNOWN_ERRATA`)."""
        return KNOWN_ERRATA.get(self.name)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def fingerprint(problems: Iterable[BenchmarkProblem]) -> str:
    """SHA-256 (hex) over the sorted (name, statement, preamble, imports), whitespace-normalised.

    Equal for the same statements however the files are laid out or commented outside the statement, and
    different when any statement, local definition, import or name changes, or a problem is added or dropped.
    Splits, informal data and shipped proofs do not count: they do not change what is proved. An informal-only
    problem has no formal statement: its informal statement is what it asks, so that counts instead.
    """
    rows = sorted(
        (
            p.name,
            _normalise(p.formal_statement) or f"informal: {_normalise(p.informal_statement or '')}",
            _normalise(p.preamble),
            list(p.imports),
        )
        for p in problems
    )
    payload = json.dumps([_FINGERPRINT_VERSION, rows], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ProblemSet:
    """Problems in source order, with the fingerprint of their statements and where they came from."""

    problems: tuple[BenchmarkProblem, ...]
    fingerprint: str
    source: str

    @classmethod
    def of(cls, problems: Iterable[BenchmarkProblem], source: str) -> ProblemSet:
        problems = tuple(problems)
        return cls(problems, fingerprint(problems), source)

    def __len__(self) -> int:
        return len(self.problems)

    def __iter__(self) -> Iterator[BenchmarkProblem]:
        return iter(self.problems)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.problems)

    @cached_property
    def _by_name(self) -> dict[str, BenchmarkProblem]:
        return {p.name: p for p in self.problems}

    @cached_property
    def _by_current(self) -> dict[str, str]:
        return {current_name(p.name): p.name for p in self.problems}

    def resolve(self, name: str) -> str | None:
        """This set's name for a current, v1 or DSP compact name, or None when the set has no such problem."""
        if name in self._by_name:
            return name
        return self._by_current.get(current_name(name))

    def by_name(self, name: str) -> BenchmarkProblem:
        """The problem under a current, v1 or DSP compact name; ValueError with close matches otherwise."""
        resolved = self.resolve(name)
        if resolved is None:
            raise ValueError(self._unknown_message([name]))
        return self._by_name[resolved]

    def select(
        self, *, split: str | None = None, names: Iterable[str] | None = None, limit: int | None = None
    ) -> ProblemSet:
        """The problems of one split and/or with the given names (any spelling), the first `limit` of them."""
        if split is not None and split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        chosen = self.problems
        if names is not None:
            names = [names] if isinstance(names, str) else list(names)
            unknown = [n for n in names if self.resolve(n) is None]
            if unknown:
                raise ValueError(self._unknown_message(unknown))
            wanted = {self.resolve(n) for n in names}
            chosen = tuple(p for p in chosen if p.name in wanted)
        if split is not None:
            chosen = tuple(p for p in chosen if p.split == split)
        if limit is not None:
            chosen = chosen[:limit]
        return ProblemSet.of(chosen, self.source)

    def _unknown_message(self, unknown: Sequence[str]) -> str:
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(current_name(name), self.names, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else " (no close match)"
            parts.append(f"{name}{hint}")
        return (
            f"{len(unknown)} unknown problem name(s) in {self.source}: {'; '.join(parts)}. "
            "Names may be current miniF2F names, openai v1 names or DSP compact names."
        )


# ---------------------------------------------------------------------------------------------------------------
# Loading


def load_problems(path: str | Path, *, split: str | None = None) -> ProblemSet:
    """Load problems from `path` (see module docstring); `split` keeps one split. Raises ProblemLoadError."""
    path = Path(path)
    if split is not None and split not in SPLITS:
        raise ProblemLoadError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if not path.exists():
        raise ProblemLoadError(f"{path} does not exist: give {_ACCEPTED}")
    if path.is_file():
        if path.suffix == ".jsonl":
            problems = _load_jsonl(path)
        elif path.suffix == ".thy":
            split_name = path.parent.name if path.parent.name in SPLITS else ""
            informal = _informal_dir(path.parent.parent.parent / "informal", split_name)
            problems = [_load_thy(path, split_name, informal)]
        else:
            raise ProblemLoadError(f"{path} is neither .thy nor .jsonl: give {_ACCEPTED}")
    else:
        problems = _load_folder(path, split)
    _check_unique(problems)
    if split is not None:
        unknown = [p for p in problems if not p.split]
        if unknown:
            raise ProblemLoadError(
                f"{path}: the split of {unknown[0].name} (and {len(unknown) - 1} more) is unknown, so --split "
                f"{split} cannot choose: load the miniF2F checkout or a valid/test folder, or give JSONL rows "
                "a `split` field"
            )
        problems = [p for p in problems if p.split == split]
    return ProblemSet.of(problems, str(path))


def _load_folder(path: Path, split: str | None) -> list[BenchmarkProblem]:
    """A checkout (`isabelle/` inside), an isabelle root (`valid/`, `test/` inside) or one folder of .thy."""
    if (path / "isabelle").is_dir():
        return _load_splits(path / "isabelle", path / "informal", split)
    if any(list((path / s).glob("*.thy")) for s in SPLITS if (path / s).is_dir()):
        return _load_splits(path, path.parent / "informal", split)
    files = sorted(path.glob("*.thy"))
    if not files:
        raise ProblemLoadError(f"{path} holds no .thy files and no isabelle/{{valid,test}} folders: give {_ACCEPTED}")
    split_name = path.name if path.name in SPLITS else ""
    informal = _informal_dir(path.parent.parent / "informal", split_name)
    return [_load_thy(f, split_name, informal) for f in files]


def _load_splits(root: Path, informal_root: Path, split: str | None) -> list[BenchmarkProblem]:
    problems: list[BenchmarkProblem] = []
    for s in SPLITS if split is None else (split,):
        folder = root / s
        files = sorted(folder.glob("*.thy")) if folder.is_dir() else []
        if not files and split is not None:
            raise ProblemLoadError(f"{folder} holds no .thy files: this checkout has no {s} split")
        informal = _informal_dir(informal_root, s)
        problems.extend(_load_thy(f, s, informal) for f in files)
    if not problems:
        raise ProblemLoadError(f"{root} holds no valid/*.thy or test/*.thy: give {_ACCEPTED}")
    return problems


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemLoadError(f"{path} cannot be read as UTF-8 text ({exc}): fix or remove the file") from None


def _load_thy(path: Path, split: str, informal: dict[str, dict[str, Any]]) -> BenchmarkProblem:
    try:
        theory = parse_problem(_read_text(path))
    except TheoryParseError as exc:
        raise ProblemLoadError(
            f"{path}: not a problem theory ({exc}); it needs `theory NAME imports ... begin`, a "
            "`theorem NAME: ... shows ...` and `end`"
        ) from None
    if theory.theory_name != path.stem:
        raise ProblemLoadError(
            f"{path}: theory {theory.theory_name} is not named like its file; Isabelle needs them equal: rename one"
        )
    if theory.theorem_name != theory.theory_name:
        raise ProblemLoadError(
            f"{path}: the theorem is named {theory.theorem_name}, the theory {theory.theory_name}: "
            "name the theorem like the file"
        )
    info = informal.get(theory.theory_name) or informal.get(current_name(theory.theory_name)) or {}
    return _problem(theory, split, str(path), info.get("informal_statement"), info.get("informal_proof"))


def _problem(
    theory: ProblemTheory, split: str, source: str, informal_statement: str | None, informal_proof: str | None
) -> BenchmarkProblem:
    return BenchmarkProblem(
        name=theory.theorem_name,
        split=split,
        category=category(theory.theorem_name),
        theory_text=theory.bare(),
        formal_statement=theory.statement,
        imports=theory.imports,
        informal_statement=informal_statement,
        informal_proof=informal_proof,
        had_shipped_proof=theory.has_shipped_proof,
        source=source,
        preamble=theory.preamble,
    )


def _informal_dir(folder: Path, split: str) -> dict[str, dict[str, Any]]:
    """Informal data of one split by (current) problem name; empty when the folder is absent."""
    if not split or not (folder / split).is_dir():
        return {}
    found: dict[str, dict[str, Any]] = {}
    for f in sorted((folder / split).glob("*.json")):
        try:
            data = json.loads(_read_text(f))
        except json.JSONDecodeError as exc:
            raise ProblemLoadError(f"{f}: not JSON ({exc}): fix the file or remove it") from None
        if not isinstance(data, dict):
            raise ProblemLoadError(f"{f}: expected an object with problem_name, informal_statement, informal_proof")
        name = data.get("problem_name") or f.stem
        found[current_name(str(name))] = {k: _optional_text(data.get(k), f, k) for k in _JSONL_FIELDS[1:3]}
    return found


def _optional_text(value: object, where: object, key: str) -> str | None:
    """A text field that may be absent: None, JSON null and NaN (as in DSP's imo_2007_6 row) all mean none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, str):
        raise ProblemLoadError(f"{where}: `{key}` must be a string or null, got {type(value).__name__}")
    return value


def _load_jsonl(path: Path) -> list[BenchmarkProblem]:
    problems = []
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if line.strip():
            problems.append(_jsonl_row(line, f"{path}:{lineno}"))
    if not problems:
        raise ProblemLoadError(f"{path} holds no rows: each line must be an object with {', '.join(_JSONL_FIELDS)}")
    return problems


def _jsonl_row(line: str, where: str) -> BenchmarkProblem:
    """One row `{problem_name, informal_statement, informal_proof, formal_statement[, imports][, split]}`."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProblemLoadError(f"{where}: not JSON ({exc.msg}): each line must be one JSON object") from None
    if not isinstance(row, dict):
        raise ProblemLoadError(f"{where}: expected a JSON object with {', '.join(_JSONL_FIELDS)}")
    missing = [k for k in _JSONL_FIELDS if k not in row]
    if missing:
        raise ProblemLoadError(
            f"{where}: the row lacks {', '.join(missing)}: every row needs {', '.join(_JSONL_FIELDS)} "
            "(the informal ones may be null)"
        )
    raw_name, statement = row["problem_name"], row["formal_statement"]
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise ProblemLoadError(f"{where}: `problem_name` must be a non-empty string")
    if statement is not None and (not isinstance(statement, str) or not statement.strip()):
        raise ProblemLoadError(
            f"{where}: `formal_statement` must be the `theorem NAME: ... shows ...` text, or null for an "
            "informal-only problem (which only autoformalization can attempt)"
        )
    imports = row.get("imports", JSONL_IMPORTS)
    if not isinstance(imports, list | tuple) or not imports or not all(isinstance(i, str) for i in imports):
        raise ProblemLoadError(f'{where}: `imports` must be a non-empty list of theory names, e.g. ["Complex_Main"]')
    split = row.get("split") or ""
    if split not in ("", *SPLITS):
        raise ProblemLoadError(f"{where}: `split` must be one of {', '.join(SPLITS)} (or absent), got {split!r}")
    name = current_name(raw_name)
    if statement is None:
        return _informal_only(row, name, split, tuple(imports), where)
    theory = _statement_theory(statement, name, tuple(imports), where)
    return _problem(
        theory,
        split,
        where,
        _optional_text(row["informal_statement"], where, "informal_statement"),
        _optional_text(row["informal_proof"], where, "informal_proof"),
    )


def _informal_only(
    row: dict[str, Any], name: str, split: str, imports: tuple[str, ...], where: str
) -> BenchmarkProblem:
    """A row with `formal_statement: null`: no theory; the model states it (autoformalization)."""
    informal = _optional_text(row["informal_statement"], where, "informal_statement")
    if not (informal or "").strip():
        raise ProblemLoadError(
            f"{where}: a row without a formal_statement needs an informal_statement: it is all the problem says"
        )
    return BenchmarkProblem(
        name=name,
        split=split,
        category=category(name),
        theory_text="",
        formal_statement="",
        imports=imports,
        informal_statement=informal,
        informal_proof=_optional_text(row["informal_proof"], where, "informal_proof"),
        had_shipped_proof=False,
        source=where,
    )


def _quote_import(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z][A-Za-z0-9_']*(?:\.[A-Za-z][A-Za-z0-9_']*)*", name) else f'"{name}"'


def _statement_theory(statement: str, name: str, imports: tuple[str, ...], where: str) -> ProblemTheory:
    """The theory `name` around a row's statement (and preamble), its theorem renamed to the current name.

    A proof after the statement is accepted and stripped, like a shipped proof in a .thy file.
    """
    header = f"theory {name} imports {' '.join(_quote_import(i) for i in imports)}\nbegin\n\n"
    try:
        theory = parse_problem(f"{header}{statement.strip()}\n\nend\n")
    except TheoryParseError as exc:
        found = f", found {exc.found!r}" if exc.found is not None else ""
        line = max(exc.line - header.count("\n"), 1)
        raise ProblemLoadError(
            f"{where}: `formal_statement` does not parse (its line {line}: expected {exc.expected}{found}); "
            "it must be `theorem NAME: ... shows ...`, optionally after local definitions"
        ) from None
    if current_name(theory.theorem_name) != name:
        raise ProblemLoadError(
            f"{where}: problem_name names {name} but the statement proves {theory.theorem_name}: make them agree"
        )
    if theory.theorem_name != name:
        text = theory.text[: theory.statement_start] + theory.goal.renamed(name) + theory.text[theory.statement_end :]
        theory = parse_problem(text)
    return theory


def _check_unique(problems: Sequence[BenchmarkProblem]) -> None:
    counts = Counter(p.name for p in problems)
    dups = [n for n, c in counts.items() if c > 1]
    if dups:
        sources = [p.source for p in problems if p.name == dups[0]]
        raise ProblemLoadError(
            f"{len(dups)} problem name(s) occur more than once, e.g. {dups[0]} in {' and '.join(sources)}: "
            "remove the duplicates"
        )
