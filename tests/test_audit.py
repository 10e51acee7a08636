"""The soundness audit: real human proofs pass, every cheating candidate is caught at the right line."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from isabelle_env import audit as A
from isabelle_env.audit import AuditReport, Finding, audit_candidate, statement_differences
from isabelle_env.keywords import load, supported_releases
from isabelle_env.theory_text import (
    ProblemTheory,
    atp_to_sledgehammer,
    parse_candidate,
    parse_problem,
    problem_from_statement,
)
from tests.cheating_candidates import CHEATS, HONEST, PROBLEM_TEXT, STMT


@pytest.fixture(scope="module")
def problem() -> ProblemTheory:
    return parse_problem(PROBLEM_TEXT)


@pytest.fixture(scope="module")
def minif2f(shared: Path) -> dict[str, ProblemTheory]:
    return {p.stem: parse_problem(p.read_text()) for p in (shared / "datasets/minif2f/isabelle").glob("*/*.thy")}


@pytest.fixture(scope="module")
def dsp_proofs(shared: Path) -> list[dict]:
    with tarfile.open(shared / "datasets/dsp/results/human_100_proofs.jsonl.tar.gz") as tar:
        member = tar.extractfile("human_100_proofs.jsonl")
        assert member is not None
        return [json.loads(line) for line in member.read().decode().splitlines() if line.strip()]


# -- the cheating corpus ----------------------------------------------------------------------------------------


def test_corpus_covers_every_rule_with_several_tricks():
    per_rule = {rule: sum(c.rule == rule for c in CHEATS) for rule in A.ALL_RULES}
    assert all(n >= 2 for n in per_rule.values()), per_rule
    assert len(CHEATS) >= 100


@pytest.mark.parametrize("cheat", CHEATS, ids=[f"{c.rule}:{c.description}" for c in CHEATS])
def test_cheat_is_rejected_with_rule_and_line(problem, cheat):
    report = audit_candidate(problem, cheat.text)
    assert not report.ok
    assert (cheat.rule, cheat.line) in {(f.rule, f.line) for f in report.findings}, str(report)


# -- commands by the keyword table -------------------------------------------------------------------------------


@pytest.mark.parametrize("release", supported_releases())
def test_every_command_not_allowed_is_rejected_at_its_line_in_a_proof_and_at_top_level(problem, release):
    table = load(release)
    allowed = A.ALLOWED_PROOF_COMMANDS
    for name in sorted(set(table.commands) - allowed - {"sledgehammer", "end"}):
        inside = f'proof -\n  have "0 < x" using h0 by simp\n  {name} foo\n  show ?thesis using h0 h1 by simp\nqed'
        report = audit_candidate(problem, inside, keywords=table)
        assert 3 in {f.line for f in report.findings}, (name, str(report))
        before = f"{name} foo\n{STMT}\n  using h0 h1 by simp"
        report = audit_candidate(problem, before, keywords=table)
        assert 1 in {f.line for f in report.findings}, (name, str(report))


def test_commands_that_read_files_or_print_state_are_rejected_where_a_word_list_let_them_through(problem):
    # each was folded into the arguments of `by simp` by the old hand-written lists (issue #13)
    for command in ("bibtex_file", "ROOTS_file", "syntax_consts", "syntax_types", "welcome", "thm_oracles"):
        text = f'using h0 h1 by simp\n{command} "/etc/passwd"'
        report = audit_candidate(problem, text, keywords=load("Isabelle2025"))
        assert {f.line for f in report.findings} == {2}, (command, str(report))
    report = audit_candidate(problem, "using h0 by simp\nscala_build_generated_files x")
    assert (A.SYSTEM, 2) in {(f.rule, f.line) for f in report.findings}
    assert (A.SYSTEM, 2) in {(f.rule, f.line) for f in audit_candidate(problem, 'by simp\nbibtex_file "x"').findings}
    # a command only some release knows: the default (every release's commands) reads it as a command
    assert not audit_candidate(problem, 'using h0 h1 by simp\nsyntax_consts "x"').ok


def test_private_and_qualified_are_known_and_rejected(problem):
    report = audit_candidate(problem, f'private lemma aux: "True" by simp\n{STMT}\n  using h0 h1 by simp')
    assert (A.TOP_LEVEL, 1) in {(f.rule, f.line) for f in report.findings}, str(report)
    report = audit_candidate(
        problem, 'proof -\n  qualified have c: "0 < x" using h0 by simp\n  show ?thesis sorry\nqed'
    )
    assert 2 in {f.line for f in report.findings}


def test_names_spelled_like_commands_are_names(problem):
    text = "\n".join(
        [
            "proof -",
            '  define print_ok where "print_ok = x * y"',
            '  have code_len: "0 < x" using h0 by simp',
            '  have lemma1: "0 < y" using h1 by simp',
            '  have thus\': "0 < x * y" using code_len lemma1 by simp',
            '  have ML_ok: "print_ok = x * y" by (simp add: print_ok_def)',
            "  note export_code_fact = ML_ok",
            "  show ?thesis using thus' by simp",
            "qed",
        ]
    )
    report = audit_candidate(problem, text)
    assert report.ok, str(report)


@pytest.mark.parametrize("name,text", HONEST, ids=[h[0] for h in HONEST])
def test_honest_candidates_pass(problem, name, text):
    report = audit_candidate(problem, text)
    assert report.ok, str(report)


def test_findings_name_reason_and_fix(problem):
    report = audit_candidate(problem, "using h0 h1\n  sorry")
    assert report.findings == [
        Finding(
            A.SKIP_PROOF,
            2,
            "`sorry` skips the proof; prove the step instead (leave `sledgehammer` where automation should close it)",
        )
    ]
    assert str(report) == f"line 2: [skip_proof] {report.findings[0].message}"
    assert str(AuditReport()) == "audit ok" and AuditReport().ok


# -- auxiliary lemmas --------------------------------------------------------------------------------------------

AUX = f'lemma pos_mult: "(0::real) < a \\<Longrightarrow> 0 < b \\<Longrightarrow> 0 < a * b"\n  by simp\n\n{STMT}\n'


def test_aux_lemmas_only_when_enabled(problem):
    text = AUX + "  using h0 h1 by (rule pos_mult)"
    assert audit_candidate(problem, text, allow_aux_lemmas=True).ok
    report = audit_candidate(problem, text)
    assert [(f.rule, f.line) for f in report.findings] == [(A.AUX_LEMMA, 1)]
    cheat = AUX.replace("by simp", "sorry") + "  using h0 h1 by (rule pos_mult)"
    assert [(f.rule, f.line) for f in audit_candidate(problem, cheat, allow_aux_lemmas=True).findings] == [
        (A.SKIP_PROOF, 2)
    ]
    unproved = 'lemma helper: "False"\n\n' + STMT + "\n  by simp"
    assert (A.STRUCTURE, 1) in {
        (f.rule, f.line) for f in audit_candidate(problem, unproved, allow_aux_lemmas=True).findings
    }


# -- statements --------------------------------------------------------------------------------------------------


def test_statement_comparison_ignores_layout_but_not_content(problem):
    same = parse_candidate('lemma cheat_demo:\n fixes x y::"real"\n assumes h0:"0<x" and h1: ‹0 < y›\n shows "0<x*y" .')
    assert statement_differences(problem.goal, same.goal) == []
    other = parse_candidate(STMT.replace("0 < x * y", "0 < x*y + 0") + " by simp")
    assert statement_differences(problem.goal, other.goal) == [
        (4, 'conclusion 1 differs: expected "0 < x * y", found "0 < x*y + 0"')
    ]
    merged = parse_candidate(STMT.replace("x y :: real", "xy :: real") + " by simp")
    assert statement_differences(problem.goal, merged.goal) == [
        (1, "fixes differ: expected `x :: real, y :: real`, found `xy :: real`")
    ]


def test_dsp_statements_against_current_minif2f(minif2f, dsp_proofs):
    """193 of DSP's 200 statements (openai v1) equal the maintained miniF2F ones; 7 were corrected since."""
    differing = []
    for rec in dsp_proofs:
        name = parse_candidate(rec["proof"]).goal.name
        report = audit_candidate(minif2f[name], rec["proof"])
        if not report.ok:
            assert report.rules == {A.STATEMENT}, str(report)
            differing.append(name)
    assert sorted(differing) == [
        "amc12a_2002_p6",
        "mathd_algebra_192",
        "mathd_algebra_451",
        "mathd_algebra_48",
        "mathd_algebra_76",
        "mathd_numbertheory_3",
        "mathd_numbertheory_321",
    ]


# -- real proofs pass --------------------------------------------------------------------------------------------


def test_shipped_minif2f_proofs_pass_in_every_shape(minif2f):
    shipped = {n: p for n, p in minif2f.items() if p.has_shipped_proof}
    assert len(shipped) == 147
    for name, p in shipped.items():
        for shape in (p.text, f"{p.statement}\n{p.proof}", p.proof):
            report = audit_candidate(p, shape)  # no file has extra lemmas: aux lemmas stay disabled
            assert report.ok, f"{name}: {report}"


def test_problems_that_end_in_sorry_are_rejected(minif2f):
    for name, p in minif2f.items():
        report = audit_candidate(p, p.bare())
        sorry_line = p.bare().count("\n", 0, p.statement_end) + 2
        assert (A.SKIP_PROOF, sorry_line) in {(f.rule, f.line) for f in report.findings}, name


def test_dsp_proofs_and_their_sketches_pass_against_their_own_statement(dsp_proofs):
    for rec in dsp_proofs:
        cand = parse_candidate(rec["proof"])
        own = problem_from_statement(cand.statement)
        for text in (rec["proof"], atp_to_sledgehammer(rec["proof"])):
            report = audit_candidate(own, text)
            assert report.ok, f"{rec['problem_name']}: {report}"


def test_preamble_may_be_repeated_only_verbatim(minif2f):
    p = minif2f["mathd_numbertheory_764"]
    whole = p.text.replace("\n  sorry", "\n  by simp")
    assert audit_candidate(p, whole).ok
    assert audit_candidate(p, f"{p.preamble}\n\n{p.statement}\n  by simp").ok
    assert audit_candidate(p, f"{p.statement}\n  by simp").ok
    changed = whole.replace("[x*p = 1] (mod p)", "[x*d = 1] (mod p)")
    assert [(f.rule, f.line) for f in audit_candidate(p, changed).findings] == [(A.DEFINITION, 10)]
    p = minif2f["amc12a_2020_p4"]
    assert audit_candidate(p, p.text.replace("\n   sorry", "\n   by simp")).ok
    p = minif2f["mathd_algebra_313"]
    assert audit_candidate(p, p.text.replace("\n  sorry", "\n  by simp")).ok


def test_checks_are_fast(minif2f):
    import time

    p = minif2f["aime_1983_p9"]
    started = time.perf_counter()
    for _ in range(50):
        assert audit_candidate(p, p.text).ok
    assert time.perf_counter() - started < 2.0
