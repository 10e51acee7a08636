"""The keywords Pure knows before any theory header is read: ``Thy_Header.bootstrap_keywords``.

``theory``, ``begin``, ``imports``, ``chapter``, ``section``, ``text``, ``ML``, ``end``, ``and``, ``::`` and a few
more cannot be declared in a ``keywords`` clause, because that clause is itself written with them; Isabelle
declares them in ML in ``src/Pure/Thy/thy_header.ML``::

    val bootstrap_keywords =
      Keyword.empty_keywords
      |> Keyword.add_keywords
        [(("%", \\<^here>), Keyword.no_spec),
         ((beginN, \\<^here>), Keyword.quasi_command_spec),
         ((theoryN, \\<^here>), Keyword.command_spec (Keyword.thy_begin, ["theory"])), ...];

This module reads that list from the ML source (names given as ``val beginN = "begin";`` are resolved in the same
file). The named specs mean what ``src/Pure/Isar/keyword.ML`` defines them as (isabelle-prover/mirror-isabelle
@ 0e02c5d3): ``no_spec`` = kind "", ``before_command_spec``, ``quasi_command_spec``, and
``document_heading_spec`` / ``document_body_spec`` = that kind with tag "document".
"""

from __future__ import annotations

import re

from isabelle_env.keywords.header import Declaration, HeaderParseError
from isabelle_env.keywords.kinds import KeywordKind, parse_kind

__all__ = ["parse_bootstrap_keywords"]

_NAMED_SPECS: dict[str, tuple[KeywordKind, tuple[str, ...]]] = {
    "no_spec": (KeywordKind.MINOR, ()),
    "before_command_spec": (KeywordKind.BEFORE_COMMAND, ()),
    "quasi_command_spec": (KeywordKind.QUASI_COMMAND, ()),
    "document_heading_spec": (KeywordKind.DOCUMENT_HEADING, ("document",)),
    "document_body_spec": (KeywordKind.DOCUMENT_BODY, ("document",)),
}
_VAL_STRING = re.compile(r'\bval\s+(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*;')
_ML_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_COMMAND_SPEC = re.compile(r"^Keyword\.command_spec\s*\(\s*Keyword\.(\w+)\s*,\s*\[(.*)\]\s*\)$", re.DOTALL)
_NAMED_SPEC = re.compile(r"^Keyword\.(\w+)$")


def _ml_unquote(body: str) -> str:
    return re.sub(r"\\(.)", r"\1", body)


def _split_top(text: str) -> list[str]:
    """Split on commas that are not nested in (), [] or a string."""
    parts, depth, start, in_string, i = [], 0, 0, False, 0
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def _strip_parens(text: str) -> str:
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise ValueError(text)
    return text[1:-1].strip()


def parse_bootstrap_keywords(ml_text: str, source: str = "thy_header.ML") -> list[Declaration]:
    """The declarations in ``val bootstrap_keywords = ... [ ... ];`` of thy_header.ML, in source order."""
    start = ml_text.find("val bootstrap_keywords")
    if start < 0:
        raise HeaderParseError(source, 1, "no 'val bootstrap_keywords' found: is this src/Pure/Thy/thy_header.ML?")
    line = ml_text.count("\n", 0, start) + 1
    open_bracket = ml_text.find("[", start)
    depth, end = 0, -1
    for i in range(open_bracket, len(ml_text)):
        if ml_text[i] == "[":
            depth += 1
        elif ml_text[i] == "]":
            depth -= 1
            if depth == 0:
                end = i
                break
    if open_bracket < 0 or end < 0:
        raise HeaderParseError(source, line, "bootstrap_keywords: expected a bracketed list of keyword declarations")
    names = {m.group(1): _ml_unquote(m.group(2)) for m in _VAL_STRING.finditer(ml_text)}
    out: list[Declaration] = []
    for item in _split_top(ml_text[open_bracket + 1 : end]):
        try:
            name_pos, spec = _split_top(_strip_parens(item))
            name_expr = _split_top(_strip_parens(name_pos))[0]
        except ValueError:
            raise HeaderParseError(source, line, f"bootstrap_keywords: cannot read entry {item!r}") from None
        string = _ML_STRING.fullmatch(name_expr)
        if string:
            word = _ml_unquote(string.group(1))
        elif name_expr in names:
            word = names[name_expr]
        else:
            raise HeaderParseError(source, line, f"bootstrap_keywords: {name_expr!r} is not a string or a 'val'")
        out.append(Declaration(word, *_spec(spec, source, line), line=line))
    return out


def _spec(text: str, source: str, line: int) -> tuple[KeywordKind, tuple[str, ...]]:
    named = _NAMED_SPEC.match(text)
    if named:
        if named.group(1) not in _NAMED_SPECS:
            known = ", ".join(f"Keyword.{k}" for k in _NAMED_SPECS)
            raise HeaderParseError(source, line, f"unknown keyword spec {text!r} (known: {known})")
        return _NAMED_SPECS[named.group(1)]
    command = _COMMAND_SPEC.match(text)
    if command:
        try:
            kind = parse_kind(command.group(1))
        except ValueError as exc:
            raise HeaderParseError(source, line, str(exc)) from None
        tags = tuple(_ml_unquote(t) for t in _ML_STRING.findall(command.group(2)))
        return kind, tags
    raise HeaderParseError(source, line, f"cannot read keyword spec {text!r}")
