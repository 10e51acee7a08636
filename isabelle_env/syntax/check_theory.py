"""The theory sent to the kernel: the problem's own statement with the candidate's proof, then a restatement.

The candidate never supplies the statement the kernel checks: the PROBLEM's statement is written, the candidate's
proof under it, and the original theorem is restated under a fresh name and proved only from it. A final theory
also ends with the checker's own `thm_oracles` of the restatement, so that Isabelle itself reports which oracles
(`skip_proof` for `sorry`, the code generator's for `eval`) the theorem rests on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from isabelle_env.syntax.candidates import Candidate
from isabelle_env.syntax.layout import quote_import
from isabelle_env.syntax.problems import ProblemTheory

__all__ = ["CheckTheory", "build_check_theory"]


@dataclass(frozen=True)
class CheckTheory:
    """The theory sent to Isabelle, and where its lines came from in the candidate."""

    text: str
    theory_name: str
    theorem_name: str
    restated_name: str
    line_map: dict[int, int]  # line of `text` -> line of the candidate text (only lines copied from it)
    oracles_line: int | None = None  # the line of the checker's `thm_oracles` command, if any
    imports: tuple[str, ...] = ()

    def candidate_line(self, line: int) -> int | None:
        return self.line_map.get(line)


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.line = 1
        self.line_map: dict[int, int] = {}

    def add(self, text: str, from_line: int | None = None) -> None:
        if from_line is not None:
            for k in range(text.count("\n") + 1):
                self.line_map[self.line + k] = from_line + k
        self.parts.append(text)
        self.line += text.count("\n")

    def text(self) -> str:
        return "".join(self.parts)


def _restatement(problem: ProblemTheory, name: str) -> str:
    """The problem's statement under `name`, proved only from the candidate's theorem.

    One conclusion: `using assms by (rule THM)`; several: an Isar block that shows each conclusion from
    `THM(k)`. If the candidate's proof did not state THM with exactly this statement, this fails in Isabelle.
    """
    goal = problem.goal
    thm = problem.theorem_name
    using = "using assms " if goal.assumes else ""
    head = goal.renamed(name)
    if len(goal.shows) == 1:
        return f"{head}\n  {using}by (rule {thm})\n"
    shows = "\n".join(f"  show {p.source} {using}by (rule {thm}({k}))" for k, p in enumerate(goal.shows, 1))
    return f"{head}\nproof -\n{shows}\nqed\n"


def _fresh_name(base: str, taken: str) -> str:
    name = f"{base}_restated"
    while re.search(rf"\b{re.escape(name)}\b", taken):
        name += "'"
    return name


def build_check_theory(
    problem: ProblemTheory,
    candidate: Candidate,
    *,
    theory_name: str | None = None,
    imports: Sequence[str] | None = None,
    report_oracles: bool = False,
) -> CheckTheory:
    """Theory text for the kernel: a header (the problem's imports, or `imports` when given), the problem's
    preamble, the candidate's auxiliary lemmas, the PROBLEM's statement with the candidate's proof, a restatement
    proved from it (see `_restatement`) and, with `report_oracles`, `thm_oracles` of the restatement."""
    name = theory_name or problem.theory_name
    restated = _fresh_name(problem.theorem_name, candidate.text)
    used_imports = tuple(imports) if imports is not None else problem.imports
    b = _Builder()
    b.add(f"theory {name}\n  imports {' '.join(quote_import(i) for i in used_imports)}\nbegin\n\n")
    if problem.preamble:
        b.add(problem.preamble + "\n\n")
    for lemma in candidate.aux_lemmas:
        b.add(candidate.text[lemma.start : lemma.end], lemma.line)
        b.add("\n\n")
    b.add(problem.statement + "\n")
    if candidate.proof:
        line_start = candidate.text.rfind("\n", 0, candidate.proof_start) + 1
        indent = candidate.text[line_start : candidate.proof_start]
        b.add((indent if not indent.strip() else "  ") + candidate.proof, candidate.proof_line)
        b.add("\n")
    b.add("\n" + _restatement(problem, restated) + "\n")
    oracles_line = None
    if report_oracles:
        oracles_line = b.line
        b.add(f"thm_oracles {restated}\n\n")
    b.add("end\n")
    return CheckTheory(b.text(), name, problem.theorem_name, restated, b.line_map, oracles_line, used_imports)
