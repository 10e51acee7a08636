"""Library sources: published, already verified data mixed into every round's datasets beside the loop's own.

Kinds (`[[dataset.sources]] kind = ...`):
- `prompt_demos`: the worked examples inside the shipped prompt templates (statement, subgoals, proof);
- `minif2f_shipped`: miniF2F theories that ship a human proof (147 of 488), with their informal data;
- `dsp_human`: Draft-Sketch-Prove's 200 verified proofs, `(*<ATP>*) by ... (*</ATP>*)` spans turned back into
  `sledgehammer` so they read like the proof generator's sketches; informal data from new_complete_mini.jsonl;
- `jsonl`: rows `{problem_name, informal_statement, informal_proof, formal_statement, subgoals, proof}`.
Every row keeps `ref`, where it was read from, which becomes the training example's provenance.
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.data.names import current_name
from generators.parsing import parse_proof, parse_statement, parse_subgoals
from generators.prompt_templates import load_prompt
from generators.roles import NOT_GIVEN
from isabelle_env.theory_text import atp_to_sledgehammer, parse_problem


class LibraryError(ValueError):
    """A library source cannot be read as configured; the message names the file and the fix."""


@dataclass(frozen=True)
class LibraryRow:
    problem: str
    informal_statement: str | None
    informal_proof: str | None
    formal_statement: str | None
    subgoals: tuple[str, ...] | None
    proof: str | None
    ref: str  # file:line, file or template name: where this row was read


_SECTION = re.compile(r"^### (.+)$", re.M)


def load_library(kind: str, path: str | None) -> list[LibraryRow]:
    """The rows of one source; raises LibraryError naming the file."""
    if kind == "prompt_demos":
        return prompt_demos()
    if path is None:
        raise LibraryError(f"library source of kind {kind!r} needs a path")
    location = Path(path).expanduser()
    if not location.exists():
        raise LibraryError(f"library source {location} does not exist")
    if kind == "minif2f_shipped":
        return _minif2f_shipped(location)
    if kind == "dsp_human":
        return _dsp_human(location)
    if kind == "jsonl":
        return _jsonl(location)
    raise LibraryError(f"unknown library kind {kind!r}: use prompt_demos, minif2f_shipped, dsp_human or jsonl")


def _sections(block: str) -> dict[str, str]:
    parts = _SECTION.split(block)
    return {parts[i].strip(): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def prompt_demos() -> list[LibraryRow]:
    """The statement/subgoal/proof demos of the shipped templates, joined by their informal statement."""
    rows: dict[str, dict[str, object]] = {}
    for name in ("statement", "subgoal", "proof"):
        template = load_prompt(name)
        blocks = re.split(r"(?=^### Informal statement$)", template.body, flags=re.M)
        for block in blocks:
            sections = _sections(block)
            informal = sections.get("Informal statement")
            if not informal or "{{" in block:
                continue
            row = rows.setdefault(informal, {"informal_statement": informal, "ref": f"prompt:{template.ref}"})
            if "Formal statement" in sections:
                row["formal_statement"] = sections["Formal statement"]
            if sections.get("Informal proof") not in (None, NOT_GIVEN):
                row["informal_proof"] = sections["Informal proof"]
            if "Subgoals" in sections:
                parsed = parse_subgoals(sections["Subgoals"])
                row["subgoals"] = tuple(parsed.value or ())
            if "Formal proof" in sections:
                statement = parse_statement(sections["Formal proof"]).value
                proof = parse_proof(sections["Formal proof"], statement).value
                row.setdefault("formal_statement", statement)
                row["proof"] = proof
    out = []
    for data in rows.values():
        statement = data.get("formal_statement")
        match = re.match(r"\s*(?:theorem|lemma)\s+([A-Za-z0-9_']+)", str(statement or ""))
        out.append(
            LibraryRow(
                problem=match.group(1) if match else str(data["informal_statement"])[:40],
                informal_statement=data.get("informal_statement"),  # type: ignore[arg-type]
                informal_proof=data.get("informal_proof"),  # type: ignore[arg-type]
                formal_statement=statement,  # type: ignore[arg-type]
                subgoals=data.get("subgoals") or None,  # type: ignore[arg-type]
                proof=data.get("proof"),  # type: ignore[arg-type]
                ref=str(data["ref"]),
            )
        )
    return out


def _minif2f_shipped(path: Path) -> list[LibraryRow]:
    from benchmarks.data.problems import ProblemLoadError, load_problems

    try:
        problems = load_problems(path)
    except ProblemLoadError as exc:
        raise LibraryError(f"library source {path}: {exc}") from None
    rows = []
    for problem in problems:
        if not problem.had_shipped_proof:
            continue
        theory = parse_problem(Path(problem.source).read_text(encoding="utf-8"))
        rows.append(
            LibraryRow(
                problem=problem.name,
                informal_statement=problem.informal_statement,
                informal_proof=problem.informal_proof,
                formal_statement=problem.formal_statement,
                subgoals=None,
                proof=(theory.proof or "").strip() or None,
                ref=problem.source,
            )
        )
    return rows


def _read_jsonl_lines(path: Path) -> list[str]:
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith(".jsonl")), None)
            if member is None:
                raise LibraryError(f"{path} holds no .jsonl file")
            return tar.extractfile(member).read().decode("utf-8").splitlines()  # type: ignore[union-attr]
    return path.read_text(encoding="utf-8").splitlines()


def _dsp_human(path: Path) -> list[LibraryRow]:
    folder = path.parent if path.parent.name != "results" else path.parent.parent
    informal: dict[str, dict[str, str]] = {}
    mini = folder / "new_complete_mini.jsonl"
    if mini.is_file():
        for line in mini.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                informal[current_name(row["problem_name"])] = row
    rows = []
    for lineno, line in enumerate(_read_jsonl_lines(path), 1):
        if not line.strip():
            continue
        data = json.loads(line)
        name = current_name(str(data["problem_name"]))
        text = atp_to_sledgehammer(str(data["proof"]))
        statement = parse_statement(text).value
        # the proof is the text after the statement
        proof = text[text.find(statement) + len(statement) :].strip() or None if statement else None
        info = informal.get(name, {})
        rows.append(
            LibraryRow(
                problem=name,
                informal_statement=info.get("informal_statement"),
                informal_proof=info.get("informal_proof"),
                formal_statement=statement,
                subgoals=None,
                proof=proof,
                ref=f"{path}:{lineno}",
            )
        )
    return rows


def _jsonl(path: Path) -> list[LibraryRow]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            name = str(data["problem_name"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise LibraryError(f"{path}:{lineno}: not a row with problem_name ({exc})") from None
        subgoals = data.get("subgoals")
        if isinstance(subgoals, str):
            subgoals = parse_subgoals(subgoals).value
        rows.append(
            LibraryRow(
                problem=current_name(name),
                informal_statement=data.get("informal_statement"),
                informal_proof=data.get("informal_proof"),
                formal_statement=data.get("formal_statement"),
                subgoals=tuple(subgoals) if subgoals else None,
                proof=data.get("proof"),
                ref=f"{path}:{lineno}",
            )
        )
    return rows
