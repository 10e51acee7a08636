"""Step 4: per problem and role, keep k of the n verified, scored candidates by statistical rejection sampling.

Candidates: statements Isabelle accepted, subgoal lists that led to a verified proof, verified proofs; each
de-duplicated first (normalised text; proofs by their normalised hash), so one text is never kept twice.
The seed is the loop's seed with the round, problem and role: re-running the step selects the same candidates.
"""

from __future__ import annotations

from typing import Any

from expert_iteration.config import ROLES, SelectionSection
from expert_iteration.rejection import rejection_sample
from expert_iteration.state import IterationStore
from generators.parsing import format_subgoals


def _key(row: dict[str, Any]) -> str:
    if row["role"] == "proof":
        return row["proof_hash"] or " ".join(str(row["value"]).split())
    if row["role"] == "subgoal":
        return format_subgoals(row["value"])
    return " ".join(str(row["value"]).split())


def eligible(row: dict[str, Any]) -> bool:
    if row["score"] is None:
        return False
    if row["role"] == "statement":
        return row["verdict"] == "accepted"
    if row["role"] == "proof":
        return row["verdict"] == "proved"
    return True  # a subgoal list is scored only when one of its proofs verified


def select_round(
    store: IterationStore, loop_id: str, round_: int, config: SelectionSection, seed: int
) -> dict[str, Any]:
    rows = store.candidates(loop_id, round_)
    store.clear_selection(loop_id, round_)
    pools: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        if eligible(row):
            pools.setdefault((row["problem"], row["role"]), {}).setdefault(_key(row), row)
    chosen: list[str] = []
    for (problem, role), unique in sorted(pools.items()):
        candidates = list(unique.values())
        picked = rejection_sample(
            [c["score"] for c in candidates], config.k_for(role), config.beta, f"{seed}/{round_}/{problem}/{role}"
        )
        chosen += [candidates[i]["id"] for i in picked]
    store.update_candidates([(cid, {"selected": 1}) for cid in chosen])
    summary: dict[str, Any] = {}
    selected = set(chosen)
    for role in ROLES:
        mine = [r for r in rows if r["role"] == role]
        summary[role] = {
            "candidates": len(mine),
            "eligible": sum(1 for r in mine if eligible(r)),
            "unique": sum(len(v) for (_, r), v in pools.items() if r == role),
            "selected": sum(1 for r in mine if r["id"] in selected),
            "problems": len({r["problem"] for r in mine if r["id"] in selected}),
        }
    return summary
