"""Salvaging broken sketches against the stand-in: failing steps become gaps, open gaps coarsen to their block.

The stand-in's judgement places the real kernel's messages where the kernel prints them (real-kernel
`Failing_Step`, `Failing_Step_Nested`, `Failing_Show`): a failing `by` at its own line with the rest going on,
a `show` that refines no goal at its line, the command after it and the `qed` of its block.
"""

from __future__ import annotations

import dataclasses

import pytest

from isabelle_env.checker import CheckerConfig, ProofChecker
from isabelle_env.salvage import Edit, Rewrite, coarsen, gaps_for_errors
from isabelle_env.theory_text import parse_candidate
from isabelle_env.verdict import VerdictKind
from tests.conftest import TOY_PROBLEM
from tests.scripted_prover import ScriptedProver

PROBLEM = TOY_PROBLEM
FAST = CheckerConfig(tactic_timeout=2, round_overhead=1, sledgehammer_timeout=2, final_timeout=5, proof_timeout=60)
TACTICS = dataclasses.replace(FAST, try0=False, tactics=("by simp", "by auto"), sledgehammer=False)


@pytest.fixture
def checker_for(checker_for):
    def make(prover: ScriptedProver, config: CheckerConfig = TACTICS) -> ProofChecker:
        return checker_for(prover, config)[0]

    return make


def test_one_failing_by_becomes_a_gap_and_is_filled(checker_for):
    prover = ScriptedProver({"x = 2": {"by simp"}, "?thesis": {"by auto"}})
    text = 'proof -\n  have c0: "x = 2" using h0 by (simp only:)\n  then show ?thesis by auto\nqed'
    verdict = checker_for(prover).verify(PROBLEM, text)
    assert verdict.kind is VerdictKind.PROVED, verdict.reason
    assert verdict.salvage == "gaps_filled"
    assert [(r.line, r.replacement) for r in verdict.replaced] == [(2, "by simp")]
    assert verdict.final_proof == text.replace("by (simp only:)", "by simp")
    # the final theory the kernel checked holds exactly the reported proof
    final = prover.seen[-1]
    assert verdict.final_proof in final and "sledgehammer" not in final and "simp only" not in final


def test_two_failing_steps_in_different_blocks(checker_for):
    prover = ScriptedProver({"x = 2": {"by simp"}, "x + x = 2 + 2": {"by auto"}, "?thesis": {"by simp"}})
    text = "\n".join(
        [
            "proof -",
            '  have c0: "x = 2"',
            "  proof -",
            '    show "x = 2" using h0 by blast',
            "  qed",
            '  have c1: "x + x = 2 + 2" using c0 by blast',
            "  show ?thesis using c1 by simp",
            "qed",
        ]
    )
    verdict = checker_for(prover).verify(PROBLEM, text)
    assert verdict.kind is VerdictKind.PROVED, verdict.reason
    assert verdict.salvage == "gaps_filled"
    assert sorted((r.line, r.replacement) for r in verdict.replaced) == [(4, "by simp"), (6, "by auto")]


def test_a_failing_show_turns_its_block_into_a_gap(checker_for):
    prover = ScriptedProver({"x = 2": {"by simp"}, "?thesis": {"by simp"}}, refuted={"x = 3"})
    text = "\n".join(
        [
            "proof -",
            '  have c0: "x = 2"',
            "  proof -",
            '    show "x = 3" using h0 by simp',
            "  qed",
            "  show ?thesis using c0 by simp",
            "qed",
        ]
    )
    verdict = checker_for(prover).verify(PROBLEM, text)
    assert verdict.kind is VerdictKind.PROVED, verdict.reason
    assert verdict.salvage == "gaps_filled"
    (replaced,) = verdict.replaced
    assert replaced.line == 3 and replaced.replacement == "by simp" and 'show "x = 3"' in replaced.original
    assert verdict.final_proof == 'proof -\n  have c0: "x = 2"\n  by simp\n  show ?thesis using c0 by simp\nqed'
    assert "show ?thesis" in verdict.final_proof  # salvage never removes a `show ?thesis`


def test_a_failing_show_is_salvaged_however_far_its_failure_spreads(checker_for):
    # every command after the failing show fails too, out of its block: the gaps come over two checks
    prover = ScriptedProver({"x = 2": {"by simp"}, "?thesis": {"by simp"}}, refuted={"x = 3"}, spread=True)
    text = "\n".join(
        [
            "proof -",
            '  have c0: "x = 2"',
            "  proof -",
            '    show "x = 3" using h0 by simp',
            "  qed",
            "  show ?thesis using c0 by simp",
            "qed",
        ]
    )
    verdict = checker_for(prover).verify(PROBLEM, text)
    assert verdict.kind is VerdictKind.PROVED, verdict.reason
    assert verdict.salvage == "gaps_filled" and 'have c0: "x = 2"\n  by simp' in verdict.final_proof
    assert "show ?thesis" in verdict.final_proof


NESTED = "\n".join(
    [
        "proof -",
        '  have c0: "x = 2"',
        "  proof -",
        '    have "x = 2 + 0" using h0 sledgehammer',
        "    then show ?thesis by simp",
        "  qed",
        "  show ?thesis using c0 sledgehammer",
        "qed",
    ]
)


def test_a_gap_nothing_closes_is_coarsened_to_its_parent(checker_for):
    # nothing proves "x = 2 + 0"; the block around it goes, and `have c0` is closed as one gap
    prover = ScriptedProver({"x = 2": {"by auto"}, "?thesis": {"by simp"}})
    verdict = checker_for(prover).verify(PROBLEM, NESTED)
    assert verdict.kind is VerdictKind.PROVED, verdict.reason
    assert verdict.salvage == "coarsened:1"
    (replaced,) = verdict.replaced
    assert (replaced.line, replaced.replacement) == (3, "by auto") and "x = 2 + 0" in replaced.original
    assert verdict.final_proof == 'proof -\n  have c0: "x = 2"\n  by auto\n  show ?thesis using c0 by simp\nqed'


DOUBLE = "\n".join(
    [
        "proof -",
        '  have c0: "x = 2"',
        "  proof -",
        '    have c1: "x = 1 + 1"',
        "    proof -",
        '      have "x = 1 + 1 + 0" using h0 sledgehammer',
        "      then show ?thesis by simp",
        "    qed",
        "    then show ?thesis by simp",
        "  qed",
        "  show ?thesis using c0 sledgehammer",
        "qed",
    ]
)


def test_coarsening_stops_at_the_configured_depth(checker_for):
    script = {"x = 2": {"by auto"}, "?thesis": {"by simp"}}
    gaps_only = checker_for(ScriptedProver(script), dataclasses.replace(TACTICS, salvage_depth=1))
    assert gaps_only.verify(PROBLEM, DOUBLE).salvage == "as_written"  # no gap to make: nothing failed, one is open
    shallow = checker_for(ScriptedProver(script), dataclasses.replace(TACTICS, salvage_depth=2))
    failed = shallow.verify(PROBLEM, DOUBLE)
    assert failed.kind is VerdictKind.FAILED and failed.salvage == "coarsened:1"
    deep = checker_for(ScriptedProver(script), dataclasses.replace(TACTICS, salvage_depth=3))
    proved = deep.verify(PROBLEM, DOUBLE)
    assert proved.kind is VerdictKind.PROVED and proved.salvage == "coarsened:2", proved.reason
    off = checker_for(ScriptedProver(script), dataclasses.replace(TACTICS, salvage_depth=0))
    as_written = off.verify(PROBLEM, DOUBLE)
    assert as_written.kind is VerdictKind.FAILED and as_written.salvage == "as_written"


def test_a_proof_as_written_is_recorded_as_such(checker_for):
    verdict = checker_for(ScriptedProver({"x + x = 4": {"by simp"}})).verify(PROBLEM, "using h0 by simp")
    assert verdict.kind is VerdictKind.PROVED and verdict.salvage == "as_written" and verdict.replaced == ()
    assert verdict.to_json()["salvage"] == "as_written"


# -- the text side ----------------------------------------------------------------------------------------------


def test_gaps_for_errors_on_terminal_steps_blocks_and_the_root():
    cand = parse_candidate(DOUBLE.replace("sledgehammer", "by blast"))
    text = cand.text
    (edit,) = gaps_for_errors(cand, [6])  # the failing `by` of line 6
    assert text[edit.start : edit.end] == "by blast" and edit.replacement == "sledgehammer"
    (edit,) = gaps_for_errors(cand, [8])  # `qed` of the innermost block: that block
    assert text[edit.start : edit.end].startswith("proof -\n      have") and text[edit.end - 3 : edit.end] == "qed"
    (edit,) = gaps_for_errors(cand, [3])  # the `proof` line of c0's block
    assert text[edit.start :].startswith("proof -\n    have c1")
    (edit,) = gaps_for_errors(cand, [1])  # the root block
    assert edit.start == 0 and edit.end == len(text)


def test_coarsen_and_rewrite_keep_track_of_the_lines_of_the_candidate():
    cand = parse_candidate(NESTED)
    site = cand.sledgehammer[0]
    (edit,) = coarsen(cand, [site.start])
    rewrite = Rewrite.identity(NESTED).apply([edit])
    assert rewrite.text == 'proof -\n  have c0: "x = 2"\n  sledgehammer\n  show ?thesis using c0 sledgehammer\nqed'
    assert [rewrite.original_line(k) for k in range(1, 6)] == [1, 2, 3, 7, 8]
    again = rewrite.apply([Edit(0, 0, "")])
    assert again.text == rewrite.text and again.origin == rewrite.origin
