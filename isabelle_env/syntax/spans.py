"""Command spans: the token stream cut where commands start, as `Pure/Isar/outer_syntax.scala` `parse_spans` does.

A span starts at a command token, or at a `before_command` keyword (`private`, `qualified`) and takes the command
that follows it; spaces and informal comments between commands are not part of any command. Text before the first
command (or a span without a command) is a span with an empty name: Isabelle reports it as malformed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from isabelle_env.keywords import KeywordKind, KeywordTable
from isabelle_env.syntax.tokens import Token

__all__ = ["Command", "split_commands"]


@dataclass(frozen=True)
class Command:
    """A command keyword and its arguments; `name` is "" for a span with no command (malformed).

    `tokens` holds the proper tokens only (no space, no comment), keyword first; `modifiers` the
    `private`/`qualified` before it.
    """

    name: str
    tokens: tuple[Token, ...]
    source: str = field(repr=False)
    modifiers: tuple[Token, ...] = ()
    kind: KeywordKind | None = None  # from the keyword table; None for a malformed span

    @property
    def start(self) -> int:
        return (self.modifiers or self.tokens)[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end

    @property
    def line(self) -> int:
        return (self.modifiers or self.tokens)[0].line

    @property
    def text(self) -> str:
        return self.source[self.start : self.end]

    @property
    def args(self) -> tuple[Token, ...]:
        return self.tokens[1:] if self.name else self.tokens


def split_commands(tokens: Sequence[Token], source: str, keywords: KeywordTable | None = None) -> list[Command]:
    """Group the proper tokens into commands (formal comments belong to their command but carry no meaning)."""
    if keywords is None:
        from isabelle_env.keywords import default_table

        keywords = default_table()
    before_command = keywords.before_command
    spans: list[list[Token]] = []
    content: list[Token] = []
    for tok in tokens:
        if not tok.is_proper:
            continue
        modifier = tok.is_keyword() and tok.text in before_command
        has_modifier = any(t.is_keyword() and t.text in before_command for t in content)
        if modifier or (tok.is_command and (not has_modifier or any(t.is_command for t in content))):
            if content:
                spans.append(content)
            content = [tok]
        else:
            content.append(tok)
    if content:
        spans.append(content)
    return [_command(span, source, keywords) for span in spans]


def _command(span: list[Token], source: str, keywords: KeywordTable) -> Command:
    k = next((i for i, t in enumerate(span) if t.is_command), None)
    if k is None:
        return Command("", tuple(span), source)
    name = span[k].text
    return Command(name, tuple(span[k:]), source, tuple(span[:k]), keywords.kind(name))
