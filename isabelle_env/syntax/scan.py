"""Reading a model's Isar text token by token, the way the output parsers need it: tolerant of a text cut off
mid-string, and aware of lines (a proof starts at the start of a line)."""

from __future__ import annotations

from collections.abc import Sequence

from isabelle_env.syntax.tokens import Token, TokenKind, tokenize

__all__ = ["WORD_KINDS", "at_line_start", "delimited_kind", "next_proper", "strip_comments", "tolerant_tokens"]

#: tokens a reader sees as words: commands, keywords, names, variables, numbers
WORD_KINDS = frozenset(
    {
        TokenKind.COMMAND,
        TokenKind.KEYWORD,
        TokenKind.IDENT,
        TokenKind.LONG_IDENT,
        TokenKind.VAR,
        TokenKind.TYPE_IDENT,
        TokenKind.TYPE_VAR,
        TokenKind.NAT,
        TokenKind.FLOAT,
    }
)


def tolerant_tokens(text: str) -> list[Token]:
    """Every token; a string, comment or cartouche the text does not close is one ERROR token to the end."""
    return tokenize(text, strict=False)


def delimited_kind(tok: Token) -> TokenKind:
    """The kind of a token, an unfinished one counted as the string, comment or cartouche it opens."""
    if not tok.unfinished:
        return tok.kind
    if tok.text.startswith("(*"):
        return TokenKind.INFORMAL_COMMENT
    if tok.text.startswith('"'):
        return TokenKind.STRING
    if tok.text.startswith("`"):
        return TokenKind.ALT_STRING
    return TokenKind.CARTOUCHE


def at_line_start(text: str, toks: Sequence[Token], index: int) -> bool:
    """Whether only spaces and comments precede token `index` on its line."""
    for k in range(index - 1, -1, -1):
        tok = toks[k]
        if (tok.is_space or tok.kind is TokenKind.INFORMAL_COMMENT) and "\n" not in tok.text:
            continue
        return tok.is_space or tok.kind is TokenKind.INFORMAL_COMMENT  # a newline inside: the token starts a line
    return True


def next_proper(toks: Sequence[Token], index: int) -> int | None:
    """Index of the first proper token (no space, no comment) after `index`, or None."""
    for k in range(index + 1, len(toks)):
        if toks[k].is_proper:
            return k
    return None


def strip_comments(text: str) -> str:
    """`text` without `(* ... *)` comments; lines left blank by a removed comment go too."""
    toks = tolerant_tokens(text)
    kept_text = "".join("" if tok.kind is TokenKind.INFORMAL_COMMENT else tok.text for tok in toks)
    flags: list[bool] = []  # per line of the result: whether a comment was on it (only those may be dropped)
    current = False
    for tok in toks:
        if tok.kind is TokenKind.INFORMAL_COMMENT:
            current = True
            flags.extend([True] * tok.text.count("\n"))
        else:
            for _ in range(tok.text.count("\n")):
                flags.append(current)
                current = False
    flags.append(current)
    kept = [line.rstrip() for had, line in zip(flags, kept_text.split("\n"), strict=False) if line.strip() or not had]
    return "\n".join(kept)
