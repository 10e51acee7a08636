"""Subgoal-level checking against the stand-in server, with a scripted judgement of each theory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from isabelle_env.checker import CheckerConfig, ProofChecker
from isabelle_env.session_pool import SessionPool, SessionPoolConfig
from isabelle_env.verdict import VerdictKind
from tests.conftest import TOY_PROBLEM, address_of
from tests.isabelle_standin import HANG
from tests.scripted_prover import ScriptedProver

PROBLEM = TOY_PROBLEM

SKETCH = """proof -
  (* x is two *)
  have c0: "x = 2" using h0 sledgehammer
  (* so the sum is two and two *)
  have c1: "x + x = 2 + 2" using c0 sledgehammer
  show ?thesis using c1 sledgehammer
qed"""

SCRIPT = {"x = 2": {"by simp"}, "x + x = 2 + 2": {"by metis"}, "?thesis": {"by auto"}}

FAST = CheckerConfig(tactic_timeout=2, round_overhead=1, sledgehammer_timeout=2, final_timeout=5, proof_timeout=30)
NO_TRY0 = dataclasses.replace(FAST, try0=False)
AS_WRITTEN = dataclasses.replace(FAST, salvage_depth=0)


@pytest.fixture
def checker_for(checker_for):
    """The shared factory, with FAST as the default config."""

    def make(prover: ScriptedProver, config: CheckerConfig = FAST, cache: bool = False, **behaviour):
        return checker_for(prover, config, cache, **behaviour)

    return make


def use_theories_calls(server) -> list[list[str]]:
    return [arg["theories"] for name, arg in server.received if name == "use_theories"]


def test_try0_closes_every_step_at_once_then_the_original_theorem_is_checked(checker_for):
    prover = ScriptedProver(SCRIPT)
    checker, server = checker_for(prover)
    verdict = checker.verify(PROBLEM, SKETCH)
    assert verdict.kind is VerdictKind.PROVED, verdict.reason
    closed = {s.proposition: (s.closed_by, s.source) for s in verdict.steps}
    assert closed == {
        "x = 2": ("by simp", "try0"),
        "x + x = 2 + 2": ("by metis", "try0"),
        "?thesis": ("by auto", "try0"),
    }
    assert [s.line for s in verdict.steps] == [3, 5, 6]
    assert verdict.final_proof == (
        SKETCH.replace("h0 sledgehammer", "h0 by simp")
        .replace("c0 sledgehammer", "c0 by metis")
        .replace("c1 sledgehammer", "c1 by auto")
    )
    assert verdict.isabelle_version == "Isabelle2025" and verdict.imports == ("Main",)
    # round 1: skeleton + one theory with try0 at every step; round 2: every suggestion in one theory; final
    assert [len(c) for c in use_theories_calls(server)] == [2, 1, 1] and verdict.round_trips == 3
    skeleton, tries, suggestions, final = prover.seen
    assert skeleton.count("sorry") == 3 and tries.count("try0 sorry") == 3
    assert "sledgehammer" not in suggestions and "sorry" not in suggestions
    assert "quick_and_dirty" not in final and "sorry" not in final and "sledgehammer" not in final
    assert 'shows "x + x = 4"' in final and "theorem toy_restated:" in final
    assert "using assms by (rule toy)" in final and "thm_oracles toy_restated" in final
    assert verdict.oracles == ()


def test_tactic_rounds_then_sledgehammer_each_round_one_theory(checker_for):
    prover = ScriptedProver(SCRIPT)
    checker, server = checker_for(prover, NO_TRY0)
    verdict = checker.verify(PROBLEM, SKETCH)
    assert verdict.kind is VerdictKind.PROVED, verdict.reason
    closed = {s.proposition: (s.closed_by, s.source) for s in verdict.steps}
    assert closed == {
        "x = 2": ("by simp", "heuristic"),
        "x + x = 2 + 2": ("by metis", "sledgehammer"),
        "?thesis": ("by auto", "heuristic"),
    }
    assert verdict.steps[0].tried == ("by auto", "by simp")
    assert verdict.steps[1].tried[: len(FAST.tactics)] == FAST.tactics
    assert verdict.steps[1].tried[len(FAST.tactics) :] == ("by fast", "by metis")  # suggestions not yet tried
    calls = use_theories_calls(server)
    # skeleton + first tactic at every step; then one theory per round: tactics, hammer, 2 suggestions, final
    assert [len(c) for c in calls] == [2] + [1] * (len(FAST.tactics) - 1) + [1, 1, 1, 1]
    assert len(calls) == verdict.round_trips


def test_a_sketch_that_is_broken_without_its_steps_fails_early(checker_for):
    prover = ScriptedProver(SCRIPT)
    checker, server = checker_for(prover, AS_WRITTEN)
    broken = SKETCH.replace("show ?thesis", 'have c9: "x = 3" by simp\n  show ?thesis')
    verdict = checker.verify(PROBLEM, broken)
    assert verdict.kind is VerdictKind.FAILED
    assert "does not check even with every sledgehammer step assumed" in verdict.reason
    (message,) = verdict.messages  # the real kernel's message for a failing `by`, at the candidate's line
    assert message.text.startswith("Failed to apply initial proof method") and message.pos.line == 6
    assert len(use_theories_calls(server)) == 1


def test_a_step_nothing_closes_fails_naming_its_line(checker_for):
    script = {**SCRIPT, "x + x = 2 + 2": set()}
    checker, server = checker_for(ScriptedProver(script), NO_TRY0)
    verdict = checker.verify(PROBLEM, SKETCH)
    assert verdict.kind is VerdictKind.FAILED
    assert verdict.reason == "no tactic closed the sledgehammer steps on lines 5"
    (step,) = [s for s in verdict.steps if not s.closed]
    assert step.tried[: len(FAST.tactics)] == FAST.tactics
    assert step.tried[len(FAST.tactics) :] == ("by fast", "by metis")  # new suggestions re-checked


def test_what_try0_tried_is_not_tried_again(checker_for):
    script = {**SCRIPT, "x + x = 2 + 2": set()}
    checker, server = checker_for(ScriptedProver(script))
    verdict = checker.verify(PROBLEM, SKETCH)
    assert verdict.kind is VerdictKind.FAILED
    (step,) = [s for s in verdict.steps if not s.closed]
    # try0 ran simp, auto, blast, metis, ... under its own timeouts: only the tactics it does not cover follow,
    # and none of Sledgehammer's suggestions (all of them methods try0 already ran)
    assert step.tried == ("by eval", "by sos", "by arith", "by (auto simp: field_simps)")


def test_a_cheating_candidate_never_reaches_isabelle(checker_for):
    checker, server = checker_for(ScriptedProver(SCRIPT))
    verdict = checker.verify(PROBLEM, SKETCH.replace("c1 sledgehammer", "c1 sorry"))
    assert verdict.kind is VerdictKind.REJECTED
    assert {f.rule for f in verdict.findings} == {"skip_proof"}
    changed = checker.verify(PROBLEM, 'theorem toy:\n  fixes x :: nat\n  shows "x + x = 4"\n' + SKETCH)
    assert changed.kind is VerdictKind.REJECTED and "statement_mismatch" in {f.rule for f in changed.findings}
    assert use_theories_calls(server) == []


def test_a_looping_tactic_is_cancelled_and_the_next_one_tried(checker_for):
    prover = ScriptedProver(SCRIPT, loops={"x = 2": {"by auto"}})
    config = CheckerConfig(tactic_timeout=0.3, round_overhead=0.2, final_timeout=5, proof_timeout=30, try0=False)
    checker, server = checker_for(prover, config)
    verdict = checker.verify(PROBLEM, SKETCH)
    assert verdict.kind is VerdictKind.PROVED, verdict.reason
    assert [s.closed_by for s in verdict.steps] == ["by simp", "by metis", "by auto"]
    # the round with the loop is cancelled (one theory for every step), then each step's probe runs alone:
    # only the looping one is cancelled again
    assert len([a for name, a in server.received if name == "cancel"]) == 2


def test_a_proof_past_its_budget_is_a_timeout(checker_for):
    loops = {"x = 2": set(CheckerConfig().tactics)}
    config = CheckerConfig(tactic_timeout=0.3, round_overhead=0.1, proof_timeout=1.0, sledgehammer=False)
    checker, _ = checker_for(ScriptedProver(SCRIPT, loops=loops), config)
    verdict = checker.verify(PROBLEM, SKETCH)
    assert verdict.kind is VerdictKind.TIMEOUT
    assert verdict.timings["total"] < 5


def test_verdicts_and_sledgehammer_calls_are_cached(checker_for):
    prover = ScriptedProver(SCRIPT)
    checker, server = checker_for(prover, NO_TRY0, cache=True)
    first = checker.verify(PROBLEM, SKETCH)
    calls = len(use_theories_calls(server))
    again = checker.verify(PROBLEM, SKETCH.replace("  (* x is two *)\n", "").replace("-\n", "-\n\n"))
    assert again.kind is VerdictKind.PROVED and again.cached and again.final_proof == first.final_proof
    assert len(use_theories_calls(server)) == calls  # normalised text: the same check, never run twice
    hammered = sum("sledgehammer [timeout" in text for text in prover.seen)
    variant = SKETCH.replace("show ?thesis using c1", 'have c2: "x = 2" using h0 by simp\n  show ?thesis using c1')
    assert checker.verify(PROBLEM, variant).kind is VerdictKind.PROVED
    assert sum("sledgehammer [timeout" in text for text in prover.seen) == hammered  # goal-level cache
    assert checker.cache.counts() == {"checks": 2, "sledgehammer": 1}


def test_infrastructure_trouble_is_a_verdict_and_is_not_cached(checker_for):
    checker, _ = checker_for(ScriptedProver(SCRIPT), cache=True, close_mid_message_on=frozenset({"use_theories"}))
    verdict = checker.verify(PROBLEM, SKETCH)
    assert verdict.kind is VerdictKind.INFRASTRUCTURE_ERROR
    assert "middle of a message" in verdict.reason
    assert checker.cache.counts()["checks"] == 0


def test_a_proof_without_sledgehammer_goes_straight_to_the_final_check(checker_for):
    checker, server = checker_for(ScriptedProver({"x + x = 4": {"by simp"}}), AS_WRITTEN)
    assert checker.verify(PROBLEM, "using h0 by simp").kind is VerdictKind.PROVED
    assert len(use_theories_calls(server)) == 1
    failed = checker.verify(PROBLEM, "using h0 by auto")
    assert failed.kind is VerdictKind.FAILED and failed.reason == "Isabelle rejected the final proof"


def test_unsound_settings_are_refused(standin):
    server = standin()
    pool = SessionPool(address_of(server), SessionPoolConfig(options=("quick_and_dirty=true",)))
    with pytest.raises(ValueError, match="quick_and_dirty"):
        ProofChecker(pool)
    with pytest.raises(ValueError, match="not a terminal proof"):
        CheckerConfig(tactics=("sorry",))
    with pytest.raises(ValueError, match="not allowed"):
        CheckerConfig(tactics=("by (tactic \\<open>all_tac\\<close>)",))


def test_cli_audit_and_verify(standin, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("SUBGOALXL_CACHE_DIR", str(tmp_path / "cache"))
    problem = tmp_path / "toy.thy"
    problem.write_text(PROBLEM)
    sketch = tmp_path / "sketch.txt"
    sketch.write_text(SKETCH)
    cheat = tmp_path / "cheat.txt"
    cheat.write_text(SKETCH.replace("c1 sledgehammer", "c1 sorry"))
    runner = CliRunner()
    assert runner.invoke(app, ["audit", str(problem), str(sketch)]).exit_code == 0
    found = runner.invoke(app, ["audit", str(problem), str(cheat), "--json"])
    assert found.exit_code == 1
    assert [(f["rule"], f["line"]) for f in __import__("json").loads(found.stdout)["findings"]] == [("skip_proof", 6)]
    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    address = address_of(server)
    env = {"SUBGOALXL_ISABELLE_PASSWORD": address.password}
    base = ["verify", str(problem), "--isabelle-server", str(address), "--tactic-timeout", "2"]
    proved = runner.invoke(app, [*base[:2], str(sketch), *base[2:]], env=env)
    assert proved.exit_code == 0, proved.output
    assert "toy: proved" in proved.stdout and 'have c1: "x + x = 2 + 2" using c0 by metis' in proved.stdout
    rejected = runner.invoke(app, [*base[:2], str(cheat), *base[2:], "--json"], env=env)
    assert rejected.exit_code == 1 and __import__("json").loads(rejected.stdout)["kind"] == "rejected"
    missing = runner.invoke(app, ["verify", str(problem), str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_a_check_can_be_cancelled_between_round_trips(checker_for):
    from isabelle_env.checker import CheckCancelled

    checker, server = checker_for(ScriptedProver(SCRIPT))
    calls = []

    def stop_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(CheckCancelled):
        checker.verify(PROBLEM, SKETCH, should_stop=stop_after_two)
    assert len(use_theories_calls(server)) == 2


def test_sledgehammer_cache_is_keyed_by_what_isabelle_sees_at_the_step(checker_for):
    # the same proposition in another context (other facts, another proof before it) is another goal
    script = {"x = 2": {"by metis"}, "x + x = 4": {"by metis"}, "?thesis": {"by metis"}}
    hammer = {p: ["by metis"] for p in script}
    prover = ScriptedProver(script, hammer=hammer)
    checker, server = checker_for(prover, dataclasses.replace(NO_TRY0, tactics=("by blast",)), cache=True)
    one = "using h0 sledgehammer"
    two = 'proof -\n  have c: "x = 2" using h0 sledgehammer\n  show ?thesis using c sledgehammer\nqed'
    three = 'proof -\n  have c: "x = 2" using h0 sledgehammer\n  show ?thesis using h0 c sledgehammer\nqed'
    for text in (one, two, three, two):
        assert checker.verify(PROBLEM, text).kind is VerdictKind.PROVED
    hammered = [t for t in prover.seen if "sledgehammer [timeout" in t]
    # one: 1 site; two: 2 sites; three: the `have` is the same goal as in two (cached), the `show` is not
    assert len(hammered) == 1 + 2 + 1
    assert checker.cache.counts()["sledgehammer"] == 4


def test_a_sledgehammer_run_that_found_nothing_or_overran_is_not_cached(checker_for):
    nothing = ScriptedProver({}, hammer={})
    checker, _ = checker_for(nothing, dataclasses.replace(NO_TRY0, tactics=("by blast",)), cache=True)
    assert checker.verify(PROBLEM, "using h0 sledgehammer").kind is VerdictKind.FAILED
    assert checker.cache.counts() == {"checks": 1, "sledgehammer": 0}  # the verdict, not the empty run
    hanging = ScriptedProver({"x + x = 4": {"by metis"}}, hammer={"x + x = 4": ["by metis"]})
    config = dataclasses.replace(NO_TRY0, tactics=("by blast",), sledgehammer_timeout=0.2, round_overhead=0.1)
    checker, server = checker_for(hanging, config, cache=True)
    original = server.behaviour.choose_transcript  # the hammer round never finishes: cancelled at its deadline

    def hang_hammer(theory: str):
        return HANG if "sledgehammer [timeout" in Path(theory + ".thy").read_text() else original(theory)

    server.behaviour.choose_transcript = hang_hammer
    verdict = checker.verify(PROBLEM, "using h0 sledgehammer")
    assert verdict.kind is VerdictKind.FAILED
    assert checker.cache.counts()["sledgehammer"] == 0


def test_normalised_text_keeps_what_isabelle_reads():
    from isabelle_env.theory_text import normalise_proof

    # current Isabelle reads `--` as a symbol, not as a comment: the two texts differ for it, and here too
    assert normalise_proof('using h0 by simp -- "why"') != normalise_proof("using h0 by simp")
    assert normalise_proof("using h0 (* why *) by simp") == normalise_proof("using  h0\n by simp")
    assert normalise_proof("using h0 \\<comment> \\<open>why\\<close> by simp") == normalise_proof("using h0 by simp")


def test_check_folders_of_a_killed_checker_are_removed_by_the_next(checker_for, tmp_path):
    import subprocess
    import sys

    from isabelle_env.checker import WORKDIR_PREFIX

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{WORKDIR_PREFIX}{dead.stdout.strip()}-abcd"
    mine = tmp_path / f"{WORKDIR_PREFIX}{__import__('os').getpid()}-efgh"
    for folder in (stale, mine):
        folder.mkdir()
        (folder / "SXL_probe_1.thy").write_text("theory SXL_probe_1 imports Main begin end")
    checker, _ = checker_for(ScriptedProver(SCRIPT))
    ProofChecker(checker.pool, FAST, workdir=tmp_path)
    assert not stale.exists() and mine.exists()  # a live process's folder is its own
