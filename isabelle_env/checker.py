"""Subgoal-level proof checking: close every `sledgehammer` step, then check the whole theorem soundly.

A candidate is first audited (text only). Then, on one borrowed session:
1. the *skeleton* (every sledgehammer step assumed with `sorry`, which the server's interactive mode accepts)
   must check: otherwise the sketch itself is broken and no tactic can save it;
2. per tactic of the configured list, one `use_theories` round checks every still-open step at once, one
   probe theory per step (that step gets the tactic, the others `sorry`), so steps are independent and a
   round costs one round trip; a round runs under the tactic's timeout (a round that overruns is cancelled
   and its steps stay open for that tactic);
3. steps still open run Sledgehammer (its `Try this:` calls are cached per goal), and each suggested call is
   re-checked like a tactic;
4. the final theory (problem statement, proof with every step replaced by what closed it, a restatement of the
   original theorem proved from it, and the checker's own `thm_oracles` of the restatement) must process
   without a single error, read from structured node status and messages, AND Isabelle's oracle report must
   show no `skip_proof` and no oracle outside `allowed_oracles`: the server accepts `sorry`, so an error-free
   theory alone is never a verdict (see isabelle_env.oracles).
"""

from __future__ import annotations

import os
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
from isabelle_env.keywords import KeywordTable, table_for
from isabelle_env.oracles import OracleReport, read_oracles
from isabelle_env.protocol import IsabelleMessage, NodeResult, Position
from isabelle_env.salvage import GAP, Edit, Replacement, Rewrite, coarsen, gaps_for_errors, line_of
from isabelle_env.session_pool import PooledSession, SessionPool
from isabelle_env.sledgehammer import parse_suggestions
from isabelle_env.syntax.candidates import Candidate, find_sledgehammer, parse_candidate, replace_sledgehammer
from isabelle_env.syntax.check_theory import CheckTheory, build_check_theory
from isabelle_env.syntax.normalise import normalise_proof
from isabelle_env.syntax.problems import ProblemTheory, parse_problem
from isabelle_env.syntax.proof_tree import Closing
from isabelle_env.syntax.spans import split_commands
from isabelle_env.syntax.tokens import tokenize
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
#: the oracle of `by eval` (src/HOL/Tools/... Code_Runtime: `Code_Generator.holds_by_evaluation`): DSP and
#: SubgoalXL count `eval` proofs, so it is allowed unless the user asks for kernel-only proofs
CODE_GENERATOR_ORACLES = ("holds_by_evaluation",)


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
    allowed_oracles: tuple[str, ...] = CODE_GENERATOR_ORACLES  # () = kernel only; `skip_proof` is never allowed
    try0: bool = True  # first ask Isabelle's try0 at every step (one round), then the tactics it does not cover
    header: str = "problem"  # "problem": the problem's imports; "benchmark": header_imports plus the problem's
    header_imports: tuple[str, ...] = ()  # the benchmark's fixed header (the union of its imports)
    # salvage: 0 off; 1 failing steps become gaps; k >= 2 also open gaps coarsen up to k - 1 blocks up
    salvage_depth: int = 3

    def __post_init__(self) -> None:
        if self.salvage_depth < 0:
            raise ValueError(f"CheckerConfig.salvage_depth must be 0 (off) or more, got {self.salvage_depth}")
        if self.header not in ("problem", "benchmark"):
            raise ValueError(f"CheckerConfig.header must be 'problem' or 'benchmark', got {self.header!r}")
        if self.header == "benchmark" and not self.header_imports:
            raise ValueError("CheckerConfig.header = 'benchmark' needs header_imports (the benchmark's imports)")
        for oracle in self.allowed_oracles:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_'.]*", oracle):
                raise ValueError(
                    f"CheckerConfig.allowed_oracles: {oracle!r} is not an oracle name (e.g. holds_by_evaluation)"
                )
            if oracle.rpartition(".")[2] == "skip_proof":
                raise ValueError(
                    "CheckerConfig.allowed_oracles: skip_proof is what `sorry` leaves; it is never allowed"
                )
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
            "allowed_oracles": sorted(self.allowed_oracles),
            "try0": self.try0,
            "salvage_depth": self.salvage_depth,
            "header": self.header,
            "header_imports": list(self.header_imports) if self.header == "benchmark" else [],
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
    start: int
    end: int
    proposition: str | None
    closed_by: str | None = None
    source: str | None = None
    elapsed: float = 0.0
    tried: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)  # calls try0 or Sledgehammer found, not yet checked
    try0_ran: bool = False


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
        sweep_stale_workdirs(Path(workdir or tempfile.gettempdir()))

    # ---------------------------------------------------------------------------------------------- public
    @property
    def isabelle_version(self) -> str:
        info = self.pool.client.server_info
        return str(info.get("isabelle_name") or info.get("isabelle_id") or "unknown")

    def _keywords(self) -> KeywordTable:
        """The keyword table of the server's release (the union of all supported ones when unknown)."""
        try:
            return table_for(self.isabelle_version)
        except IsabelleError:
            return table_for(None)

    def header_for(self, problem: ProblemTheory) -> tuple[str, ...]:
        """The imports the check theories use: the problem's own, or the benchmark's header plus the problem's."""
        if self.config.header == "problem":
            return problem.imports
        return tuple(dict.fromkeys((*self.config.header_imports, *problem.imports)))

    def cache_key(self, problem: ProblemTheory, candidate_text: str) -> str:
        return content_key(
            isabelle=self.isabelle_version,
            session=self.pool.config.session,
            imports=list(self.header_for(problem)),
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
        base = {
            "problem_name": problem.theorem_name,
            "imports": self.header_for(problem),
            "session": self.pool.config.session,
            "header": self.config.header,
        }
        report = audit_candidate(
            problem,
            candidate_text,
            allow_aux_lemmas=self.config.allow_aux_lemmas,
            keywords=self._keywords(),
        )
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
        self.original = candidate
        self.started = started
        self.deadline = started + self.cfg.proof_timeout
        self.round_trips = 0
        self.timings: dict[str, float] = {}
        self.imports = checker.header_for(problem)
        self.probe_count = 0
        self.oracles = OracleReport(False)
        self.try0_covered: set[str] = set()
        # salvage: the sketch being checked (the candidate as written, or with gaps), and how it came about
        self.mode = "as_written"
        self.depth = 0
        self.tried = {normalise_proof(candidate.text)}
        self.gaps: dict[int, tuple[int, int]] = {}  # candidate line where a gap starts -> candidate lines replaced
        self.broken_lines: list[int] = []  # sketch lines Isabelle reported errors at, when the sketch is broken
        self._load(Rewrite.identity(candidate.text), candidate)

    def _load(self, rewrite: Rewrite, candidate: Candidate | None = None) -> None:
        """Check this sketch from now on: its sites are found afresh."""
        self.rewrite = rewrite
        self.text = rewrite.text
        self.candidate = candidate or parse_candidate(rewrite.text)
        sites = find_sledgehammer(split_commands(tokenize(self.text), self.text))
        props = {
            s.closing_span[0]: s.prop
            for s in self.candidate.steps
            if s.closing_kind is Closing.SLEDGEHAMMER and s.closing_span
        }
        root = self.candidate.root
        if root.closing_kind is Closing.SLEDGEHAMMER and root.closing_span:
            props[root.closing_span[0]] = root.prop
        self.sites = [_Site(s.index, s.line, s.start, s.end, props.get(s.start)) for s in sites]
        self.broken_lines = []

    # ---------------------------------------------------------------------------------------------- flow
    def execute(self) -> Verdict:
        workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir=self.checker.workdir))
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
        verdict = self._attempt()
        while self.cfg.salvage_depth > 0 and verdict.kind is VerdictKind.FAILED and not verdict.oracles:
            edits = self._salvage_edits()
            if not edits:
                break
            rewrite = self.rewrite.apply(edits)
            key = normalise_proof(rewrite.text)
            if key in self.tried or len(self.tried) > MAX_SEMI_PROOFS:
                break  # a semi-proof already tried for this candidate is not tried twice
            self.tried.add(key)
            self._record_gaps(edits, rewrite)
            self._load(rewrite)
            verdict = self._attempt()
        return verdict

    def _attempt(self) -> Verdict:
        """Close the sketch's sites and check the result: the check of one (semi-)proof."""
        if self.sites:
            broken = self._first_round()
            if broken is not None:
                return broken
            self._tactic_rounds()
            if self.cfg.sledgehammer and self._open():
                self._sledgehammer_round()
            still_open = self._open()
            if still_open:
                lines = ", ".join(str(self.rewrite.original_line(s.line)) for s in still_open)
                return self._verdict(VerdictKind.FAILED, f"no tactic closed the sledgehammer steps on lines {lines}")
        return self._final()

    # ---------------------------------------------------------------------------------------------- salvage
    def _salvage_edits(self) -> list[Edit]:
        """What turns the failed sketch into the next semi-proof: gaps where Isabelle reported errors, else (when
        some gaps stayed open) their blocks coarsened one level up, while the other gaps keep what closed them."""
        root_block = self._root_block()
        if self.broken_lines:
            edits = [e for e in gaps_for_errors(self.candidate, self.broken_lines) if (e.start, e.end) != root_block]
            if edits and self.mode == "as_written":
                self.mode = "gaps_filled"
            return edits
        still_open = self._open()
        if not still_open or self.depth >= self.cfg.salvage_depth - 1:
            return []
        coarse = [e for e in coarsen(self.candidate, [s.start for s in still_open]) if (e.start, e.end) != root_block]
        if not coarse:
            return []
        self.depth += 1
        self.mode = f"coarsened:{self.depth}"
        return coarse + [Edit(s.start, s.end, s.closed_by) for s in self.sites if s.closed_by]

    def _root_block(self) -> tuple[int, int] | None:
        """The span of the whole proof's `proof ... qed`: never turned into one gap (that is no salvage)."""
        blocks = [c for c in self.candidate.root.children if c.kind == "proof"]
        return (blocks[0].start, blocks[0].end) if blocks else None

    def _record_gaps(self, edits: Sequence[Edit], rewrite: Rewrite) -> None:
        for edit in edits:
            if edit.replacement != GAP:
                continue
            first = self.rewrite.original_line(line_of(self.text, edit.start))
            last = self.rewrite.original_line(line_of(self.text, max(edit.start, edit.end - 1)))
            for line in list(self.gaps):  # a coarser gap swallows the gaps inside it
                if first <= line <= last:
                    del self.gaps[line]
            self.gaps[first] = (first, last)

    def _replacements(self) -> tuple[Replacement, ...]:
        lines = self.original.text.splitlines()
        out = []
        for site in self.sites:
            line = self.rewrite.original_line(site.line)
            if line in self.gaps and site.closed_by:
                first, last = self.gaps[line]
                original = "\n".join(lines[first - 1 : last]).strip()
                out.append(Replacement(line, original, site.closed_by))
        return tuple(out)

    def _open(self) -> list[_Site]:
        return [s for s in self.sites if s.closed_by is None]

    # ---------------------------------------------------------------------------------------------- rounds
    def _first_round(self) -> Verdict | None:
        """The skeleton (every step `sorry`) beside the first try at every step (try0, or the first tactic), in one
        round trip. A broken skeleton ends the check: no method at the steps can repair the sketch around them."""
        started = time.monotonic()
        skeleton = self._theory({})
        if self.cfg.try0:
            first = {s.index: TRY0_CALL for s in self._open()}
            timeout = self.cfg.round_overhead + self.cfg.tactic_timeout + TRY0_SECONDS_PER_STEP * len(first)
        else:
            first = {s.index: self.cfg.tactics[0] for s in self._open()}
            timeout = self.cfg.tactic_timeout + self.cfg.round_overhead
        combined = self._theory(first)
        nodes = self._use([skeleton, combined], timeout)
        overran = nodes is None
        if nodes is None:  # the first tries loop: the skeleton alone, then step by step
            nodes = self._use([skeleton], self.cfg.tactic_timeout + self.cfg.round_overhead) or {}
        node = nodes.get(skeleton.theory_name)
        if node is None:
            raise IsabelleError("Isabelle returned no result for the proof skeleton")
        if not node.checked_ok:
            self.broken_lines = self._error_lines(node, skeleton)
            return self._verdict(
                VerdictKind.FAILED,
                "the proof sketch does not check even with every sledgehammer step assumed",
                messages=self._candidate_messages(node, skeleton),
            )
        elapsed = time.monotonic() - started
        result = nodes.get(combined.theory_name)
        if self.cfg.try0:
            self.timings["try0"] = elapsed
            if result is not None:
                self._read_try0(result, combined)
            self._suggestion_rounds("try0")
        else:
            outcome = self._combined_outcome(result, combined, first)
            if outcome is None:
                outcome = self._probes(first, one_by_one=overran)
            self.timings["tactics"] = time.monotonic() - started
            self._record(first, outcome, "heuristic", time.monotonic() - started)
        return None

    def _read_try0(self, node: NodeResult, theory: CheckTheory) -> None:
        """try0 (HOL/Tools/try0.ML) prints `Trying "simp", "auto", ...` and `Found proof: by X (N ms)` per
        method that closed the goal, at the line of its command: those calls become each step's suggestions."""
        lines = self._site_lines(theory)
        for site in self._open():
            at = [m for m in node.messages if m.pos.line == lines[site.index]]
            self.try0_covered.update(try0_methods(at))
            site.try0_ran = True
            site.suggestions = [c for c in parse_suggestions(at) if c not in site.tried]

    def _tactic_rounds(self) -> None:
        for tactic in self.cfg.tactics:
            todo = [s for s in self._open() if tactic not in s.tried and tactic not in self._refuted_by_try0(s)]
            if not todo:
                continue
            started = time.monotonic()
            proposals = {s.index: tactic for s in todo}
            outcome = self._round(proposals)
            elapsed = time.monotonic() - started
            self.timings["tactics"] = self.timings.get("tactics", 0.0) + elapsed
            self._record(proposals, outcome, "heuristic", elapsed)

    def _untried(self, site: _Site, calls: Sequence[str]) -> list[str]:
        refuted = self._refuted_by_try0(site)
        return [c for c in calls if c not in site.tried and c not in refuted]

    def _refuted_by_try0(self, site: _Site) -> set[str]:
        """Plain methods try0 ran at this step without success (its own timeouts): not worth a round again."""
        return {f"by {m}" for m in self.try0_covered} if site.try0_ran else set()

    def _sledgehammer_round(self) -> None:
        cache = self.checker.cache
        to_hammer: list[_Site] = []
        for site in self._open():
            cached = cache.get_suggestions(self._goal_key(site)) if cache is not None else None
            if cached is not None:
                site.suggestions = self._untried(site, cached)
            else:
                to_hammer.append(site)
        started = time.monotonic()
        if to_hammer:
            call = f"sledgehammer [timeout = {int(self.cfg.sledgehammer_timeout)}] sorry"
            probes = {s.index: self._theory({s.index: call}) for s in to_hammer}
            nodes = self._use(list(probes.values()), self.cfg.sledgehammer_timeout * 2 + self.cfg.round_overhead)
            for site in to_hammer:
                probe = probes[site.index]
                node = nodes.get(probe.theory_name) if nodes is not None else None
                line = self._site_lines(probe)[site.index]
                found = parse_suggestions(m for m in node.messages if m.pos.line == line) if node else []
                site.suggestions = self._untried(site, found)
                if cache is not None and found and node is not None and node.status.consolidated:
                    # only a finished run that found something: an empty list may mean a slow or loaded machine
                    cache.put_suggestions(self._goal_key(site), site.proposition or "", found)
        self._suggestion_rounds("sledgehammer", started)
        self.timings["sledgehammer"] = time.monotonic() - started

    def _suggestion_rounds(self, source: str, started: float | None = None) -> None:
        """Each open step's k-th suggestion, for k = 1, 2, ..., all steps at once per round."""
        for _ in range(self.cfg.max_suggestions):
            proposals = {s.index: s.suggestions.pop(0) for s in self._open() if s.suggestions}
            if not proposals:
                return
            round_started = time.monotonic()
            outcome = self._round(proposals)
            self._record(proposals, outcome, source, time.monotonic() - (started or round_started))

    def _round(self, proposals: dict[int, str]) -> dict[int, bool]:
        """Whether each proposed method closes its step: one theory with every proposal in place (forked terminal
        proofs fail at their own line and the rest goes on: STACK_NOTES, real-kernel `Failing_Step*`); when that
        theory overruns or shows errors elsewhere, one probe per step, as a last resort one at a time."""
        combined = self._theory(proposals)
        nodes = self._use([combined], self.cfg.tactic_timeout + self.cfg.round_overhead)
        outcome = self._combined_outcome(nodes.get(combined.theory_name) if nodes else None, combined, proposals)
        if outcome is not None:
            return outcome
        return self._probes(proposals, one_by_one=nodes is None)

    def _probes(self, proposals: dict[int, str], *, one_by_one: bool = False) -> dict[int, bool]:
        """One theory per proposal (that step gets it, the others `sorry`), all in one round trip; after an
        overrun (some proposal loops) one round trip each, so the loop costs only its own attempt."""
        probes = {i: self._theory({i: method}) for i, method in proposals.items()}
        timeout = self.cfg.tactic_timeout + self.cfg.round_overhead
        if one_by_one and len(probes) > 1:
            found: dict[str, NodeResult] = {}
            for probe in probes.values():
                found.update(self._use([probe], timeout) or {})
        else:
            found = self._use_salvaging(list(probes.values()), timeout)
        return {i: (n := found.get(p.theory_name)) is not None and n.checked_ok for i, p in probes.items()}

    def _combined_outcome(
        self, node: NodeResult | None, theory: CheckTheory, proposals: dict[int, str]
    ) -> dict[int, bool] | None:
        """Per step: no error at its line. None when the node cannot be read that way (missing, not fully
        processed, or errors at lines that are no step: a failure that spread beyond its step)."""
        if node is None or node.status.canceled or node.status.unprocessed:
            return None
        lines = self._site_lines(theory)
        step_lines = {lines[i] for i in proposals}
        error_lines = {m.pos.line for m in node.errors}
        if error_lines - step_lines:
            return None
        return {i: lines[i] not in error_lines for i in proposals}

    def _record(self, proposals: dict[int, str], outcome: dict[int, bool], source: str, elapsed: float) -> None:
        by_index = {s.index: s for s in self.sites}
        for i, method in proposals.items():
            site = by_index[i]
            site.tried.append(method)
            if outcome.get(i):
                site.closed_by, site.source, site.elapsed = method, source, elapsed

    def _final(self) -> Verdict:
        final_text = replace_sledgehammer(self.text, {s.index: s.closed_by for s in self.sites if s.closed_by})
        final = build_check_theory(
            self.problem,
            parse_candidate(final_text),
            theory_name=self._name("final"),
            imports=self.imports,
            report_oracles=True,
        )
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
            return self._oracle_verdict(node, final, final_text)
        self.broken_lines = self._error_lines(node, final)
        return self._verdict(
            VerdictKind.FAILED,
            "Isabelle rejected the final proof",
            final_proof=final_text,
            messages=self._candidate_messages(node, final),
        )

    def _oracle_verdict(self, node: NodeResult, final: CheckTheory, final_text: str) -> Verdict:
        """PROVED only when Isabelle's own `thm_oracles` shows the theorem rests on no oracle but allowed ones."""
        assert final.oracles_line is not None
        report = read_oracles(node.messages, final.oracles_line)
        self.oracles = report
        if not report.found:
            return self._verdict(
                VerdictKind.INFRASTRUCTURE_ERROR,
                "Isabelle checked the theory but did not report which oracles the theorem uses (thm_oracles)",
                final_proof=final_text,
            )
        if report.skipped:
            return self._verdict(
                VerdictKind.FAILED,
                "the theorem rests on the skip_proof oracle (a `sorry`): Isabelle accepted it unproved",
                final_proof=final_text,
            )
        if bad := report.disallowed(self.cfg.allowed_oracles):
            allowed = ", ".join(self.cfg.allowed_oracles) or "none"
            return self._verdict(
                VerdictKind.FAILED,
                f"the theorem rests on the oracle {', '.join(bad)}, which is not allowed (allowed: {allowed})",
                final_proof=final_text,
            )
        via = f" (oracles: {', '.join(report.oracles)})" if report.oracles else ""
        return self._verdict(VerdictKind.PROVED, f"Isabelle proved the original theorem{via}", final_proof=final_text)

    # ---------------------------------------------------------------------------------------------- helpers
    def _goal_key(self, site: _Site) -> str:
        """What Isabelle sees at a step: the problem (header, preamble, statement), the proof text up to the
        step (its facts and every assumption before it) and how Sledgehammer runs."""
        return content_key(
            isabelle=self.checker.isabelle_version,
            session=self.checker.pool.config.session,
            imports=list(self.imports),
            preamble=normalise_proof(self.problem.preamble),
            statement=normalise_proof(self.problem.statement),
            prefix=normalise_proof(self.text[: site.start]),
            goal=normalise_proof(site.proposition or ""),
            timeout=self.cfg.sledgehammer_timeout,
            provers="default",
        )

    def _name(self, what: str) -> str:
        self.probe_count += 1
        return f"SXL_{what}_{self.probe_count}"

    def _theory(self, chosen: dict[int, str]) -> CheckTheory:
        """A theory where the chosen steps get their method, closed steps what closed them, the rest `sorry`
        (no quick_and_dirty needed: the server runs theories interactively, where `sorry` is accepted)."""
        replacements = {s.index: s.closed_by or "sorry" for s in self.sites}
        replacements.update(chosen)
        text = replace_sledgehammer(self.text, replacements)
        theory = build_check_theory(
            self.problem, parse_candidate(text), theory_name=self._name("probe"), imports=self.imports
        )
        self._write(theory)
        return theory

    def _site_lines(self, theory: CheckTheory) -> dict[int, int]:
        """Step index -> its line in `theory` (every replacement is one line, so candidate lines stay put)."""
        back = {src: line for line, src in theory.line_map.items()}
        return {s.index: back.get(s.line, -1) for s in self.sites}

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

    def _error_lines(self, node: NodeResult, theory: CheckTheory) -> list[int]:
        """The sketch's lines Isabelle reported errors at (errors outside the sketch's text are not counted)."""
        lines = (theory.candidate_line(m.pos.line) for m in node.errors if m.pos.line is not None)
        return sorted({line for line in lines if line is not None})

    def _candidate_messages(self, node: NodeResult, theory: CheckTheory) -> tuple[IsabelleMessage, ...]:
        """Error messages with line numbers moved from the checked theory to the candidate's text as written."""
        moved = []
        for m in node.errors:
            line = theory.candidate_line(m.pos.line) if m.pos.line is not None else None
            if line is not None:
                line = self.rewrite.original_line(line)
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
                StepResult(
                    s.index,
                    self.rewrite.original_line(s.line),
                    s.proposition,
                    s.closed_by,
                    s.source,
                    s.elapsed,
                    tuple(s.tried),
                )
                for s in self.sites
            ),
            salvage=self.mode,
            replaced=self._replacements(),
            messages=messages,
            isabelle_version=self.checker.isabelle_version,
            session=self.checker.pool.config.session,
            imports=self.imports,
            header=self.cfg.header,
            timings=dict(self.timings),
            round_trips=self.round_trips,
            oracles=self.oracles.oracles,
        )


#: check folders are named after the process that checks in them, so a killed checker's are found and removed
WORKDIR_PREFIX = "subgoalxl-check-"


def sweep_stale_workdirs(base: Path) -> None:
    """Remove the check folders of checker processes that are gone (a `kill -9` leaves them behind)."""
    for folder in base.glob(f"{WORKDIR_PREFIX}*"):
        pid = folder.name[len(WORKDIR_PREFIX) :].partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


#: at most this many semi-proofs per candidate (each costs at least one round trip)
MAX_SEMI_PROOFS = 8
#: try0 at a step, then `sorry` so the theory goes on (one line: step lines must stay put)
TRY0_CALL = "try0 sorry"
#: try0 runs its methods in parallel, each under `try0_default_timeout` (2 s: HOL/Tools/try0.ML)
TRY0_SECONDS_PER_STEP = 3.0
_TRYING = re.compile(r"^Trying (.*)\.\.\.$", re.S)


def try0_methods(messages: Sequence[IsabelleMessage]) -> set[str]:
    """The methods a try0 run says it tries (`Trying "simp", "auto", ..., and "order"...`)."""
    names: set[str] = set()
    for m in messages:
        if match := _TRYING.match(m.text.strip()):
            names.update(re.findall(r'"([^"]+)"', match.group(1)))
    return names
