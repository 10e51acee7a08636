"""Which oracles a checked theorem rests on, as Isabelle itself reports them.

The server runs theories in interactive mode, where `sorry` is accepted without quick_and_dirty
(`Pure/Isar/method.ML` `Method.cheating`), so "the theory processed without errors" says nothing about whether a
theorem was proved. What does is the theorem's derivation: `thm_oracles NAME` (`Pure/Pure.thy`, implemented by
`Thm_Deps.pretty_thm_oracles` in `Pure/thm_deps.ML`) prints `Pretty.big_list "oracles:"` over every oracle in the
transitive dependencies: nothing for a kernel proof, `skip_proof` for `sorry` (`Pure/skip_proof.ML`), and e.g.
`holds_by_evaluation` for `by eval`. The checker ends its final theory with that command on the restated theorem
and reads its writeln message at the command's own line (a line no candidate text is copied to).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from isabelle_env.protocol import IsabelleMessage

__all__ = ["SKIP_PROOF", "OracleReport", "read_oracles"]

#: the oracle `sorry` (and `\<proof>`, `Skip_Proof.cheat_tac`) uses: never a proof
SKIP_PROOF = "skip_proof"


@dataclass(frozen=True)
class OracleReport:
    """The oracles Isabelle printed for one theorem; `found` is False when it printed nothing we could read."""

    found: bool
    oracles: tuple[str, ...] = ()

    def disallowed(self, allowed: Sequence[str]) -> tuple[str, ...]:
        """Oracles not in `allowed` (compared by base name: `Code_Generator.holds_by_evaluation` matches
        `holds_by_evaluation`); `skip_proof` is always disallowed."""
        names = {_base(a) for a in allowed} - {SKIP_PROOF}
        return tuple(o for o in self.oracles if _base(o) not in names)

    @property
    def skipped(self) -> bool:
        return any(_base(o) == SKIP_PROOF for o in self.oracles)


def _base(name: str) -> str:
    return name.rpartition(".")[2]


def read_oracles(messages: Iterable[IsabelleMessage], line: int) -> OracleReport:
    """The `oracles:` message printed at `line` (the checker's `thm_oracles` command): one item per line,
    indented, `NAME` or `NAME: proposition` (the proposition is printed when proofs are recorded)."""
    for message in messages:
        if message.kind != "writeln" or message.pos.line != line:
            continue
        lines = message.text.splitlines()
        if not lines or lines[0].strip() != "oracles:":
            continue
        names: list[str] = []
        for item in lines[1:]:
            if not item.startswith("  ") or item.startswith("   "):
                continue  # a continuation of a long proposition
            name = item.strip().split(":", 1)[0].strip()
            if name:
                names.append(name)
        return OracleReport(True, tuple(dict.fromkeys(names)))
    return OracleReport(False)
