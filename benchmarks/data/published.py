"""Published per-problem results (DSP's solved lists, a user's JSONL) set against ours, problem by problem.

Published lists use older spellings and mix splits (DSP's `results/*.txt`: compact v1 names, valid and test in
one file). They are mapped to a reference ProblemSet's names and split by looking each name up there; a name the
set does not hold is reported as unmapped, never dropped silently. Note that DSP checked openai/miniF2F v1
statements: comparing against another version compares the same problem names, not always the same statements
(the fingerprints differ; on the shared data 56 of 488 statements changed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data.problems import SPLITS, ProblemLoadError, ProblemSet

__all__ = [
    "Comparison",
    "PublishedResult",
    "compare",
    "load_dsp_results",
    "load_published",
    "read_published_names",
]


@dataclass(frozen=True)
class PublishedResult:
    """One published solved list, in the reference set's names, with the names that set does not hold."""

    label: str  # e.g. "hammer_heuristics_success" (the file's stem)
    source: str
    listed: tuple[str, ...]  # the names as published, unique, in file order
    solved: frozenset[str]  # mapped to the reference set's names
    unmapped: tuple[str, ...]  # listed names the reference set does not hold
    reference: ProblemSet = field(repr=False, compare=False)

    def in_split(self, split: str) -> frozenset[str]:
        """The solved problems of one split (as the reference set assigns them)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        return frozenset(n for n in self.solved if self.reference.by_name(n).split == split)


@dataclass(frozen=True)
class Comparison:
    """Solved by both, only by us, only by them (reference names), within one split or overall."""

    theirs: str
    split: str | None
    both: frozenset[str]
    only_ours: frozenset[str]
    only_theirs: frozenset[str]
    unmapped_ours: tuple[str, ...]  # our solved names the reference set does not hold
    unmapped_theirs: tuple[str, ...]

    def summary(self) -> str:
        scope = self.split or "all splits"
        text = (
            f"vs {self.theirs} ({scope}): both {len(self.both)}, only ours {len(self.only_ours)}, "
            f"only theirs {len(self.only_theirs)}"
        )
        if self.unmapped_ours or self.unmapped_theirs:
            text += f"; unmapped: ours {len(self.unmapped_ours)}, theirs {len(self.unmapped_theirs)}"
        return text


def read_published_names(path: str | Path) -> list[str]:
    """Solved names from a .txt list (one per line, `#` comments) or JSONL (names, or rows with `solved`)."""
    path = Path(path)
    if not path.is_file():
        raise ProblemLoadError(f"{path} does not exist: give a .txt list of names or a .jsonl of results")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemLoadError(f"{path} cannot be read as UTF-8 text ({exc})") from None
    if path.suffix != ".jsonl":
        return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]
    names = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProblemLoadError(f"{where}: not JSON ({exc.msg}): one name or object per line") from None
        if isinstance(row, str):
            names.append(row)
            continue
        if not isinstance(row, dict) or not isinstance(row.get("problem_name"), str):
            raise ProblemLoadError(
                f'{where}: expected a name or an object with `problem_name` (and optionally `"solved": true|false`)'
            )
        solved = row.get("solved", True)
        if not isinstance(solved, bool):
            raise ProblemLoadError(f"{where}: `solved` must be true or false, got {solved!r}")
        if solved:
            names.append(row["problem_name"])
    return names


def load_published(path: str | Path, reference: ProblemSet, *, label: str | None = None) -> PublishedResult:
    """One published list, mapped to `reference`'s names (any spelling: current, v1, DSP compact)."""
    path = Path(path)
    listed = tuple(dict.fromkeys(read_published_names(path)))
    resolved = {name: reference.resolve(name) for name in listed}
    return PublishedResult(
        label=label or path.name.split(".")[0],
        source=str(path),
        listed=listed,
        solved=frozenset(n for n in resolved.values() if n is not None),
        unmapped=tuple(name for name, n in resolved.items() if n is None),
        reference=reference,
    )


def load_dsp_results(folder: str | Path, reference: ProblemSet) -> dict[str, PublishedResult]:
    """Every `*.txt` solved list in DSP's results folder, by label (hammer_heuristics_success, human_100_success...)."""
    folder = Path(folder)
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    if not files:
        raise ProblemLoadError(f"{folder} holds no *.txt solved lists: give DSP's results/ folder")
    results = [load_published(f, reference) for f in files]
    return {r.label: r for r in results}


def compare(ours: Iterable[str], theirs: PublishedResult, *, split: str | None = None) -> Comparison:
    """Set our solved names (any spelling) against a published list, within `split` or over all."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    reference = theirs.reference
    ours_listed = tuple(dict.fromkeys(ours))
    ours_resolved = {name: reference.resolve(name) for name in ours_listed}
    mine = frozenset(n for n in ours_resolved.values() if n is not None)
    other = theirs.solved
    if split is not None:
        mine = frozenset(n for n in mine if reference.by_name(n).split == split)
        other = theirs.in_split(split)
    return Comparison(
        theirs=theirs.label,
        split=split,
        both=mine & other,
        only_ours=mine - other,
        only_theirs=other - mine,
        unmapped_ours=tuple(name for name, n in ours_resolved.items() if n is None),
        unmapped_theirs=theirs.unmapped,
    )
