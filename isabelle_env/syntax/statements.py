"""Goal statements: `theorem name: fixes ... assumes ... shows ...` and the short form `lemma name: "P"`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from isabelle_env.syntax.spans import Command
from isabelle_env.syntax.tokens import TheoryParseError, Token, TokenKind

__all__ = ["GOAL_KEYWORDS", "Fix", "Prop", "Statement", "goal_name", "label", "parse_statement", "skip_brackets"]

#: the goal commands a problem or candidate states its theorem with (kind thy_goal_stmt in Pure.thy)
GOAL_KEYWORDS = frozenset({"theorem", "lemma", "corollary", "proposition"})
_ELEMENTS = frozenset({"fixes", "assumes", "shows", "obtains", "defines", "includes", "notes", "constrains"})
_TERMS = frozenset({TokenKind.VAR, TokenKind.IDENT, TokenKind.LONG_IDENT, TokenKind.NAT})


def is_delim(tok: Token, *texts: str) -> bool:
    """Punctuation: a minor keyword such as `(`, `[`, `:`, `::`, `,` (or a symbolic identifier)."""
    return tok.kind in (TokenKind.KEYWORD, TokenKind.SYM_IDENT) and tok.text in texts


@dataclass(frozen=True)
class Fix:
    name: str
    type: str | None  # type text without quotes, None when not given


@dataclass(frozen=True)
class Prop:
    """One proposition of an `assumes`/`shows`; props of one labelled group share the label."""

    label: str | None
    text: str  # inner syntax, quotes removed
    source: str  # token as written, quotes or cartouche included
    line: int


@dataclass(frozen=True)
class Statement:
    """A parsed `theorem`/`lemma` statement (keyword through the end of the `shows` clause)."""

    keyword: str
    name: str | None
    text: str
    line: int
    fixes: tuple[Fix, ...]
    assumes: tuple[Prop, ...]
    shows: tuple[Prop, ...]  # the conclusions; for the short form `theorem n: "P"` the props given
    name_span: tuple[int, int] | None  # offsets of the name within `text`
    tokens: tuple[Token, ...] = field(repr=False, compare=False)  # proper tokens, source offsets

    def renamed(self, new_name: str) -> str:
        """The statement text under another theorem name (for restating it)."""
        if self.name_span is None:
            head = len(self.keyword)
            return f"{self.text[:head]} {new_name}:{self.text[head:]}"
        a, b = self.name_span
        return self.text[:a] + new_name + self.text[b:]


def _split_and(tokens: Sequence[Token]) -> list[list[Token]]:
    """Split at `and` outside parentheses/brackets."""
    groups: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if is_delim(tok, "(", "["):
            depth += 1
        elif is_delim(tok, ")", "]"):
            depth -= 1
        if depth == 0 and tok.is_keyword("and"):
            groups.append([])
        else:
            groups[-1].append(tok)
    return [g for g in groups if g]


def skip_brackets(tokens: Sequence[Token], i: int) -> int:
    """Index after the bracket group starting at tokens[i] (which must be `[` or `(`)."""
    depth = 0
    for j in range(i, len(tokens)):
        if is_delim(tokens[j], "(", "["):
            depth += 1
        elif is_delim(tokens[j], ")", "]"):
            depth -= 1
            if depth == 0:
                return j + 1
    raise TheoryParseError(tokens[i].line, "a closing bracket", "end of statement")


def label(tokens: Sequence[Token]) -> tuple[str | None, int]:
    """`name [attrs] :` at the start of a group: the name and the index after the colon."""
    if len(tokens) >= 2 and tokens[0].kind in (TokenKind.IDENT, TokenKind.LONG_IDENT, TokenKind.NAT):
        j = 1
        if is_delim(tokens[j], "["):
            j = skip_brackets(tokens, j)
        if j < len(tokens) and is_delim(tokens[j], ":"):
            return tokens[0].text, j + 1
    return None, 0


def props(tokens: Sequence[Token], group_label: str | None) -> list[Prop]:
    """Propositions of one group; `(is ...)` patterns are skipped."""
    found: list[Prop] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if is_delim(tok, "("):
            i = skip_brackets(tokens, i)
            continue
        if tok.is_quoted or tok.kind in _TERMS:
            found.append(Prop(group_label, tok.content, tok.text, tok.line))
        i += 1
    return found


def _fixes(tokens: Sequence[Token]) -> list[Fix]:
    fixes: list[Fix] = []
    for group in _split_and(tokens):
        names: list[str] = []
        typ: str | None = None
        for k, tok in enumerate(group):
            if is_delim(tok, "::"):
                if k + 1 >= len(group):
                    raise TheoryParseError(tok.line, "a type after `::`", "end of statement")
                typ = group[k + 1].content
                break
            if is_delim(tok, "("):  # mixfix annotation
                break
            names.append(tok.text)
        fixes.extend(Fix(n, typ) for n in names)
    return fixes


def _labelled_props(tokens: Sequence[Token]) -> list[Prop]:
    found: list[Prop] = []
    for group in _split_and(tokens):
        name, i = label(group)
        found.extend(props(group[i:], name))
    return found


def parse_statement(command: Command) -> Statement:
    """Structure of a goal command: name, fixes, assumes and shows (long form) or the props (short form)."""
    toks = command.tokens
    if command.name not in GOAL_KEYWORDS:
        raise TheoryParseError(command.line, "`theorem` or `lemma`", command.name)
    name, name_span, i = None, None, 1
    found, j = label(toks[1:])
    if found is not None:
        name = found
        name_span = (toks[1].start - command.start, toks[1].end - command.start)
        i = 1 + j
    elif len(toks) > 1 and is_delim(toks[1], "["):
        i = skip_brackets(toks, 1)
        if i < len(toks) and is_delim(toks[i], ":"):
            i += 1
    body = toks[i:]
    if not body:
        raise TheoryParseError(command.line, "a proposition or `fixes`/`assumes`/`shows` after the name")
    sections: dict[str, list[Token]] = {}
    if body[0].is_keyword(*_ELEMENTS):
        current = ""
        for tok in body:
            if tok.is_keyword(*_ELEMENTS):
                current = tok.text
                sections.setdefault(current, [])
            else:
                sections[current].append(tok)
        if "shows" not in sections:
            raise TheoryParseError(body[-1].line, "a `shows` clause", body[-1].text)
        shows = _labelled_props(sections["shows"])
    else:
        shows = props(body, None)
    if not shows:
        raise TheoryParseError(body[0].line, "a proposition to prove", body[0].text)
    return Statement(
        keyword=command.name,
        name=name,
        text=command.source[command.start : command.end],
        line=command.line,
        fixes=tuple(_fixes(sections.get("fixes", []))),
        assumes=tuple(_labelled_props(sections.get("assumes", []))),
        shows=tuple(shows),
        name_span=name_span,
        tokens=toks,
    )


def goal_name(cmd: Command) -> str | None:
    name, _ = label(cmd.tokens[1:])
    return name
