"""The SFT datasets: prompt/completion pairs in the generators' own prompt formats, mixed, de-duplicated, traced.

Per role (statement, subgoal, proof) the builder, in this order:
1. gathers examples from every configured source (config order is priority; within a source, best score first);
2. drops short proofs (proof role): a proof of s steps is dropped with probability `short_proof_drop[s]`;
3. drops near-duplicates: an example whose completion shares more than `near_duplicate_jaccard` of its token set
   (|A & B| / |A | B|) with an already kept one of the same role (and problem, with `dedup_scope = "problem"`);
4. mixes the sources in their `weight` ratios: `downsample` takes a seeded random subset of the larger sources,
   `upsample` repeats the smaller ones; a source with nothing left is reported and left out of the ratio;
5. caps at `max_examples`, keeping the ratios.
Every decision (kept, near_duplicate of which example, short_proof, mixed_out, capped) is returned so the loop can
record which verified proof (or library row) produced which training example. With `mode = "single"` the three
role datasets are joined into one (`all`), each prompt stating its role in its instruction line, and the report
gives the role balance.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expert_iteration.config import ROLES, DatasetSection
from generators.parsing import format_subgoals
from generators.roles import Problem, Role, render_prompt
from isabelle_env.theory_text import TheoryParseError, split_commands, tokenize

_GOAL_COMMANDS = frozenset({"have", "show", "hence", "thus", "obtain", "consider"})
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Example:
    role: str
    prompt: str
    completion: str
    source: str
    problem: str
    origin: dict[str, Any] = field(default_factory=dict, compare=False)
    score: float | None = None

    @property
    def example_id(self) -> str:
        return hashlib.sha256(f"{self.role}\0{self.prompt}\0{self.completion}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Decision:
    example: Example
    dataset: str
    status: str  # kept | near_duplicate | short_proof | mixed_out | capped
    duplicate_of: str | None = None
    copies: int = 1  # times a kept example appears (upsampling repeats small sources)


@dataclass
class BuiltDataset:
    name: str  # the role, or "all"
    decisions: list[Decision]
    report: dict[str, Any]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The training rows, copies expanded, in a fixed order."""
        out = []
        for d in self.decisions:
            if d.status == "kept":
                e = d.example
                row = {"prompt": e.prompt, "completion": e.completion, "role": e.role, "source": e.source}
                out += [{**row, "problem": e.problem, "example_id": e.example_id}] * d.copies
        return out

    def write(self, path: Path) -> str:
        """Write the rows as JSONL (atomically); returns the data hash (sha256 of the file, 16 hex digits)."""
        data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in self.rows).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return hashlib.sha256(data).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- examples


def statement_example(problem: str, informal_statement: str, statement: str, **kw: Any) -> Example:
    prompt = render_prompt(Role.STATEMENT, Problem(problem_name=problem, informal_statement=informal_statement)).text
    return Example("statement", prompt, statement.strip(), problem=problem, **kw)


def subgoal_example(
    problem: str,
    informal_statement: str,
    informal_proof: str | None,
    formal_statement: str,
    subgoals: Sequence[str],
    **kw: Any,
) -> Example:
    row = Problem(
        problem_name=problem,
        informal_statement=informal_statement,
        informal_proof=informal_proof,
        formal_statement=formal_statement,
    )
    return Example("subgoal", render_prompt(Role.SUBGOAL, row).text, format_subgoals(subgoals), problem=problem, **kw)


def proof_example(
    problem: str,
    informal_statement: str | None,
    informal_proof: str | None,
    formal_statement: str,
    subgoals: Sequence[str] | None,
    proof: str,
    **kw: Any,
) -> Example:
    """Raises ValueError when there are neither subgoals nor an informal proof to show."""
    row = Problem(
        problem_name=problem,
        informal_statement=informal_statement,
        informal_proof=informal_proof,
        formal_statement=formal_statement,
        subgoals=tuple(subgoals) if subgoals else None,
    )
    return Example("proof", render_prompt(Role.PROOF, row).text, proof.strip(), problem=problem, **kw)


def library_examples(rows: Iterable[Any], source: str, roles: Sequence[str]) -> tuple[list[Example], Counter[str]]:
    """Examples from library rows (see `expert_iteration.library`), and per role how many rows could not be used."""
    out: list[Example] = []
    unusable: Counter[str] = Counter()
    for row in rows:
        kw = {"source": source, "origin": {"library": source, "ref": row.ref}}
        informal, formal = row.informal_statement, row.formal_statement
        if "statement" in roles:
            if informal and formal:
                out.append(statement_example(row.problem, informal, formal, **kw))
            else:
                unusable["statement"] += 1
        if "subgoal" in roles:
            if informal and formal and row.subgoals:
                out.append(subgoal_example(row.problem, informal, row.informal_proof, formal, row.subgoals, **kw))
            else:
                unusable["subgoal"] += 1
        if "proof" in roles:
            try:
                if not (formal and row.proof):
                    raise ValueError("no statement or no proof")
                out.append(
                    proof_example(row.problem, informal, row.informal_proof, formal, row.subgoals, row.proof, **kw)
                )
            except ValueError:  # neither subgoals nor an informal proof to show in the prompt
                unusable["proof"] += 1
    return out, unusable


# ------------------------------------------------------------------------------------------- filters


def proof_steps(proof: str) -> int:
    """Isar steps: the goal-stating commands (have, show, obtain, ...); a proof by one method call counts as 1."""
    try:
        commands = split_commands(tokenize(proof), proof)
    except TheoryParseError:
        return max(1, len(re.findall(r"\b(?:have|show|hence|thus|obtain)\b", proof)))
    return max(1, sum(1 for c in commands if c.name in _GOAL_COMMANDS))


def token_set(text: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _near_duplicate(tokens: frozenset[str], kept: list[tuple[str, frozenset[str]]], threshold: float) -> str | None:
    """The id of the first kept example whose Jaccard similarity exceeds `threshold`.

    Jaccard is at most min(|A|, |B|) / max(|A|, |B|), so pairs whose sizes differ that much are skipped unseen.
    """
    size = len(tokens)
    for eid, other in kept:
        small, large = sorted((size, len(other)))
        if large and small / large <= threshold:
            continue
        if jaccard(tokens, other) > threshold:
            return eid
    return None


def _mix_counts(sizes: dict[str, int], weights: dict[str, float], mode: str) -> dict[str, int]:
    """How many examples each (non-empty) source contributes so that counts follow the weights."""
    present = {s: n for s, n in sizes.items() if n > 0}
    if not present:
        return {s: 0 for s in sizes}
    total_w = sum(weights[s] for s in present)
    share = {s: weights[s] / total_w for s in present}
    scale = [n / share[s] for s, n in present.items()]
    total = min(scale) if mode == "downsample" else max(scale)
    counts = {s: int(round(total * share[s])) for s in present}
    if mode == "downsample":
        counts = {s: min(c, present[s]) for s, c in counts.items()}
    else:
        counts = {s: max(c, present[s]) for s, c in counts.items()}
    return {s: counts.get(s, 0) for s in sizes}


# ------------------------------------------------------------------------------------------- the builder


def build_role_dataset(
    name: str, examples: Sequence[Example], config: DatasetSection, seed: str, source_order: Sequence[str]
) -> BuiltDataset:
    """One role's dataset from its examples (any sources); see the module docstring for the order of steps."""
    rng = random.Random(f"{seed}/{name}")
    order = {s: i for i, s in enumerate(source_order)}
    ranked = sorted(
        examples,
        key=lambda e: (order.get(e.source, len(order)), -(e.score if e.score is not None else float("-inf"))),
    )
    decisions: list[Decision] = []
    survivors: dict[str, list[Example]] = {s: [] for s in source_order}
    kept_tokens: dict[tuple[str, str], list[tuple[str, frozenset[str]]]] = {}
    available = Counter(e.source for e in examples)
    for ex in ranked:
        if ex.role == "proof" and config.short_proof_drop:
            probability = config.short_proof_drop.get(proof_steps(ex.completion), 0.0)
            if probability > 0 and rng.random() < probability:
                decisions.append(Decision(ex, name, "short_proof"))
                continue
        scope = (ex.role, ex.problem if config.dedup_scope == "problem" else "")
        tokens = token_set(ex.completion)
        duplicate = _near_duplicate(tokens, kept_tokens.get(scope, []), config.near_duplicate_jaccard)
        if duplicate is not None:
            decisions.append(Decision(ex, name, "near_duplicate", duplicate_of=duplicate))
            continue
        kept_tokens.setdefault(scope, []).append((ex.example_id, tokens))
        survivors.setdefault(ex.source, []).append(ex)
    weights = {s.name: s.weight for s in config.sources}
    sizes = {s: len(v) for s, v in survivors.items()}
    counts = _mix_counts(sizes, {s: weights.get(s, 1.0) for s in sizes}, config.mix)
    if config.max_examples is not None and sum(counts.values()) > config.max_examples:
        factor = config.max_examples / sum(counts.values())
        capped = {s: int(c * factor) for s, c in counts.items()}
    else:
        capped = counts
    for source, pool in survivors.items():
        mixed = _choose(pool, counts[source], rng)
        chosen = mixed
        if capped[source] < counts[source]:
            copies = [eid for eid, n in mixed.items() for _ in range(n)]
            chosen = Counter(rng.sample(copies, capped[source]))
        for ex in pool:
            n = chosen.get(ex.example_id, 0)
            if n:
                decisions.append(Decision(ex, name, "kept", copies=n))
            else:
                decisions.append(Decision(ex, name, "capped" if mixed.get(ex.example_id) else "mixed_out"))
    report = _report(name, decisions, available, sizes, counts, weights, source_order)
    return BuiltDataset(name, decisions, report)


def _choose(pool: Sequence[Example], want: int, rng: random.Random) -> Counter[str]:
    """example id -> copies: a random subset when want <= len(pool), else whole copies plus a random remainder."""
    chosen: Counter[str] = Counter()
    if not pool or want <= 0:
        return chosen
    full, rest = divmod(want, len(pool))
    for ex in pool:
        chosen[ex.example_id] += full
    for ex in rng.sample(list(pool), rest):
        chosen[ex.example_id] += 1
    return chosen


def _report(
    name: str,
    decisions: list[Decision],
    available: Counter[str],
    sizes: dict[str, int],
    counts: dict[str, int],
    weights: dict[str, float],
    source_order: Sequence[str],
) -> dict[str, Any]:
    kept = [d for d in decisions if d.status == "kept"]
    rows = sum(d.copies for d in kept)
    by_source = {}
    for source in source_order:
        mine = [d for d in kept if d.example.source == source]
        by_source[source] = {
            "available": available.get(source, 0),
            "after_filters": sizes.get(source, 0),
            "kept": sum(d.copies for d in mine),
            "unique": len(mine),
        }
    present = [s for s in source_order if sizes.get(s, 0) > 0]
    total_w = sum(weights.get(s, 1.0) for s in present) or 1.0
    roles = Counter()
    for d in kept:
        roles[d.example.role] += d.copies
    return {
        "dataset": name,
        "examples": rows,
        "unique": len(kept),
        "by_source": by_source,
        "ratio_target": {s: round(weights.get(s, 1.0) / total_w, 4) for s in present},
        "ratio_actual": {s: round(by_source[s]["kept"] / rows, 4) for s in present} if rows else {},
        "empty_sources": [s for s in source_order if sizes.get(s, 0) == 0],
        "dropped": dict(Counter(d.status for d in decisions if d.status != "kept")),
        "roles": {r: roles.get(r, 0) for r in ROLES},
        "role_balance": {r: round(roles.get(r, 0) / rows, 4) if rows else 0.0 for r in ROLES},
        "mix_counts": counts,
    }


def build_datasets(examples: Sequence[Example], config: DatasetSection, seed: str) -> dict[str, BuiltDataset]:
    """One dataset per role (`experts`), or the three joined into `all` (`single`)."""
    order = [s.name for s in config.sources]
    per_role = {
        role: build_role_dataset(role, [e for e in examples if e.role == role], config, seed, order) for role in ROLES
    }
    if config.mode == "experts":
        return per_role
    decisions = [
        Decision(d.example, "all", d.status, d.duplicate_of, d.copies) for b in per_role.values() for d in b.decisions
    ]
    available = Counter(e.source for e in examples)
    sizes = Counter()
    counts = Counter()
    for b in per_role.values():
        for s, v in b.report["by_source"].items():
            sizes[s] += v["after_filters"]
        counts.update(b.report["mix_counts"])
    weights = {s.name: s.weight for s in config.sources}
    report = _report("all", decisions, available, dict(sizes), dict(counts), weights, order)
    report["per_role"] = {role: b.report for role, b in per_role.items()}
    return {"all": BuiltDataset("all", decisions, report)}
