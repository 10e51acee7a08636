"""The posterior scorer: rank candidates by how well a model explains their subgoals from the formal proof.

SubgoalXL ranks a formal proof by log p(subgoals | formal proof) under a model, length-normalised so that
short and long subgoal lists compare fairly. The proof is shown without its comments, since the
subgoal-style proofs carry the subgoals as comments and would otherwise give the answer away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from generators.backend import ScoreResult
from generators.parsing import format_subgoals, theorem_text
from generators.prompt_templates import PromptTemplate, load_prompt
from generators.roles import NOT_GIVEN
from isabelle_env.syntax.scan import strip_comments


class Scorer(Protocol):
    """A Backend or a GeneratorPool: anything with `score_many`."""

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[ScoreResult]: ...


@dataclass(frozen=True)
class Candidate:
    formal_statement: str
    proof: str
    subgoals: tuple[str, ...]
    informal_statement: str | None = None


class PosteriorScorer:
    """Scores and ranks `Candidate`s with the `posterior` prompt (or another template with the same fields)."""

    def __init__(self, scorer: Scorer, template: PromptTemplate | None = None) -> None:
        self.scorer = scorer
        self.template = template or load_prompt("posterior")

    def pair(self, candidate: Candidate) -> tuple[str, str]:
        """(prompt, completion) whose log-likelihood is the candidate's score."""
        prompt = self.template.render(
            informal_statement=(candidate.informal_statement or "").strip() or NOT_GIVEN,
            theorem=theorem_text(candidate.formal_statement, strip_comments(candidate.proof)).rstrip(),
        )
        return prompt, format_subgoals(candidate.subgoals)

    def score(self, candidates: Sequence[Candidate]) -> list[ScoreResult]:
        return self.scorer.score_many([self.pair(c) for c in candidates])

    def rank(self, candidates: Sequence[Candidate]) -> list[tuple[int, ScoreResult]]:
        """(index into candidates, score), best first (highest mean log-probability)."""
        scores = self.score(candidates)
        return sorted(enumerate(scores), key=lambda item: item[1].mean_logprob, reverse=True)
