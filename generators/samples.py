"""Problems in, samples out: read input rows, prompt a generator, parse, and record full provenance.

A sample is one JSON object per completion. It carries the problem's fields with the role's own output
filled in (`formal_statement`, `subgoals` or `proof`), so a sample file from one role is an input file for
the next; plus `parse_ok`/`parse_problems`, the raw completion, and where it came from (model, backend,
prompt name/version/hash, sampling parameters, seed, token counts, finish reason).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from generators.backend import Completion, SamplingParams
from generators.prompt_templates import PromptTemplate
from generators.roles import REQUIRED_FIELDS, Problem, Role, parse_output, render_prompt

SAMPLE_FORMAT = 1


class InputError(ValueError):
    """A bad input row; the message names the file, the line and the field."""


class Generator(Protocol):
    """A Backend or a GeneratorPool: anything with `generate`."""

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]: ...


def read_problems(path: Path, role: Role, template: PromptTemplate | None = None) -> list[Problem]:
    """Rows of a JSONL file, checked for what `role` (with `template`) needs; the first bad row raises InputError."""
    problems = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            problems.append(problem_from_row(line, role, f"{path}:{line_no}", template))
    if not problems:
        raise InputError(f"{path}: no rows")
    return problems


def problem_from_row(
    line: str | dict[str, Any], role: Role, where: str, template: PromptTemplate | None = None
) -> Problem:
    try:
        row = json.loads(line) if isinstance(line, str) else line
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not a JSON object ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    needs = ", ".join(REQUIRED_FIELDS[role])
    try:
        problem = Problem.model_validate(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{where}: field {field!r}: {first['msg']} (role {role} needs {needs})") from None
    missing = problem.missing_for(role, template)
    if missing:
        raise InputError(f"{where}: missing field {', '.join(repr(m) for m in missing)} (role {role} needs {needs})")
    return problem


def generate_samples(
    problems: Iterable[Problem],
    role: Role,
    generator: Generator,
    params: SamplingParams,
    *,
    template: PromptTemplate | None = None,
    provenance: dict[str, Any] | None = None,
    problems_per_call: int = 16,
) -> Iterator[dict[str, Any]]:
    """Samples in input order, `params.n` per problem, produced `problems_per_call` problems at a time.

    Without `params.stop` the template's stop strings apply. A seeded run is reproducible: the call for
    problems [k, k + problems_per_call) gets seed + k, and each sample records the seed of its call.
    """
    batch: list[Problem] = []
    first = 0  # index of the batch's first problem: a seeded run seeds each call with seed + first
    for problem in problems:
        batch.append(problem)
        if len(batch) == problems_per_call:
            yield from _generate_batch(batch, first, role, generator, params, template, provenance or {})
            first += len(batch)
            batch = []
    if batch:
        yield from _generate_batch(batch, first, role, generator, params, template, provenance or {})


def _generate_batch(
    batch: list[Problem],
    first: int,
    role: Role,
    generator: Generator,
    params: SamplingParams,
    template: PromptTemplate | None,
    provenance: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    rendered = [render_prompt(role, problem, template) for problem in batch]
    stop = params.stop or rendered[0].template.stop
    if params.seed is not None:
        params = dataclasses.replace(params, seed=params.seed + first)
    results = generator.generate(
        [r.text for r in rendered],
        n=params.n,
        temperature=params.temperature,
        top_p=params.top_p,
        max_tokens=params.max_tokens,
        stop=stop,
        seed=params.seed,
    )
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for problem, prompt, completions in zip(batch, rendered, results, strict=True):
        for index, completion in enumerate(completions):
            yield make_sample(role, problem, prompt, completion, index, params, stop, provenance, created)


def make_sample(
    role: Role,
    problem: Problem,
    prompt: Any,
    completion: Completion,
    index: int,
    params: SamplingParams,
    stop: Sequence[str],
    provenance: dict[str, Any],
    created: str,
) -> dict[str, Any]:
    parsed = parse_output(role, completion.text, problem, completion.finish_reason, prompt.template)
    sample: dict[str, Any] = {
        "format": SAMPLE_FORMAT,
        "problem_name": problem.problem_name,
        "role": str(role),
        "sample_index": index,
        "informal_statement": problem.informal_statement,
        "informal_proof": problem.informal_proof,
        "formal_statement": problem.formal_statement,
        "subgoals": list(problem.subgoals) if problem.subgoals else None,
    }
    if role is Role.STATEMENT:
        sample["reference_formal_statement"] = problem.formal_statement
        sample["formal_statement"] = parsed.value
    elif role is Role.SUBGOAL:
        sample["subgoals"] = parsed.value
    else:
        sample["subgoals"] = list(prompt.subgoals or ())
        sample["proof"] = parsed.value
        if "subgoal_proof" in parsed.parts:  # the release's proof generators write their own subgoal comment
            sample["subgoal_proof"] = parsed.parts["subgoal_proof"]
    sample |= {
        "parse_ok": parsed.ok,
        "parse_problems": parsed.problems,
        "completion": completion.text,
        "provenance": {
            **provenance,
            "prompt": prompt.template.ref.to_json(),
            "sampling": params.to_json() | {"stop": list(stop)},
            "seed": params.seed,
            "sample_seed": completion.seed,  # the seed this sample was drawn with, when the backend says
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "finish_reason": completion.finish_reason,
            "expert": getattr(completion, "expert", None) or None,  # set when a router picked an expert
            "created": created,
        },
    }
    if role is Role.PROOF:
        sample["provenance"]["subgoals_source"] = prompt.subgoals_source
    return sample
