"""Supervision with real processes: hanging, dying, SIGTERM-ignoring children and their descendants."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from isabelle_env.errors import IsabelleError, IsabelleTimeoutError
from isabelle_env.process import SupervisedProcess, kill_process_tree, redact, run_command
from tests.supervision import remaining

# A parent that ignores SIGTERM, with a child in its own group and a grandchild in its own session:
# the shape of `isabelle server` -> JVM -> poly processes started through a setsid wrapper.
STUBBORN_TREE = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    child = subprocess.Popen([sys.executable, "-c", ignore], process_group=0)
    grandchild = subprocess.Popen([sys.executable, "-c", ignore], start_new_session=True)
    print("READY " + json.dumps([os.getpid(), child.pid, grandchild.pid]), flush=True)
    time.sleep(600)
    """
)


def start_tree() -> tuple[SupervisedProcess, list[int]]:
    proc = SupervisedProcess([sys.executable, "-c", STUBBORN_TREE])
    match = proc.expect(r"READY (\[[0-9, ]+\])", timeout=30)
    return proc, json.loads(match.group(1))


def test_stop_kills_a_tree_that_ignores_sigterm_including_other_groups_and_sessions():
    proc, pids = start_tree()
    assert proc.alive()
    groups = {os.getpgid(pid) for pid in pids}
    assert len(groups) == 3 and os.getpgrp() not in groups
    started = time.monotonic()
    proc.stop(grace=0.5)
    assert remaining(pids) == []
    assert time.monotonic() - started < 10
    assert not proc.alive()
    proc.stop()  # idempotent


def test_a_hanging_child_times_out_with_its_output_and_is_cleaned_up():
    proc = SupervisedProcess([sys.executable, "-c", "print('booting', flush=True); import time; time.sleep(600)"])
    with pytest.raises(IsabelleTimeoutError, match="booting"):
        proc.expect("never printed", timeout=0.5)
    pid = proc.pid
    proc.stop(grace=0.5)
    assert remaining([pid]) == []


def test_a_child_that_dies_reports_its_status_and_output():
    proc = SupervisedProcess([sys.executable, "-c", "import sys; print('fatal: no heap'); sys.exit(3)"])
    with pytest.raises(IsabelleError, match=r"exited \(status 3\).*fatal: no heap"):
        proc.expect("server", timeout=10)
    proc.stop()
    assert remaining([proc.pid]) == []


def test_run_command_kills_the_whole_tree_on_timeout(tmp_path):
    pid_file = tmp_path / "pids"
    script = (
        "import subprocess, time; c = subprocess.Popen(['sleep', '600']); "
        f"open({str(pid_file)!r}, 'w').write(str(c.pid)); time.sleep(600)"
    )
    with pytest.raises(IsabelleTimeoutError, match="did not finish within 1.0s and was killed"):
        run_command([sys.executable, "-c", script], timeout=1.0)
    assert remaining([int(pid_file.read_text())]) == []
    assert run_command([sys.executable, "-c", "print('hi')"], timeout=30).stdout == "hi\n"


def test_kill_process_tree_of_a_gone_process_is_harmless():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert kill_process_tree(proc.pid, grace=0.1) == []


@pytest.mark.parametrize("ending", ["normal exit", "exception", "ctrl-c"])
def test_nothing_outlives_the_interpreter(tmp_path, ending):
    """A program that forgets to stop its processes: atexit (and Ctrl-C) still take the tree down."""
    program = textwrap.dedent(
        f"""
        import json, os, sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from tests.test_process import start_tree
        proc, pids = start_tree()
        print("PIDS " + json.dumps(pids), flush=True)
        if {ending!r} == "exception":
            raise RuntimeError("boom")
        if {ending!r} == "ctrl-c":
            time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    line = child.stdout.readline()
    assert line.startswith("PIDS "), line
    pids = json.loads(line[5:])
    if ending == "ctrl-c":
        child.send_signal(signal.SIGINT)
    child.wait(timeout=60)
    assert remaining(pids, timeout=10) == []
    assert remaining([child.pid]) == []


def test_redact_hides_passwords():
    banner = 'server "x" = 127.0.0.1:4711 (password "2b6f0c1e-1111-2222-3333-444455556666")'
    assert "2b6f0c1e" not in redact(banner)
    assert redact(banner).endswith('(password "***")')
