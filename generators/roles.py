"""The three generator roles: what each reads from a problem, which prompt it fills, how its output is parsed.

- statement: informal statement -> Isabelle `theorem` (autoformalization);
- subgoal: informal statement + formal statement (+ informal proof) -> a short list of intermediate claims;
- proof: formal statement + subgoals -> an Isar proof, one `have cN` per subgoal closed by `sledgehammer`.

A problem row without generated subgoals can still feed the proof role: its informal proof's lines (or
sentences) stand in, and the sample records where its subgoals came from.

Each role has its default template (ours, few-shot) and may use another one made for it (its header says
`role:`), e.g. the SubgoalXL release's zero-shot formats (`release_*`), which its checkpoints were trained on.
A template's `parser:` picks how that role reads its completions (`PARSERS`). The release's proof formats take
`{{proof_comment}}`: the subgoals (or, without them, the informal proof) as an Isar comment after the statement,
or nothing, in which case the model writes its own subgoal comment first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from generators.parsing import (
    ParseResult,
    format_subgoals,
    parse_commented_proof,
    parse_proof,
    parse_statement,
    parse_subgoal_paragraphs,
    parse_subgoals,
    subgoals_from_informal_proof,
)
from generators.prompt_templates import PromptTemplate, load_prompt, parse_prompt_spec

NOT_GIVEN = "(none given)"
SUBGOAL_JOIN = "\n\n"  # the release's subgoal proofs are paragraphs


class Role(StrEnum):
    STATEMENT = "statement"
    SUBGOAL = "subgoal"
    PROOF = "proof"


#: fields a row must have (non-empty) for each role; the proof role also needs subgoals or an informal proof
REQUIRED_FIELDS: dict[Role, tuple[str, ...]] = {
    Role.STATEMENT: ("problem_name", "informal_statement"),
    Role.SUBGOAL: ("problem_name", "informal_statement", "formal_statement"),
    Role.PROOF: ("problem_name", "formal_statement"),
}
#: the prompt each role uses unless told otherwise
DEFAULT_PROMPTS: dict[Role, str] = {Role.STATEMENT: "statement", Role.SUBGOAL: "subgoal", Role.PROOF: "proof"}
#: how each role may read a completion: parser name -> (completion, problem, finish reason) -> ParseResult
PARSERS: dict[Role, dict[str, Callable[..., ParseResult[Any]]]] = {
    Role.STATEMENT: {"statement": lambda text, problem, finish: parse_statement(text, finish)},
    Role.SUBGOAL: {
        "subgoals": lambda text, problem, finish: parse_subgoals(text, finish),
        "subgoal_paragraphs": lambda text, problem, finish: parse_subgoal_paragraphs(text, finish),
    },
    Role.PROOF: {
        "proof": lambda text, problem, finish: parse_proof(text, problem.formal_statement, finish),
        "commented_proof": lambda text, problem, finish: parse_commented_proof(text, problem.formal_statement, finish),
    },
}
DEFAULT_PARSERS: dict[Role, str] = {Role.STATEMENT: "statement", Role.SUBGOAL: "subgoals", Role.PROOF: "proof"}


def role_template(role: Role, spec: str | None = None) -> PromptTemplate:
    """The template `spec` (NAME or NAME.vN; default the role's own) checked to be one for `role`."""
    template = load_prompt(*parse_prompt_spec(spec)) if spec else load_prompt(DEFAULT_PROMPTS[role])
    check_template(role, template)
    return template


def check_template(role: Role, template: PromptTemplate) -> None:
    """ValueError unless `template` is made for `role` and names a parser that role has."""
    made_for = template.role or (template.name if template.name in DEFAULT_PROMPTS.values() else None)
    if made_for != str(role):
        roles = ", ".join(str(r) for r in Role)
        raise ValueError(
            f"prompt {template.ref} is for {made_for or 'no generator role'}, not the {role} role; "
            f"`subgoalxl prompts list` shows each template's role ({roles})"
        )
    parser = template.parser or DEFAULT_PARSERS[role]
    if parser not in PARSERS[role]:
        raise ValueError(
            f"prompt {template.ref}: parser {parser!r} is not one of the {role} role's: {list(PARSERS[role])}"
        )
    if "formal_statement" not in template.fields and role is not Role.STATEMENT:
        raise ValueError(f"prompt {template.ref} never shows the formal statement, which the {role} role needs")


class Problem(BaseModel):
    """One input row: the fields of new_complete_mini.jsonl, plus `subgoals` when a subgoal run produced them.

    Extra keys are ignored, so a sample written by one role is an input row for the next.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    problem_name: str
    informal_statement: str | None = None
    informal_proof: str | None = None
    formal_statement: str | None = None
    subgoals: tuple[str, ...] | None = None

    @field_validator("subgoals", mode="before")
    @classmethod
    def _subgoals(cls, value: object) -> object:
        if isinstance(value, str):  # a `Step 1: ...` block as text
            parsed = parse_subgoals(value)
            return tuple(parsed.value) if parsed.ok and parsed.value else None
        return value

    def missing_for(self, role: Role, template: PromptTemplate | None = None) -> list[str]:
        """Required fields that are absent or empty for `role` (with `template`: for what it shows)."""
        missing = [f for f in REQUIRED_FIELDS[role] if not (getattr(self, f) or "").strip()]
        needs_subgoals = template is None or "subgoals" in template.fields
        if role is Role.PROOF and needs_subgoals and not self.subgoals and not (self.informal_proof or "").strip():
            missing.append("subgoals (or informal_proof)")
        return missing


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    template: PromptTemplate
    subgoals: tuple[str, ...] | None = None  # proof role: the subgoals the prompt shows
    subgoals_source: str | None = None  # "subgoals" | "informal_proof"


def render_prompt(role: Role, problem: Problem, template: PromptTemplate | None = None) -> RenderedPrompt:
    """The prompt text for one problem; raises ValueError naming a missing field."""
    template = template or load_prompt(DEFAULT_PROMPTS[role])
    missing = problem.missing_for(role, template)
    if missing:
        raise ValueError(f"problem {problem.problem_name!r}: role {role} needs {', '.join(missing)}")
    fields = {
        "informal_statement": (problem.informal_statement or "").strip() or NOT_GIVEN,
        "informal_proof": (problem.informal_proof or "").strip() or NOT_GIVEN,
        "formal_statement": (problem.formal_statement or "").strip(),
    }
    subgoals, source = None, None
    if role is Role.PROOF and "subgoals" in template.fields:
        if problem.subgoals:
            subgoals, source = tuple(problem.subgoals), "subgoals"
        else:
            subgoals, source = tuple(subgoals_from_informal_proof(problem.informal_proof or "")), "informal_proof"
        fields["subgoals"] = format_subgoals(subgoals)
    if role is Role.PROOF and "proof_comment" in template.fields:
        comment, subgoals, source = proof_comment(problem)
        fields["proof_comment"] = comment
    return RenderedPrompt(template.render(fields), template, subgoals, source)


def proof_comment(problem: Problem) -> tuple[str, tuple[str, ...] | None, str | None]:
    """The release's `{{proof_comment}}`: ` (*TEXT*)` and a newline after the statement, or "" with nothing to show.

    TEXT is the subgoals (paragraphs joined by blank lines) or else the informal proof as given, as the
    release's inference script appends it (`inference/informal_to_formal.py`, `get_prompt`).
    Returns (comment, subgoals shown, where they came from).
    """
    if problem.subgoals:
        return f" (*{SUBGOAL_JOIN.join(problem.subgoals)}*)\n", tuple(problem.subgoals), "subgoals"
    if (problem.informal_proof or "").strip():
        return f" (*{problem.informal_proof}*)\n", None, "informal_proof"
    return "", None, None


def parse_output(
    role: Role,
    completion: str,
    problem: Problem,
    finish_reason: str | None = None,
    template: PromptTemplate | None = None,
) -> ParseResult[Any]:
    """Parse a completion the way `role` expects (with `template`: the way its `parser:` says)."""
    parser = (template.parser if template is not None else None) or DEFAULT_PARSERS[role]
    return PARSERS[role][parser](completion, problem, finish_reason)
