"""The three generator roles: what each reads from a problem, which prompt it fills, how its output is parsed.

- statement: informal statement -> Isabelle `theorem` (autoformalization);
- subgoal: informal statement + formal statement (+ informal proof) -> a short list of intermediate claims;
- proof: formal statement + subgoals -> an Isar proof, one `have cN` per subgoal closed by `sledgehammer`.

A problem row without generated subgoals can still feed the proof role: its informal proof's lines (or
sentences) stand in, and the sample records where its subgoals came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator

from generators.parsing import (
    ParseResult,
    format_subgoals,
    parse_proof,
    parse_statement,
    parse_subgoals,
    subgoals_from_informal_proof,
)
from generators.prompt_templates import PromptTemplate, load_prompt

NOT_GIVEN = "(none given)"


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

    def missing_for(self, role: Role) -> list[str]:
        """Required fields that are absent or empty for `role`."""
        missing = [f for f in REQUIRED_FIELDS[role] if not (getattr(self, f) or "").strip()]
        if role is Role.PROOF and not self.subgoals and not (self.informal_proof or "").strip():
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
    missing = problem.missing_for(role)
    if missing:
        raise ValueError(f"problem {problem.problem_name!r}: role {role} needs {', '.join(missing)}")
    template = template or load_prompt(DEFAULT_PROMPTS[role])
    fields = {
        "informal_statement": (problem.informal_statement or "").strip() or NOT_GIVEN,
        "informal_proof": (problem.informal_proof or "").strip() or NOT_GIVEN,
        "formal_statement": (problem.formal_statement or "").strip(),
    }
    subgoals, source = None, None
    if role is Role.PROOF:
        if problem.subgoals:
            subgoals, source = tuple(problem.subgoals), "subgoals"
        else:
            subgoals, source = tuple(subgoals_from_informal_proof(problem.informal_proof or "")), "informal_proof"
        fields["subgoals"] = format_subgoals(subgoals)
    return RenderedPrompt(template.render(fields), template, subgoals, source)


def parse_output(
    role: Role, completion: str, problem: Problem, finish_reason: str | None = None
) -> ParseResult[str] | ParseResult[list[str]]:
    """Parse a completion the way `role` expects."""
    if role is Role.STATEMENT:
        return parse_statement(completion, finish_reason)
    if role is Role.SUBGOAL:
        return parse_subgoals(completion, finish_reason)
    return parse_proof(completion, problem.formal_statement, finish_reason)
