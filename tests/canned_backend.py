"""A test backend that answers each role with a fixed, realistic completion (no model at all).

It lets the whole SubgoalXL pipeline (prompts, parsing, actors, checking, store) run deterministically;
the tiny-model tests cover real generation.
"""

from __future__ import annotations

from generators.backend import Backend, Completion, SamplingParams, ScoreResult

SUBGOALS = "Step 1: Since x is given, compute the sum.\nStep 2: Conclude.\n"
PROOF = (
    "proof -\n"
    "  (* Step 1: Since x is given, compute the sum. *)\n"
    '  have c1: "x = x" using h0 sledgehammer\n'
    "  (* Step 2: Conclude. *)\n"
    "  show ?thesis using h0 sledgehammer\n"
    "qed\n"
)


STATEMENT = 'theorem toy2:\n  fixes x :: nat\n  assumes h0: "x = 2"\n  shows "2 + x = 4"\n'


class CannedBackend(Backend):
    def __init__(self) -> None:
        self.calls = 0

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        self.calls += 1
        out = []
        for prompt in prompts:
            end = prompt.rstrip()
            text = (
                SUBGOALS
                if end.endswith("### Subgoals")
                else STATEMENT
                if end.endswith("### Formal statement")
                else PROOF
            )
            out.append([Completion(text, len(prompt.split()), len(text.split()), "stop")] * params.n)
        return out

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return [ScoreResult.from_logprobs([-1.0] * max(1, len(c.split()))) for _, c in pairs]

    def describe(self) -> dict[str, object]:
        return {"kind": "canned"}
