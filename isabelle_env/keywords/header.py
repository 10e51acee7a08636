"""The ``keywords`` clause of a theory header, read the way ``src/Pure/Thy/thy_header.ML`` reads it.

Grammar (``Thy_Header.keyword_decls`` in thy_header.ML, isabelle-prover/mirror-isabelle @ 545fbf68c6e1; the
isar-ref manual's ``keyword_decls`` rail diagram says the same)::

    keywords: 'keywords' (keyword_decl + 'and')
    keyword_decl: string+ ('::' kind load_command? tags)?
    load_command: '(' name ')'
    tags: ('%' name)*

Older releases also wrote ``== "abbrev"`` after a spec and a list of file extensions in the parentheses
(``:: thy_load ("ML" "sml")``); both are accepted, the abbreviation is ignored (it is completion data, not
syntax). Comments ``(* *)``, formal comments (``\\<comment> \\<open>...\\<close>``), cartouches and old
``{* *}`` verbatim text are skipped wherever they occur, so ``(* FIXME *)`` inside the clause is harmless.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from isabelle_env.keywords.kinds import KeywordKind, parse_kind

__all__ = ["Declaration", "HeaderParseError", "parse_keywords", "split_symbols"]

_SYMBOL = re.compile(r"\\<\^?[A-Za-z0-9_']*>|.", re.DOTALL)
_FORMAL_COMMENTS = ("\\<comment>", "\\<^cancel>", "\\<^latex>", "\\<^marker>")
_OPEN, _CLOSE = "\\<open>", "\\<close>"
# characters that make up symbolic tokens such as `::`, `==`, `%` in a header
_SYMBOLIC = set("!#$%&*+-/<=>?@^_|~:")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_'.]")
_END_OF_KEYWORDS = {"abbrevs", "begin", "uses"}
# bootstrap keywords, which Parse.name does not accept as a kind or tag name
_RESERVED = {"and", "abbrevs", "begin", "imports", "keywords", "options"}


class HeaderParseError(ValueError):
    """A theory header whose ``keywords`` clause Isabelle would reject; names the file, line and problem."""

    def __init__(self, source: str, line: int, message: str):
        self.source = source
        self.line = line
        super().__init__(f"{source}:{line}: {message}")


@dataclass(frozen=True)
class Declaration:
    """One keyword as one header declares it."""

    word: str
    kind: KeywordKind
    tags: tuple[str, ...] = ()
    #: ``(name)`` after the kind of a ``thy_load`` command; older releases gave file extensions here
    load_command: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class _Tok:
    kind: str  # "string" | "name" | "sym"
    text: str
    line: int


def split_symbols(text: str) -> list[str]:
    """Isabelle symbols: ``\\<name>`` and ``\\<^name>`` are one symbol each, anything else one character."""
    return _SYMBOL.findall(text)


def _tokens(text: str, source: str) -> Iterator[_Tok]:
    syms = split_symbols(text)
    i, line, n = 0, 1, len(syms)

    def error(message: str) -> HeaderParseError:
        return HeaderParseError(source, line, message)

    def skip_cartouche(j: int) -> int:
        depth = 0
        while j < n:
            if syms[j] == _OPEN:
                depth += 1
            elif syms[j] == _CLOSE:
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise error("unterminated cartouche")

    while i < n:
        s = syms[i]
        if s == "\n":
            line += 1
            i += 1
        elif s.isspace():
            i += 1
        elif s == "(" and i + 1 < n and syms[i + 1] == "*":
            depth, j = 0, i
            while j < n:
                if syms[j] == "(" and j + 1 < n and syms[j + 1] == "*":
                    depth, j = depth + 1, j + 2
                elif syms[j] == "*" and j + 1 < n and syms[j + 1] == ")":
                    depth, j = depth - 1, j + 2
                    if depth == 0:
                        break
                else:
                    j += 1
            else:
                raise error("unterminated comment (* ... *)")
            line += syms[i:j].count("\n")
            i = j
        elif s in _FORMAL_COMMENTS:
            j = i + 1
            while j < n and syms[j].isspace():
                j += 1
            if j >= n or syms[j] != _OPEN:
                raise error(f"cartouche expected after {s}")
            k = skip_cartouche(j)
            line += syms[i:k].count("\n")
            i = k
        elif s == _OPEN:
            k = skip_cartouche(i)
            line += syms[i:k].count("\n")
            i = k
        elif s == "{" and i + 1 < n and syms[i + 1] == "*":
            j = i + 2
            while j + 1 < n and not (syms[j] == "*" and syms[j + 1] == "}"):
                j += 1
            if j + 1 >= n:
                raise error("unterminated verbatim text {* ... *}")
            line += syms[i:j].count("\n")
            i = j + 2
        elif s in ('"', "`"):
            start_line, out, j = line, [], i + 1
            while True:
                if j >= n:
                    raise HeaderParseError(source, start_line, f"unterminated string {s}...{s}")
                c = syms[j]
                if c == s:
                    break
                if c == "\\" and j + 1 < n and syms[j + 1] in ('"', "`", "\\"):
                    out.append(syms[j + 1])
                    j += 2
                elif c == "\\" and j + 3 < n and all(d.isdigit() for d in syms[j + 1 : j + 4]):
                    out.append(chr(int("".join(syms[j + 1 : j + 4]))))
                    j += 4
                else:
                    if c == "\n":
                        line += 1
                    out.append(c)
                    j += 1
            yield _Tok("string", "".join(out), start_line)
            i = j + 1
        elif _NAME_CHAR.match(s):
            j = i
            while j < n and _NAME_CHAR.match(syms[j]):
                j += 1
            yield _Tok("name", "".join(syms[i:j]), line)
            i = j
        elif s in _SYMBOLIC:
            j = i
            while j < n and syms[j] in _SYMBOLIC:
                j += 1
            yield _Tok("sym", "".join(syms[i:j]), line)
            i = j
        else:
            yield _Tok("sym", s, line)
            i += 1


def parse_keywords(text: str, source: str = "<theory>") -> list[Declaration]:
    """Every keyword the theory's header declares, in header order; ``[]`` when it has no ``keywords`` clause.

    Only the header is read: scanning stops at its ``begin``. A header without a ``theory`` command (an ML file,
    say) declares nothing.
    """
    toks = _tokens(text, source)
    for tok in toks:
        if tok.kind == "name" and tok.text == "theory":
            break
    else:
        return []
    for tok in toks:
        if tok.kind == "name" and tok.text == "keywords":
            return _declarations(toks, source, tok.line)
        if tok.kind == "name" and tok.text == "begin":
            return []
    return []


def _declarations(toks: Iterator[_Tok], source: str, line: int) -> list[Declaration]:
    def take() -> _Tok | None:
        return next(toks, None)

    def error(tok: _Tok | None, expected: str) -> HeaderParseError:
        if tok is None:
            return HeaderParseError(source, line, f"end of file inside 'keywords': expected {expected}")
        return HeaderParseError(source, tok.line, f"expected {expected} in 'keywords', found {tok.text!r}")

    out: list[Declaration] = []
    while True:
        words: list[_Tok] = []
        tok = take()
        while tok is not None and tok.kind == "string":
            words.append(tok)
            tok = take()
        if not words:
            raise error(tok, "a quoted keyword")
        kind, tags, load = KeywordKind.MINOR, [], []
        if tok is not None and tok.kind == "sym" and tok.text == "::":
            kind_tok = take()
            if kind_tok is None or kind_tok.kind == "sym" or kind_tok.text in _RESERVED:
                raise error(kind_tok, "a keyword kind after '::'")
            try:
                kind = parse_kind(kind_tok.text)
            except ValueError as exc:
                raise HeaderParseError(source, kind_tok.line, str(exc)) from None
            tok = take()
            if tok is not None and tok.kind == "sym" and tok.text == "(":
                tok = take()
                while tok is not None and not (tok.kind == "sym" and tok.text == ")"):
                    if tok.kind != "sym" or tok.text != ",":
                        if tok.kind == "sym":
                            raise error(tok, "a load command name or ')'")
                        load.append(tok.text)
                    tok = take()
                if tok is None:
                    raise error(tok, "')'")
                tok = take()
            while tok is not None and tok.kind == "sym" and tok.text == "%":
                tag = take()
                if tag is None or tag.kind == "sym" or tag.text in _RESERVED:
                    raise error(tag, "a tag name after '%'")
                tags.append(tag.text)
                tok = take()
            if tok is not None and tok.kind == "sym" and tok.text == "==":
                abbrev = take()
                if abbrev is None or abbrev.kind != "string":
                    raise error(abbrev, "a quoted abbreviation after '=='")
                tok = take()
        out.extend(Declaration(w.text, kind, tuple(tags), tuple(load), w.line) for w in words)
        if tok is not None and tok.kind == "name" and tok.text == "and":
            continue
        if tok is not None and tok.kind == "name" and tok.text in _END_OF_KEYWORDS:
            return out
        raise error(tok, "'and', 'abbrevs' or 'begin'")
