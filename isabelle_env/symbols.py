"""Isabelle symbols that matter for lexing: which are letters, which characters build symbolic identifiers.

From `Pure/General/symbol.scala` and the letter group of `etc/symbols`: a letter is an ASCII letter or one of the
letter symbols (Greek except `\\<lambda>`, which is the binder; calligraphic `\\<A>`..`\\<z>`; gothic
`\\<AA>`..`\\<zz>`); `sym_chars` build symbolic identifiers such as `==>`; any other `\\<name>` (not a control
symbol `\\<^name>`) is a symbolic identifier on its own.
"""

from __future__ import annotations

import re

__all__ = [
    "GREEK",
    "LETTER_SYMBOLS",
    "LETTER_SYMBOL_PATTERN",
    "SYMBOL_RE",
    "SYM_CHARS",
    "UNICODE_SYMBOLS",
    "ascii_symbols",
]

GREEK = (
    *("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "mu", "nu", "xi"),
    *("pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda"),
    *("Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"),
)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LETTER_SYMBOLS = frozenset(
    [f"\\<{g}>" for g in GREEK] + [f"\\<{c}>" for c in _ALPHABET] + [f"\\<{c}{c}>" for c in _ALPHABET]
)
#: a regular expression matching exactly one letter symbol
LETTER_SYMBOL_PATTERN = r"\\<(?:[A-Za-z]|" + "|".join([c + c for c in _ALPHABET] + list(GREEK)) + r")>"
SYM_CHARS = frozenset("!#$%&*+-/<=>?@^_|~")
#: one named symbol `\<name>` or control symbol `\<^name>`
SYMBOL_RE = re.compile(r"\\<\^?[A-Za-z][A-Za-z0-9_']*>")

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
    "‹": "\\<open>",
    "›": "\\<close>",
    "ℝ": "\\<real>",
    "ℤ": "\\<int>",
    "ℕ": "\\<nat>",
    "ℚ": "\\<rat>",
}


def ascii_symbols(text: str) -> tuple[str, list[str]]:
    """Replace Unicode math symbols with Isabelle's ASCII notation; also return which ones were replaced."""
    found = sorted({ch for ch in text if ch in UNICODE_SYMBOLS})
    for ch in found:
        text = text.replace(ch, UNICODE_SYMBOLS[ch])
    return text, found
