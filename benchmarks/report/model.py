"""Reports over finished runs: solved counts, pass@k, categories, cost and published comparisons, from the store.

A report reads the run store only (through `RunStore`'s public methods) and writes plain files a person or another
system can read: `summary.md`, `summary.json`, `problems.jsonl` (one row per problem, `problem_name` + `solved`,
so it can itself be given to `--compare`), PNG plots and one self-contained `index.html`.

Decisions, written once here and repeated in every report:

- **Samples for pass@k.** An attempt is one sample. Its outcome: a checked attempt has its verdict (proved is a
  success; failed, timeout and rejected are failures); a `dedup` attempt is a sample with the verdict of the attempt
  it duplicates (the model did draw that proof again); an `unparsed` attempt is a failure (the model drew a sample
  that held no checkable proof: leaving it out would flatter the model). Not samples: `cancelled` checks,
  infrastructure errors (not the prover's doing) and attempts skipped after the problem was solved (never drawn).
  n = samples, c = successes, per problem.
- **pass@k** is the unbiased estimator 1 - C(n-c, k)/C(n, k) (`benchmarks.data.passk.pass_at_k`) averaged over every
  problem of the run (never-attempted ones count 0), for k up to the run's attempt budget (attempts per problem;
  for the union, the sum over runs); a k above it is not measured and shown as such. Where n < k: 1 when the
  problem was solved (it took fewer than k samples), else 0, and the value is then marked as a lower bound.
  Caveat: the search stops a problem at its first proof, so a solved problem's n is the number of samples drawn
  until then, not fixed in advance; for k below the budget the estimator then reads somewhat high (early successes
  weigh more). At k = the budget it equals the solved rate. The union pools the samples of all runs.
- **Whose statement.** A benchmark problem is solved only by a proof of its own statement. With autoformalization
  on a benchmark that has formal statements, a proof of a statement the model wrote is a failed sample of the task;
  such proofs are kept and listed apart ("proved own statement"), never in solved, pass@k, comparisons or
  `problems.jsonl`. A problem whose source has no formal statement (informal-only rows) can only be stated by the
  model: its solved/pass@k count the model's statements, every such row says `statement_source: "model"`, and the
  report says so at the top; comparisons with published results leave those problems out.
- **Mixing.** Runs whose benchmark fingerprints differ are refused (`ReportError` naming them) unless
  `allow_mixed=True`; a mixed report says so at the top.
- **Cost.** Generated tokens are the sum of `samples.completion_tokens` over every sample drawn, including those of
  attempts skipped after a solve. Isabelle time is the sum of `attempts.check_s`: wall-clock seconds from the start
  of a check to its verdict on the checker (waiting for a warm session included), not CPU seconds (Sledgehammer
  runs several provers at once). Verdicts served from the check cache are counted as cache hits and their stored
  time (that of the original check) is left out.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmarks.data.names import CATEGORIES, category, current_name
from benchmarks.data.passk import format_category_counts, pass_at_k

if TYPE_CHECKING:
    from agent.store import RunStore
    from benchmarks.data.problems import ProblemSet
    from benchmarks.data.published import PublishedResult

__all__ = [
    "ComparisonRow",
    "Cost",
    "ProblemRecord",
    "Report",
    "ReportError",
    "RunData",
    "Summary",
    "UnionProblem",
    "build_report",
    "default_ks",
    "estimate",
    "load_run",
    "parse_ks",
    "passk_text",
    "to_json",
]

REPORT_SCHEMA = "subgoalxl-report-v1"
UNION = "union"
SUCCESS, FAILURE = "success", "failure"
_FAILED_VERDICTS = {"failed", "timeout", "rejected"}


class ReportError(ValueError):
    """A report that cannot be built as asked; the message names what to change."""


# ---------------------------------------------------------------------------------------------------------------
# Data


@dataclass
class ProblemRecord:
    """One problem in one run."""

    name: str
    split: str
    category: str
    statement: str
    n: int = 0  # samples (see module docstring)
    c: int = 0  # successful samples
    attempts: int = 0  # attempt rows of any status
    tokens: int = 0  # generated (completion) tokens
    isabelle_s: float = 0.0
    solved: bool = False
    proof: str | None = None
    winning_attempt: int | None = None
    solved_after_s: float | None = None  # seconds from the run's start to its solution
    statement_source: str = "benchmark"  # "model": the source had no formal statement; the model wrote it
    own_statement_proofs: list[OwnStatementProof] = field(default_factory=list)  # never counted as solved
    oracles: tuple[str, ...] = ()  # what the winning proof rests on besides the kernel (Isabelle's thm_oracles)
    salvage: str | None = None  # how the checker obtained the winning proof (None: a store from before salvage)


@dataclass(frozen=True)
class OwnStatementProof:
    """A proof of a statement the model wrote for a problem that has its own: reported apart, never solved."""

    problem: str
    run_id: str
    attempt_index: int
    statement: str
    statement_hash: str
    proof: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "run_id": self.run_id,
            "attempt": self.attempt_index,
            "statement": self.statement,
            "statement_hash": self.statement_hash,
            "proof": self.proof,
        }


@dataclass
class Cost:
    """What a run (or the union) spent; `per_solved` divides by the problems solved."""

    attempts: int = 0
    checked: int = 0
    dedup: int = 0
    unparsed: int = 0
    cancelled: int = 0
    skipped: int = 0
    infrastructure_errors: int = 0
    cache_hits: int = 0
    samples: int = 0
    samples_without_token_count: int = 0
    completion_tokens: int = 0
    prompt_tokens: int = 0
    isabelle_s: float = 0.0
    wall_s: float | None = None  # first start to last update of the run (pauses included)

    def add(self, other: Cost) -> None:
        for name in self.__dataclass_fields__:
            if name != "wall_s":
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def per_solved(self, solved: int) -> dict[str, float | None]:
        def per(value: float) -> float | None:
            return round(value / solved, 3) if solved else None

        return {
            "attempts": per(self.attempts),
            "completion_tokens": per(self.completion_tokens),
            "isabelle_s": per(self.isabelle_s),
        }

    def to_json(self, solved: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items() if v is not None
        }
        out["per_solved"] = self.per_solved(solved)
        return out


@dataclass
class RunData:
    """A run as the store holds it, reduced to what a report shows."""

    run_id: str
    benchmark: str
    split: str
    fingerprint: str
    status: str
    created: float
    updated: float
    prover: str
    attempts_per_problem: int
    code_version: str
    isabelle_version: str
    models: dict[str, Any]
    cost: Cost
    problems: dict[str, ProblemRecord]
    checking: dict[str, Any] = field(default_factory=dict)  # the run's [checking] config (header, oracles, salvage)

    @property
    def solved_after(self) -> list[float]:
        return sorted(p.solved_after_s for p in self.problems.values() if p.solved and p.solved_after_s is not None)


@dataclass
class Summary:
    """Aggregates of one run or of the union: the numbers a paper's table holds."""

    label: str
    problems: int
    solved: int
    by_category: dict[str, int]
    totals: dict[str, int]
    pass_at_k: dict[int, float | None]  # None: k above the attempt budget, not measured
    lower_bound_ks: tuple[int, ...]
    cost: Cost
    budget: int  # attempts per problem (the union: summed over runs)
    proved_own_statement: tuple[str, ...] = ()  # problems with a proof of a model-written statement, not solved
    model_stated: int = 0  # problems without a formal statement of their own (statements are the model's)
    oracles: dict[str, int] = field(default_factory=dict)  # oracle -> solved problems whose proof rests on it
    with_oracles: int = 0  # solved problems whose proof rests on any oracle
    salvage: dict[str, int] = field(default_factory=dict)  # how the solved problems' proofs were obtained

    @property
    def rate(self) -> float:
        return self.solved / self.problems if self.problems else 0.0

    @property
    def category_text(self) -> str:
        return format_category_counts(self.by_category)

    def to_json(self) -> dict[str, Any]:
        return {
            "problems": self.problems,
            "solved": self.solved,
            "solved_rate": round(self.rate, 4),
            "by_category": {k: v for k, v in self.by_category.items() if v},
            "by_category_text": self.category_text,
            "category_totals": {k: v for k, v in self.totals.items() if v},
            "attempt_budget": self.budget,
            "pass_at_k": {str(k): None if v is None else round(v, 4) for k, v in self.pass_at_k.items()},
            "pass_at_k_lower_bound": [str(k) for k in self.lower_bound_ks],
            "cost": self.cost.to_json(self.solved),
            "model_stated_problems": self.model_stated,
            "proved_own_statement": {
                "problems": len(self.proved_own_statement),
                "names": list(self.proved_own_statement),
            },
            "resting_on_oracles": {"problems": self.with_oracles, "by_oracle": dict(self.oracles)},
            "solved_by_salvage": dict(self.salvage),
        }


@dataclass
class UnionProblem:
    """One problem over all runs: solved if any run solved it; samples pooled."""

    name: str
    split: str
    category: str
    statement: str
    solved_by: dict[str, bool]
    n: int
    c: int
    attempts: int
    tokens: int
    isabelle_s: float
    proof: str | None
    proof_run: str | None
    winning_attempt: int | None
    published: dict[str, bool] = field(default_factory=dict)
    statement_source: str = "benchmark"
    own_statement_proofs: list[OwnStatementProof] = field(default_factory=list)
    oracles: tuple[str, ...] = ()
    salvage: str | None = None

    @property
    def solved(self) -> bool:
        return any(self.solved_by.values())

    def to_json(self) -> dict[str, Any]:
        """A `problems.jsonl` row; `problem_name` and `solved` make it readable by `--compare`."""
        return {
            "problem_name": self.name,
            "split": self.split,
            "category": self.category,
            "statement_source": self.statement_source,
            "solved": self.solved,
            "n": self.n,
            "c": self.c,
            "attempts": self.attempts,
            "completion_tokens": self.tokens,
            "isabelle_s": round(self.isabelle_s, 3),
            "proof": self.proof,
            "proof_run": self.proof_run,
            "proof_attempt": self.winning_attempt,
            "proof_oracles": list(self.oracles),
            "proof_salvage": self.salvage,
            "solved_by": self.solved_by,
            "published": self.published,
        }


@dataclass(frozen=True)
class ComparisonRow:
    """Our union against one published list, within one split (or all), over the problems our runs attempted."""

    label: str
    source: str
    split: str  # a split name, or "all"
    scope: int  # our attempted problems the reference holds, in this split
    both: tuple[str, ...]
    only_ours: tuple[str, ...]
    only_theirs: tuple[str, ...]
    theirs_outside_scope: int  # their solved problems (this split) that our runs did not attempt
    unmapped_theirs: int

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "source": self.source,
            "split": self.split,
            "scope": self.scope,
            "both": len(self.both),
            "only_ours": len(self.only_ours),
            "only_theirs": len(self.only_theirs),
            "theirs_outside_scope": self.theirs_outside_scope,
            "unmapped_theirs": self.unmapped_theirs,
            "names": {
                "both": list(self.both),
                "only_ours": list(self.only_ours),
                "only_theirs": list(self.only_theirs),
            },
        }


@dataclass
class Report:
    store: str
    generated: float
    runs: list[RunData]
    summaries: list[Summary]  # one per run, then the union
    problems: list[UnionProblem]
    comparisons: list[ComparisonRow]
    ks: tuple[int, ...]
    curves: dict[str, tuple[list[int], list[float]]]  # label -> (k values up to its budget, pass@k)
    mixed: bool
    notes: list[str]
    unmapped_ours: tuple[str, ...] = ()

    @property
    def union(self) -> Summary:
        return self.summaries[-1]

    @property
    def published_labels(self) -> list[str]:
        return list(dict.fromkeys(c.label for c in self.comparisons))


# ---------------------------------------------------------------------------------------------------------------
# Reading the store


def _json_field(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return default


def _model_statement(row: Mapping[str, Any]) -> bool:
    """The attempt was checked against a statement the model wrote (null in stores older than that column)."""
    return row.get("benchmark_statement") == 0


def _outcomes(attempts: Sequence[Mapping[str, Any]], *, own_statement_only: bool = True) -> list[str]:
    """Sample outcomes of one problem's attempts (module docstring): success/failure, others dropped.

    An attempt is one sample with the outcome of its final row (after its last repair round); a duplicate takes
    the verdict of the checked proof it repeats (same attempt index and proof hash). With `own_statement_only`
    (a problem with its own formal statement), a proof of a model-written statement is a failure of the task.
    """
    checked = [a for a in attempts if a.get("status") == "checked"]
    by_proof = {(a["attempt_index"], a.get("proof_hash")): a for a in checked}
    by_index = {a["attempt_index"]: a for a in checked if a.get("final") != 0}

    def outcome(row: Mapping[str, Any], depth: int = 0) -> str | None:
        status = row.get("status")
        if status == "checked":
            kind = row.get("verdict_kind")
            if kind == "proved" and own_statement_only and _model_statement(row):
                return FAILURE
            return SUCCESS if kind == "proved" else FAILURE if kind in _FAILED_VERDICTS else None
        if status == "unparsed":
            return FAILURE
        if status == "dedup" and depth < 8:
            original = by_proof.get((row.get("dedup_of"), row.get("proof_hash"))) or by_index.get(row.get("dedup_of"))
            return outcome(original, depth + 1) if original is not None else None
        return None

    return [o for o in (outcome(a) for a in attempts if a.get("final") != 0) if o is not None]


def load_run(store: RunStore, run_id: str) -> RunData:
    """One run's problems, samples, attempts and solutions, reduced per problem."""
    run = store.run(run_id)
    if run is None:
        raise ReportError(f"run {run_id} is not in {store.path}")
    config = _json_field(run.get("config"), {})
    search = config.get("search", {}) if isinstance(config, dict) else {}
    created = run.get("created") or 0.0
    counts = store.counts(run_id)
    solutions = store.solutions(run_id)
    attempts_by_problem: dict[str, list[dict[str, Any]]] = {}
    for row in store.attempts(run_id):
        attempts_by_problem.setdefault(row["problem"], []).append(row)
    cost = Cost(
        attempts=sum(v for k, v in counts.items() if k.startswith("attempts_")),
        checked=counts.get("attempts_checked", 0),
        dedup=counts.get("attempts_dedup", 0),
        unparsed=counts.get("attempts_unparsed", 0),
        cancelled=counts.get("attempts_cancelled", 0),
        skipped=counts.get("skipped", 0),
        infrastructure_errors=counts.get("verdict_infrastructure-error", 0),
        wall_s=max(0.0, (run.get("updated") or created) - created),
    )
    problems: dict[str, ProblemRecord] = {}
    tokens = store.sample_token_totals(run_id)
    for row in store.problems(run_id):
        name = row["name"]
        attempts = attempts_by_problem.get(name, [])
        has_own = row.get("has_formal_statement") != 0  # null: a store from before informal-only problems
        outcomes = _outcomes(attempts, own_statement_only=has_own)
        record = ProblemRecord(
            name=name,
            split=row.get("split") or "",
            category=row.get("category") or category(name),
            statement=row.get("theory_text") or "",
            n=len(outcomes),
            c=outcomes.count(SUCCESS),
            attempts=len(attempts),
            solved=name in solutions,
            proof=solutions.get(name),
            statement_source="benchmark" if has_own else "model",
        )
        if has_own:
            record.own_statement_proofs = [
                OwnStatementProof(
                    name,
                    run_id,
                    a["attempt_index"],
                    a.get("statement") or "",
                    a.get("statement_hash") or "",
                    a.get("final_proof"),
                )
                for a in attempts
                if a["status"] == "checked" and a.get("verdict_kind") == "proved" and _model_statement(a)
            ]
        for a in attempts:
            if a["status"] == "checked":
                if a.get("cached"):
                    cost.cache_hits += 1
                elif a.get("check_s") is not None:
                    record.isabelle_s += float(a["check_s"])
        if record.solved:
            own_rows = [a for a in attempts if not (has_own and _model_statement(a))]
            record.winning_attempt = _winning_attempt(own_rows, record.proof)
            won = next(
                (
                    a
                    for a in own_rows
                    if a["attempt_index"] == record.winning_attempt and a.get("verdict_kind") == "proved"
                ),
                None,
            )
            if won is not None:
                record.oracles = tuple(_json_field(won.get("oracles"), []) or ())
                record.salvage = won.get("salvage")
            if not has_own:  # what was proved is the statement the model wrote: show that one
                won = next((a for a in attempts if a["attempt_index"] == record.winning_attempt), None)
                record.statement = (won or {}).get("statement") or record.statement
            solved_at = row.get("solved_at") or _proved_at(attempts, record.winning_attempt)
            record.solved_after_s = max(0.0, solved_at - created) if solved_at else None
        samples, prompt_tokens, completion_tokens, uncounted = tokens.get(name, (0, 0, 0, 0))
        cost.samples += samples
        cost.prompt_tokens += prompt_tokens
        cost.samples_without_token_count += uncounted
        record.tokens += completion_tokens
        cost.completion_tokens += record.tokens
        cost.isabelle_s += record.isabelle_s
        problems[name] = record
    return RunData(
        run_id=run_id,
        benchmark=run.get("benchmark") or "",
        split=run.get("split") or "",
        fingerprint=run.get("fingerprint") or "",
        status=run.get("status") or "",
        created=created,
        updated=run.get("updated") or created,
        prover=str(search.get("prover", "")),
        attempts_per_problem=int(search.get("attempts_per_problem") or 0)
        or max((p.attempts for p in problems.values()), default=0),
        code_version=run.get("code_version") or "",
        checking=config.get("checking", {}) if isinstance(config, dict) else {},
        isabelle_version=run.get("isabelle_version") or "",
        models=_json_field(run.get("models"), {}) or {},
        cost=cost,
        problems=problems,
    )


def _winning_attempt(attempts: Sequence[Mapping[str, Any]], proof: str | None) -> int | None:
    proved = [a for a in attempts if a["status"] == "checked" and a.get("verdict_kind") == "proved"]
    for a in proved:
        if a.get("final_proof") == proof:
            return a["attempt_index"]
    return proved[0]["attempt_index"] if proved else None


def _proved_at(attempts: Sequence[Mapping[str, Any]], index: int | None) -> float | None:
    return next((a.get("created") for a in attempts if a["attempt_index"] == index), None)


# ---------------------------------------------------------------------------------------------------------------
# Numbers


def estimate(n: int, c: int, k: int) -> float:
    """pass@k of one problem: the unbiased estimator when n >= k, else 1 if it was solved (in < k samples), else 0."""
    if n >= k:
        return pass_at_k(n, c, k)
    return 1.0 if c > 0 else 0.0


def _pass_at_k(
    samples: Iterable[tuple[int, int]], ks: Iterable[int], budget: int
) -> tuple[dict[int, float | None], tuple[int, ...]]:
    """Mean estimate per k (None above the budget) and the k whose value is only a lower bound."""
    samples = list(samples)
    values: dict[int, float | None] = {}
    lower = []
    for k in ks:
        if k > budget:
            values[k] = None
            continue
        values[k] = sum(estimate(n, c, k) for n, c in samples) / len(samples) if samples else 0.0
        if any(c == 0 and n < k for n, c in samples):
            lower.append(k)
    return values, tuple(lower)


def _curve(samples: Iterable[tuple[int, int]], ks: Sequence[int], budget: int) -> tuple[list[int], list[float]]:
    values, _ = _pass_at_k(samples, ks, budget)
    shown = [k for k in ks if values[k] is not None]
    return shown, [values[k] or 0.0 for k in shown]


def default_ks(budget: int) -> tuple[int, ...]:
    """1, powers of two below the attempt budget, and the budget: the k values papers print."""
    ks = {1, max(1, budget)}
    k = 2
    while k < budget:
        ks.add(k)
        k *= 2
    return tuple(sorted(ks))


def parse_ks(text: str) -> tuple[int, ...]:
    """`"1,8,64"` -> (1, 8, 64); ReportError naming the form otherwise."""
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        ks = []
    if not ks or ks[0] < 1:
        raise ReportError(f"--k {text!r}: give comma-separated positive integers, e.g. --k 1,8,64")
    return tuple(ks)


def _curve_ks(budget: int) -> tuple[int, ...]:
    top = max(1, budget)
    if top <= 64:
        return tuple(range(1, top + 1))
    steps = {round(math.exp(i * math.log(top) / 47)) for i in range(48)}
    return tuple(sorted(steps | {top}))


def _summary(
    label: str, records: Sequence[ProblemRecord | UnionProblem], cost: Cost, ks: Sequence[int], budget: int
) -> Summary:
    solved = [r for r in records if r.solved]
    by_category = dict.fromkeys(CATEGORIES, 0)
    totals = dict.fromkeys(CATEGORIES, 0)
    for r in records:
        cat = r.category if r.category in totals else category(r.name)
        totals[cat] += 1
        by_category[cat] += r.solved
    values, lower = _pass_at_k(((r.n, r.c) for r in records), ks, budget)
    own = tuple(sorted(r.name for r in records if r.own_statement_proofs))
    model_stated = sum(r.statement_source == "model" for r in records)
    oracles: dict[str, int] = {}
    salvage: dict[str, int] = {}
    for r in solved:
        for name in r.oracles:
            oracles[name] = oracles.get(name, 0) + 1
        path = r.salvage or "unrecorded"
        salvage[path] = salvage.get(path, 0) + 1
    return Summary(
        label,
        len(records),
        len(solved),
        by_category,
        totals,
        values,
        lower,
        cost,
        budget,
        own,
        model_stated,
        oracles=dict(sorted(oracles.items())),
        with_oracles=sum(bool(r.oracles) for r in solved),
        salvage=dict(sorted(salvage.items())),
    )


def _check_fingerprints(runs: Sequence[RunData], allow_mixed: bool) -> bool:
    fingerprints = {r.fingerprint for r in runs}
    if len(fingerprints) <= 1:
        return False
    if allow_mixed:
        return True
    listed = "; ".join(
        f"{r.run_id}: {r.benchmark} {r.split or 'all'} fingerprint {r.fingerprint or '(none)'}" for r in runs
    )
    raise ReportError(
        f"these runs are on different benchmark versions ({listed}): their results are not comparable. Report them "
        "separately, or pass --allow-mixed to put them side by side (the union then spans different problem sets)"
    )


def build_report(
    store: RunStore,
    run_ids: Sequence[str],
    *,
    ks: Sequence[int] | None = None,
    reference: ProblemSet | None = None,
    published: Sequence[PublishedResult] = (),
    allow_mixed: bool = False,
) -> Report:
    """Everything a report shows, computed from the store; raises ReportError for what cannot be reported."""
    run_ids = list(dict.fromkeys(run_ids))
    if not run_ids:
        raise ReportError("no run given: name one or more run ids")
    known = [r["run_id"] for r in store.runs()]
    if not known:
        raise ReportError(f"{store.path} holds no runs: run `subgoalxl eval` first, or point --store at another store")
    unknown = [r for r in run_ids if r not in known]
    if unknown:
        shown = ", ".join(known[-10:]) + (f" (and {len(known) - 10} older)" if len(known) > 10 else "")
        raise ReportError(f"run {', '.join(unknown)} is not in {store.path}; it holds: {shown}")
    runs = [load_run(store, r) for r in run_ids]
    mixed = _check_fingerprints(runs, allow_mixed)
    budgets = {r.run_id: max(1, r.attempts_per_problem) for r in runs}
    union_budget = sum(budgets.values())
    ks = tuple(sorted(set(ks))) if ks else default_ks(max(budgets.values()))
    problems = _union_problems(runs)
    union_cost = Cost()
    for r in runs:
        union_cost.add(r.cost)
    summaries = [_summary(r.run_id, list(r.problems.values()), r.cost, ks, budgets[r.run_id]) for r in runs]
    summaries.append(_summary(UNION, problems, union_cost, ks, union_budget))
    curves = {
        r.run_id: _curve(((p.n, p.c) for p in r.problems.values()), _curve_ks(budgets[r.run_id]), budgets[r.run_id])
        for r in runs
    }
    if len(runs) > 1:
        curves[UNION] = _curve(((p.n, p.c) for p in problems), _curve_ks(union_budget), union_budget)
    notes = _notes(runs, summaries, mixed)
    comparisons: list[ComparisonRow] = []
    unmapped: tuple[str, ...] = ()
    if reference is not None:
        notes.extend(_reference_notes(runs, reference))
        comparisons, unmapped = _compare(problems, reference, published)
    return Report(
        store=str(store.path),
        generated=time.time(),
        runs=runs,
        summaries=summaries,
        problems=problems,
        comparisons=comparisons,
        ks=ks,
        curves=curves,
        mixed=mixed,
        notes=notes,
        unmapped_ours=unmapped,
    )


def _union_problems(runs: Sequence[RunData]) -> list[UnionProblem]:
    merged: dict[str, UnionProblem] = {}
    for run in runs:
        for record in run.problems.values():
            key = current_name(record.name)
            u = merged.get(key)
            if u is None:
                u = merged[key] = UnionProblem(
                    key, record.split, record.category, record.statement, {}, 0, 0, 0, 0, 0.0, None, None, None
                )
            u.split = u.split or record.split
            u.solved_by[run.run_id] = record.solved
            if record.statement_source == "model":
                u.statement_source = "model"
            u.own_statement_proofs.extend(record.own_statement_proofs)
            u.n += record.n
            u.c += record.c
            u.attempts += record.attempts
            u.tokens += record.tokens
            u.isabelle_s += record.isabelle_s
            if record.solved and u.proof is None:
                u.proof, u.proof_run, u.winning_attempt = record.proof, run.run_id, record.winning_attempt
                u.oracles, u.salvage = record.oracles, record.salvage
    for u in merged.values():
        for run in runs:
            u.solved_by.setdefault(run.run_id, False)
    return sorted(merged.values(), key=lambda u: u.name)


def _notes(runs: Sequence[RunData], summaries: Sequence[Summary], mixed: bool) -> list[str]:
    notes = []
    if mixed:
        fps = ", ".join(f"{r.run_id}: {r.fingerprint[:16] or '(none)'}" for r in runs)
        notes.append(f"MIXED benchmark fingerprints ({fps}): the union spans different problem sets.")
    for s in summaries if len(runs) > 1 else summaries[:1]:
        if s.lower_bound_ks:
            ks = ", ".join(str(k) for k in s.lower_bound_ks)
            notes.append(
                f"{s.label}: pass@k for k = {ks} is a lower bound: some unsolved problems have fewer than k samples "
                "(problem timeout, run budget, cancelled checks or infrastructure errors)."
            )
    model_stated = sorted({p.name for r in runs for p in r.problems.values() if p.statement_source == "model"})
    if model_stated:
        notes.append(
            f"STATEMENTS BY THE MODEL: {len(model_stated)} problem(s) have no formal statement in their source "
            f"({', '.join(model_stated[:5])}{', ...' if len(model_stated) > 5 else ''}); the model wrote their "
            "statements (autoformalization), and solved / pass@k for them mean the model's own statement was proved. "
            "They are marked statement_source = model and left out of comparisons with published results."
        )
    own = sorted({p.name for r in runs for p in r.problems.values() if p.own_statement_proofs})
    if own:
        notes.append(
            f"{len(own)} problem(s) have proofs of statements the model wrote instead of the benchmark's "
            "(autoformalization on a benchmark with formal statements): listed under 'Proved own statement', "
            "counted as failed samples, never as solved."
        )
    empty = [r.run_id for r in runs if not r.problems]
    if empty:
        notes.append(f"no problems recorded for {', '.join(empty)}: the run never got past its start.")
    unfinished = [r.run_id for r in runs if r.status not in ("finished", "budget")]
    if unfinished:
        notes.append(f"not finished (status other than finished/budget): {', '.join(unfinished)}.")
    return notes


def _reference_notes(runs: Sequence[RunData], reference: ProblemSet) -> list[str]:
    """Whether --data holds the statements the runs were checked on (by fingerprint over the runs' problems)."""
    notes = []
    for run in runs:
        names = [reference.resolve(n) for n in run.problems]
        if None in names or not names:
            continue
        same = reference.select(names=names).fingerprint == run.fingerprint
        if not same:
            notes.append(
                f"{run.run_id}: the statements in {reference.source} differ from those the run was checked on "
                "(fingerprints differ): the comparison is by problem name."
            )
    return notes


def _compare(
    problems: Sequence[UnionProblem], reference: ProblemSet, published: Sequence[PublishedResult]
) -> tuple[list[ComparisonRow], tuple[str, ...]]:
    resolved = {p.name: reference.resolve(p.name) for p in problems}
    unmapped = tuple(name for name, r in resolved.items() if r is None)
    split_of = {r: reference.by_name(r).split for r in resolved.values() if r is not None}
    # a problem the model stated itself is not the published task: it never counts as ours
    ours = {
        resolved[p.name]
        for p in problems
        if p.solved and resolved[p.name] is not None and p.statement_source == "benchmark"
    }
    splits = sorted(set(split_of.values()), key=lambda s: (s not in ("valid", "test"), s))
    rows = []
    for theirs in published:
        for p in problems:
            if resolved[p.name] is not None:
                p.published[theirs.label] = resolved[p.name] in theirs.solved
        for split in [*splits, *(["all"] if len(splits) > 1 else [])]:
            scope = {r for r, s in split_of.items() if split in ("all", s)}
            solved = {n for n in theirs.solved if split == "all" or reference.by_name(n).split == split}
            mine, other = ours & scope, solved & scope
            rows.append(
                ComparisonRow(
                    label=theirs.label,
                    source=theirs.source,
                    split=split,
                    scope=len(scope),
                    both=tuple(sorted(mine & other)),
                    only_ours=tuple(sorted(mine - other)),
                    only_theirs=tuple(sorted(other - mine)),
                    theirs_outside_scope=len(solved - scope),
                    unmapped_theirs=len(theirs.unmapped),
                )
            )
    return rows, unmapped


# ---------------------------------------------------------------------------------------------------------------
# Writing


def to_json(report: Report) -> dict[str, Any]:
    """`summary.json`: run metadata, per-run and union summaries, comparisons, notes."""
    runs = []
    for run, summary in zip(report.runs, report.summaries, strict=False):
        runs.append(
            {
                "run_id": run.run_id,
                "benchmark": run.benchmark,
                "split": run.split,
                "fingerprint": run.fingerprint,
                "status": run.status,
                "prover": run.prover,
                "attempts_per_problem": run.attempts_per_problem,
                "models": run.models,
                "code_version": run.code_version,
                "isabelle_version": run.isabelle_version,
                "checked_under": {
                    key: run.checking[key]
                    for key in ("imports", "allowed_oracles", "salvage_depth")
                    if key in run.checking
                },
                "created": run.created,
                **summary.to_json(),
            }
        )
    return {
        "schema": REPORT_SCHEMA,
        "generated": report.generated,
        "store": report.store,
        "mixed_fingerprints": report.mixed,
        "ks": list(report.ks),
        "runs": runs,
        "union": {"runs": [r.run_id for r in report.runs], **report.union.to_json()},
        "comparisons": [c.to_json() for c in report.comparisons],
        "proved_own_statement": [o.to_json() for p in report.problems for o in p.own_statement_proofs],
        "unmapped_ours": list(report.unmapped_ours),
        "notes": report.notes,
        "method": {
            "samples": "checked attempts with a verdict (infrastructure errors excluded), dedup attempts with the "
            "verdict of the attempt they duplicate, unparsed attempts as failures; cancelled and skipped excluded",
            "pass_at_k": "mean over problems of 1 - C(n-c,k)/C(n,k); n < k: 1 if solved else 0 (lower bound); "
            "null: k above the attempt budget (the union: budgets summed)",
            "union": "a problem is solved if any run solved it; pass@k pools the samples of all runs",
            "isabelle_s": "sum of attempts.check_s of non-cached checks: wall-clock seconds per check, not CPU time",
        },
    }


def passk_text(summary: Summary, k: int) -> str:
    """`0.412`, `≥0.380` (a lower bound) or `–` (k above the attempt budget)."""
    value = summary.pass_at_k[k]
    if value is None:
        return "–"
    return f"{'≥' if k in summary.lower_bound_ks else ''}{value:.3f}"
