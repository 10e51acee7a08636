"""SYNTHETIC generation and checking, for measuring the scheduler, Ray and the store without models or Isabelle.

Nothing here proves anything. `SyntheticCheckWorker.verify` sleeps for a sampled latency (a sleep uses no
CPU, like a checker actor waiting on Isabelle) and returns a made-up verdict marked `isabelle_version =
"synthetic"`; `SyntheticProposer` returns canned candidates. Only `benchmarks.perf` uses them: they are never
reachable from `subgoalxl eval` or `prove`.

Every random choice is a pure function of the seed and its inputs (hashing, not a shared RNG), so the scheduler
run, the naive loop and the ideal-makespan computation see exactly the same latencies and verdicts.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import os
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from agent.proposers import Proposal

SYNTHETIC_VERSION = "synthetic"
_NORMAL = NormalDist()


def uniform(*parts: object) -> float:
    """A deterministic uniform draw in (0, 1) from its inputs."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2**64


@dataclass(frozen=True)
class LatencyModel:
    """Log-normal latency: `median_s * exp(sigma * z)`; sigma 1.0 gives a heavy tail (mean 1.65x median)."""

    median_s: float
    sigma: float = 1.0
    max_s: float | None = None

    def __post_init__(self) -> None:
        if self.median_s < 0 or self.sigma < 0:
            raise ValueError(f"latency median and sigma must be >= 0, got {self.median_s}, {self.sigma}")

    def at(self, u: float) -> float:
        """The latency at quantile `u`."""
        if self.median_s == 0:
            return 0.0
        value = self.median_s * math.exp(self.sigma * _NORMAL.inv_cdf(u)) if self.sigma else self.median_s
        return min(value, self.max_s) if self.max_s is not None else value

    @property
    def mean_s(self) -> float:
        return self.median_s * math.exp(self.sigma**2 / 2)


@dataclass(frozen=True)
class SyntheticProblem:
    """A `ProblemLike` with a realistic-size theory (a miniF2F problem is a few hundred bytes)."""

    name: str
    theory_text: str
    split: str = "synthetic"
    category: str = "synthetic"
    formal_statement: str = ""
    informal_statement: str | None = None
    informal_proof: str | None = None


@dataclass(frozen=True)
class CheckModel:
    """What the synthetic checker needs to decide latency and verdict; plain data, sent to each actor."""

    latency: LatencyModel
    prove_rate: float = 0.0  # chance that a distinct candidate proves a solvable problem
    solvable: float = 0.5  # fraction of problems that can be proved at all
    seed: int = 0

    def outcome(self, problem_text: str, candidate: str) -> tuple[float, bool]:
        """(latency in seconds, proved) for this candidate: identical candidates get identical outcomes."""
        latency = self.latency.at(uniform(self.seed, "latency", problem_text, candidate))
        if self.prove_rate <= 0 or uniform(self.seed, "solvable", problem_text) >= self.solvable:
            return latency, False
        return latency, uniform(self.seed, "proved", problem_text, candidate) < self.prove_rate


@dataclass(frozen=True)
class SyntheticWorkload:
    """N = problems x attempts_per_problem attempts; candidates, duplicates, latencies and verdicts."""

    problems: int
    attempts_per_problem: int
    check: CheckModel
    generation: LatencyModel = LatencyModel(0.0)
    duplicate_rate: float = 0.0  # chance that an attempt repeats an earlier attempt's candidate
    samples_per_attempt: int = 1  # sample rows recorded per attempt (a model-driven proposer records them)

    @property
    def attempts(self) -> int:
        return self.problems * self.attempts_per_problem

    @property
    def seed(self) -> int:
        return self.check.seed

    def problem_list(self) -> list[SyntheticProblem]:
        return [synthetic_problem(i) for i in range(self.problems)]

    def variant(self, problem: str, attempt_index: int) -> int:
        """Which candidate text an attempt proposes: its own, or (a duplicate) the one an earlier attempt proposed."""
        index = attempt_index
        while index > 0 and uniform(self.seed, "dup", problem, index) < self.duplicate_rate:
            index = int(uniform(self.seed, "dup-of", problem, index) * index)
        return index

    def candidate(self, problem: str, attempt_index: int) -> str:
        return synthetic_candidate(self.variant(problem, attempt_index))

    def generation_latency(self, problem: str, attempt_index: int) -> float:
        return self.generation.at(uniform(self.seed, "generate", problem, attempt_index))


def synthetic_problem(i: int) -> SyntheticProblem:
    name = f"synthetic_{i:05d}"
    statement = (
        f'theorem {name}:\n  fixes x y :: nat\n  assumes h0: "x + y = {2 * i + 10}"\n'
        f'    and h1: "x - y = {i % 7}"\n  shows "x * {i + 1} + y \\<le> {(i + 1) * (2 * i + 10)}"'
    )
    text = f"theory {name}\n  imports Complex_Main\nbegin\n\n{statement}\n  sorry\n\nend\n"
    return SyntheticProblem(name, text, formal_statement=statement)


def synthetic_candidate(variant: int) -> str:
    """A subgoal-style Isar sketch of typical size (~500 bytes); distinct variants differ in formal text."""
    return (
        "proof -\n"
        f"  (* step 1: rewrite the sum, variant {variant} *)\n"
        f'  have c0: "x + y + {variant} = {variant} + (x + y)"\n    by (simp add: add.commute)\n'
        f'  have c1: "x * {variant + 1} \\<le> x * {variant + 2}"\n    using assms by simp\n'
        '  have c2: "y \\<le> x + y"\n    by simp\n'
        f'  then have c3: "x * {variant + 1} + y \\<le> (x + y) * {variant + 2}"\n    sledgehammer\n'
        "  (* step 2: conclude *)\n"
        "  show ?thesis\n    using assms c0 c1 c2 c3 sledgehammer\nqed"
    )


def synthetic_verdict(kind: str, latency: float, worker: str, candidate: str) -> dict[str, Any]:
    """Shaped like `Verdict.to_json()`; says in `reason` and `isabelle_version` that it is synthetic."""
    return {
        "kind": kind,
        "problem_name": None,
        "reason": f"synthetic {kind} verdict from the performance benchmark; nothing was checked",
        "final_proof": candidate if kind == "proved" else None,
        "steps": [],
        "messages": [],
        "findings": [],
        "isabelle_version": SYNTHETIC_VERSION,
        "session": SYNTHETIC_VERSION,
        "imports": [],
        "timings": {"total": round(latency, 4)},
        "round_trips": 0,
        "cached": False,
        "worker": worker,
    }


class SyntheticCheckWorker:
    """The methods of `agent.checking.CheckWorker`, checking nothing: `verify` sleeps, then makes a verdict up.

    `sessions` slots emulate a worker's session pool: at most that many sleeps at once per worker, so
    capacity is exactly `workers x sessions`, as with real checkers. `busy()` reports the slot-seconds
    spent, from which the benchmark computes the ideal makespan.
    """

    def __init__(self, model: CheckModel, sessions: int = 1):
        self.model = model
        self.sessions = sessions
        self.name = f"synthetic@{socket.gethostname()}:{os.getpid()}"
        self._slots = threading.BoundedSemaphore(sessions)
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}
        self._cancelled: set[str] = set()
        self._busy_s = 0.0
        self._longest_s = 0.0
        self._checks = 0
        self._cancels = 0

    def info(self) -> dict[str, Any]:
        return {"worker": self.name, "isabelle_version": SYNTHETIC_VERSION, "sessions": self.sessions}

    def verify(self, key: str, problem_text: str, candidate: str) -> dict[str, Any] | None:
        latency, proved = self.model.outcome(problem_text, candidate)
        stop = threading.Event()
        with self._lock:
            if key in self._cancelled:
                self._cancelled.discard(key)
                self._cancels += 1
                return None
            self._running[key] = stop
        with self._slots:
            started = time.monotonic()
            cancelled = stop.wait(latency) if latency > 0 else stop.is_set()
            spent = time.monotonic() - started
        with self._lock:
            self._running.pop(key, None)
            self._cancelled.discard(key)
            self._busy_s += spent
            self._longest_s = max(self._longest_s, spent)
            self._checks += 1
            self._cancels += cancelled
        if cancelled:
            return None
        return synthetic_verdict("proved" if proved else "failed", latency, self.name, candidate)

    def cancel(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                event = self._running.get(key)
                if event is not None:
                    event.set()
                else:
                    self._cancelled.add(key)

    def check_statement(self, theory_text: str) -> dict[str, Any]:
        return {"ok": True, "errors": [], "synthetic": True}

    def busy(self) -> dict[str, float]:
        """Slot-seconds spent sleeping, the longest check, checks finished and cancelled; reset to zero."""
        with self._lock:
            out = {
                "busy_s": self._busy_s,
                "longest_s": self._longest_s,
                "checks": self._checks,
                "cancelled": self._cancels,
            }
            self._busy_s, self._longest_s, self._checks, self._cancels = 0.0, 0.0, 0, 0
            self._cancelled.clear()
        return out

    def close(self) -> None:
        pass


def start_synthetic_checkers(model: CheckModel, checkers: int, sessions: int) -> list[Any]:
    """Ray actors (num_cpus=0: they only sleep), warm before returning so start-up is not timed."""
    import ray

    actor_class = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=sessions + 1)(SyntheticCheckWorker)
    actors = [actor_class.remote(model, sessions) for _ in range(checkers)]
    ray.get([a.info.remote() for a in actors], timeout=300)
    return actors


def actors_busy(actors: list[Any]) -> dict[str, float]:
    """Summed `busy()` over actors (and reset them for the next measurement)."""
    import ray

    total = {"busy_s": 0.0, "longest_s": 0.0, "checks": 0.0, "cancelled": 0.0}
    for part in ray.get([a.busy.remote() for a in actors], timeout=120):
        for key in total:
            total[key] = max(total[key], part[key]) if key == "longest_s" else total[key] + part[key]
    return total


class _Delays:
    """One thread that resolves futures when their time comes: no thread, and no CPU, per waiting attempt."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Future[Proposal], Proposal]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="synthetic-generation", daemon=True)
        self._thread.start()

    def later(self, delay: float, future: Future[Proposal], value: Proposal) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._counter), future, value))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._closed:
                    return
                _, _, future, value = heapq.heappop(self._heap)
            future.set_result(value)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)


class SyntheticProposer:
    """Canned candidates from a `SyntheticWorkload`, after its generation latency (0: already done)."""

    name = "synthetic"

    def __init__(self, workload: SyntheticWorkload):
        self.workload = workload
        self._delays = _Delays() if workload.generation.median_s > 0 else None

    def propose(self, problem: Any, attempt_index: int, seed: int) -> Future[Proposal]:
        candidate = self.workload.candidate(problem.name, attempt_index)
        samples = [
            {
                "stage": "proof",
                "k": k,
                "prompt": f"(synthetic prompt for {problem.name})",
                "completion": candidate,
                "parse_ok": 1,
                "model": "synthetic",
                "backend": "synthetic",
                "seed": seed,
                "completion_tokens": len(candidate) // 4,
            }
            for k in range(self.workload.samples_per_attempt)
        ]
        proposal = Proposal(problem.name, attempt_index, candidate, samples=samples)
        future: Future[Proposal] = Future()
        delay = self.workload.generation_latency(problem.name, attempt_index) if self._delays else 0.0
        if self._delays is None or delay <= 0:
            future.set_result(proposal)
        else:
            self._delays.later(delay, future, proposal)
        return future

    def models(self) -> dict[str, Any]:
        return {"proposer": "synthetic"}

    def close(self) -> None:
        if self._delays is not None:
            self._delays.close()
