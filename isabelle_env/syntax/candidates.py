"""Candidate proofs as a model writes them: a whole theory, a theorem (after auxiliary lemmas) or a proof body."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from isabelle_env.keywords import KeywordTable
from isabelle_env.syntax.layout import Layout, header_parts, layout, span_text
from isabelle_env.syntax.proof_tree import Closing, Step, StepParser, step_for
from isabelle_env.syntax.spans import Command, split_commands
from isabelle_env.syntax.statements import Statement, parse_statement
from isabelle_env.syntax.tokens import TheoryParseError, Token, TokenKind, tokenize

__all__ = [
    "CandidateKind",
    "AtpSpan",
    "AuxLemma",
    "Candidate",
    "InformalComment",
    "SledgehammerSite",
    "atp_to_sledgehammer",
    "find_atp_spans",
    "find_sledgehammer",
    "parse_candidate",
    "replace_sledgehammer",
]


@dataclass(frozen=True)
class SledgehammerSite:
    """A `sledgehammer` placeholder: `index` counts them in text order; `start`/`end` cover the command
    (DSP's `sledgehammer+` included)."""

    index: int
    line: int
    start: int
    end: int


@dataclass(frozen=True)
class InformalComment:
    """A `(* ... *)` comment in a proof (DSP puts the informal subgoal there) and the step that follows it."""

    text: str
    line: int
    start: int
    end: int
    next_step: Step | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class AtpSpan:
    """A `(*<ATP>*) ... (*</ATP>*)` region (markers included); `inner` is what automation found."""

    start: int
    end: int
    line: int
    inner: str


@dataclass(frozen=True)
class AuxLemma:
    name: str | None
    statement: str
    proof: str
    line: int
    start: int
    end: int


class CandidateKind(StrEnum):
    THEORY = "theory"  # a whole theory, header to `end`
    THEOREM = "theorem"  # a theorem with its proof (after auxiliary lemmas, if any)
    PROOF = "proof"  # a proof body alone


@dataclass
class Candidate:
    """A candidate proof: a whole theory, a theorem (possibly after auxiliary lemmas) or a proof body."""

    text: str = field(repr=False)
    kind: CandidateKind
    statement: str | None
    goal: Statement | None = field(repr=False)
    aux_lemmas: list[AuxLemma]
    proof: str
    proof_start: int
    proof_end: int
    root: Step = field(repr=False)
    sledgehammer: list[SledgehammerSite]
    comments: list[InformalComment] = field(repr=False)
    atp_spans: list[AtpSpan] = field(repr=False)
    theory_name: str | None = None
    imports: tuple[str, ...] | None = None
    commands: list[Command] = field(default_factory=list, repr=False)
    layout: Layout = field(default_factory=Layout, repr=False)
    stray: list[Step] = field(default_factory=list, repr=False)  # steps after the goal is closed
    tokens: list[Token] = field(default_factory=list, repr=False)

    @property
    def steps(self) -> list[Step]:
        """All steps below the goal, in text order."""
        return [s for s in self.root.walk() if s is not self.root]

    @property
    def sledgehammer_steps(self) -> list[Step]:
        """Goal steps closed by `sledgehammer`, in text order (each has `closing_span`)."""
        return [s for s in self.steps if s.closing_kind is Closing.SLEDGEHAMMER]

    @property
    def proof_line(self) -> int:
        return self.text.count("\n", 0, self.proof_start) + 1


def find_sledgehammer(commands: Sequence[Command]) -> list[SledgehammerSite]:
    sites = [c for c in commands if c.name == "sledgehammer"]
    return [SledgehammerSite(k, c.line, c.start, c.end) for k, c in enumerate(sites)]


def find_atp_spans(text: str, tokens: Sequence[Token] | None = None) -> list[AtpSpan]:
    """Matched `(*<ATP>*)`/`(*</ATP>*)` comment pairs; unmatched markers are ignored."""
    spans: list[AtpSpan] = []
    opened: Token | None = None
    for tok in tokens if tokens is not None else tokenize(text):
        if tok.kind is not TokenKind.INFORMAL_COMMENT:
            continue
        marker = tok.content.strip()
        if marker == "<ATP>":
            opened = tok
        elif marker == "</ATP>" and opened is not None:
            spans.append(AtpSpan(opened.start, tok.end, opened.line, text[opened.end : tok.start].strip()))
            opened = None
    return spans


def atp_to_sledgehammer(text: str) -> str:
    """Turn DSP's marked automation back into `sledgehammer`, so a verified proof becomes a sketch."""
    out, pos = [], 0
    for span in find_atp_spans(text):
        out += [text[pos : span.start], "sledgehammer"]
        pos = span.end
    return "".join(out) + text[pos:]


def replace_sledgehammer(proof_text: str, replacements: dict[int, str]) -> str:
    """Replace the sledgehammer placeholders numbered in `replacements` by tactics; all else byte for byte."""
    sites = find_sledgehammer(split_commands(tokenize(proof_text), proof_text))
    unknown = sorted(set(replacements) - {s.index for s in sites})
    if unknown:
        raise KeyError(f"no sledgehammer step {unknown}: the text has {len(sites)} (indices 0..{len(sites) - 1})")
    out, pos = [], 0
    for site in sites:
        if site.index in replacements:
            out += [proof_text[pos : site.start], replacements[site.index]]
            pos = site.end
    return "".join(out) + proof_text[pos:]


def _informal_comments(tokens: Sequence[Token], steps: Sequence[Step], lo: int, hi: int) -> list[InformalComment]:
    starts = [s.start for s in steps]
    comments = []
    for tok in tokens:
        if tok.kind is not TokenKind.INFORMAL_COMMENT or not lo <= tok.start < hi:
            continue
        if tok.content.strip() in ("<ATP>", "</ATP>"):
            continue
        k = bisect.bisect_left(starts, tok.end)
        nxt = steps[k] if k < len(steps) else None
        comments.append(InformalComment(tok.content.strip(), tok.line, tok.start, tok.end, nxt))
    return comments


def parse_candidate(text: str, keywords: KeywordTable | None = None) -> Candidate:
    """Parse a candidate; raises TheoryParseError on lexical errors, an empty text or a malformed statement."""
    if keywords is None:
        from isabelle_env.keywords import default_table

        keywords = default_table()
    tokens = tokenize(text, keywords)
    cmds = split_commands(tokens, text, keywords)
    if not cmds:
        raise TheoryParseError(1, "a theory, a theorem or a proof", "no text")
    lay = layout(cmds, keywords)
    if lay.header is not None:
        kind = CandidateKind.THEORY
    else:
        kind = CandidateKind.PROOF if lay.loose_proof and not lay.goals else CandidateKind.THEOREM
    theory_name = imports = None
    if lay.header is not None:
        name, imp = header_parts(lay.header)
        theory_name, imports = name, tuple(imp)
    goal: Statement | None = None
    proof_cmds = lay.loose_proof
    aux: list[AuxLemma] = []
    if lay.goals:
        main = lay.goals[-1]
        goal = parse_statement(main.head)
        proof_cmds = main.proof
        for g in lay.goals[:-1]:
            head = parse_statement(g.head)
            end = g.proof[-1].end if g.proof else g.head.end
            aux.append(AuxLemma(head.name, head.text, span_text(text, g.proof), g.head.line, g.head.start, end))
        root = Step(goal.keyword, goal.line, main.head.start, main.head.end, goal.text, goal.name)
        root.props = [p.text for p in goal.shows]
    else:
        first = proof_cmds[0] if proof_cmds else cmds[0]
        root = Step("goal", first.line, first.start, first.start, "")
    parser = StepParser(proof_cmds)
    parser.goal_tail(root)
    stray = parser.body()
    while parser.peek() is not None:  # unmatched qed or }
        stray.append(step_for(parser.take(), []))
        stray.extend(parser.body())
    p_start = proof_cmds[0].start if proof_cmds else root.end
    p_end = proof_cmds[-1].end if proof_cmds else root.end
    all_steps = [s for s in root.walk() if s is not root] + [x for s in stray for x in s.walk()]
    all_steps.sort(key=lambda s: s.start)
    return Candidate(
        text=text,
        kind=kind,
        statement=goal.text if goal else None,
        goal=goal,
        aux_lemmas=aux,
        proof=text[p_start:p_end],
        proof_start=p_start,
        proof_end=p_end,
        root=root,
        sledgehammer=find_sledgehammer(proof_cmds),
        comments=_informal_comments(tokens, all_steps, p_start, p_end),
        atp_spans=find_atp_spans(text, tokens),
        theory_name=theory_name,
        imports=imports,
        commands=cmds,
        layout=lay,
        stray=stray,
        tokens=tokens,
    )
