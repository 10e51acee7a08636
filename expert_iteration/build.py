"""Step 5 as the loop runs it: selected candidates and library rows -> examples -> datasets on disk + provenance.

The builder itself (`expert_iteration.dataset`) is pure; this module knows where the inputs are (the store, the
library files) and where the outputs go (`round-N/datasets/<name>.jsonl`, `report.json`, `ei_examples`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.data.names import current_name
from expert_iteration.dataset import (
    Example,
    build_datasets,
    library_examples,
    proof_example,
    statement_example,
    subgoal_example,
)
from expert_iteration.library import load_library

if TYPE_CHECKING:
    from benchmarks.data.problems import BenchmarkProblem
    from expert_iteration.config import IterateConfig
    from expert_iteration.state import IterationStore


@dataclass(frozen=True)
class RoundInputs:
    """What building one round's datasets needs: the loop's config and store, its problems, where files go."""

    config: IterateConfig
    store: IterationStore
    loop_id: str
    train_problems: Sequence[BenchmarkProblem]
    heldout_problems: Sequence[BenchmarkProblem]
    folder: Path  # the round's folder; datasets go to FOLDER/datasets


def candidate_examples(rows: list[dict[str, Any]], problems: dict[str, Any], source: str) -> list[Example]:
    """Examples from the selected candidates, each naming the candidate and the verdict that admitted it."""
    proved_children: dict[str, list[str]] = {}
    for r in rows:
        if r["role"] == "proof" and r["verdict"] == "proved" and r["parent"]:
            proved_children.setdefault(r["parent"], []).append(r["id"])
    out = []
    for r in rows:
        if not r["selected"]:
            continue
        p = problems[r["problem"]]
        origin: dict[str, Any] = {
            "candidate": r["id"],
            "round": r["round"],
            "model_version": r["model_version"],
            "verdict": r["verdict"],
            "score": r["score"],
        }
        kw = {"source": source, "origin": origin, "score": r["score"]}
        if r["role"] == "statement":
            out.append(statement_example(p.name, p.informal_statement, r["value"], **kw))
        elif r["role"] == "subgoal":
            origin["verified_by"] = sorted(proved_children.get(r["id"], []))
            out.append(
                subgoal_example(p.name, p.informal_statement, p.informal_proof, p.formal_statement, r["value"], **kw)
            )
        else:
            origin |= {
                "proof_hash": r["proof_hash"],
                "final_proof_sha256": hashlib.sha256((r["final_proof"] or "").encode()).hexdigest()[:16],
                "subgoals_source": r["subgoals_source"],
                "subgoal_candidate": r["parent"],
            }
            out.append(
                proof_example(
                    p.name, p.informal_statement, p.informal_proof, p.formal_statement, r["subgoals"], r["value"], **kw
                )
            )
    return out


def build_round(inputs: RoundInputs, round_: int) -> dict[str, Any]:
    config = inputs.config
    problems = {p.name: p for p in inputs.train_problems}
    heldout = {current_name(p.name) for p in inputs.heldout_problems}
    examples: list[Example] = []
    sources: dict[str, Any] = {}
    for source in config.dataset.sources:
        if source.kind == "verified":
            rows = inputs.store.candidates(inputs.loop_id, round_)
            mine = [e for e in candidate_examples(rows, problems, source.name) if e.role in source.roles]
            sources[source.name] = {"kind": source.kind, "examples": len(mine)}
        else:
            library = load_library(source.kind, source.path)
            kept = [r for r in library if not (config.dataset.exclude_heldout and current_name(r.problem) in heldout)]
            mine, unusable = library_examples(kept, source.name, source.roles)
            sources[source.name] = {
                "kind": source.kind,
                "rows": len(library),
                "excluded_heldout": len(library) - len(kept),
                "examples": len(mine),
                "unusable": dict(unusable),
            }
        examples += mine
    built = build_datasets(examples, config.dataset, seed=f"{config.loop.seed}/{round_}")
    folder = inputs.folder / "datasets"
    datasets: dict[str, Any] = {}
    decisions = []
    for name, dataset in built.items():
        path = folder / f"{name}.jsonl"
        data_hash = dataset.write(path)
        datasets[name] = {"path": str(path), "data_hash": data_hash, "examples": dataset.report["examples"]}
        datasets[name]["report"] = dataset.report
        for d in dataset.decisions:
            decisions.append(
                {
                    "dataset": name,
                    "example_id": d.example.example_id,
                    "role": d.example.role,
                    "source": d.example.source,
                    "problem": d.example.problem,
                    "origin": d.example.origin,
                    "status": d.status,
                    "duplicate_of": d.duplicate_of,
                    "copies": d.copies if d.status == "kept" else 0,
                }
            )
    inputs.store.replace_examples(inputs.loop_id, round_, decisions)
    summary = {"sources": sources, "datasets": datasets}
    (folder / "report.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary
