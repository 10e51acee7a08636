"""The top-level shape of a theory text: header, top-level commands, goals with their proofs, `end`.

Which commands belong to a proof is read from the keyword kinds (`Pure/Isar/keyword.ML` `proof_kinds`; diagnostic
commands may stand anywhere), never from a list of names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from isabelle_env.keywords import PROOF_KINDS, VACUOUS_KINDS, KeywordKind, KeywordTable
from isabelle_env.syntax.spans import Command
from isabelle_env.syntax.statements import GOAL_KEYWORDS
from isabelle_env.syntax.tokens import TheoryParseError, TokenKind

__all__ = ["Layout", "Unit", "header_parts", "layout", "quote_import", "span_text", "theory_header"]


@dataclass
class Unit:
    """A top-level command and the proof commands that follow it (goals, but also `function`, `termination`)."""

    head: Command
    proof: list[Command]


@dataclass
class Layout:
    """Top-level shape of a text: header (`theory ... begin`), other top-level commands, goals, end."""

    header: Command | None = None
    end: Command | None = None
    goals: list[Unit] = field(default_factory=list)
    loose_proof: list[Command] = field(default_factory=list)  # proof commands before any top-level command
    others: list[Unit] = field(default_factory=list)  # any other top-level command (incl. a 2nd theory)
    after_end: list[Command] = field(default_factory=list)

    @property
    def has_begin(self) -> bool:
        """Whether the header ends with `begin` (a minor keyword of the header command: thy_header.ML)."""
        return self.header is not None and self.header.tokens[-1].is_keyword("begin")


def layout(commands: Sequence[Command], keywords: KeywordTable) -> Layout:
    lay = Layout()
    unit: Unit | None = None
    for k, cmd in enumerate(commands):
        kind = keywords.kind(cmd.name) if cmd.name else None
        if lay.end is not None:
            lay.after_end.append(cmd)
        elif kind is KeywordKind.THY_BEGIN and k == 0:
            lay.header = cmd
        elif kind is KeywordKind.THY_END and (lay.header is not None or k == len(commands) - 1):
            lay.end = cmd
        elif kind in VACUOUS_KINDS and unit is None and not lay.loose_proof and cmd.name != "sledgehammer":
            # `term x` or `text` in a preamble; `sledgehammer` is the placeholder of a proof step
            lay.others.append(Unit(cmd, []))
        elif not cmd.name or kind in PROOF_KINDS or kind in VACUOUS_KINDS:
            (unit.proof if unit is not None else lay.loose_proof).append(cmd)
        else:
            unit = Unit(cmd, [])
            (lay.goals if cmd.name in GOAL_KEYWORDS else lay.others).append(unit)
    return lay


def header_parts(cmd: Command) -> tuple[str, list[str]]:
    """Theory name and imports of `theory NAME imports A "B" ... begin`."""
    args = cmd.args
    if not args or not args[0].is_name:
        raise TheoryParseError(cmd.line, "a theory name after `theory`")
    name = args[0].content
    if len(args) < 2 or not args[1].is_keyword("imports"):
        raise TheoryParseError(args[0].line, "`imports` after the theory name")
    imports: list[str] = []
    for tok in args[2:]:
        if tok.is_keyword("keywords", "abbrevs", "begin"):
            break
        if not tok.is_name or tok.kind is TokenKind.NAT:
            raise TheoryParseError(tok.line, "a theory name in `imports`", tok.text)
        imports.append(tok.content)
    if not imports:
        raise TheoryParseError(args[1].line, "at least one imported theory")
    return name, imports


def span_text(source: str, commands: Sequence[Command]) -> str:
    return source[commands[0].start : commands[-1].end] if commands else ""


def quote_import(name: str) -> str:
    """A theory name as `imports` needs it: session-qualified names like HOL-Library.X go in quotes."""
    simple = all(part[:1].isalpha() and part.replace("_", "a").replace("'", "a").isalnum() for part in name.split("."))
    return name if simple and name.isascii() else f'"{name}"'


def theory_header(name: str, imports: Sequence[str]) -> str:
    """`theory NAME imports ... begin`, quoting session-qualified imports like "HOL-Library.Sum_of_Squares"."""
    return f"theory {name}\n  imports {' '.join(quote_import(i) for i in imports)}\nbegin\n"
