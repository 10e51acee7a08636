"""Step 2: verify the sampled candidates with the agent's checker actors.

Statements: the problem's theory with the candidate statement and a `sorry` proof must check
(`CheckWorker.check_statement`). Proofs: the full verification (audit, skeleton, tactics, Sledgehammer, sound
final check) of each distinct proof (normalised, per problem) against the reference statement, every one of them:
unlike a proof search there is no early stop, since selection wants several verified proofs per problem. Each
verdict is written as it arrives, so a resumed step checks only what has no verdict yet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from agent.search import CheckDispatcher, proof_hash
from expert_iteration.state import IterationStore
from generators.parsing import theorem_text
from isabelle_env.theory_text import TheoryParseError, parse_problem, theory_header

log = logging.getLogger(__name__)


class VerificationError(RuntimeError):
    """Checks cannot go on (e.g. a check lost its checker actor too many times)."""


def statement_theory(problem: Any, statement: str) -> str | None:
    """The problem's theory holding `statement` with a `sorry` proof, or None when that does not parse."""
    header = parse_problem(problem.theory_text)
    text = f"{theory_header(header.theory_name, header.imports)}\n{header.preamble}\n\n"
    text += f"{theorem_text(statement, 'sorry')}\nend\n"
    try:
        parse_problem(text)
    except TheoryParseError:
        return None
    return text


def _is_actor_death(exc: BaseException) -> bool:
    import ray.exceptions

    return isinstance(exc, ray.exceptions.RayActorError | ray.exceptions.ActorUnavailableError)


class Verifier:
    def __init__(
        self,
        *,
        store: IterationStore,
        loop_id: str,
        round_: int,
        dispatcher: CheckDispatcher,
        max_in_flight: int = 0,
        max_actor_failures: int = 3,
        on_progress: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.loop_id = loop_id
        self.round = round_
        self.dispatcher = dispatcher
        self.max_in_flight = max_in_flight or max(1, dispatcher.capacity * 2)
        self.max_actor_failures = max_actor_failures
        self.on_progress = on_progress or (lambda _: None)

    def run(self, problems: Mapping[str, Any]) -> dict[str, Any]:
        rows = self.store.candidates(self.loop_id, self.round)
        statements = [r for r in rows if r["role"] == "statement" and r["verdict"] is None]
        proofs = [r for r in rows if r["role"] == "proof" and r["verdict"] is None]
        resumed = sum(1 for r in rows if r["role"] in ("statement", "proof") and r["verdict"] is not None)
        self._statements(statements, problems)
        self._proofs(proofs, rows, problems)
        rows = self.store.candidates(self.loop_id, self.round)
        summary: dict[str, Any] = {"resumed_verdicts": resumed}
        for role in ("statement", "proof"):
            counts: dict[str, int] = {}
            for r in rows:
                if r["role"] == role:
                    counts[r["verdict"] or "none"] = counts.get(r["verdict"] or "none", 0) + 1
            summary[role] = counts
        return summary

    # ------------------------------------------------------------------ statements
    def _statements(self, rows: list[dict[str, Any]], problems: Mapping[str, Any]) -> None:
        jobs = []
        for row in rows:
            theory = statement_theory(problems[row["problem"]], row["value"]) if row["parse_ok"] else None
            if theory is None:
                why = "the completion holds no statement" if not row["parse_ok"] else "not a theorem statement"
                self._set(row["id"], verdict="unparsed", verdict_reason=why)
            else:
                jobs.append((row, theory))
        if not jobs:
            return
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, self.dispatcher.capacity), thread_name_prefix="ei-stmt") as pool:
            futures = {pool.submit(self.dispatcher.check_statement, theory): row for row, theory in jobs}
            for future in futures:
                row = futures[future]
                result = future.result()
                errors = result.get("errors") or []
                reason = "" if result.get("ok") else (errors[0]["text"] if errors else "Isabelle did not accept it")
                self._set(row["id"], verdict="accepted" if result.get("ok") else "rejected", verdict_reason=reason)
                done += 1
                self.on_progress(f"statements {done}/{len(jobs)}")

    # ------------------------------------------------------------------ proofs
    def _proofs(self, rows: list[dict[str, Any]], all_rows: list[dict[str, Any]], problems: Mapping[str, Any]) -> None:
        known = {
            (r["problem"], r["proof_hash"]): r
            for r in all_rows
            if r["role"] == "proof" and r["verdict"] not in (None, "unparsed") and r["proof_hash"]
        }
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            if not row["parse_ok"]:
                self._set(row["id"], verdict="unparsed", verdict_reason="the completion holds no proof")
                continue
            digest = proof_hash(row["value"])
            earlier = known.get((row["problem"], digest))
            if earlier is not None:  # the same proof was checked before this step was interrupted
                fields = {k: earlier[k] for k in ("verdict", "verdict_reason", "final_proof", "checked_at")}
                self._set(row["id"], proof_hash=digest, **fields)
                continue
            groups.setdefault((row["problem"], digest), []).append(row)
        queue = list(groups.items())
        in_flight: dict[Future[Any], tuple[tuple[str, str], list[dict[str, Any]], str, int]] = {}
        total, done = len(queue), 0
        while queue or in_flight:
            while queue and len(in_flight) < self.max_in_flight:
                (problem, digest), members = queue.pop(0)
                self._submit(in_flight, (problem, digest), members, problems, failures=0)
            finished, _ = wait(list(in_flight), timeout=1.0, return_when=FIRST_COMPLETED)
            for future in finished:
                group, members, key, failures = in_flight.pop(future)
                try:
                    verdict = future.result()
                except Exception as exc:
                    if not _is_actor_death(exc):
                        raise
                    self.dispatcher.done(key, failed=True)
                    if failures + 1 > self.max_actor_failures:
                        raise VerificationError(
                            f"the check of {key} lost its checker actor {failures + 1} times"
                        ) from exc
                    log.warning("checker actor lost (%s); re-checking %s", type(exc).__name__, key)
                    self._submit(in_flight, group, members, problems, failures=failures + 1)
                    continue
                self.dispatcher.done(key)
                fields = {
                    "proof_hash": group[1],
                    "verdict": verdict["kind"] if verdict else "cancelled",
                    "verdict_reason": (verdict or {}).get("reason"),
                    "final_proof": (verdict or {}).get("final_proof"),
                    "checked_at": time.time(),
                }
                self.store.update_candidates([(m["id"], fields) for m in members])
                done += 1
                self.on_progress(f"proofs {done}/{total}")

    def _submit(
        self,
        in_flight: dict[Future[Any], Any],
        group: tuple[str, str],
        members: list[dict[str, Any]],
        problems: Mapping[str, Any],
        *,
        failures: int,
    ) -> None:
        problem, digest = group
        key = f"{self.loop_id}/r{self.round}/{problem}/{digest}/{failures}"
        future = self.dispatcher.submit(key, problems[problem].theory_text, members[0]["value"])
        in_flight[future] = (group, members, key, failures)

    def _set(self, cid: str, **fields: Any) -> None:
        fields.setdefault("checked_at", time.time())
        self.store.update_candidates([(cid, fields)])
