"""Test double for Isabelle's judgement of theories, used by the stand-in server's transcript choice.

The stand-in replays recorded replies; this decides what each theory gets, from a script of which proof methods
close which propositions, with the messages a real kernel prints placed at the lines where it prints them. It
mimics the real kernel (../shared/STACK_NOTES.md, isabelle-transcripts/real-kernel/) where it matters:
- `sorry` is accepted, as the server's interactive mode accepts it (`Pure/Isar/method.ML` `Method.cheating`
  allows it when interactive; recorded reply `Sorry_Accepted`); the stand-in's `thm_oracles` reports it;
- terminal proofs are forked (`Pure/Isar/proof.ML` `future_terminal_proof`), so every failing `by` is
  reported at its own line and the rest of the proof goes on (recorded replies `Failing_Step*`);
- `sledgehammer` prints the recorded Sledgehammer messages at its line; `try0` prints the recorded `Trying ...`
  line and a `Found proof: by M (0 ms)` line for each of its methods the script says closes the goal (recorded
  reply `Try0`; HOL/Tools/try0.ML); a method listed as looping makes the whole check hang until cancelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from isabelle_env.syntax.spans import split_commands
from isabelle_env.syntax.tokens import TokenKind, tokenize
from tests.conftest import shared_dir
from tests.isabelle_standin import HANG, NodeReply, body_of, recorded_message, split_transcript

_GOALS = {"have", "show", "hence", "thus", "obtain", "theorem", "lemma"}


def _recorded_hammer_messages() -> list[str]:
    """The texts of the official server's recorded Sledgehammer run (use_theories.Sledgehammer)."""
    import json

    raw = split_transcript((shared_dir() / "isabelle-transcripts" / "use_theories.Sledgehammer").read_bytes())
    finished = json.loads(body_of(raw[-1]).partition(b" ")[2])
    return [m["message"] for m in finished["nodes"][0]["messages"]]


@dataclass
class ScriptedProver:
    closes: dict[str, set[str]]  # proposition -> methods that prove it
    loops: dict[str, set[str]] = field(default_factory=dict)  # proposition -> methods that never finish
    seen: list[str] = field(default_factory=list)  # texts of every theory judged
    # proposition -> the calls Sledgehammer suggests there; None: the recorded run's suggestions everywhere
    hammer: dict[str, list[str]] | None = None
    # propositions whose `show` refines no goal: the recorded `Failing_Show` errors follow (the command, the next
    # command, and the `qed` of its block). How far the failure spreads beyond a nested block is not recorded:
    # `spread` makes every later command fail too (the other end of what a kernel might do)
    refuted: set[str] = field(default_factory=set)
    spread: bool = False
    everywhere: set[str] = field(default_factory=set)  # methods that close any proposition

    def __post_init__(self) -> None:
        transcripts = shared_dir() / "isabelle-transcripts"
        self._failed_method = recorded_message(transcripts, "Failing_Step", "Failed to apply initial proof method")
        self._hammer = _recorded_hammer_messages()
        self._trying = recorded_message(transcripts, "Try0", "Trying ")
        self._no_goal = recorded_message(transcripts, "Failing_Show", "Failed to refine any pending goal")
        self._illegal = recorded_message(transcripts, "Failing_Show", "Illegal application of proof command")
        self._unfinished = recorded_message(transcripts, "Failing_Show", "Failed to finish proof")
        self._try0_methods = re.findall(r'"([^"]+)"', self._trying)

    def __call__(self, theory: str) -> str | NodeReply:
        path = Path(theory if theory.endswith(".thy") else theory + ".thy")
        text = path.read_text()
        self.seen.append(text)
        return self.judge(text)

    def judge(self, text: str) -> str | NodeReply:
        prop: str | None = None
        messages: list[tuple[str, int, str]] = []
        blocks: list[bool] = []  # per open `proof` block: whether a command in it failed structurally
        illegal_next = False
        failed = False
        for cmd in split_commands(tokenize(text), text):
            if failed and self.spread and not illegal_next and cmd.name not in ("end", "theorem", "lemma"):
                messages.append(("error", cmd.line, self._illegal))
                continue
            if illegal_next:
                messages.append(("error", cmd.line, self._illegal))
                illegal_next = False
                if cmd.name == "by":
                    continue
            if cmd.name == "proof":
                blocks.append(False)
            elif cmd.name == "qed" and blocks and blocks.pop():
                messages.append(("error", cmd.line, self._unfinished))
            if cmd.name in _GOALS:
                props = [t.content for t in cmd.args if t.is_quoted or t.kind is TokenKind.VAR]
                prop = props[-1] if props else None
                if prop in self.refuted and cmd.name in ("show", "thus"):
                    messages.append(("error", cmd.line, self._no_goal))
                    illegal_next = failed = True
                    if blocks:
                        blocks[-1] = True
            elif cmd.name == "sledgehammer":
                messages += [("writeln", cmd.line, m) for m in self._hammer_messages(prop)]
            elif cmd.name == "try0":
                messages.append(("writeln", cmd.line, self._trying))
                closing = self.closes.get(prop or "", set()) | self.everywhere
                found = [f"by {m}" for m in self._try0_methods if f"by {m}" in closing]
                messages += [("writeln", cmd.line, f"Found proof: {m} (0 ms)") for m in found]
                messages.append(("writeln", cmd.line, f"Try this: {found[0]} (0 ms)" if found else "No proof found"))
            elif cmd.name == "by":
                method = " ".join(cmd.text.split())
                if method.startswith("by (rule ") or method == "by (rule)":
                    continue  # the restatement
                if method in self.loops.get(prop or "", set()):
                    return HANG
                if method not in self.closes.get(prop or "", set()) and method not in self.everywhere:
                    messages.append(("error", cmd.line, self._failed_method))
        return NodeReply(messages)

    def _hammer_messages(self, prop: str | None) -> list[str]:
        """The recorded run, or (scripted) its first and last lines around `PROVER: Try this: CALL (N ms)` lines
        in the recorded format."""
        if self.hammer is None:
            return self._hammer
        calls = self.hammer.get(prop or "", [])
        return [self._hammer[0], *(f"z3: Try this: {c} (1 ms)" for c in calls), self._hammer[-1]]
