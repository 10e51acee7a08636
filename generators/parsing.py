"""Pull a formal statement, a subgoal list or an Isar proof out of a model's completion.

Completions arrive wrapped in code fences, with chatter before and after, with the statement repeated
before the proof, in Unicode instead of Isabelle's ASCII symbols, or cut off at max tokens. Each parser
returns a `ParseResult`: `ok` (a usable value was found), the value, and `problems` (everything that was off,
including what was dropped or repaired), so a caller can count failures by cause instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from isabelle_env.symbols import ascii_symbols
from isabelle_env.syntax.scan import WORD_KINDS, at_line_start, delimited_kind, tolerant_tokens
from isabelle_env.syntax.scan import next_proper as next_significant
from isabelle_env.syntax.tokens import Token, TokenKind

_QUOTED = (TokenKind.STRING, TokenKind.CARTOUCHE)

T = TypeVar("T")

THEOREM_WORDS = ("theorem", "lemma", "corollary", "proposition")
#: commands that may precede the theorem inside a formal statement (miniF2F has one `definition`)
CONTEXT_WORDS = ("definition", "abbreviation", "fun", "primrec", "function")
PROOF_START_WORDS = (
    "proof", "by", "apply", "using", "unfolding", "including", "supply", "sorry", "oops", "sledgehammer"
)  # fmt: skip
TERMINAL_WORDS = ("sorry", "oops")
_FENCE = re.compile(r"^[ \t]*```[^\n`]*\n?", re.M)
_ITEM = re.compile(r"^\s*(?:(?:step|subgoal)\s*(\d+)\s*[:.)]|(\d+)\s*[.):]|[-*\u2022])\s*(.*)$", re.I)
_SECTION = re.compile(r"^\s*(?:#{2,}|formal\b|informal\b|theorem\b|lemma\b|proof\b)", re.I)


@dataclass
class ParseResult(Generic[T]):
    """What a parser found. `ok` means `value` is usable; `problems` lists everything that was off."""

    ok: bool
    value: T | None
    problems: list[str] = field(default_factory=list)
    #: more that a format carries beside the value (the release's proofs: the subgoal comment before the proof)
    parts: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"ok": self.ok, "value": self.value, "problems": list(self.problems)}
        if self.parts:
            data["parts"] = dict(self.parts)
        return data


def _truncation_note(finish_reason: str | None) -> str:
    return " (the completion was cut at max tokens)" if finish_reason == "length" else ""


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def strip_code_fences(text: str, prefer: Sequence[str] = ()) -> tuple[str, list[str]]:
    """The content of the first fenced block (the first holding one of `prefer`, if any); text as is without fences.

    An opening fence without a closing one (a completion cut at max tokens) yields the rest of the text.
    """
    fences = list(_FENCE.finditer(text))
    if not fences:
        return text, []
    blocks: list[str] = []
    k = 0
    while k < len(fences):
        start = fences[k].end()
        end = fences[k + 1].start() if k + 1 < len(fences) else len(text)
        blocks.append(text[start:end])
        k += 2
    outside = "".join(
        text[(fences[k - 1].end() if k else 0) : (fences[k].start() if k < len(fences) else len(text))]
        for k in range(0, len(fences) + 1, 2)
    )
    problems = [] if not outside.strip() else [f"ignored text outside the code block: {_snippet(outside)}"]
    if len(fences) % 2:
        problems.append("code block not closed")
    for block in blocks:
        if any(re.search(rf"\b{re.escape(word)}\b", block) for word in prefer):
            return block, problems
    return blocks[0], problems


# ---------------------------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def _statement_span(text: str, toks: list[Token]) -> tuple[_Span | None, list[str]]:
    """Where the first `theorem`/`lemma` (with any `definition` before it) begins and its last proposition ends."""
    first = next(
        (k for k, t in enumerate(toks) if t.is_word(*THEOREM_WORDS, *CONTEXT_WORDS) and at_line_start(text, toks, k)),
        None,
    )
    if first is None:
        first = next((k for k, t in enumerate(toks) if t.is_word(*THEOREM_WORDS)), None)
    if first is None:
        return None, ["no `theorem` or `lemma` found"]
    theorem = next((k for k in range(first, len(toks)) if toks[k].is_word(*THEOREM_WORDS)), None)
    if theorem is None:
        return None, [f"`{toks[first].text}` is not followed by a `theorem` or `lemma`"]
    in_props = False  # inside a `shows` clause or the short form `theorem name: "prop"`
    header = True  # before the first fixes/assumes/shows or proposition
    last_prop_end: int | None = None
    k = theorem
    while (k := next_significant(toks, k)) is not None:
        tok = toks[k]
        if tok.unfinished and delimited_kind(tok) in _QUOTED:
            return None, ["the statement has an unterminated string"]
        if tok.is_word("fixes", "assumes", "obtains", "defines", "includes", "notes"):
            header, in_props = False, False
            continue
        if tok.is_word("shows"):
            header, in_props = False, True
            continue
        if tok.is_word(*PROOF_START_WORDS) or tok.is_word("qed", "done", "end", *THEOREM_WORDS):
            break
        if header and tok.kind in _QUOTED:
            header, in_props = False, True
        if in_props and tok.kind in _QUOTED:
            last_prop_end = tok.end
            after = next_significant(toks, k)
            if after is None:
                break
            nxt = toks[after]
            if nxt.is_word("and", "if", "for") or nxt.kind in _QUOTED:
                continue
            if nxt.text == "(":  # a pattern: shows "..." (is "?L = ?R")
                close = next((j for j in range(after, len(toks)) if toks[j].text == ")"), None)
                if close is not None:
                    last_prop_end = toks[close].end
                    k = close
                    following = next_significant(toks, close)
                    if following is not None and toks[following].is_word("and"):
                        continue
                break
            break
    if last_prop_end is None:
        return None, ["the statement has no `shows` clause or proposition"]
    return _Span(toks[first].start, last_prop_end), []


def parse_statement(completion: str, finish_reason: str | None = None) -> ParseResult[str]:
    """The first theorem statement (no proof) in a completion."""
    text, problems = strip_code_fences(completion, prefer=THEOREM_WORDS)
    text, replaced = ascii_symbols(text)
    if replaced:
        problems.append(f"replaced Unicode symbols with Isabelle ASCII notation: {' '.join(replaced)}")
    toks = tolerant_tokens(text)
    span, found = _statement_span(text, toks)
    problems.extend(found)
    if span is None:
        if found and "unterminated" in found[0]:
            problems[-1] += _truncation_note(finish_reason)
        elif finish_reason == "length":
            problems.append("the completion was cut at max tokens")
        return ParseResult(False, None, problems)
    before, after = text[: span.start], text[span.end :]
    if before.strip():
        problems.append(f"ignored text before the statement: {_snippet(before)}")
    if after.strip():
        problems.append(f"ignored text after the statement: {_snippet(after)}")
    return ParseResult(True, text[span.start : span.end].strip(), problems)


# ---------------------------------------------------------------------------------------------- subgoals


def format_subgoals(subgoals: Sequence[str]) -> str:
    """The list the prompts show and the subgoal parser reads: `Step 1: ...` lines."""
    return "\n".join(f"Step {i}: {' '.join(s.split())}" for i, s in enumerate(subgoals, 1))


def subgoals_from_informal_proof(informal_proof: str) -> list[str]:
    """Steps read off an informal proof when no subgoals were generated: its non-empty lines, or its sentences."""
    lines = [line.strip() for line in informal_proof.strip().splitlines() if line.strip()]
    if len(lines) > 1:
        return lines
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z$])", informal_proof.strip())
    return [s.strip() for s in sentences if s.strip()]


def parse_subgoals(completion: str, finish_reason: str | None = None) -> ParseResult[list[str]]:
    """A numbered or bulleted list of intermediate claims; continuation lines join their item."""
    text, problems = strip_code_fences(completion)
    items: list[str] = []
    numbers: list[int | None] = []
    preamble: list[str] = []
    ended_at: str | None = None
    blank_run = False
    for line in text.splitlines():
        match = _ITEM.match(line)
        if match:
            items.append(match.group(3).strip())
            number = match.group(1) or match.group(2)
            numbers.append(int(number) if number else None)
            blank_run = False
        elif not line.strip():
            blank_run = bool(items)
        elif not items:
            preamble.append(line)
        elif _SECTION.match(line) or blank_run:
            ended_at = line
            break
        else:
            items[-1] = f"{items[-1]} {line.strip()}".strip()
    if preamble:
        problems.append(f"ignored text before the list: {_snippet(' '.join(preamble))}")
    if ended_at is not None:
        problems.append(f"ignored text after the list: {_snippet(ended_at)}")
    expected = [n for n in numbers if n is not None]
    if expected and expected != list(range(expected[0], expected[0] + len(expected))):
        problems.append(f"steps are not numbered consecutively: {expected}")
    if finish_reason == "length" and items and ended_at is None:
        dropped = items.pop()
        problems.append(
            f"the completion was cut at max tokens; dropped the last, possibly incomplete step: {_snippet(dropped)}"
        )
    empty = [i for i, item in enumerate(items, 1) if not item]
    if empty:
        problems.append(f"empty steps dropped: {empty}")
        items = [item for item in items if item]
    if not items:
        problems.append("no subgoals found (expected lines like `Step 1: ...`)")
        return ParseResult(False, None, problems)
    return ParseResult(True, items, problems)


_STEP_PARAGRAPH = re.compile(r"^\s*step\s*(\d+)\s*[:.)]", re.I)


def parse_subgoal_paragraphs(completion: str, finish_reason: str | None = None) -> ParseResult[list[str]]:
    """A subgoal-based proof as the SubgoalXL release writes it: `Step N: ...` paragraphs.

    Paragraphs (blank-line separated) after a `Step N:` paragraph belong to that step; text before the first
    step is kept as its own first item (the release's proofs often open with `Let d be ...`). Each item keeps its
    paragraphs, so the text can be put back into a proof prompt as the release does. `*)` would close the Isar
    comment the proof prompt wraps the subgoals in, so it is written `* )` (and reported).
    """
    text, problems = strip_code_fences(completion)
    if "*)" in text:
        problems.append("`*)` in the subgoals would end the Isar comment early: written as `* )`")
        text = text.replace("*)", "* )")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    items: list[list[str]] = []
    numbers: list[int] = []
    for paragraph in paragraphs:
        match = _STEP_PARAGRAPH.match(paragraph)
        if match or not items:
            items.append([paragraph])
            if match:
                numbers.append(int(match.group(1)))
        else:
            items[-1].append(paragraph)
    if numbers and numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        problems.append(f"steps are not numbered consecutively: {numbers}")
    if not numbers and items:
        problems.append("no `Step N:` paragraphs: the text is kept as one subgoal")
    if finish_reason == "length" and items:
        dropped = items[-1].pop()
        problems.append(f"the completion was cut at max tokens; dropped its last paragraph: {_snippet(dropped)}")
        items = [item for item in items if item]
    if not items:
        problems.append("no subgoals found (expected `Step 1: ...` paragraphs)")
        return ParseResult(False, None, problems)
    return ParseResult(True, ["\n\n".join(item) for item in items], problems)


# ---------------------------------------------------------------------------------------------- proofs


def _normalise(text: str) -> str:
    return " ".join(text.replace('"', ' " ').split())


def _method_end(toks: list[Token], k: int) -> int:
    """Index of the last token of the method expression starting at significant token k (`auto`, `(simp add: x)`)."""
    tok = toks[k]
    if tok.text == "(":
        depth = 0
        for j in range(k, len(toks)):
            depth += toks[j].text == "("
            depth -= toks[j].text == ")"
            if depth == 0:
                k = j
                break
        else:
            return len(toks) - 1
    following = k + 1
    while following < len(toks) and toks[following].text in ("+", "?"):
        k = following
        following += 1
    return k


def _same_line_comments(toks: list[Token], k: int) -> int:
    """Extend the end token index over comments on the same line (`(*</ATP>*)`)."""
    j = k + 1
    while j < len(toks):
        tok = toks[j]
        if tok.is_space and "\n" not in tok.text:
            j += 1
        elif tok.is_comment:
            k = j
            j += 1
        else:
            break
    return k


def _proof_end(text: str, toks: list[Token], start: int) -> tuple[int | None, list[str]]:
    """Index of the proof's last token, scanning `proof ... qed` nesting from token `start`."""
    depth = 0
    k: int | None = start
    apply_script = False
    while k is not None:
        tok = toks[k]
        if tok.unfinished:
            what = "comment" if delimited_kind(tok) is TokenKind.INFORMAL_COMMENT else "string"
            return None, [f"the proof has an unterminated {what}"]
        if tok.is_word("proof"):
            depth += 1
        elif tok.is_word("qed"):
            depth -= 1
            if depth < 0:
                return None, ["`qed` without a matching `proof`"]
            if depth == 0:
                after = next_significant(toks, k)
                same_line = after is not None and "\n" not in text[tok.end : toks[after].start]
                if same_line and (
                    toks[after].text == "("
                    or (toks[after].kind in WORD_KINDS and not toks[after].is_word("end", *THEOREM_WORDS))
                ):
                    k = _method_end(toks, after)
                return _same_line_comments(toks, k), []
        elif depth == 0 and tok.is_word("by"):
            after = next_significant(toks, k)
            if after is None:
                return None, ["`by` without a method"]
            end = _method_end(toks, after)
            second = next_significant(toks, end)
            if second is not None and toks[second].text == "(" and "\n" not in text[toks[end].end : toks[second].start]:
                end = _method_end(toks, second)
            return _same_line_comments(toks, end), []
        elif depth == 0 and tok.is_word("sledgehammer"):  # a sketch closed by automation as a whole
            return _same_line_comments(toks, k), []
        elif depth == 0 and tok.is_word("apply"):
            apply_script = True
        elif depth == 0 and (
            (apply_script and tok.is_word("done")) or tok.is_word(*TERMINAL_WORDS) or tok.text in (".", "..")
        ):
            return _same_line_comments(toks, k), []
        k = next_significant(toks, k)
    if depth > 0:
        return None, [f"the proof is incomplete: {depth} `proof` block(s) not closed by `qed`"]
    return None, ["the proof is incomplete: no terminal `qed`, `by`, `done` or `sorry`"]


def parse_proof(
    completion: str, formal_statement: str | None = None, finish_reason: str | None = None
) -> ParseResult[str]:
    """The Isar proof (from `proof`/`by`/`using` to its closing `qed`), without the statement.

    A completion that repeats the theorem first is accepted; the proof is returned alone, so it is always
    attached to the statement the caller asked for, and a restatement that differs is reported.
    """
    text, problems = strip_code_fences(completion, prefer=("proof", "qed", "by"))
    text, replaced = ascii_symbols(text)
    if replaced:
        problems.append(f"replaced Unicode symbols with Isabelle ASCII notation: {' '.join(replaced)}")
    toks = tolerant_tokens(text)
    starts = [k for k, t in enumerate(toks) if t.is_word(*PROOF_START_WORDS) and at_line_start(text, toks, k)]
    theorem = next(
        (k for k, t in enumerate(toks) if t.is_word(*THEOREM_WORDS, *CONTEXT_WORDS) and at_line_start(text, toks, k)),
        None,
    )
    search_from = 0
    if theorem is not None and (not starts or theorem < starts[0]):
        span, _ = _statement_span(text, toks)
        if span is not None:
            restated = text[span.start : span.end]
            if formal_statement is not None and _normalise(restated) != _normalise(formal_statement):
                problems.append("the completion restates the theorem differently; only its proof is kept")
            search_from = span.end
            starts = [k for k in starts if toks[k].start >= span.end]
            if text[: span.start].strip():
                problems.append(f"ignored text before the proof: {_snippet(text[: span.start])}")
    if not starts:
        problems.append("no proof found (expected `proof -` ... `qed` or `by ...` at the start of a line)")
        if finish_reason == "length":
            problems[-1] += _truncation_note(finish_reason)
        return ParseResult(False, None, problems)
    start = starts[0]
    skipped = text[search_from : toks[start].start]
    if skipped.strip() and search_from == 0:
        problems.append(f"ignored text before the proof: {_snippet(skipped)}")
    end, found = _proof_end(text, toks, start)
    if end is None:
        problems.extend(p + _truncation_note(finish_reason) for p in found)
        return ParseResult(False, None, problems)
    proof_start = toks[start].start
    line_start = text.rfind("\n", 0, proof_start) + 1  # keep comments before `by` on its line (`(*<ATP>*) by`)
    if not text[line_start:proof_start].strip() or all(
        t.is_space or t.kind is TokenKind.INFORMAL_COMMENT for t in tolerant_tokens(text[line_start:proof_start])
    ):
        proof_start = line_start
    proof = text[proof_start : toks[end].end].strip()
    trailing = text[toks[end].end :]
    trailing_words = trailing.split()
    if trailing_words and trailing_words != ["end"]:
        problems.append(f"ignored text after the proof: {_snippet(trailing)}")
    return ParseResult(True, proof, problems)


def theorem_text(formal_statement: str, proof: str) -> str:
    """The statement and its proof as one theorem, the way a theory file holds it."""
    return f"{formal_statement.rstrip()}\n{proof.strip()}\n"


def parse_commented_proof(
    completion: str, formal_statement: str | None = None, finish_reason: str | None = None
) -> ParseResult[str]:
    """The release's proof completion: an optional `(* subgoal proof *)` comment, then the Isar proof.

    The SubgoalXL proof generators were trained to write the subgoal-based proof as a comment right after the
    statement and then the proof (`training/run_data_merging.py`, `compare_proofs`); the comment is returned in
    `parts["subgoal_proof"]` and the proof as the value, exactly as `parse_proof` reads it.
    """
    text = completion.lstrip()
    comment = None
    if text.startswith("(*"):
        first = tolerant_tokens(text)[0]
        if first.kind is TokenKind.INFORMAL_COMMENT:
            comment = text[2 : first.end - 2].strip()
            text = text[first.end :]
    parsed = parse_proof(text, formal_statement, finish_reason)
    if comment is not None:
        parsed.parts["subgoal_proof"] = comment
    elif completion.lstrip().startswith("(*"):
        parsed.problems.insert(
            0, "the subgoal comment before the proof is not closed" + _truncation_note(finish_reason)
        )
        parsed.ok, parsed.value = False, None
    return parsed
