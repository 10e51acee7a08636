"""Outer-syntax tokens, as Isabelle's `Pure/Isar/token.scala` defines them.

A keyword (command or minor) is recognised by longest match against the keyword table, in competition with
identifiers, variables, numbers and symbolic identifiers (token.scala: `keyword ||| (ident | var_ | ...)`):
the longer token wins and a keyword wins a tie. So `by` is a command, `bye` an identifier, `print_ok` an
identifier (no such command), `..` a command and `::` a minor keyword; a word the table does not know is
never a command. Delimited tokens (strings, cartouches, comments) nest and escape as in `Pure/General/scan.scala`.

Stdlib only: this module is pure text processing, usable without Isabelle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from isabelle_env.symbols import LETTER_SYMBOL_PATTERN, SYM_CHARS, SYMBOL_RE

__all__ = [
    "Keywords",
    "TheoryParseError",
    "Token",
    "TokenKind",
    "tokenize",
]


class TheoryParseError(ValueError):
    """Text that is not the expected Isabelle shape; says where and what was expected."""

    def __init__(self, line: int, expected: str, found: str | None = None):
        self.line = line
        self.expected = expected
        self.found = found
        detail = f", found {found!r}" if found is not None else ""
        super().__init__(f"line {line}: expected {expected}{detail}")


class TokenKind(StrEnum):
    """token.scala `Token.Kind`, plus SPACE split out as Isabelle does."""

    COMMAND = "command"
    KEYWORD = "keyword"  # a minor keyword: `and`, `shows`, `::`, `(`, ...
    IDENT = "ident"
    LONG_IDENT = "long_ident"
    SYM_IDENT = "sym_ident"
    VAR = "var"  # ?x, ?thesis
    TYPE_IDENT = "type_ident"  # 'a
    TYPE_VAR = "type_var"  # ?'a
    NAT = "nat"
    FLOAT = "float"
    SPACE = "space"
    STRING = "string"  # "..."
    ALT_STRING = "alt_string"  # `...`
    CARTOUCHE = "cartouche"  # \<open>...\<close>
    CONTROL = "control"  # \<^name>\<open>...\<close>
    INFORMAL_COMMENT = "informal_comment"  # (* ... *)
    FORMAL_COMMENT = "formal_comment"  # \<comment> \<open>...\<close>, \<^cancel>..., \<^latex>..., \<^marker>...
    ERROR = "error"  # bad input: an unfinished string/comment/cartouche, a character Isabelle does not read


class Keywords(Protocol):
    """What the lexer needs of a keyword table (isabelle_env.keywords.KeywordTable)."""

    def longest_match(self, text: str, offset: int) -> str | None: ...

    def is_command(self, name: str) -> bool: ...


_NAMES = frozenset({TokenKind.IDENT, TokenKind.LONG_IDENT, TokenKind.SYM_IDENT, TokenKind.STRING, TokenKind.NAT})
_QUOTED = frozenset({TokenKind.STRING, TokenKind.ALT_STRING, TokenKind.CARTOUCHE})


@dataclass(frozen=True, slots=True)
class Token:
    """One token: `start`/`end` are offsets in the original text, `line` is 1-based."""

    kind: TokenKind
    text: str
    start: int
    end: int
    line: int

    @property
    def is_space(self) -> bool:
        return self.kind is TokenKind.SPACE

    @property
    def is_comment(self) -> bool:
        return self.kind in (TokenKind.INFORMAL_COMMENT, TokenKind.FORMAL_COMMENT)

    @property
    def is_ignored(self) -> bool:
        """Between commands, Isabelle ignores these (a formal comment belongs to its command)."""
        return self.kind in (TokenKind.SPACE, TokenKind.INFORMAL_COMMENT)

    @property
    def is_proper(self) -> bool:
        return not self.is_space and not self.is_comment

    # the old name, kept for callers that read it as "not whitespace or a comment"
    significant = is_proper

    @property
    def is_command(self) -> bool:
        return self.kind is TokenKind.COMMAND

    @property
    def is_name(self) -> bool:
        return self.kind in _NAMES

    @property
    def is_quoted(self) -> bool:
        return self.kind in _QUOTED

    @property
    def unfinished(self) -> bool:
        """An ERROR token that is a string, comment or cartouche cut off by the end of the text."""
        return self.kind is TokenKind.ERROR and self.text.startswith(('"', "`", "(*", *_OPEN))

    def is_keyword(self, *names: str) -> bool:
        """A minor keyword (or, with names, one of them)."""
        return self.kind is TokenKind.KEYWORD and (not names or self.text in names)

    def is_word(self, *names: str) -> bool:
        """A command, keyword or identifier spelled as one of `names`."""
        return self.kind in (TokenKind.COMMAND, TokenKind.KEYWORD, TokenKind.IDENT) and self.text in names

    @property
    def content(self) -> str:
        """Inner text of a string, cartouche or comment (delimiters removed); the source otherwise."""
        if self.kind in (TokenKind.STRING, TokenKind.ALT_STRING):
            return self.text[1:-1]
        if self.kind is TokenKind.CARTOUCHE:
            return _strip_cartouche(self.text)
        if self.kind is TokenKind.INFORMAL_COMMENT:
            return self.text[2:-2]
        if self.kind in (TokenKind.FORMAL_COMMENT, TokenKind.CONTROL):
            body = self.text[self.text.index(_open_of(self.text)) :]
            return _strip_cartouche(body)
        return self.text


# ---------------------------------------------------------------------------------------------------------------
# Symbols (Pure/General/symbol.scala; the letters of etc/symbols)

_OPEN = ("\\<open>", "‹")
_CLOSE = ("\\<close>", "›")
_BLANKS = " \t\r\n\f\v"
_LETTER_SYM = LETTER_SYMBOL_PATTERN
_SUB = r"\\<\^(?:sub|isub)>"
_LETTER = rf"(?:[^\W\d_]|{_LETTER_SYM})"
_LETDIG = rf"(?:{_LETTER}|[0-9_'])"
_ID = rf"{_LETTER}(?:{_LETDIG}|{_SUB}{_LETDIG})*"
_ID_RE = re.compile(_ID)
_LONG_RE = re.compile(rf"{_ID}(?:\.{_ID})+")
_ID_NAT_RE = re.compile(rf"{_ID}(?:\.[0-9]+)?")
_NAT_RE = re.compile(r"[0-9]+")
_FLOAT_RE = re.compile(r"-?[0-9]+\.[0-9]+")
_SYMBOL_RE = SYMBOL_RE
_LETTER_SYM_RE = re.compile(_LETTER_SYM)
#: formal comment markers (Pure/General/comment.scala): `\<comment>` takes blanks before its cartouche
_COMMENT_MARKERS = ("\\<comment>", "―", "\\<^cancel>", "\\<^latex>", "\\<^marker>")


def _open_of(text: str) -> str:
    return next(o for o in _OPEN if o in text)


def _strip_cartouche(text: str) -> str:
    start = next((len(o) for o in _OPEN if text.startswith(o)), 0)
    end = next((len(c) for c in _CLOSE if text.endswith(c)), 0)
    return text[start : len(text) - end]


def _open_at(text: str, i: int) -> int:
    return next((len(o) for o in _OPEN if text.startswith(o, i)), 0)


def _close_at(text: str, i: int) -> int:
    return next((len(c) for c in _CLOSE if text.startswith(c, i)), 0)


def _is_letter_at(text: str, i: int) -> bool:
    if i >= len(text):
        return False
    c = text[i]
    if c == "\\":
        return _LETTER_SYM_RE.match(text, i) is not None
    return c.isalpha()


# ---------------------------------------------------------------------------------------------------------------
# Delimited tokens: each returns the end offset, or None when the text ends first


def _scan_comment(text: str, i: int) -> int | None:
    """(* ... *) nests; quotes inside do not count."""
    depth, j = 0, i
    while j < len(text):
        if text.startswith("(*", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("*)", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return None


def _scan_cartouche(text: str, i: int) -> int | None:
    depth, j = 0, i
    while j < len(text):
        if n := _open_at(text, j):
            depth, j = depth + 1, j + n
        elif n := _close_at(text, j):
            depth, j = depth - 1, j + n
            if depth == 0:
                return j
        else:
            j += 1
    return None


def _scan_quoted(text: str, i: int) -> int | None:
    """ "..." or `...`: a backslash escapes the next character; \\<name> is one symbol."""
    quote, j = text[i], i + 1
    while j < len(text):
        c = text[j]
        if c == quote:
            return j + 1
        if c == "\\":
            m = _SYMBOL_RE.match(text, j)
            j = m.end() if m else j + 2
        else:
            j += 1
    return None


def _formal_comment(text: str, i: int) -> tuple[TokenKind, int] | None:
    """`\\<comment> \\<open>..\\<close>` (blanks allowed after \\<comment> only) or a control cartouche."""
    for marker in _COMMENT_MARKERS:
        if text.startswith(marker, i):
            j = i + len(marker)
            if marker in ("\\<comment>", "―"):
                while j < len(text) and text[j] in _BLANKS:
                    j += 1
            if _open_at(text, j) and (end := _scan_cartouche(text, j)) is not None:
                return TokenKind.FORMAL_COMMENT, end
            return None
    m = _SYMBOL_RE.match(text, i)
    if m and text.startswith("\\<^", i) and _open_at(text, m.end()):
        end = _scan_cartouche(text, m.end())
        if end is not None:
            return TokenKind.CONTROL, end
    return None


# ---------------------------------------------------------------------------------------------------------------
# The lexer


def _other_token(text: str, i: int) -> tuple[TokenKind, int] | None:
    """ident | var | type_ident | type_var | float | nat | sym_ident (token.scala `other_token`), or None."""
    c = text[i]
    if _is_letter_at(text, i):
        m = _LONG_RE.match(text, i)
        if m:
            return TokenKind.LONG_IDENT, m.end()
        return TokenKind.IDENT, _ID_RE.match(text, i).end()  # type: ignore[union-attr]
    if c == "?" and text.startswith("?'", i) and _is_letter_at(text, i + 2):
        return TokenKind.TYPE_VAR, _ID_NAT_RE.match(text, i + 2).end()  # type: ignore[union-attr]
    if c == "?" and _is_letter_at(text, i + 1):
        return TokenKind.VAR, _ID_NAT_RE.match(text, i + 1).end()  # type: ignore[union-attr]
    if c == "'" and _is_letter_at(text, i + 1):
        return TokenKind.TYPE_IDENT, _ID_RE.match(text, i + 1).end()  # type: ignore[union-attr]
    if m := _FLOAT_RE.match(text, i):
        return TokenKind.FLOAT, m.end()
    if c.isascii() and c.isdigit():
        return TokenKind.NAT, _NAT_RE.match(text, i).end()  # type: ignore[union-attr]
    if c in SYM_CHARS:
        j = i
        while j < len(text) and text[j] in SYM_CHARS:
            j += 1
        return TokenKind.SYM_IDENT, j
    m = _SYMBOL_RE.match(text, i) if c == "\\" else None
    if m and not text.startswith("\\<^", i) and m.group() not in ("\\<open>", "\\<close>"):
        return TokenKind.SYM_IDENT, m.end()  # symbol.scala `is_symbolic`: \<le>, \<Rightarrow>, ...
    return None


def _scan(text: str, i: int, keywords: Keywords) -> tuple[TokenKind, int]:
    """Kind and end of the token at i; ERROR for what Isabelle would not read (an unfinished one runs to the end)."""
    c = text[i]
    if c in _BLANKS:
        j = i
        while j < len(text) and text[j] in _BLANKS:
            j += 1
        return TokenKind.SPACE, j
    if c in '"`':
        end = _scan_quoted(text, i)
        if end is None:
            return TokenKind.ERROR, len(text)
        return (TokenKind.STRING if c == '"' else TokenKind.ALT_STRING), end
    if text.startswith("(*", i):
        end = _scan_comment(text, i)
        return (TokenKind.INFORMAL_COMMENT, end) if end is not None else (TokenKind.ERROR, len(text))
    if _open_at(text, i):
        end = _scan_cartouche(text, i)
        return (TokenKind.CARTOUCHE, end) if end is not None else (TokenKind.ERROR, len(text))
    if c in "\\―" and (found := _formal_comment(text, i)) is not None:
        return found
    keyword = keywords.longest_match(text, i)
    other = _other_token(text, i)
    if keyword is not None and (other is None or len(keyword) >= other[1] - i):
        kind = TokenKind.COMMAND if keywords.is_command(keyword) else TokenKind.KEYWORD
        return kind, i + len(keyword)
    if other is not None:
        return other
    return TokenKind.ERROR, i + (len(m.group()) if (m := _SYMBOL_RE.match(text, i)) else 1)


def iter_tokens(text: str, keywords: Keywords) -> Iterator[Token]:
    """Tokens covering `text` completely and in order; unfinished or unreadable input comes as ERROR tokens."""
    i, line = 0, 1
    while i < len(text):
        kind, j = _scan(text, i, keywords)
        yield Token(kind, text[i:j], i, j, line)
        line += text.count("\n", i, j)
        i = j


def tokenize(text: str, keywords: Keywords | None = None, *, strict: bool = True) -> list[Token]:
    """All tokens of `text` (whitespace and comments included, so spans can be edited byte-exactly).

    `strict` raises TheoryParseError for a string, comment or cartouche that the text does not close (what a
    check needs); otherwise such a token is kept as ERROR (what reading a model's truncated output needs).
    Without `keywords`, the table of every supported Isabelle release is used (isabelle_env.keywords).
    """
    if keywords is None:
        from isabelle_env.keywords import default_table

        keywords = default_table()
    tokens = list(iter_tokens(text, keywords))
    if strict:
        for tok in tokens:
            if tok.unfinished:
                closer = {'"': '`"`', "`": "`` ` ``", "(": "`*)`"}.get(tok.text[0], "`\\<close>`")
                raise TheoryParseError(tok.line, f"{closer} closing the {_what(tok)} opened here", "end of text")
    return tokens


def _what(tok: Token) -> str:
    if tok.text.startswith("(*"):
        return "comment"
    if tok.text[0] in '"`':
        return "string"
    return "cartouche"
