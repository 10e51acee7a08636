"""The `subgoalxl` command line: doctor and check, with and without an Isabelle, exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import address_of
from tests.supervision import remaining

HEAVY = ("torch", "transformers", "trl", "vllm", "ray", "peft", "datasets")


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def no_isabelle(monkeypatch, tmp_path):
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))


def heavy_modules_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint('LOADED:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    loaded = out.rpartition("LOADED:")[2].strip()
    return [m for m in loaded.split(",") if m]


def test_help_and_isabelle_helpers_import_no_ml_stack():
    assert heavy_modules_after("import isabelle_env.client, isabelle_env.session_pool, isabelle_env.connect") == []
    code = (
        "from cli.main import main\nsys.argv = ['subgoalxl', '--help']\ntry:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert heavy_modules_after(code) == []


def test_doctor_without_isabelle_says_how_to_get_it(runner, no_isabelle):
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0
    checks = {c["component"]: c for c in json.loads(result.stdout)}
    assert checks["Isabelle"]["status"] == "missing"
    assert "ISABELLE_HOME" in checks["Isabelle"]["fix"] and "--isabelle-server" in checks["Isabelle"]["fix"]
    assert checks["Ray"]["status"] == "ok"
    assert checks["cache dir"]["status"] == "ok"
    assert runner.invoke(app, ["doctor", "--strict"]).exit_code == 1
    text = runner.invoke(app, ["doctor"]).stdout
    assert "missing for proof search: Isabelle" in text


def test_doctor_with_isabelle_reports_version_and_heaps(runner, fake_isabelle, monkeypatch, tmp_path):
    monkeypatch.setenv("SUBGOALXL_CACHE_DIR", str(tmp_path / "cache"))
    result = runner.invoke(app, ["doctor", "--json", "--isabelle", str(fake_isabelle)])
    checks = {c["component"]: c for c in json.loads(result.stdout)}
    assert checks["Isabelle"]["status"] == "ok" and "Isabelle2025" in checks["Isabelle"]["detail"]
    heaps = checks["Isabelle heaps"]
    assert heaps["status"] == "warn" and "built: HOL, Pure" in heaps["detail"]
    assert heaps["fix"].endswith("build -b HOL-Library HOL-Computational_Algebra HOL-Number_Theory")
    assert checks["cache dir"]["detail"].startswith(str(tmp_path / "cache"))


def test_check_without_isabelle_is_an_infrastructure_error_that_says_what_to_do(runner, no_isabelle, tmp_path):
    thy = tmp_path / "A.thy"
    thy.write_text("theory A imports Main begin end")
    result = runner.invoke(app, ["check", str(thy)])
    assert result.exit_code == 2
    assert "no Isabelle found" in result.stderr and "--isabelle-server HOST:PORT --password PW" in result.stderr


def test_check_usage_errors(runner, tmp_path):
    assert runner.invoke(app, ["check"]).exit_code == 2
    missing = runner.invoke(app, ["check", str(tmp_path / "Nope.thy")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    (tmp_path / "x.txt").write_text("")
    assert "not a theory file" in runner.invoke(app, ["check", str(tmp_path / "x.txt")]).stderr
    thy = tmp_path / "A.thy"
    thy.write_text("theory A imports Main begin end")
    bad = runner.invoke(app, ["check", str(thy), "--isabelle-server", "localhost:http", "--password", "x"])
    assert bad.exit_code == 2 and "expected HOST:PORT" in bad.stderr
    nopw = runner.invoke(app, ["check", str(thy), "--isabelle-server", "127.0.0.1:9"], env={})
    assert nopw.exit_code == 2 and "needs its password" in nopw.stderr


def write_theories(tmp_path):
    good = tmp_path / "Good.thy"
    good.write_text('theory Good imports Main begin\nlemma "\\<forall>x. \\<exists>y. x = y" by auto\nend\n')
    bad = tmp_path / "sub" / "Bad.thy"
    bad.parent.mkdir()
    bad.write_text('theory Bad imports Main begin\n(* standin: fails *)\nlemma "x = y" by auto\nend\n')
    return good, bad


def test_check_starts_a_server_reports_per_theory_and_leaves_nothing(runner, fake_isabelle, tmp_path, monkeypatch):
    pid_file = tmp_path / "pids.json"
    monkeypatch.setenv("FAKE_ISABELLE_PID_FILE", str(pid_file))
    good, bad = write_theories(tmp_path)
    ok = runner.invoke(app, ["check", str(good), "--isabelle", str(fake_isabelle)])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith(f"{good}: ok")
    failed = runner.invoke(app, ["check", str(good), str(bad), "--isabelle", str(fake_isabelle), "--json"])
    assert failed.exit_code == 1
    report = json.loads(failed.stdout)
    assert report["ok"] is False
    by_path = {t["path"]: t for t in report["theories"]}
    assert by_path[str(good)]["ok"] is True and by_path[str(good)]["errors"] == []
    (error,) = by_path[str(bad)]["errors"]
    assert error["pos"]["line"] == 5 and error["text"].startswith("Failed to finish proof")
    pids = json.loads(pid_file.read_text())
    assert remaining([pids["server"], pids["helper"]]) == []


def test_check_against_a_running_server_with_password_from_env(runner, standin, tmp_path, monkeypatch):
    server = standin(rename_theories=True)
    good, _ = write_theories(tmp_path)
    address = address_of(server)
    env = {"SUBGOALXL_ISABELLE_PASSWORD": address.password}
    result = runner.invoke(app, ["check", str(good), "--isabelle-server", str(address)], env=env)
    assert result.exit_code == 0, result.output
    assert address.password not in result.output
    wrong = runner.invoke(app, ["check", str(good), "--isabelle-server", str(address), "--password", "nope"])
    assert wrong.exit_code == 2 and "password is wrong" in wrong.stderr


def test_sigterm_stops_any_command_like_ctrl_c_with_exit_143(tmp_path):
    """`check` waiting on a server that never answers: SIGTERM (what `timeout`, SLURM and Kubernetes send)."""
    import signal
    import socket
    import time

    listener = socket.create_server(("127.0.0.1", 0))  # accepts, then never answers the password
    thy = tmp_path / "A.thy"
    thy.write_text("theory A imports Main begin end")
    port = listener.getsockname()[1]
    program = "from cli.main import main; main()"
    args = ["check", str(thy), "--isabelle-server", f"127.0.0.1:{port}", "--password", "x"]
    try:
        results = {}
        for name, sig in (("SIGTERM", signal.SIGTERM), ("SIGINT", signal.SIGINT)):
            command = subprocess.Popen([sys.executable, "-c", program, *args], stderr=subprocess.PIPE, text=True)
            conn, _ = listener.accept()  # the command is connected and waiting in the handshake
            time.sleep(0.3)
            command.send_signal(sig)
            results[name] = (command.wait(timeout=30), command.stderr.read())
            conn.close()
    finally:
        listener.close()
    code, stderr = results["SIGTERM"]
    assert code == 143 and stderr.strip() == "terminated (SIGTERM); everything started was stopped", stderr
    assert results["SIGINT"][0] == 130 and "Traceback" not in results["SIGINT"][1]  # Ctrl-C keeps its code
