"""miniF2F-style problem theories: header, preamble, the theorem statement, and the shipped proof if any."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from isabelle_env.keywords import KeywordTable
from isabelle_env.syntax.layout import header_parts, layout, quote_import, span_text
from isabelle_env.syntax.normalise import normalise_proof
from isabelle_env.syntax.spans import split_commands
from isabelle_env.syntax.statements import GOAL_KEYWORDS, Fix, Prop, Statement, goal_name, parse_statement
from isabelle_env.syntax.tokens import TheoryParseError, tokenize

__all__ = ["ProblemTheory", "parse_problem", "problem_from_statement"]


@dataclass(frozen=True)
class ProblemTheory:
    """A miniF2F-style problem theory: header, preamble, the theorem statement, and the shipped proof if any.

    What a prover may see: `stripped_text()` (the file cut right after the statement) or `bare()` (the same
    closed with `sorry` and `end`).
    """

    text: str = field(repr=False)
    theory_name: str
    imports: tuple[str, ...]
    preamble: str  # text between `begin` and the theorem (e.g. a `definition`), stripped
    theorem_name: str
    statement: str  # exact text from the goal keyword through the end of the `shows` clause
    goal: Statement = field(repr=False)
    proof: str | None  # the shipped proof, "sorry", or None when nothing follows the statement
    statement_start: int = field(repr=False)
    statement_end: int = field(repr=False)
    trailing: str = field(default="", repr=False)  # whatever follows `end` (ignored)

    @property
    def fixes(self) -> tuple[Fix, ...]:
        return self.goal.fixes

    @property
    def assumes(self) -> tuple[Prop, ...]:
        return self.goal.assumes

    @property
    def shows(self) -> tuple[Prop, ...]:
        return self.goal.shows

    @property
    def has_shipped_proof(self) -> bool:
        return self.proof is not None and normalise_proof(self.proof) not in ("", "sorry")

    def stripped_text(self) -> str:
        """The theory cut right after the statement: what a prover may see (no proof, no `end`)."""
        return self.text[: self.statement_end] + "\n"

    def bare(self) -> str:
        """A valid theory with the proof replaced by `sorry`."""
        return self.text[: self.statement_end] + "\n  sorry\n\nend\n"


def parse_problem(text: str, keywords: KeywordTable | None = None) -> ProblemTheory:
    """Parse a problem theory; the theorem is the one named like the theory (else the last one)."""
    cmds = split_commands(tokenize(text, keywords), text, keywords)
    if not cmds or cmds[0].name != "theory":
        found = cmds[0].text[:40] if cmds else "end of text"
        raise TheoryParseError(cmds[0].line if cmds else 1, "`theory NAME imports ... begin`", found)
    if keywords is None:
        from isabelle_env.keywords import default_table

        keywords = default_table()
    lay = layout(cmds, keywords)
    theory_name, imports = header_parts(cmds[0])
    if not lay.has_begin:
        raise TheoryParseError(cmds[0].line, "`begin` after the imports")
    if not lay.goals:
        raise TheoryParseError(cmds[0].tokens[-1].line, "a `theorem NAME:` statement after `begin`")
    main = next((g for g in lay.goals if goal_name(g.head) == theory_name), lay.goals[-1])
    stray = [u.head for u in lay.others if u.head.start > main.head.start] + lay.loose_proof
    if stray:
        raise TheoryParseError(stray[0].line, "`end` after the proof", stray[0].name or stray[0].text[:40])
    if lay.end is None:
        raise TheoryParseError(cmds[-1].line, "`end` closing the theory", "end of text")
    goal = parse_statement(main.head)
    if goal.name is None:
        raise TheoryParseError(main.head.line, "a theorem name (`theorem NAME:`)")
    assert lay.header is not None
    return ProblemTheory(
        text=text,
        theory_name=theory_name,
        imports=tuple(imports),
        preamble=text[lay.header.end : main.head.start].strip(),
        theorem_name=goal.name,
        statement=goal.text,
        goal=goal,
        proof=span_text(text, main.proof) or None,
        statement_start=main.head.start,
        statement_end=main.head.end,
        trailing=text[lay.end.tokens[0].end :],
    )


def problem_from_statement(
    statement: str, *, theory_name: str | None = None, imports: Sequence[str] = ("Complex_Main",), preamble: str = ""
) -> ProblemTheory:
    """Wrap a bare statement into a problem theory (e.g. to audit a proof against its own statement)."""
    cmds = [c for c in split_commands(tokenize(statement), statement) if c.name in GOAL_KEYWORDS]
    if not cmds:
        raise TheoryParseError(1, "a `theorem`/`lemma` statement")
    name = theory_name or goal_name(cmds[-1]) or "Problem"
    quoted = " ".join(quote_import(i) for i in imports)
    text = f"theory {name} imports {quoted}\nbegin\n\n{preamble}\n\n{statement.strip()}\n  sorry\n\nend\n"
    return parse_problem(text)
