"""A small scanner for Isar text as a model writes it: words, strings, comments, cartouches.

The output parsers need to know where a `proof` keyword is a keyword and where it sits inside a string or
a comment (DSP proofs carry `(*<ATP>*) by auto (*</ATP>*)` markers and LaTeX in comments). This is text
processing only: `generators` knows nothing of Isabelle itself, and nothing here is a verdict on a proof.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["word", "string", "altstring", "cartouche", "comment", "symbol", "space"]

OPEN, CLOSE = "\\<open>", "\\<close>"
_WORD = re.compile(r"\??[A-Za-z_][A-Za-z0-9_'.]*[A-Za-z0-9_']|\??[A-Za-z_]|[0-9]+")
_SPACE = re.compile(r"\s+")
_SYMBOL = re.compile(r"\\<\^?[A-Za-z0-9_]+>")

#: Unicode a chat model may write where Isabelle's plain-text files need the ASCII symbol notation
UNICODE_SYMBOLS = {
    "≤": "\\<le>",
    "≥": "\\<ge>",
    "≠": "\\<noteq>",
    "∧": "\\<and>",
    "∨": "\\<or>",
    "¬": "\\<not>",
    "→": "\\<longrightarrow>",
    "⟶": "\\<longrightarrow>",
    "⟹": "\\<Longrightarrow>",
    "⇒": "\\<Rightarrow>",
    "↔": "\\<longleftrightarrow>",
    "⟷": "\\<longleftrightarrow>",
    "∀": "\\<forall>",
    "∃": "\\<exists>",
    "∈": "\\<in>",
    "∉": "\\<notin>",
    "⊆": "\\<subseteq>",
    "∪": "\\<union>",
    "∩": "\\<inter>",
    "⟦": "\\<lbrakk>",
    "⟧": "\\<rbrakk>",
    "λ": "\\<lambda>",
    "∑": "\\<Sum>",
    "∏": "\\<Prod>",
    "⌊": "\\<lfloor>",
    "⌋": "\\<rfloor>",
    "⌈": "\\<lceil>",
    "⌉": "\\<rceil>",
    "‹": OPEN,
    "›": CLOSE,
    "ℝ": "\\<real>",
    "ℤ": "\\<int>",
    "ℕ": "\\<nat>",
    "ℚ": "\\<rat>",
}


@dataclass(frozen=True)
class Token:
    """One lexical unit; `closed` is False for a string, comment or cartouche cut off by the end of the text."""

    kind: TokenKind
    text: str
    start: int
    end: int
    closed: bool = True

    @property
    def significant(self) -> bool:
        return self.kind not in ("space", "comment")

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text in words


def _scan_quoted(text: str, i: int, quote: str) -> tuple[int, bool]:
    """End of a quoted token starting at i (a backslash escapes the next character; `\\<le>` is one symbol)."""
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch == "\\":
            symbol = _SYMBOL.match(text, j)
            j = symbol.end() if symbol else j + 2
            continue
        if ch == quote:
            return j + 1, True
        j += 1
    return len(text), False


def _scan_nested(text: str, i: int, opener: str, closer: str) -> tuple[int, bool]:
    """End of a nested `(* ... *)` comment or `\\<open> ... \\<close>` cartouche starting at i."""
    depth, j = 0, i
    while j < len(text):
        if text.startswith(opener, j):
            depth += 1
            j += len(opener)
        elif text.startswith(closer, j):
            depth -= 1
            j += len(closer)
            if depth == 0:
                return j, True
        else:
            j += 1
    return len(text), False


def tokens(text: str) -> Iterator[Token]:
    """Tokens covering `text` completely and in order (their texts concatenate back to it)."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            end, kind, closed = _SPACE.match(text, i).end(), "space", True
        elif text.startswith("(*", i):
            end, closed = _scan_nested(text, i, "(*", "*)")
            kind = "comment"
        elif text.startswith(OPEN, i):
            end, closed = _scan_nested(text, i, OPEN, CLOSE)
            kind = "cartouche"
        elif ch == '"':
            end, closed = _scan_quoted(text, i, '"')
            kind = "string"
        elif ch == "`":
            end, closed = _scan_quoted(text, i, "`")
            kind = "altstring"
        elif word := _WORD.match(text, i):
            end, kind, closed = word.end(), "word", True
        elif symbol := _SYMBOL.match(text, i):
            end, kind, closed = symbol.end(), "symbol", True
        else:
            end, kind, closed = i + 1, "symbol", True
        yield Token(kind, text[i:end], i, end, closed)  # type: ignore[arg-type]
        i = end


def at_line_start(text: str, toks: list[Token], index: int) -> bool:
    """Whether only spaces and comments precede token `index` on its line."""
    for k in range(index - 1, -1, -1):
        tok = toks[k]
        if tok.kind == "comment" and "\n" not in tok.text:
            continue
        if tok.kind == "space" and "\n" not in tok.text:
            continue
        return tok.kind in ("space", "comment")  # a newline inside: the token starts a line
    return True


def next_significant(toks: list[Token], index: int) -> int | None:
    """Index of the first significant token after `index`, or None."""
    for k in range(index + 1, len(toks)):
        if toks[k].significant:
            return k
    return None


def ascii_symbols(text: str) -> tuple[str, list[str]]:
    """Replace Unicode math symbols with Isabelle's ASCII notation; also return which ones were replaced."""
    found = sorted({ch for ch in text if ch in UNICODE_SYMBOLS})
    for ch in found:
        text = text.replace(ch, UNICODE_SYMBOLS[ch])
    return text, found


def strip_comments(text: str) -> str:
    """`text` without `(* ... *)` comments; lines left blank by a removed comment go too."""
    out: list[str] = []
    for tok in tokens(text):
        out.append("" if tok.kind == "comment" else tok.text)
    kept = []
    for original, line in zip(_lines_with_comment_flags(text), "".join(out).split("\n"), strict=False):
        if line.strip() or not original:
            kept.append(line.rstrip())
    return "\n".join(kept)


def _lines_with_comment_flags(text: str) -> list[bool]:
    """Per output line: whether a comment was on it (only those may be dropped when blank)."""
    flags: list[bool] = []
    current = False
    for tok in tokens(text):
        if tok.kind == "comment":
            current = True
            flags.extend([True] * tok.text.count("\n"))
        else:
            for _ in range(tok.text.count("\n")):
                flags.append(current)
                current = False
    flags.append(current)
    return flags
