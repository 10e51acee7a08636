"""Subgoal-level proof checking: close every `sledgehammer` step, then check the whole theorem soundly.

A candidate is first audited (text only). Then, on one borrowed session:
1. the *skeleton* (every sledgehammer step assumed with `sorry`, in a probe theory that enables
   quick_and_dirty) must check: otherwise the sketch itself is broken and no tactic can save it;
2. per tactic of the configured list, one `use_theories` round checks every still-open step at once, one
   probe theory per step (that step gets the tactic, the others `sorry`), so steps are independent and a
   round costs one round trip; a round runs under the tactic's timeout (a round that overruns is cancelled
   and its steps stay open for that tactic);
3. steps still open run Sledgehammer (its `Try this:` calls are cached per goal), and each suggested call is
   re-checked like a tactic;
4. the final theory (problem statement, proof with every step replaced by what closed it, and a restatement
   of the original theorem proved from it) is checked with quick_and_dirty off. Only a final theory that
   Isabelle fully processed without a single error is PROVED; the verdict is read from structured node
   status and messages, never from output text.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from isabelle_env.audit import audit_candidate
from isabelle_env.check_cache import CheckCache, content_key
from isabelle_env.errors import IsabelleError, IsabelleTimeoutError
from isabelle_env.protocol import IsabelleMessage, NodeResult, Position
from isabelle_env.session_pool import PooledSession, SessionPool
from isabelle_env.sledgehammer import parse_suggestions
from isabelle_env.theory_text import (
    Candidate,
    CheckTheory,
    ProblemTheory,
    build_check_theory,
    find_sledgehammer,
    normalise_proof,
    parse_candidate,
    parse_problem,
    replace_sledgehammer,
    split_commands,
    tokenize,
)
from isabelle_env.verdict import StepResult, Verdict, VerdictKind

DEFAULT_TACTICS = (
    "by auto",
    "by simp",
    "by blast",
    "by fastforce",
    "by force",
    "by eval",
    "by presburger",
    "by sos",
    "by arith",
    "by linarith",
    "by (auto simp: field_simps)",
)
_UNSOUND_OPTIONS = re.compile(r"^\s*(quick_and_dirty|skip_proofs)\b", re.I)


@dataclass(frozen=True)
class CheckerConfig:
    """What to try on each step and how long anything may take (seconds)."""

    tactics: tuple[str, ...] = DEFAULT_TACTICS
    tactic_timeout: float = 10.0
    sledgehammer: bool = True
    sledgehammer_timeout: float = 30.0
    max_suggestions: int = 5
    final_timeout: float = 120.0
    proof_timeout: float = 600.0  # wall clock for the whole candidate; past it the verdict is TIMEOUT
    round_overhead: float = 20.0  # loading a probe theory (imports) on top of the tactic time
    allow_aux_lemmas: bool = False

    def __post_init__(self) -> None:
        for name in ("tactic_timeout", "sledgehammer_timeout", "final_timeout", "proof_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CheckerConfig.{name} must be positive, got {getattr(self, name)}")
        for tactic in self.tactics:
            if not tactic.strip().startswith(("by", "apply", "using", "unfolding")) or "sledgehammer" in tactic:
                raise ValueError(
                    f"CheckerConfig.tactics: {tactic!r} is not a terminal proof (write e.g. 'by auto', "
                    "'by (simp add: field_simps)')"
                )
            report = audit_candidate(_TACTIC_PROBLEM, tactic)
            if not report.ok:
                raise ValueError(f"CheckerConfig.tactics: {tactic!r} is not allowed: {report.findings[0].message}")

    def fingerprint(self) -> dict[str, object]:
        return {
            "tactics": list(self.tactics),
            "tactic_timeout": self.tactic_timeout,
            "sledgehammer": self.sledgehammer,
            "sledgehammer_timeout": self.sledgehammer_timeout,
            "max_suggestions": self.max_suggestions,
            "allow_aux_lemmas": self.allow_aux_lemmas,
        }


_TACTIC_PROBLEM = parse_problem('theory T imports Main begin\ntheorem t: "True"\n  sorry\nend\n')


class _Timeout(Exception):
    """The candidate's wall-clock budget is spent."""


class CheckCancelled(Exception):
    """The caller asked to stop this check (e.g. its problem was proved meanwhile); nothing was decided."""


@dataclass
class _Site:
    index: int
    line: int
    proposition: str | None
    closed_by: str | None = None
    source: str | None = None
    elapsed: float = 0.0
    tried: list[str] = field(default_factory=list)


class ProofChecker:
    """Verifies candidates against problems on a session pool; thread-safe (one session per check)."""

    def __init__(
        self,
        pool: SessionPool,
        config: CheckerConfig | None = None,
        *,
        cache: CheckCache | None = None,
        workdir: Path | None = None,
    ):
        for option in pool.config.options:
            if _UNSOUND_OPTIONS.match(option):
                raise ValueError(f"session option {option!r} would let unfinished proofs pass: remove it")
        self.pool = pool
        self.config = config or CheckerConfig()
        self.cache = cache
        self.workdir = workdir

    # ---------------------------------------------------------------------------------------------- public
    @property
    def isabelle_version(self) -> str:
        info = self.pool.client.server_info
        return str(info.get("isabelle_name") or info.get("isabelle_id") or "unknown")

    def cache_key(self, problem: ProblemTheory, candidate_text: str) -> str:
        return content_key(
            isabelle=self.isabelle_version,
            session=self.pool.config.session,
            imports=list(problem.imports),
            preamble=problem.preamble,
            statement=normalise_proof(problem.statement),
            proof=normalise_proof(candidate_text),
            checker=self.config.fingerprint(),
        )

    def verify(
        self,
        problem: ProblemTheory | str,
        candidate_text: str,
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> Verdict:
        """Audit, then check with Isabelle. Never raises for a bad candidate; infrastructure trouble is a verdict.

        `should_stop` is polled between round trips; when it returns True the check ends with CheckCancelled.
        """
        started = time.monotonic()
        if isinstance(problem, str):
            problem = parse_problem(problem)
        base = {"problem_name": problem.theorem_name, "imports": problem.imports, "session": self.pool.config.session}
        report = audit_candidate(problem, candidate_text, allow_aux_lemmas=self.config.allow_aux_lemmas)
        if not report.ok:
            return Verdict(
                VerdictKind.REJECTED,
                reason=f"the audit rejected the candidate ({len(report.findings)} findings)",
                findings=tuple(report.findings),
                timings={"audit": time.monotonic() - started},
                **base,
            )
        try:
            key = self.cache_key(problem, candidate_text)
            if self.cache is not None and (hit := self.cache.get_verdict(key)) is not None:
                return hit
            run = _CheckRun(self, problem, parse_candidate(candidate_text), started, should_stop)
            verdict = run.execute()
        except IsabelleError as exc:
            return Verdict(
                VerdictKind.INFRASTRUCTURE_ERROR,
                reason=f"Isabelle could not be used: {exc}",
                timings={"total": time.monotonic() - started},
                **base,
            )
        if self.cache is not None:
            self.cache.put_verdict(key, verdict)
        return verdict


class _CheckRun:
    """The state of checking one candidate: sites, rounds, probe files."""

    def __init__(
        self,
        checker: ProofChecker,
        problem: ProblemTheory,
        candidate: Candidate,
        started: float,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.checker = checker
        self.should_stop = should_stop
        self.cfg = checker.config
        self.problem = problem
        self.candidate = candidate
        self.started = started
        self.deadline = started + self.cfg.proof_timeout
        self.round_trips = 0
        self.timings: dict[str, float] = {}
        self.text = candidate.text
        sites = find_sledgehammer(split_commands(tokenize(self.text), self.text))
        props = {
            s.closing_span[0]: s.prop for s in candidate.steps if s.closing_kind == "sledgehammer" and s.closing_span
        }
        if candidate.root.closing_kind == "sledgehammer" and candidate.root.closing_span:
            props[candidate.root.closing_span[0]] = candidate.root.prop
        self.sites = [_Site(s.index, s.line, props.get(s.start)) for s in sites]
        self.probe_count = 0

    # ---------------------------------------------------------------------------------------------- flow
    def execute(self) -> Verdict:
        workdir = Path(tempfile.mkdtemp(prefix="subgoalxl-check-", dir=self.checker.workdir))
        try:
            with self.checker.pool.session() as session:
                self.session = session
                self.workdir = workdir
                try:
                    return self._run()
                except _Timeout:
                    return self._verdict(VerdictKind.TIMEOUT, f"the proof budget of {self.cfg.proof_timeout}s ran out")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _run(self) -> Verdict:
        if self.sites:
            broken = self._skeleton_and_tactics()
            if broken is not None:
                return broken
            if self.cfg.sledgehammer and self._open():
                self._sledgehammer_round()
            still_open = self._open()
            if still_open:
                lines = ", ".join(str(s.line) for s in still_open)
                return self._verdict(VerdictKind.FAILED, f"no tactic closed the sledgehammer steps on lines {lines}")
        return self._final()

    def _open(self) -> list[_Site]:
        return [s for s in self.sites if s.closed_by is None]

    def _skeleton_and_tactics(self) -> Verdict | None:
        for k, tactic in enumerate(self.cfg.tactics):
            open_sites = self._open()
            if not open_sites:
                break
            probes = {s.index: self._probe({s.index: tactic}) for s in open_sites}
            skeleton = self._probe({}) if k == 0 else None
            theories = ([skeleton] if skeleton else []) + list(probes.values())
            round_started = time.monotonic()
            nodes = self._use_salvaging(theories, self.cfg.tactic_timeout + self.cfg.round_overhead)
            elapsed = time.monotonic() - round_started
            self.timings["tactics"] = self.timings.get("tactics", 0.0) + elapsed
            if skeleton is not None:
                node = nodes.get(skeleton.theory_name)
                if node is not None and not node.checked_ok:
                    errors = self._candidate_messages(node, skeleton)
                    return self._verdict(
                        VerdictKind.FAILED,
                        "the proof sketch does not check even with every sledgehammer step assumed",
                        messages=errors,
                    )
            for site in open_sites:
                site.tried.append(tactic)
                node = nodes.get(probes[site.index].theory_name)
                if node is not None and node.checked_ok:
                    site.closed_by, site.source, site.elapsed = tactic, "heuristic", elapsed
        return None

    def _sledgehammer_round(self) -> None:
        cache = self.checker.cache
        suggestions: dict[int, list[str]] = {}
        to_hammer: list[_Site] = []
        for site in self._open():
            cached = cache.get_suggestions(self._goal_key(site)) if cache is not None else None
            if cached is not None:
                suggestions[site.index] = cached
            else:
                to_hammer.append(site)
        started = time.monotonic()
        if to_hammer:
            call = f"sledgehammer [timeout = {int(self.cfg.sledgehammer_timeout)}]\n  sorry"
            probes = {s.index: self._probe({s.index: call}) for s in to_hammer}
            nodes = self._use(list(probes.values()), self.cfg.sledgehammer_timeout * 2 + self.cfg.round_overhead)
            for site in to_hammer:
                node = nodes.get(probes[site.index].theory_name) if nodes is not None else None
                found = parse_suggestions(node.messages) if node is not None else []
                suggestions[site.index] = found
                if cache is not None and node is not None:
                    cache.put_suggestions(self._goal_key(site), site.proposition or "", found)
        for site in self._open():  # calls the tactic rounds already refuted are not tried again
            fresh = [c for c in suggestions.get(site.index, []) if c not in site.tried]
            suggestions[site.index] = fresh[: self.cfg.max_suggestions]
        attempts = {(i, call): self._probe({i: call}) for i, calls in suggestions.items() for call in calls}
        if attempts:
            nodes = self._use_salvaging(list(attempts.values()), self.cfg.tactic_timeout + self.cfg.round_overhead)
            for site in self._open():
                for call in suggestions.get(site.index, []):
                    site.tried.append(call)
                    node = nodes.get(attempts[(site.index, call)].theory_name)
                    if node is not None and node.checked_ok:
                        site.closed_by, site.source = call, "sledgehammer"
                        site.elapsed = time.monotonic() - started
                        break
        self.timings["sledgehammer"] = time.monotonic() - started

    def _final(self) -> Verdict:
        final_text = replace_sledgehammer(self.text, {s.index: s.closed_by for s in self.sites if s.closed_by})
        final = build_check_theory(self.problem, parse_candidate(final_text), theory_name=self._name("final"))
        self._write(final)
        started = time.monotonic()
        nodes = self._use([final], self.cfg.final_timeout)
        self.timings["final"] = time.monotonic() - started
        node = nodes.get(final.theory_name) if nodes is not None else None
        if node is None:
            return self._verdict(
                VerdictKind.TIMEOUT if nodes is None else VerdictKind.INFRASTRUCTURE_ERROR,
                "the final check did not finish in time" if nodes is None else "Isabelle returned no result",
                final_proof=final_text,
            )
        if node.checked_ok:
            return self._verdict(VerdictKind.PROVED, "Isabelle accepted the original theorem", final_proof=final_text)
        return self._verdict(
            VerdictKind.FAILED,
            "Isabelle rejected the final proof",
            final_proof=final_text,
            messages=self._candidate_messages(node, final),
        )

    # ---------------------------------------------------------------------------------------------- helpers
    def _goal_key(self, site: _Site) -> str:
        return content_key(
            isabelle=self.checker.isabelle_version,
            imports=list(self.problem.imports),
            statement=normalise_proof(self.problem.statement),
            goal=normalise_proof(site.proposition or f"site {site.index}"),
            timeout=self.cfg.sledgehammer_timeout,
        )

    def _name(self, what: str) -> str:
        self.probe_count += 1
        return f"SXL_{what}_{self.probe_count}"

    def _probe(self, chosen: dict[int, str]) -> CheckTheory:
        """A theory where the chosen steps get their method and every other open step is assumed."""
        replacements = {s.index: s.closed_by or "sorry" for s in self.sites}
        replacements.update(chosen)
        text = replace_sledgehammer(self.text, replacements)
        theory = build_check_theory(self.problem, parse_candidate(text), theory_name=self._name("probe"))
        probe_text = theory.text.replace("\nbegin\n", "\nbegin\ndeclare [[quick_and_dirty = true]]\n", 1)
        shifted = {line + 1: src for line, src in theory.line_map.items()}
        probe = CheckTheory(probe_text, theory.theory_name, theory.theorem_name, theory.restated_name, shifted)
        self._write(probe)
        return probe

    def _write(self, theory: CheckTheory) -> None:
        (self.workdir / f"{theory.theory_name}.thy").write_text(theory.text)

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Timeout
        return left

    def _use_salvaging(self, theories: Sequence[CheckTheory], timeout: float) -> dict[str, NodeResult]:
        """One round trip for all theories; if it overruns, each theory alone, so that one looping step
        costs only its own attempt and not those of the steps checked beside it."""
        nodes = self._use(theories, timeout)
        if nodes is not None:
            return nodes
        salvaged: dict[str, NodeResult] = {}
        if len(theories) > 1:
            for theory in theories:
                salvaged.update(self._use([theory], timeout) or {})
        return salvaged

    def _use(self, theories: Sequence[CheckTheory], timeout: float) -> dict[str, NodeResult] | None:
        """One round trip; None when it overran its timeout (and was cancelled)."""
        if self.should_stop is not None and self.should_stop():
            raise CheckCancelled(f"check of {self.problem.theorem_name} cancelled by the caller")
        budget = min(timeout, self._remaining())
        self.round_trips += 1
        session: PooledSession = self.session
        try:
            result = session.use_theories(
                [str(self.workdir / t.theory_name) for t in theories], master_dir=self.workdir, timeout=budget
            )
        except IsabelleTimeoutError:
            if budget < timeout:
                raise _Timeout from None
            return None
        return {node.theory_name.rpartition(".")[2]: node for node in result.nodes}

    def _candidate_messages(self, node: NodeResult, theory: CheckTheory) -> tuple[IsabelleMessage, ...]:
        """Error messages with line numbers moved from the checked theory to the candidate's text."""
        moved = []
        for m in node.errors:
            line = theory.candidate_line(m.pos.line) if m.pos.line is not None else None
            moved.append(IsabelleMessage(m.kind, m.text, Position(line, None, None, "candidate" if line else None)))
        return tuple(moved)

    def _verdict(
        self,
        kind: VerdictKind,
        reason: str,
        *,
        final_proof: str | None = None,
        messages: tuple[IsabelleMessage, ...] = (),
    ) -> Verdict:
        self.timings["total"] = time.monotonic() - self.started
        return Verdict(
            kind,
            problem_name=self.problem.theorem_name,
            reason=reason,
            final_proof=final_proof,
            steps=tuple(
                StepResult(s.index, s.line, s.proposition, s.closed_by, s.source, s.elapsed, tuple(s.tried))
                for s in self.sites
            ),
            messages=messages,
            isabelle_version=self.checker.isabelle_version,
            session=self.checker.pool.config.session,
            imports=self.problem.imports,
            timings=dict(self.timings),
            round_trips=self.round_trips,
        )
