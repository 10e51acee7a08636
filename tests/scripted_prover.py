"""Test double for Isabelle's judgement of theories, used by the stand-in server's transcript choice.

The stand-in replays recorded replies; this decides *which* recorded reply a theory gets, from a script of
which proof methods close which propositions. It mimics the real kernel where it matters for the checker:
`sorry` only passes when the theory itself enables quick_and_dirty, `sledgehammer` gets the recorded
Sledgehammer reply, and a method listed as looping makes the whole check hang until cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from isabelle_env.theory_text import CARTOUCHE, STRING, VAR, split_commands, tokenize
from tests.isabelle_standin import HANG

_GOALS = {"have", "show", "hence", "thus", "obtain", "theorem", "lemma"}


@dataclass
class ScriptedProver:
    closes: dict[str, set[str]]  # proposition -> methods that prove it
    loops: dict[str, set[str]] = field(default_factory=dict)  # proposition -> methods that never finish
    seen: list[str] = field(default_factory=list)  # texts of every theory judged

    def __call__(self, theory: str) -> str:
        path = Path(theory if theory.endswith(".thy") else theory + ".thy")
        text = path.read_text()
        self.seen.append(text)
        return self.judge(text)

    def judge(self, text: str) -> str:
        quick_and_dirty = "[[quick_and_dirty = true]]" in text
        prop: str | None = None
        verdict = "use_theories"
        for cmd in split_commands(tokenize(text), text):
            if cmd.name in _GOALS:
                props = [t.content for t in cmd.args if t.kind in (STRING, CARTOUCHE, VAR)]
                prop = props[-1] if props else None
            elif cmd.name == "sledgehammer":
                verdict = "use_theories.Sledgehammer"
            elif cmd.name == "sorry" and not quick_and_dirty:
                return "use_theories.Fail"  # "Cheating requires quick_and_dirty mode!"
            elif cmd.name == "by":
                method = " ".join(cmd.text.split())
                if method.startswith("by (rule ") or method == "by (rule)":
                    continue  # the restatement
                if method in self.loops.get(prop or "", set()):
                    return HANG
                if method not in self.closes.get(prop or "", set()):
                    return "use_theories.Fail"
        return verdict
