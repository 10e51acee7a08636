"""The Isar step tree of a proof: goals with how each is closed, `proof ... qed` blocks, `{ ... }`, `next`.

Commands are classified by their keyword kind (`Pure/Isar/keyword.ML`; kinds declared in `Pure/Pure.thy`): a
`prf_chain` (then, from, with, ultimately, finally) chains into the goal after it, `prf_goal`/`prf_asm_goal`
(have, show, hence, thus, obtain, consider, ...) open a goal, a `qed` kind (by, `.`, `..`, sorry) or `qed_global`
(oops) closes it terminally, `prf_block` (proof) opens a block that `qed_block` (qed) closes, `prf_script`
(apply, ...) with `qed_script` (done) is an apply script.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from isabelle_env.keywords import KeywordKind
from isabelle_env.syntax.spans import Command
from isabelle_env.syntax.statements import label, props

__all__ = ["ABORTS", "REFINEMENTS", "Closing", "Step", "StepParser", "is_terminal", "step_for"]

#: what may stand between a goal and its proof (commands valid in `prove` mode)
REFINEMENTS = frozenset({"using", "unfolding", "including", "supply"})
#: the skip-proof closings: `sorry` (and its alias `\<proof>`) and `oops`
ABORTS = frozenset({"sorry", "oops", "\\<proof>"})


class Closing(StrEnum):
    """How a step is closed (the value is the closing command, or the shape of a closing script/block)."""

    BY = "by"
    DOT = "."
    DOTDOT = ".."
    SLEDGEHAMMER = "sledgehammer"
    SORRY = "sorry"
    OOPS = "oops"
    PROOF = "proof"  # a goal closed by a `proof ... qed` block
    APPLY = "apply"  # an apply script (up to `done`, or a terminal `by`)
    QED = "qed"  # a block closed by its `qed`
    BRACE = "}"  # a `{ ... }` block


def _is(cmd: Command | None, *kinds: KeywordKind) -> bool:
    return cmd is not None and cmd.kind in kinds


def is_terminal(cmd: Command | None) -> bool:
    """`by ...`, `.`, `..`, `sorry`, `oops`, or the `sledgehammer` placeholder: a goal closed in one command."""
    if cmd is None:
        return False
    return cmd.name == "sledgehammer" or cmd.kind in (KeywordKind.QED, KeywordKind.QED_GLOBAL)


@dataclass
class Step:
    """A node of the Isar proof tree.

    `kind` is the command (have, show, obtain, proof, {, next, case, fix, ...; "theorem"/"lemma" for the
    goal of a candidate, "goal" for a proof-only candidate); `chain` holds `then`/`from x`/`finally`... that
    precede a goal; `closing_kind` is how a goal is closed: "by", ".", "..", "sledgehammer", "proof", "apply",
    "sorry"/"oops", "qed" (for a proof block), or None when nothing closes it.
    """

    kind: str
    line: int
    start: int
    end: int
    text: str  # the head command as written
    label: str | None = None
    props: list[str] = field(default_factory=list)
    chain: str | None = None
    refinements: list[str] = field(default_factory=list)  # using/unfolding/... before the closing
    closing_kind: Closing | None = None
    closing: str | None = None
    closing_span: tuple[int, int] | None = None
    children: list[Step] = field(default_factory=list)

    @property
    def prop(self) -> str | None:
        return " and ".join(self.props) if self.props else None

    def walk(self) -> Iterator[Step]:
        """This step and all steps below it, in text order."""
        yield self
        for child in self.children:
            yield from child.walk()


def step_for(cmd: Command, chain: Sequence[Command]) -> Step:
    toks = cmd.args
    name: str | None = None
    found: list[str] = []
    if cmd.name in ("case", "note", "fix", "let", "next", "{", "}", "moreover", "also"):
        name = " ".join(t.text for t in toks) or None if cmd.name == "case" else None
        if cmd.name == "let":
            found = [t.content for t in toks if t.is_quoted]
    else:
        name, i = label(toks)
        body = toks[i:]
        if cmd.name in ("obtain", "define"):
            where = next((k for k, t in enumerate(body) if t.is_keyword("where")), None)
            body = body[where + 1 :] if where is not None else body
        found = [p.text for p in props(body, name)]
    start = chain[0].start if chain else cmd.start
    return Step(
        kind=cmd.name,
        line=chain[0].line if chain else cmd.line,
        start=start,
        end=cmd.end,
        text=cmd.text,
        label=name,
        props=found,
        chain=" ".join(c.text for c in chain) or None,
    )


class StepParser:
    """Recursive descent over the command list of a proof."""

    def __init__(self, commands: Sequence[Command]):
        self.cmds = list(commands)
        self.i = 0

    def peek(self) -> Command | None:
        return self.cmds[self.i] if self.i < len(self.cmds) else None

    def take(self) -> Command:
        cmd = self.cmds[self.i]
        self.i += 1
        return cmd

    def close(self, step: Step, kind: str, cmds: Sequence[Command]) -> None:
        step.closing_kind = Closing.SORRY if kind == "\\<proof>" else Closing(kind)  # `\<proof>` is `sorry`
        step.closing_span = (cmds[0].start, cmds[-1].end)
        step.closing = cmds[0].source[cmds[0].start : cmds[-1].end]
        step.end = max(step.end, cmds[-1].end)

    def goal_tail(self, step: Step) -> None:
        """Refinements and the closing of a goal step."""
        while (c := self.peek()) is not None and c.name in REFINEMENTS:
            step.refinements.append(self.take().text)
            step.end = c.end
        c = self.peek()
        if c is None:
            return
        if is_terminal(c):
            self.close(step, c.name if c.name != "\\<proof>" else "sorry", [self.take()])
        elif _is(c, KeywordKind.PRF_BLOCK):
            block = self.block()
            step.children.append(block)
            step.closing_kind, step.closing, step.end = Closing.PROOF, block.text, block.end
            step.closing_span = (block.start, block.end)
        elif _is(c, KeywordKind.PRF_SCRIPT, KeywordKind.PRF_SCRIPT_GOAL, KeywordKind.PRF_SCRIPT_ASM_GOAL):
            self.apply_script(step)

    def apply_script(self, step: Step) -> None:
        first = self.peek()
        assert first is not None
        last = first
        while (c := self.peek()) is not None:
            if c.name in REFINEMENTS or _is(c, KeywordKind.PRF_SCRIPT):
                last = self.take()
            elif _is(c, KeywordKind.PRF_SCRIPT_GOAL, KeywordKind.PRF_SCRIPT_ASM_GOAL):  # subgoal
                sub = step_for(self.take(), [])
                self.goal_tail(sub)
                step.children.append(sub)
                last = self.cmds[self.i - 1]
            elif _is(c, KeywordKind.PRF_BLOCK):
                block = self.block()
                step.children.append(block)
                last = self.cmds[self.i - 1]
                break
            elif _is(c, KeywordKind.QED_SCRIPT) or is_terminal(c):
                last = self.take()
                break
            else:
                break
        self.close(step, "apply", [first, last])

    def block(self) -> Step:
        """`proof [method] ... qed`, children are the body's steps."""
        head = self.take()
        block = step_for(head, [])
        block.props, block.label = [], None
        block.children = self.body(inside_block=True)
        c = self.peek()
        if c is not None and (_is(c, KeywordKind.QED_BLOCK) or c.name in ABORTS):
            self.close(block, "qed" if c.name == "qed" else c.name, [self.take()])
        elif block.children:
            block.end = block.children[-1].end
        return block

    def body(self, *, inside_block: bool = False, stop_at_close: bool = False) -> list[Step]:
        steps: list[Step] = []
        while (c := self.peek()) is not None:
            if _is(c, KeywordKind.QED_BLOCK, KeywordKind.PRF_CLOSE) or (inside_block and c.name in ABORTS):
                break
            chain: list[Command] = []
            while (c := self.peek()) is not None and _is(c, KeywordKind.PRF_CHAIN):
                chain.append(self.take())
            if _is(c, KeywordKind.PRF_GOAL, KeywordKind.PRF_ASM_GOAL):
                step = step_for(self.take(), chain)  # type: ignore[arg-type]
                self.goal_tail(step)
                steps.append(step)
                continue
            steps.extend(step_for(ch, []) for ch in chain)
            if c is None or _is(c, KeywordKind.QED_BLOCK, KeywordKind.PRF_CLOSE):
                break
            if inside_block and c.name in ABORTS:
                break
            if _is(c, KeywordKind.PRF_BLOCK):
                steps.append(self.block())
            elif _is(c, KeywordKind.PRF_OPEN):
                block = step_for(self.take(), [])
                block.children = self.body(stop_at_close=True)
                if _is(self.peek(), KeywordKind.PRF_CLOSE):
                    self.close(block, "}", [self.take()])
                steps.append(block)
            else:
                steps.append(step_for(self.take(), []))
        return steps
