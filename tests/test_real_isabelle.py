"""End to end against a real Isabelle: run whenever one is found (ISABELLE_HOME or PATH), skipped otherwise."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from cli.main import app
from isabelle_env.server import IsabelleServer
from isabelle_env.session_pool import SessionPool, SessionPoolConfig
from isabelle_env.theory_check import check_theory_files
from tests.conftest import TOY_PROBLEM
from tests.supervision import remaining

pytestmark = pytest.mark.isabelle


def write(tmp_path, name: str, body: str):
    path = tmp_path / f"{name}.thy"
    path.write_text(f"theory {name} imports Main begin\n{textwrap.dedent(body)}\nend\n")
    return path


def test_real_server_pool_checks_proved_and_failing_theories(real_isabelle, tmp_path):
    proved = write(tmp_path, "Proved", 'lemma "\\<forall>x::nat. \\<exists>y. x = y" by auto')
    failing = write(tmp_path, "Failing", 'lemma "\\<forall>x y::nat. x = y" by auto')
    with IsabelleServer(real_isabelle) as server:
        config = SessionPoolConfig(session="HOL", size=1, check_timeout=300)
        with SessionPool(server, config) as pool:
            results = {r.path.name: r for r in check_theory_files(pool, [proved, failing])}
            assert results["Proved.thy"].ok
            assert not results["Failing.thy"].ok
            assert results["Failing.thy"].errors[0].pos.line == 2
            again = check_theory_files(pool, [proved])  # purged in between: loads afresh, same answer
            assert again[0].ok
        pid = server.pid
    assert remaining([pid]) == []


def test_real_server_accepts_sorry_and_only_the_oracle_report_tells(real_isabelle, tmp_path):
    # the server checks in interactive mode, where `sorry` needs no quick_and_dirty (Pure/Isar/method.ML
    # `Method.cheating`; Pure/PIDE/command.ML runs commands as interactive): "no error" is no verdict
    cheat = write(tmp_path, "Cheat", 'lemma cheat: "False" sorry\nthm_oracles cheat')
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(cheat), "--isabelle", str(real_isabelle.home), "--json"])
    assert result.exit_code == 0, result.output
    (theory,) = json.loads(result.stdout)["theories"]
    assert theory["errors"] == []


TOY = TOY_PROBLEM


def test_real_verify_proved_failing_and_sledgehammer(real_isabelle):
    from isabelle_env.checker import CheckerConfig, ProofChecker
    from isabelle_env.verdict import VerdictKind

    sketch = 'proof -\n  have c0: "x + x = 2 + 2" using h0 sledgehammer\n  show ?thesis using c0 sledgehammer\nqed'
    wrong = sketch.replace("2 + 2", "2 + 3")
    with IsabelleServer(real_isabelle) as server, SessionPool(server, SessionPoolConfig(session="HOL")) as pool:
        checker = ProofChecker(pool, CheckerConfig(tactic_timeout=30, sledgehammer_timeout=60))
        proved = checker.verify(TOY, sketch)
        assert proved.kind is VerdictKind.PROVED, proved
        assert all(step.closed for step in proved.steps)
        failed = checker.verify(TOY, wrong)
        assert failed.kind is VerdictKind.FAILED
        hammer_only = ProofChecker(pool, CheckerConfig(tactics=("by blast",), sledgehammer_timeout=60, try0=False))
        hammered = hammer_only.verify(TOY, sketch)
        assert hammered.kind is VerdictKind.PROVED, hammered
        assert any(step.source == "sledgehammer" for step in hammered.steps)
        rejected = checker.verify(TOY, "sorry")
        assert rejected.kind is VerdictKind.REJECTED
        assert proved.oracles == () and failed.oracles == ()


def test_real_sorry_past_the_audit_is_not_proved_because_isabelle_reports_skip_proof(real_isabelle, monkeypatch):
    from isabelle_env import checker as checker_module
    from isabelle_env.audit import AuditReport
    from isabelle_env.checker import ProofChecker
    from isabelle_env.verdict import VerdictKind

    monkeypatch.setattr(checker_module, "audit_candidate", lambda *a, **k: AuditReport())
    with IsabelleServer(real_isabelle) as server, SessionPool(server, SessionPoolConfig(session="HOL")) as pool:
        verdict = ProofChecker(pool).verify(TOY, "sorry")
        assert verdict.kind is VerdictKind.FAILED and verdict.oracles == ("skip_proof",), verdict
        closed = 'theory closed imports Main begin\ntheorem closed: "(37::nat) * 41 = 1517"\n  sorry\nend\n'
        evaluated = ProofChecker(pool).verify(closed, "by eval")
        assert evaluated.kind is VerdictKind.PROVED and "holds_by_evaluation" in evaluated.oracles[0], evaluated
