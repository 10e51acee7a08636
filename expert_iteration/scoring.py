"""Step 3: score the verified candidates with another model's length-normalised log-likelihood.

- proofs (verified): the posterior p(subgoals | proof), the agent's own `PosteriorScorer` (comments stripped, so
  the subgoals the proof carries as comments do not give the answer away);
- subgoal lists (those that led to a verified proof): p(proof | subgoals) in the proof prompt's format, the best
  over their verified proofs;
- statements (accepted by Isabelle): p(subgoals | statement) in the subgoal prompt's format, for the problem's
  reference subgoals: those of its best verified proof, else its first parsed list, else its informal proof's
  lines. A statement that explains good subgoals is likely a faithful one.
Proofs are scored first because the other two depend on them. Scores are written as they are computed; a resumed
step scores only candidates without one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from expert_iteration.state import IterationStore
from generators.parsing import format_subgoals, subgoals_from_informal_proof
from generators.roles import Problem, Role, render_prompt
from generators.scoring import Candidate, PosteriorScorer, Scorer


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -1e9


class CandidateScorer:
    def __init__(
        self,
        *,
        store: IterationStore,
        loop_id: str,
        round_: int,
        scorer: Scorer,
        on_progress: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.loop_id = loop_id
        self.round = round_
        self.scorer = scorer
        self.posterior = PosteriorScorer(scorer)
        self.on_progress = on_progress or (lambda _: None)

    def run(self, problems: Mapping[str, Any]) -> dict[str, Any]:
        rows = self.store.candidates(self.loop_id, self.round)
        proofs = [r for r in rows if r["role"] == "proof" and r["verdict"] == "proved"]
        pairs = [(r, self.posterior.pair(_proof_candidate(problems, r))) for r in proofs if r["score"] is None]
        self._score("proofs", pairs)
        rows = self.store.candidates(self.loop_id, self.round)
        by_id = {r["id"]: r for r in rows}
        proved_children: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["role"] == "proof" and r["verdict"] == "proved" and r["parent"]:
                proved_children.setdefault(r["parent"], []).append(r)
        pairs = []
        for parent, children in proved_children.items():
            row = by_id[parent]
            if row["score"] is not None:
                continue
            problem = problems[row["problem"]]
            with_subgoals = _base(problem).model_copy(update={"subgoals": tuple(row["value"])})
            prompt = render_prompt(Role.PROOF, with_subgoals).text
            pairs += [(row, (prompt, child["value"])) for child in children]
        self._score("subgoal lists", pairs, best_of=True)
        rows = self.store.candidates(self.loop_id, self.round)
        pairs = []
        for r in rows:
            if r["role"] != "statement" or r["verdict"] != "accepted" or r["score"] is not None:
                continue
            problem = problems[r["problem"]]
            request = _base(problem).model_copy(update={"formal_statement": r["value"]})
            reference = reference_subgoals(problem, [x for x in rows if x["problem"] == r["problem"]])
            if reference:
                pairs.append((r, (render_prompt(Role.SUBGOAL, request).text, format_subgoals(reference))))
        self._score("statements", pairs)
        rows = self.store.candidates(self.loop_id, self.round)
        return {
            role: sum(1 for r in rows if r["role"] == role and r["score"] is not None)
            for role in ("statement", "subgoal", "proof")
        }

    def _score(self, what: str, pairs: list[tuple[dict[str, Any], tuple[str, str]]], best_of: bool = False) -> None:
        if not pairs:
            return
        self.on_progress(f"scoring {len(pairs)} {what}")
        results = self.scorer.score_many([pair for _, pair in pairs])
        best: dict[str, tuple[float, int]] = {}
        for (row, _), result in zip(pairs, results, strict=True):
            value = (_finite(result.mean_logprob), result.num_tokens)
            if not best_of or row["id"] not in best or value[0] > best[row["id"]][0]:
                best[row["id"]] = value
        now = time.time()
        self.store.update_candidates(
            [(cid, {"score": score, "score_tokens": tokens, "scored_at": now}) for cid, (score, tokens) in best.items()]
        )


def _base(problem: Any) -> Problem:
    return Problem(
        problem_name=problem.name,
        informal_statement=problem.informal_statement,
        informal_proof=problem.informal_proof,
        formal_statement=problem.formal_statement,
    )


def _proof_candidate(problems: Mapping[str, Any], row: dict[str, Any]) -> Candidate:
    problem = problems[row["problem"]]
    subgoals = tuple(row["subgoals"] or ())
    return Candidate(problem.formal_statement, row["value"], subgoals, problem.informal_statement)


def reference_subgoals(problem: Any, rows: list[dict[str, Any]]) -> list[str]:
    """The subgoals a problem's statements are scored against (see the module docstring)."""
    proved = [r for r in rows if r["role"] == "proof" and r["verdict"] == "proved" and r["subgoals"]]
    if proved:
        best = max(proved, key=lambda r: (r["score"] if r["score"] is not None else -math.inf, -r["idx"]))
        return list(best["subgoals"])
    parsed = [r for r in rows if r["role"] == "subgoal" and r["parse_ok"]]
    if parsed:
        return list(parsed[0]["value"])
    return subgoals_from_informal_proof(problem.informal_proof or "")
