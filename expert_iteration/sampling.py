"""Step 1: sample with the current generators on the training problems (informal statement and proof given).

Per problem: `statements_per_problem` formal statements (from the informal statement), `subgoals_per_problem`
subgoal lists (from the informal statement, the reference formal statement and the informal proof), then
`proofs_per_subgoal` proofs for each subgoal list that parses (for the reference statement: that is what the
proof is checked against). A problem whose subgoal lists all fail to parse still gets proofs, prompted with its
informal proof's lines, as the agent's own proposer does. Problems go `problems_per_call` at a time; a finished
chunk is recorded (`ei_units`), so a resumed step samples only the chunks it had not finished.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from expert_iteration.config import SamplingSection
from expert_iteration.state import IterationStore
from generators.backend import Completion
from generators.parsing import subgoals_from_informal_proof
from generators.roles import Problem, Role, parse_output, render_prompt
from generators.samples import Generator


@dataclass(frozen=True)
class RoleGenerator:
    generator: Generator
    version: str  # the model version that samples (registry id)


def derived_seed(*parts: object) -> int:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def candidate_id(loop_id: str, round_: int, problem: str, role: str, idx: int) -> str:
    return f"{loop_id}/r{round_}/{problem}/{role}/{idx}"


class Sampler:
    def __init__(
        self,
        *,
        store: IterationStore,
        loop_id: str,
        round_: int,
        config: SamplingSection,
        generators: dict[str, RoleGenerator],
        seed: int,
        on_progress: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.loop_id = loop_id
        self.round = round_
        self.config = config
        self.generators = generators
        self.seed = seed
        self.on_progress = on_progress or (lambda _: None)

    def run(self, problems: Sequence[Any]) -> dict[str, Any]:
        size = self.config.problems_per_call
        chunks = [(i, list(problems[start : start + size])) for i, start in enumerate(range(0, len(problems), size))]
        todo = [(i, c) for i, c in chunks if not self.store.unit_done(self.loop_id, self.round, "sample", f"chunk:{i}")]
        done = len(chunks) - len(todo)
        self.on_progress(f"{done}/{len(chunks)} chunks")
        workers = max(1, min(len(todo), self.config.actors * 2)) if self.config.placement == "ray" else 1
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ei-sample") as pool:
            for _ in pool.map(lambda item: self._chunk(*item), todo):
                done += 1
                self.on_progress(f"{done}/{len(chunks)} chunks")
        rows = self.store.candidates(self.loop_id, self.round)
        summary: dict[str, Any] = {
            "problems": len(problems),
            "chunks": len(chunks),
            "resumed_chunks": len(chunks) - len(todo),
        }
        for role in ("statement", "subgoal", "proof"):
            mine = [r for r in rows if r["role"] == role]
            summary[role] = {"sampled": len(mine), "parsed": sum(r["parse_ok"] for r in mine)}
        return summary

    # ------------------------------------------------------------------ one chunk
    def _generate(
        self, role: Role, prompts: list[str], n: int, stop: tuple[str, ...], chunk: int
    ) -> list[list[Completion]]:
        if not prompts:
            return []
        cfg = self.config
        return self.generators[str(role)].generator.generate(
            prompts,
            n=n,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
            stop=list(stop),
            seed=derived_seed(self.seed, self.round, str(role), chunk),
        )

    def _chunk(self, index: int, problems: list[Any]) -> None:
        cfg = self.config
        rows: list[dict[str, Any]] = []
        bases = {
            p.name: Problem(
                problem_name=p.name,
                informal_statement=p.informal_statement,
                informal_proof=p.informal_proof,
                formal_statement=p.formal_statement,
            )
            for p in problems
        }
        if cfg.statements_per_problem:
            wanting = [p for p in problems if (p.informal_statement or "").strip()]
            rendered = [render_prompt(Role.STATEMENT, bases[p.name]) for p in wanting]
            stop = rendered[0].template.stop if rendered else ()
            results = self._generate(
                Role.STATEMENT, [r.text for r in rendered], cfg.statements_per_problem, stop, index
            )
            for p, prompt, completions in zip(wanting, rendered, results, strict=True):
                rows += self._rows(Role.STATEMENT, bases[p.name], prompt, completions, index)
        wanting = [p for p in problems if (p.informal_statement or "").strip()]
        rendered = [render_prompt(Role.SUBGOAL, bases[p.name]) for p in wanting]
        stop = rendered[0].template.stop if rendered else ()
        results = self._generate(Role.SUBGOAL, [r.text for r in rendered], cfg.subgoals_per_problem, stop, index)
        subgoal_rows: dict[str, list[dict[str, Any]]] = {}
        for p, prompt, completions in zip(wanting, rendered, results, strict=True):
            subgoal_rows[p.name] = self._rows(Role.SUBGOAL, bases[p.name], prompt, completions, index)
            rows += subgoal_rows[p.name]
        # proofs: one prompt per parsed subgoal list (or the informal proof's lines when none parsed)
        requests: list[tuple[Any, Problem, str | None]] = []
        for p in problems:
            lists = [r for r in subgoal_rows.get(p.name, []) if r["parse_ok"]]
            for r in lists:
                requests.append((p, bases[p.name].model_copy(update={"subgoals": tuple(r["value"])}), r["id"]))
            if not lists and (p.informal_proof or "").strip():
                requests.append((p, bases[p.name], None))
        rendered = [render_prompt(Role.PROOF, problem) for _, problem, _ in requests]
        stop = rendered[0].template.stop if rendered else ()
        results = self._generate(Role.PROOF, [r.text for r in rendered], cfg.proofs_per_subgoal, stop, index)
        counters: dict[str, int] = {}
        for (p, problem, parent), prompt, completions in zip(requests, rendered, results, strict=True):
            first = counters.get(p.name, 0)
            counters[p.name] = first + len(completions)
            rows += self._rows(Role.PROOF, problem, prompt, completions, index, first=first, parent=parent)
        self.store.put_candidates(rows)
        self.store.finish_unit(self.loop_id, self.round, "sample", f"chunk:{index}", {"candidates": len(rows)})

    def _rows(
        self,
        role: Role,
        problem: Problem,
        prompt: Any,
        completions: list[Completion],
        chunk: int,
        *,
        first: int = 0,
        parent: str | None = None,
    ) -> list[dict[str, Any]]:
        version = self.generators[str(role)].version
        rows = []
        for k, completion in enumerate(completions, start=first):
            parsed = parse_output(role, completion.text, problem, completion.finish_reason)
            row: dict[str, Any] = {
                "id": candidate_id(self.loop_id, self.round, problem.problem_name, str(role), k),
                "loop_id": self.loop_id,
                "round": self.round,
                "problem": problem.problem_name,
                "role": str(role),
                "idx": k,
                "parent": parent,
                "model_version": version,
                "prompt_ref": str(prompt.template.ref),
                "seed": derived_seed(self.seed, self.round, str(role), chunk),
                "completion": completion.text,
                "value": parsed.value if parsed.ok else None,
                "parse_ok": int(parsed.ok and bool(parsed.value)),
                "parse_problems": parsed.problems,
            }
            if role is Role.PROOF:
                shown = prompt.subgoals or tuple(subgoals_from_informal_proof(problem.informal_proof or ""))
                row |= {"subgoals": list(shown), "subgoals_source": prompt.subgoals_source}
            rows.append(row)
        return rows
