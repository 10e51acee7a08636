"""Verdicts ask the kernel which oracles a theorem rests on: the server accepts `sorry`, so no error is no proof.

Facts: `Pure/Isar/method.ML` (`Method.cheating` allows `sorry` in interactive mode, which the server's headless
PIDE uses: `Pure/PIDE/command.ML`), `Pure/thm_deps.ML` (`thm_oracles` prints `Pretty.big_list "oracles:"`), and
the real kernel's replies in isabelle-transcripts/real-kernel (`Sorry_Accepted`, `Oracles`).
"""

from __future__ import annotations

import dataclasses

import pytest

from isabelle_env import checker as checker_module
from isabelle_env.audit import AuditReport
from isabelle_env.checker import CheckerConfig, ProofChecker
from isabelle_env.oracles import read_oracles
from isabelle_env.protocol import NodeResult
from isabelle_env.verdict import Verdict, VerdictKind
from tests.conftest import TOY_PROBLEM
from tests.isabelle_standin import real_kernel_replies
from tests.scripted_prover import ScriptedProver

PROBLEM = TOY_PROBLEM
FAST = CheckerConfig(tactic_timeout=2, round_overhead=1, sledgehammer_timeout=2, final_timeout=5, proof_timeout=30)


def test_the_real_kernel_reports_no_oracle_for_simp_evaluation_for_eval_and_skip_proof_for_sorry(transcripts):
    replies = real_kernel_replies(transcripts)
    assert replies["Sorry_Accepted"]["ok"] is True  # what makes an error-free theory no verdict
    node = NodeResult.from_json(replies["Oracles"]["nodes"][0])
    by_line = {line: read_oracles(node.messages, line) for line in (6, 7, 8)}  # thm_oracles by_simp/eval/sorry
    assert [(r.found, r.oracles) for r in by_line.values()] == [
        (True, ()),
        (True, ("holds_by_evaluation",)),
        (True, ("skip_proof",)),
    ]
    assert by_line[8].skipped and not by_line[7].skipped
    assert by_line[7].disallowed(["holds_by_evaluation"]) == ()
    assert by_line[7].disallowed([]) == ("holds_by_evaluation",)
    assert by_line[8].disallowed(["skip_proof"]) == ("skip_proof",)  # never allowed
    assert not read_oracles(node.messages, 5).found  # a line without thm_oracles: nothing reported


@pytest.fixture
def checker_for(checker_for):
    def make(prover: ScriptedProver, config: CheckerConfig = FAST) -> ProofChecker:
        return checker_for(prover, config)[0]

    return make


def test_a_sorried_theorem_that_isabelle_accepts_is_not_proved(checker_for, monkeypatch):
    # the audit would reject `sorry` before Isabelle sees it; switch it off to test the kernel-side guard alone
    monkeypatch.setattr(checker_module, "audit_candidate", lambda *a, **k: AuditReport())
    checker = checker_for(ScriptedProver({"?thesis": {"by simp"}}))
    verdict = checker.verify(PROBLEM, "sorry")
    assert verdict.kind is VerdictKind.FAILED
    assert verdict.oracles == ("skip_proof",) and "skip_proof" in verdict.reason
    nested = checker.verify(PROBLEM, 'proof -\n  have "x = 2" sorry\n  then show ?thesis by simp\nqed')
    assert nested.kind is VerdictKind.FAILED and nested.oracles == ("skip_proof",)


def test_eval_is_allowed_by_default_and_refused_kernel_only(checker_for):
    prover = ScriptedProver({"x + x = 4": {"by eval"}})
    proved = checker_for(prover).verify(PROBLEM, "using h0 by eval")
    assert proved.kind is VerdictKind.PROVED and proved.oracles == ("holds_by_evaluation",)
    assert "oracles: holds_by_evaluation" in proved.reason
    strict = checker_for(prover, dataclasses.replace(FAST, allowed_oracles=())).verify(PROBLEM, "using h0 by eval")
    assert strict.kind is VerdictKind.FAILED and "holds_by_evaluation" in strict.reason
    plain = checker_for(ScriptedProver({"x + x = 4": {"by simp"}})).verify(PROBLEM, "using h0 by simp")
    assert plain.kind is VerdictKind.PROVED and plain.oracles == ()
    assert Verdict.from_json(proved.to_json()).oracles == ("holds_by_evaluation",)


def test_skip_proof_can_never_be_allowed():
    with pytest.raises(ValueError, match="never allowed"):
        CheckerConfig(allowed_oracles=("skip_proof",))
    with pytest.raises(ValueError, match="not an oracle name"):
        CheckerConfig(allowed_oracles=("holds by evaluation",))
