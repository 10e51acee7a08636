"""The proof-search driver: attempts stream from proposers into checkers, every result goes to the store.

One loop on the driver owns all decisions; the work runs elsewhere (generator actors, checker actors).
- Backpressure: at most `max_checks` checks and `max_generations` generations in flight, and generation
  never runs further ahead than the checkers can take.
- Early stop: once a problem is proved its queued attempts are dropped and running checks are cancelled.
- Dedup: a proof identical to one already checked or in flight for the same problem (after normalising
  whitespace and comments) is recorded as a duplicate, not checked again.
- Budgets: attempts per problem, wall clock per problem and in total, total attempts.
- Faults: a check whose actor died is re-queued (Ray restarts the actor); Ctrl-C stops cleanly.
- Resumption: finished attempts are read from the store and never redone.
"""

from __future__ import annotations

import collections
import hashlib
import heapq
import json
import logging
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from agent.config import RunConfig
from agent.proposers import ProblemLike, Proposal, Proposer, own_statement, statement_hash
from agent.store import RunStore
from isabelle_env.theory_text import normalise_proof

log = logging.getLogger(__name__)


class SearchAborted(RuntimeError):
    """The search cannot go on (e.g. every checker is dead); finished work is in the store."""


def attempt_seed(run_seed: int, problem: str, attempt_index: int) -> int:
    digest = hashlib.sha256(f"{run_seed}/{problem}/{attempt_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def proof_hash(candidate: str) -> str:
    return hashlib.sha256(normalise_proof(candidate).encode()).hexdigest()[:32]


class CheckDispatcher:
    """Spreads checks over checker actors (least loaded first); cancellation goes to the right actor."""

    def __init__(self, actors: Sequence[Any], per_actor: int):
        import ray

        self._ray = ray
        self.actors = list(actors)
        self.per_actor = per_actor
        self._load = [0] * len(self.actors)
        self._where: dict[str, int] = {}
        self._resting_until = [0.0] * len(self.actors)

    @property
    def capacity(self) -> int:
        return len(self.actors) * self.per_actor

    def submit(self, key: str, problem_text: str, candidate: str) -> Future[Any]:
        now = time.monotonic()
        awake = [i for i in range(len(self.actors)) if self._resting_until[i] <= now] or range(len(self.actors))
        index = min(awake, key=self._load.__getitem__)
        self._load[index] += 1
        self._where[key] = index
        return self.actors[index].verify.remote(key, problem_text, candidate).future()

    def done(self, key: str, *, failed: bool = False) -> None:
        """A check ended; when its actor died, that actor rests while Ray restarts it."""
        index = self._where.pop(key, None)
        if index is not None:
            self._load[index] -= 1
            if failed:
                self._resting_until[index] = time.monotonic() + 2.0

    def cancel(self, keys: Sequence[str]) -> None:
        by_actor: dict[int, list[str]] = {}
        for key in keys:
            if key in self._where:
                by_actor.setdefault(self._where[key], []).append(key)
        for index, group in by_actor.items():
            self.actors[index].cancel.remote(group)

    def check_statement(self, theory_text: str, timeout: float = 600.0) -> dict[str, Any]:
        """Does Isabelle accept this statement (with a `sorry` proof)? Used to validate autoformalization."""
        index = min(range(len(self.actors)), key=self._load.__getitem__)
        return self._ray.get(self.actors[index].check_statement.remote(theory_text), timeout=timeout)

    def info(self, timeout: float = 900.0) -> list[dict[str, Any]]:
        return self._ray.get([a.info.remote() for a in self.actors], timeout=timeout)

    def close(self) -> None:
        for actor in self.actors:
            try:
                self._ray.get(actor.close.remote(), timeout=60)
            except Exception as exc:  # a dead actor has nothing left to close
                log.debug("closing checker actor: %s", exc)
            self._ray.kill(actor, no_restart=True)
        self.actors = []


#: verdicts worth a repair round: Isabelle (or the audit) said what is wrong
REPAIRABLE = frozenset({"failed", "timeout", "rejected"})


@dataclass(frozen=True)
class _Repair:
    problem: str
    attempt_index: int
    round: int
    candidate: str
    verdict: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> _Repair:
        """From the attempt row of the proof to repair (a resumed run rebuilds what the verdict said)."""
        verdict = {
            "kind": row["verdict_kind"],
            "reason": row["reason"],
            **{k: json.loads(row[k] or "[]") for k in ("steps", "messages", "findings")},
        }
        return cls(row["problem"], row["attempt_index"], row["repair_round"] + 1, row["candidate"], verdict)


@dataclass
class ProblemState:
    problem: ProblemLike
    pending: collections.deque[int]
    planned: int
    statement: str | None = None  # the problem's own formal statement; None: informal only (the model states it)
    solved: bool = False
    closed: bool = False  # solved, out of time or out of attempts: nothing new starts
    status: str = "open"
    started_at: float | None = None
    hashes: dict[str, int] = field(default_factory=dict)
    checks_in_flight: set[str] = field(default_factory=set)
    generations_in_flight: int = 0
    finished: int = 0
    skipped: int = 0


@dataclass
class SearchStats:
    problems: int = 0
    solved: int = 0
    attempted: int = 0
    attempts_planned: int = 0
    attempts_done: int = 0
    checks_in_flight: int = 0
    generations_in_flight: int = 0
    checked: int = 0
    deduplicated: int = 0
    cancelled: int = 0
    skipped: int = 0
    unparsed: int = 0
    requeued: int = 0
    proved_own_statement: int = 0  # proofs of statements the model wrote (for problems that have their own)
    started: float = field(default_factory=time.monotonic)
    resumed_attempts: int = 0
    status: str = "running"

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        done = self.attempts_done - self.resumed_attempts
        return done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        left = self.attempts_planned - self.attempts_done - self.skipped
        return left / self.rate if self.rate > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "problems": self.problems,
            "solved": self.solved,
            "attempted": self.attempted,
            "attempts_planned": self.attempts_planned,
            "attempts_done": self.attempts_done,
            "checked": self.checked,
            "deduplicated": self.deduplicated,
            "cancelled": self.cancelled,
            "skipped": self.skipped,
            "unparsed": self.unparsed,
            "requeued": self.requeued,
            "proved_own_statement": self.proved_own_statement,
            "elapsed_s": round(self.elapsed, 3),
            "attempts_per_s": round(self.rate, 3),
        }


class ProofSearch:
    def __init__(
        self,
        *,
        store: RunStore,
        run_id: str,
        problems: Sequence[ProblemLike],
        config: RunConfig,
        proposer: Proposer,
        dispatcher: CheckDispatcher,
        on_progress: Callable[[SearchStats], None] | None = None,
    ):
        self.store = store
        self.run_id = run_id
        self.config = config
        self.proposer = proposer
        self.dispatcher = dispatcher
        self.on_progress = on_progress
        sched = config.scheduling
        self.max_checks = sched.max_checks_in_flight or max(1, dispatcher.capacity * 2)
        self.max_generations = sched.max_generations_in_flight or max(1, config.generation.actors * 4)
        self.stats = SearchStats(problems=len(problems))
        self.states: dict[str, ProblemState] = {}
        planned = config.search.attempts_per_problem
        progress = store.progress(run_id, planned=planned)
        for problem in problems:
            if problem.name in progress.closed:  # solved or every attempt done: nothing to rebuild
                state = ProblemState(problem, collections.deque(), planned, finished=progress.closed[problem.name])
            else:
                done = progress.finished.get(problem.name, set())
                state = ProblemState(
                    problem,
                    collections.deque(i for i in range(planned) if i not in done),
                    planned,
                    hashes=progress.proof_hashes.get(problem.name, {}),
                    finished=len(done),
                )
            state.statement = own_statement(problem)
            if problem.name in progress.solved:
                state.solved = state.closed = True
                state.status = "proved"
                state.pending.clear()
            elif not state.pending:
                state.closed = True
                state.status = "exhausted"
            self.states[problem.name] = state
        self.stats.solved = sum(s.solved for s in self.states.values())
        self.stats.attempts_planned = planned * len(problems)
        self.stats.attempts_done = self.stats.resumed_attempts = progress.attempts_done
        self.stats.attempted = sum(1 for s in self.states.values() if s.finished)
        self._ready: collections.deque[Proposal] = collections.deque()
        self._generations: dict[Future[Proposal], str] = {}
        self._checks: dict[Future[Any], tuple[Proposal, str, str]] = {}
        self._deadline = (
            time.monotonic() + config.search.total_timeout_s if config.search.total_timeout_s is not None else None
        )
        self._started_attempts = 0
        self._generation_failures = 0
        # what to retry when a generation fails: ("attempt", index) or ("repair", _Repair)
        self._lost_attempts: dict[Future[Proposal], tuple[str, Any]] = {}
        self._repairs: collections.deque[_Repair] = collections.deque()
        self._can_repair = config.search.repair_rounds > 0 and hasattr(proposer, "repair")
        for name, rows in progress.open_repairs.items():
            state = self.states.get(name)
            if state is None or state.closed:
                continue
            for row in rows:
                if row["attempt_index"] in state.pending:
                    state.pending.remove(row["attempt_index"])
                if self._can_repair:
                    self._repairs.append(_Repair.from_row(row))
                else:  # repairs were switched off since: the attempt ends with its last proof
                    state.pending.appendleft(row["attempt_index"])
        # futures report here when done: the loop waits on one queue, not on every future in flight
        self._completed: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        self._timeouts: list[tuple[float, str]] = []  # (deadline, problem) heap of started problems

    # ------------------------------------------------------------------ the loop
    def run(self) -> SearchStats:
        order = self._round_robin()
        try:
            while True:
                self._enforce_budgets()
                self._start_generations(order)
                self._start_checks()
                idle = not self._generations and not self._checks and not self._ready and not self._repairs
                if idle and self._exhausted():
                    break
                if not self._generations and not self._checks:
                    continue
                for future in self._next_done(timeout=0.5):
                    if future in self._generations:
                        self._on_generation(future)
                    elif future in self._checks:
                        self._on_check(future)
                self._report()
            self.stats.status = "finished" if self.stats.status == "running" else self.stats.status
        except KeyboardInterrupt:
            self.stats.status = "interrupted"
            self._cancel_everything()
            raise
        finally:
            self._close_problems()
            self.store.update_run(self.run_id, status=self.stats.status, summary=self.stats.to_json())
            self.store.flush()
            self._report()
        return self.stats

    def _next_done(self, timeout: float) -> list[Future[Any]]:
        """Every future finished by now, after waiting up to `timeout` for the first: O(finished), not O(in flight)."""
        try:
            done = [self._completed.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                done.append(self._completed.get_nowait())
            except queue.Empty:
                return done

    def _round_robin(self) -> Iterator[ProblemState]:
        """Attempt 0 of every problem first, then attempt 1, ...: a quick pass@1 over the set."""
        while True:
            progressed = False
            for state in self.states.values():
                if not state.closed and state.pending:
                    progressed = True
                    yield state
            if not progressed:
                return

    def _exhausted(self) -> bool:
        return all(s.closed or not s.pending for s in self.states.values())

    def _budget_left(self) -> bool:
        limit = self.config.search.max_total_attempts
        if limit is not None and self._started_attempts >= limit:
            return False
        return self._deadline is None or time.monotonic() < self._deadline

    def _start_repairs(self) -> None:
        while self._repairs and len(self._generations) < self.max_generations:
            repair = self._repairs.popleft()
            state = self.states[repair.problem]
            if state.closed:
                state.skipped += 1
                self.stats.skipped += 1
                continue
            seed = attempt_seed(self.config.search.seed, repair.problem, repair.attempt_index)
            future = self.proposer.repair(  # type: ignore[attr-defined]
                state.problem, repair.attempt_index, repair.round, repair.candidate, repair.verdict, seed
            )
            self._generations[future] = repair.problem
            self._lost_attempts[future] = ("repair", repair)
            future.add_done_callback(self._completed.put)
            state.generations_in_flight += 1

    def _start_generations(self, order: Iterator[ProblemState]) -> None:
        self._start_repairs()
        while (
            len(self._generations) < self.max_generations
            and len(self._ready) + len(self._generations) < self.max_checks
            and self._budget_left()
        ):
            state = next(order, None)
            if state is None:
                return
            if state.closed or not state.pending:
                continue
            index = state.pending.popleft()
            if state.started_at is None:
                state.started_at = time.monotonic()
                deadline = state.started_at + self.config.search.problem_timeout_s
                heapq.heappush(self._timeouts, (deadline, state.problem.name))
            seed = attempt_seed(self.config.search.seed, state.problem.name, index)
            future = self.proposer.propose(state.problem, index, seed)
            self._generations[future] = state.problem.name
            self._lost_attempts[future] = ("attempt", index)
            future.add_done_callback(self._completed.put)
            state.generations_in_flight += 1
            self._started_attempts += 1

    def _start_checks(self) -> None:
        while self._ready and len(self._checks) < self.max_checks:
            proposal = self._ready.popleft()
            state = self.states[proposal.problem]
            if state.solved or state.closed:
                state.skipped += 1
                self.stats.skipped += 1
                continue
            if proposal.candidate is None:
                self._record(proposal, status="unparsed", reason=proposal.error or "nothing to check")
                self.stats.unparsed += 1
                continue
            digest = proof_hash(proposal.candidate)
            if proposal.problem_text is not None:  # the same proof of another statement is another check
                keyed = f"{statement_hash(proposal.statement or '')}/{digest}"
                digest = hashlib.sha256(keyed.encode()).hexdigest()[:32]
            if digest in state.hashes:
                self._record(proposal, status="dedup", proof_hash=digest, dedup_of=state.hashes[digest])
                self.stats.deduplicated += 1
                continue
            state.hashes[digest] = proposal.attempt_index
            key = f"{self.run_id}/{proposal.problem}/{proposal.attempt_index}/{proposal.repair_round}"
            problem_text = proposal.problem_text or state.problem.theory_text
            future = self.dispatcher.submit(key, problem_text, proposal.candidate)
            self._checks[future] = (proposal, key, digest)
            state.checks_in_flight.add(key)
            future.add_done_callback(self._completed.put)

    # ------------------------------------------------------------------ results
    def _on_generation(self, future: Future[Proposal]) -> None:
        name = self._generations.pop(future)
        state = self.states[name]
        state.generations_in_flight -= 1
        try:
            proposal = future.result()
        except Exception as exc:  # not a bad sample but trouble: retried, and loud when it persists
            self._generation_failures += 1
            if self._generation_failures > self.config.scheduling.max_generation_failures:
                raise SearchAborted(
                    f"generation failed {self._generation_failures} times in a row; last: {exc}"
                ) from exc
            log.warning("generation for %s failed (%s); the attempt is retried", name, exc)
            kind, what = self._lost_attempts.pop(future)
            if kind == "repair":
                self._repairs.appendleft(what)
            else:
                state.pending.appendleft(what)
            return
        self._lost_attempts.pop(future, None)
        self._generation_failures = 0
        for sample in proposal.samples:
            self.store.record_sample(self.run_id, {"problem": name, "attempt_index": proposal.attempt_index, **sample})
        self._ready.append(proposal)

    def _on_check(self, future: Future[Any]) -> None:
        proposal, key, digest = self._checks.pop(future)
        state = self.states[proposal.problem]
        state.checks_in_flight.discard(key)
        try:
            verdict = future.result()
        except Exception as exc:
            if not _is_actor_death(exc):
                raise
            self.dispatcher.done(key, failed=True)
            self.stats.requeued += 1
            proposal.requeues += 1
            if proposal.requeues > self.config.scheduling.max_actor_failures:
                raise SearchAborted(
                    f"the check of {key} lost its checker actor {proposal.requeues} times; last: {exc}"
                ) from None
            log.warning("checker actor lost (%s); re-queuing %s", type(exc).__name__, key)
            state.hashes.pop(digest, None)
            self._ready.appendleft(proposal)
            return
        self.dispatcher.done(key)
        if verdict is None:
            self._record(proposal, status="cancelled", proof_hash=digest)
            self.stats.cancelled += 1
            return
        repair = (
            self._can_repair
            and verdict["kind"] in REPAIRABLE
            and proposal.repair_round < self.config.search.repair_rounds
            and not state.closed
            and proposal.problem_text is None  # repairs are of proofs of the problem's own statement
        )
        model_statement = proposal.problem_text is not None and state.statement is not None
        solved = verdict["kind"] == "proved" and not state.solved and not model_statement
        self._record(
            proposal, status="checked", proof_hash=digest, verdict=verdict, final=int(not repair), solved=solved
        )
        self.stats.checked += 1
        if repair:
            self._repairs.append(
                _Repair(
                    proposal.problem, proposal.attempt_index, proposal.repair_round + 1, proposal.candidate, verdict
                )
            )
        if verdict["kind"] == "proved" and model_statement:
            # the model's own statement was proved, not the benchmark's: kept and reported apart, never solved
            self.stats.proved_own_statement += 1
        if solved:
            self._solved(state)

    def _record(
        self,
        proposal: Proposal,
        *,
        status: str,
        verdict: dict[str, Any] | None = None,
        final: int = 1,
        solved: bool = False,
        **extra: Any,
    ) -> None:
        """One attempt row; an attempt is done (and counted) with its final row, after its last repair.

        `solved`: its proof is the problem's solution, written with the row in one transaction."""
        state = self.states[proposal.problem]
        if final:
            state.finished += 1
            if state.finished == 1:
                self.stats.attempted += 1
            self.stats.attempts_done += 1
        own = proposal.problem_text is None
        statement = state.statement if own else proposal.statement
        row: dict[str, Any] = {
            "problem": proposal.problem,
            "attempt_index": proposal.attempt_index,
            "repair_round": proposal.repair_round,
            "final": final,
            "status": status,
            "candidate": proposal.candidate,
            "statement": statement,
            "statement_hash": statement_hash(statement) if statement else None,
            "benchmark_statement": int(own and state.statement is not None),
            "variant": proposal.variant,
            **extra,
        }
        if verdict is not None:
            row.update(
                verdict_kind=verdict["kind"],
                reason=verdict["reason"],
                final_proof=verdict.get("final_proof"),
                steps=verdict.get("steps", []),
                messages=verdict.get("messages", []),
                findings=verdict.get("findings", []),
                timings=verdict.get("timings", {}),
                isabelle_version=verdict.get("isabelle_version"),
                oracles=verdict.get("oracles", []),
                salvage=verdict.get("salvage"),
                replaced=verdict.get("replaced", []),
                header=verdict.get("header"),
                cached=int(bool(verdict.get("cached"))),
                check_s=verdict.get("timings", {}).get("total"),
                worker=verdict.get("worker"),
            )
        self.store.record_attempt(self.run_id, row, solved=solved)

    def _solved(self, state: ProblemState) -> None:
        state.solved = state.closed = True
        state.status = "proved"
        self.stats.solved += 1
        self._stop_problem(state)

    def _stop_problem(self, state: ProblemState) -> None:
        """Early stop: drop what has not started, cancel checks that are running."""
        state.skipped += len(state.pending)
        self.stats.skipped += len(state.pending)
        state.pending.clear()
        state.hashes = {}  # nothing is checked for a closed problem again: its dedup table can go
        if state.checks_in_flight:
            self.dispatcher.cancel(sorted(state.checks_in_flight))

    # ------------------------------------------------------------------ budgets and the end
    def _enforce_budgets(self) -> None:
        """Per-problem time limits from a deadline heap (O(log problems), not a pass over every problem)."""
        now = time.monotonic()
        while self._timeouts and self._timeouts[0][0] < now:
            _, name = heapq.heappop(self._timeouts)
            state = self.states[name]
            if not state.closed:
                state.closed = True
                state.status = "timeout"
                self._stop_problem(state)
        if self._deadline is not None and now >= self._deadline and self.stats.status == "running":
            self.stats.status = "budget"
            self._cancel_everything()

    def _cancel_everything(self) -> None:
        for state in self.states.values():
            if not state.closed:
                state.closed = True
                self._stop_problem(state)

    def _close_problems(self) -> None:
        for state in self.states.values():
            status = state.status
            if status == "open":
                status = "exhausted" if not state.pending and not state.checks_in_flight else "open"
            fields: dict[str, Any] = {"status": status, "skipped": state.skipped, "attempts_planned": state.planned}
            self.store.set_problem(self.run_id, state.problem.name, **fields)

    def _report(self) -> None:
        self.stats.checks_in_flight = len(self._checks)
        self.stats.generations_in_flight = len(self._generations)
        if self.on_progress is not None:
            self.on_progress(self.stats)


def _is_actor_death(exc: BaseException) -> bool:
    try:
        import ray.exceptions
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return isinstance(exc, ray.exceptions.RayActorError | ray.exceptions.ActorUnavailableError)
