"""Salvaging broken sketches: failing steps become gaps, gaps nothing closes are coarsened to their block.

A gap is a `sledgehammer` placeholder, so a salvaged sketch is closed by the checker's usual rounds. Pure text
work on the candidate's step tree (isabelle_env.syntax.proof_tree), driven by the lines Isabelle reported errors
at; after ProofAug's "maximal compatible semi-proof" (Liu et al., ICML 2025, haoxiongliu/ProofAug `proof_aug_1dp`).

Where Isabelle goes on after a failing command decides what one check tells (STACK_NOTES, real-kernel replies
`Failing_Step*`, `Failing_Show`): terminal proofs are forked in the server's interactive mode
(`Pure/Isar/proof.ML` `future_terminal_proof`), so every failing `by` is an error at its own line and the proof
goes on; a `show` that refines no goal makes the commands after it fail too (`Failing_Show`: its `by`, the
`qed`, and there, where the show stood in the theorem's own block, `end`). How far such a failure spreads out of
a nested block has not been recorded, so nothing here relies on it: errors beyond the block become gaps of their
own, or stand in the whole proof's block, which is never turned into a gap, and the next check tells again.
So: an error on a terminal closing (`by`, `.`, `..`, an apply script) turns that closing into a gap; any other
error turns the innermost `proof ... qed` block around it into one gap (the goal that block proves stays, with its
statement: a `show ?thesis` is never removed). A gap that no method closes is coarsened the same way: the block
around it (its siblings with it) becomes one gap at the enclosing level.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from isabelle_env.syntax.candidates import Candidate
from isabelle_env.syntax.proof_tree import Closing, Step

__all__ = ["GAP", "Edit", "Replacement", "Rewrite", "coarsen", "gaps_for_errors"]

GAP = "sledgehammer"
_TERMINAL = frozenset({Closing.BY, Closing.DOT, Closing.DOTDOT, Closing.APPLY, Closing.SORRY, Closing.OOPS})


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] by `replacement`."""

    start: int
    end: int
    replacement: str


@dataclass(frozen=True)
class Replacement:
    """One step of the candidate as written and what stands there in the salvaged proof (lines of the candidate)."""

    line: int
    original: str
    replacement: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "original": self.original, "replacement": self.replacement}


@dataclass(frozen=True)
class Rewrite:
    """A text after edits, with the line of the ORIGINAL candidate each of its lines comes from."""

    text: str
    origin: tuple[int, ...]  # origin[k] = candidate line of line k+1 of `text`

    @classmethod
    def identity(cls, text: str) -> Rewrite:
        return cls(text, tuple(range(1, text.count("\n") + 2)))

    def original_line(self, line: int) -> int:
        return self.origin[min(max(line, 1), len(self.origin)) - 1]

    def apply(self, edits: Sequence[Edit]) -> Rewrite:
        """The edits applied (non-overlapping; nested ones keep only the outermost). A line of the result comes
        from the line of this text where it starts; a line started inside a replacement, from the edit's line."""
        kept: list[Edit] = []
        for edit in sorted(edits, key=lambda e: (e.start, -e.end)):
            if kept and edit.start < kept[-1].end:
                continue  # inside an edit already made
            kept.append(edit)
        parts: list[str] = []
        origin = [self.original_line(1)]
        pos = 0
        for edit in [*kept, Edit(len(self.text), len(self.text), "")]:
            chunk = self.text[pos : edit.start]
            parts.append(chunk)
            first = self.text.count("\n", 0, pos) + 1  # the line of this text the chunk starts on
            origin.extend(self.original_line(first + k + 1) for k in range(chunk.count("\n")))
            edit_line = self.original_line(self.text.count("\n", 0, edit.start) + 1)
            parts.append(edit.replacement)
            origin.extend([edit_line] * edit.replacement.count("\n"))
            pos = edit.end
        return Rewrite("".join(parts), tuple(origin))


def _line_starts(text: str) -> list[int]:
    return [0] + [k + 1 for k, c in enumerate(text) if c == "\n"]


def _blocks(steps: Iterable[Step]) -> list[tuple[Step, Step]]:
    """(goal, its `proof ... qed` block) for every goal closed by a block, the root's included."""
    out = []
    for step in steps:
        for child in step.children:
            if child.kind == "proof" and step.closing_kind is Closing.PROOF:
                out.append((step, child))
    return out


def gaps_for_errors(candidate: Candidate, error_lines: Iterable[int]) -> list[Edit]:
    """Edits that turn what failed at `error_lines` (lines of the candidate's text) into gaps."""
    text = candidate.text
    starts = _line_starts(text)
    everything = list(candidate.root.walk())
    blocks = _blocks(everything)
    edits: list[Edit] = []
    for line in sorted(set(error_lines)):
        if not 1 <= line <= len(starts):
            continue
        lo = starts[line - 1]
        hi = starts[line] if line < len(starts) else len(text)
        terminal = next(
            (s for s in everything if s.closing_kind in _TERMINAL and s.closing_span and lo <= s.closing_span[0] < hi),
            None,
        )
        if terminal is not None:
            assert terminal.closing_span is not None
            edits.append(Edit(*terminal.closing_span, GAP))
            continue
        around = [(goal, block) for goal, block in blocks if block.start <= lo + _indent(text, lo) < block.end]
        if around:
            goal, block = max(around, key=lambda gb: gb[1].start)  # the innermost
            edits.append(Edit(block.start, block.end, GAP))
    return edits


def coarsen(candidate: Candidate, open_gaps: Iterable[int]) -> list[Edit]:
    """Edits that replace, for each gap at the given candidate offsets, the block around it by one gap."""
    blocks = _blocks(candidate.root.walk())
    edits = []
    for offset in open_gaps:
        around = [(goal, block) for goal, block in blocks if block.start < offset < block.end]
        if around:
            goal, block = max(around, key=lambda gb: gb[1].start)
            edits.append(Edit(block.start, block.end, GAP))
    return edits


def _indent(text: str, lo: int) -> int:
    """How many blanks start the line at `lo` (an error's line points at the command that starts after them)."""
    k = lo
    while k < len(text) and text[k] in " \t":
        k += 1
    return k - lo


def line_of(text: str, offset: int) -> int:
    return bisect.bisect_right(_line_starts(text), offset)
