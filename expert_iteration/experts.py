"""The model registry as experts: every version a loop registered, addressable as `role/<loop>/rN`.

Round 0 is the starting model; later rounds are full models (LoRA training is merged into the weights), served
each on its own. The TOML written here is what `[generation] experts_file` reads, so a run can route requests
over the proof experts of several rounds at once, as the method samples from several proof experts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from expert_iteration.config import ROLES
from expert_iteration.state import IterationStore
from generators.experts import Expert, ExpertSet


def variant_of(loop_id: str) -> str:
    """A loop id as an expert variant (letters, digits, _ and - only)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", loop_id)


def registry_experts(store: IterationStore, loop_id: str) -> ExpertSet:
    rows = store.models(loop_id)
    if not rows:
        raise ValueError(f"loop {loop_id!r} has no registered models in {store.path}: run `subgoalxl iterate` first")
    variant = variant_of(loop_id)
    starting = {row["role"]: row["path"] for row in rows if row["round"] == 0}
    experts = []
    for row in rows:
        for role in ROLES if row["role"] == "all" else (row["role"],):
            base = starting.get(row["role"]) or row["path"]
            if row["round"] == 0:
                experts.append(Expert(role=role, variant=variant, round=0, base_model=row["path"]))
            else:
                experts.append(
                    Expert(role=role, variant=variant, round=row["round"], base_model=base, model_path=row["path"])
                )
    return ExpertSet(experts)


def experts_toml(experts: ExpertSet) -> str:
    """`[[expert]]` tables for `generation.experts_file` (strings quoted as JSON, which TOML accepts)."""
    blocks = []
    for expert in experts:
        fields = expert.model_dump(mode="json", exclude_none=True)
        blocks.append("[[expert]]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in fields.items()))
    return "\n".join(blocks)


def write_experts_file(store_path: Path | str, loop_id: str, out: Path) -> ExpertSet:
    experts = registry_experts(IterationStore(store_path), loop_id)
    out.write_text(experts_toml(experts), encoding="utf-8")
    return experts
