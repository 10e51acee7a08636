"""Where candidate proofs come from. A proposer turns (problem, attempt) into a `Proposal`, asynchronously.

`HammerProposer` is the no-model baseline every paper reports: the bare statement closed by the checker's
heuristics and Sledgehammer. Model-driven proposers live beside it and return futures the same way.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from isabelle_env.theory_text import parse_problem


class ProblemLike(Protocol):
    name: str
    split: str
    category: str
    theory_text: str
    formal_statement: str
    informal_statement: str | None
    informal_proof: str | None


@dataclass
class Proposal:
    problem: str
    attempt_index: int
    candidate: str | None  # None when generation produced nothing checkable
    samples: list[dict[str, Any]] = field(default_factory=list)  # rows for the run store
    error: str | None = None
    problem_text: str | None = None  # the theory to check against, when not the benchmark's (autoformalization)
    requeues: int = 0  # times its check was lost with a checker actor
    repair_round: int = 0  # 0: a first proof; r: the r-th repair of this attempt's proof
    statement: str | None = None  # the formal statement the candidate proves (None: the problem's own)
    variant: str | None = None  # the proof variant that wrote it (generation.variants)


def own_statement(problem: ProblemLike) -> str | None:
    """The problem's own formal statement; None for an informal-only problem (its statements are the model's)."""
    if problem.formal_statement:
        return problem.formal_statement
    if problem.theory_text.strip():
        return parse_problem(problem.theory_text).statement
    return None


def statement_hash(statement: str) -> str:
    """Which statement an attempt was checked against: sha256 of its whitespace-normalised text (32 hex)."""
    return hashlib.sha256(" ".join(statement.split()).encode()).hexdigest()[:32]


class Proposer(Protocol):
    name: str

    def propose(self, problem: ProblemLike, attempt_index: int, seed: int) -> Future[Proposal]: ...

    def models(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _done(value: Proposal) -> Future[Proposal]:
    future: Future[Proposal] = Future()
    future.set_result(value)
    return future


class HammerProposer:
    """`sledgehammer` on the bare statement (with `using assms` when it has assumptions)."""

    name = "hammer"

    def propose(self, problem: ProblemLike, attempt_index: int, seed: int) -> Future[Proposal]:
        parsed = parse_problem(problem.theory_text)
        body = "using assms sledgehammer" if parsed.assumes else "sledgehammer"
        return _done(Proposal(problem.name, attempt_index, body))

    def models(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass
