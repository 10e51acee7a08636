"""A canonical form of proof text for dedup and cache keys."""

from __future__ import annotations

from isabelle_env.syntax.tokens import TheoryParseError, TokenKind, tokenize

__all__ = ["normalise_proof"]


def normalise_proof(text: str) -> str:
    """Proper tokens joined by one space; informal comments dropped, everything Isabelle reads kept.

    Two texts Isabelle reads differently never share a form: strings and cartouches stay verbatim, formal
    comments (`\\<comment> \\<open>...\\<close>`) are dropped only because Isabelle ignores them too, and the old
    `-- "..."` stays, since current Isabelle reads `--` as a symbol there, not as a comment. Not for display.
    """
    try:
        tokens = tokenize(text)
    except TheoryParseError:
        return " ".join(text.split())
    return " ".join(
        t.text for t in tokens if t.kind not in (TokenKind.SPACE, TokenKind.INFORMAL_COMMENT, TokenKind.FORMAL_COMMENT)
    )
