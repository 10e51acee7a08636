"""Runs under real faults, with real drivers in their own processes against the stand-in server: two drivers on one
run id, SIGTERM, `kill -9` of a driver with its own local Ray, an old store missing solutions, and a chaos test
that kills the driver at random points and checks the store after every kill."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from agent.ray_reaper import MARKER_ENV
from agent.store import RunStore, StoreError
from cli.main import app
from tests.conftest import REPO_ROOT, address_of
from tests.scripted_prover import ScriptedProver
from tests.test_search import PROBLEMS, SCRIPT, SOLVABLE, search_toys

pytestmark = pytest.mark.ray

CLI = [sys.executable, "-c", "from cli.main import main; main()"]
ALL_ATTEMPTS = sorted((p.name, 0) for p in PROBLEMS)


@pytest.fixture
def slow(standin):
    """A stand-in whose checks take long enough to stop a driver in the middle of a run."""
    return standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT), note_delay=0.3)


@pytest.fixture
def run_files(tmp_path):
    data = tmp_path / "problems"
    data.mkdir()
    for problem in PROBLEMS:
        (data / f"{problem.name}.thy").write_text(problem.theory_text)
    config = tmp_path / "run.toml"
    config.write_text("[isabelle]\ncheckers = 2\n\n[checking]\ntactic_timeout = 5\nsledgehammer_timeout = 2\n")
    return data, config, tmp_path / "runs.sqlite"


def eval_args(server, run_files, run_id):
    data, config, store = run_files
    address = address_of(server)
    args = ["eval", "--data", str(data), "--config", str(config), "--store", str(store), "--run-id", run_id]
    return [*args, "--isabelle-server", f"127.0.0.1:{address.port}", "--json"]


def driver_env(server, tmp_path):
    return {
        **os.environ,
        "SUBGOALXL_ISABELLE_PASSWORD": server.behaviour.password,
        "SUBGOALXL_CACHE_DIR": str(tmp_path / "cache"),
    }


def attempts_in(store_path: Path, run_id: str) -> int:
    try:
        with RunStore(store_path, read_only=True) as store:
            return len(store.attempts(run_id))
    except (StoreError, sqlite3.Error):  # not created yet
        return 0


def wait_for_attempts(driver, store_path, run_id, at_least, timeout=150.0):
    deadline = time.monotonic() + timeout
    while attempts_in(store_path, run_id) < at_least:
        assert driver.poll() is None, f"the driver ended first: {driver.communicate()}"
        assert time.monotonic() < deadline, "the driver made no progress"
        time.sleep(0.1)


def marked(driver_pid: int) -> list[str]:
    """Live processes started under this driver's local Ray (they carry its marker)."""
    found = []
    for process in psutil.process_iter():
        try:
            mine = process.environ().get(MARKER_ENV, "").startswith(f"{driver_pid}-")
            if mine and process.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{process.pid} {process.name()}")
        except psutil.Error:
            pass
    return found


def ray_sessions(driver_pid: int) -> list[Path]:
    """The Ray session folders this driver's local Ray made (Ray names them after the driver's pid)."""
    root = Path(os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp") / "ray"
    return sorted(root.glob(f"session_*_{driver_pid}"))


def gone(what, timeout=30.0):
    """`what()` once it is empty, or what was still there after `timeout`."""
    deadline = time.monotonic() + timeout
    while (left := what()) and time.monotonic() < deadline:
        time.sleep(0.25)
    return left


def check_finished(store_path, run_id):
    with RunStore(store_path, read_only=True) as store:
        attempts = store.attempts(run_id)
        assert sorted((a["problem"], a["attempt_index"]) for a in attempts) == ALL_ATTEMPTS  # every attempt once
        assert set(store.solutions(run_id)) == SOLVABLE
        assert store.run(run_id)["status"] == "finished" and store.lease_holder(run_id) is None


def local_driver(server, run_files, tmp_path, run_id, **popen):
    """`subgoalxl eval` in its own process, starting its own local Ray (no --ray-address), as a user runs it."""
    return subprocess.Popen([*CLI, *eval_args(server, run_files, run_id)], env=driver_env(server, tmp_path), **popen)


def resume_here(server, run_files, run_id):
    """Resume in this process (on the test session's Ray), with fast checks."""
    server.behaviour.note_delay = 0.0
    env = {"SUBGOALXL_ISABELLE_PASSWORD": server.behaviour.password}
    return CliRunner().invoke(app, eval_args(server, run_files, run_id), env=env)


def stop(driver) -> None:
    if driver.poll() is None:
        driver.kill()
        driver.wait()


def test_two_drivers_on_one_run_id_the_second_is_refused_and_a_stale_lease_is_taken_over(
    slow, run_files, tmp_path, ray_local
):
    store_path = run_files[2]
    first = local_driver(slow, run_files, tmp_path, "shared", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_attempts(first, store_path, "shared", 1)
        env = {"SUBGOALXL_ISABELLE_PASSWORD": slow.behaviour.password}
        started = time.monotonic()
        second = CliRunner().invoke(app, eval_args(slow, run_files, "shared"), env=env)
        assert second.exit_code == 2, second.output
        (line,) = second.stderr.strip().splitlines()  # refused at once, in one line, before its banner
        assert line.startswith("error: run shared is being run by ") and f"pid {first.pid} on host" in line
        assert "one driver per run" in line and "resume" not in line and time.monotonic() - started < 10
        assert first.poll() is None  # the owner goes on
        assert marked(first.pid) and ray_sessions(first.pid)  # with its own Ray
        first.send_signal(signal.SIGKILL)  # ... until it dies (the driver alone), leaving its lease behind
        first.wait(timeout=30)
    finally:
        stop(first)
    # what the driver started (Ray's processes, agents, workers) is stopped by its reaper in seconds, and the
    # session folder Ray would keep forever is removed
    assert gone(lambda: marked(first.pid)) == [] and gone(lambda: ray_sessions(first.pid)) == []
    with RunStore(store_path, read_only=True) as store:
        assert store.lease_holder("shared").pid == first.pid and store.run("shared")["status"] == "running"
        after_kill = len(store.attempts("shared"))
    assert 0 < after_kill < len(PROBLEMS)
    resumed = resume_here(slow, run_files, "shared")  # the owner is gone: its stale lease is taken over
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["solved"] == len(SOLVABLE) and summary["checked"] == len(PROBLEMS) - after_kill
    check_finished(store_path, "shared")


@pytest.mark.timeout(240)
def test_sigterm_stops_a_local_ray_run_like_ctrl_c(slow, run_files, tmp_path, ray_local):
    store_path = run_files[2]
    first = local_driver(slow, run_files, tmp_path, "term", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_attempts(first, store_path, "term", 1)
        assert marked(first.pid) and ray_sessions(first.pid)
        first.send_signal(signal.SIGTERM)  # what `timeout`, SLURM and Kubernetes send
        _, stderr = first.communicate(timeout=90)
    finally:
        stop(first)
    assert first.returncode == 143, stderr
    assert stderr.strip().endswith("terminated (SIGTERM); finished work is kept; resume with --run-id term"), stderr
    assert "Traceback" not in stderr and "SIGTERM" not in stderr.replace("terminated (SIGTERM)", "")
    with RunStore(store_path, read_only=True) as store:
        assert store.run("term")["status"] == "interrupted" and store.lease_holder("term") is None
        done = len(store.attempts("term"))
    assert 0 < done < len(PROBLEMS)
    assert gone(lambda: marked(first.pid)) == [] and gone(lambda: ray_sessions(first.pid)) == []
    resumed = resume_here(slow, run_files, "term")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["checked"] == len(PROBLEMS) - done
    check_finished(store_path, "term")


def test_an_old_store_with_proved_attempts_but_no_solutions_heals_on_resume(standin, tmp_path, ray_local):
    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        search_toys(store, "old", server)
    conn = sqlite3.connect(path)  # what a store written before solutions shared the attempt's transaction can hold
    conn.execute("delete from solutions where run_id = 'old'")
    conn.execute("update problems set status = 'exhausted', solved_at = null where run_id = 'old'")
    conn.commit()
    conn.close()
    checks = len([1 for name, _ in server.received if name == "use_theories"])
    with RunStore(path) as store:
        stats = search_toys(store, "old", server)
        assert stats.solved == len(SOLVABLE) and stats.checked == 0
        assert set(store.solutions("old")) == SOLVABLE and "using assms by simp" in store.solutions("old")["toy2"]
        statuses = {p["name"]: p["status"] for p in store.problems("old")}
        assert {n for n, s in statuses.items() if s == "proved"} == SOLVABLE
    assert len([1 for name, _ in server.received if name == "use_theories"]) == checks  # nothing checked again


# ---------------------------------------------------------------------------------------------------------------
# Chaos: SIGKILL at random points, a resume after each

CHAOS_DRIVER = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {repo!r})
    import ray
    ray.init(address={address!r}, log_to_driver=False)
    from agent.store import RunStore
    from isabelle_env.address import ServerAddress
    from tests.test_search import search_toys

    print("STARTED", flush=True)
    def progress(stats):
        print("DONE", stats.attempts_done, flush=True)
    with RunStore({store!r}) as store:
        stats = search_toys(store, "chaos", ServerAddress("127.0.0.1", {port}, {password!r}), on_progress=progress)
    print("FINISHED", json.dumps(stats.to_json()), flush=True)
    """
)


def _pump(stream, lines: queue.SimpleQueue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def store_invariants(path: Path, run_id: str, solvable: set[str]) -> dict[str, int]:
    """What must hold after any crash: the file is sound, no attempt twice, no proved attempt without its
    solution, nothing solved that an uninterrupted run does not solve."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        twice = conn.execute(
            "select problem, attempt_index from attempts where run_id = ? and final = 1 group by 1, 2 "
            "having count(*) > 1",
            [run_id],
        ).fetchall()
        assert twice == []
        orphans = conn.execute(
            "select problem from attempts a where run_id = ? and verdict_kind = 'proved' and not exists "
            "(select 1 from solutions s where s.run_id = a.run_id and s.problem = a.problem)",
            [run_id],
        ).fetchall()
        assert orphans == []
        solved = {row[0] for row in conn.execute("select problem from solutions where run_id = ?", [run_id])}
        assert solved <= solvable
        return {"attempts": conn.execute("select count(*) from attempts where run_id = ?", [run_id]).fetchone()[0]}
    finally:
        conn.close()


@pytest.mark.chaos
@pytest.mark.timeout(400)
def test_chaos_sigkill_at_random_points_then_resume(standin, tmp_path, ray_local):
    seed = int(os.environ.get("SUBGOALXL_CHAOS_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    with RunStore(tmp_path / "reference.sqlite") as store:
        search_toys(store, "ref", server)  # uninterrupted
        reference = set(store.solutions("ref"))
    assert reference == SOLVABLE
    server.behaviour.note_delay = 0.03
    address = address_of(server)
    path = tmp_path / "runs.sqlite"
    script = CHAOS_DRIVER.format(
        repo=str(REPO_ROOT),
        address=ray_local.get_runtime_context().gcs_address,
        port=address.port,
        password=address.password,
        store=str(path),
    )
    kills = []
    for _ in range(4):
        before = attempts_in(path, "chaos")
        if before == len(PROBLEMS):
            break
        lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        driver = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        reader = threading.Thread(target=_pump, args=(driver.stdout, lines))
        reader.start()
        if rng.random() < 0.25:  # somewhere in start-up: imports, Ray, the lease, the checkers, open_run
            point = f"{rng.uniform(0.3, 4.0):.2f}s after start"
            time.sleep(float(point.split("s")[0]))
        else:  # among the results: after a random number more, and a random moment later
            more = rng.randint(1, 3)
            point = f"{more} more attempt(s)"
            deadline = time.monotonic() + 150
            while (line := lines.get(timeout=150)) is not None:
                if line.startswith("DONE") and int(line.split()[1]) >= before + more:
                    break
                assert time.monotonic() < deadline, f"seed {seed}: no progress"
            time.sleep(rng.uniform(0.0, 0.2))
        finished = driver.poll() is not None
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        reader.join(timeout=30)
        kills.append(point + (" (it had finished)" if finished else ""))
        state = store_invariants(path, "chaos", reference) if path.exists() else {"attempts": 0}
        assert state["attempts"] >= before, f"seed {seed}, kills {kills}: finished work was lost"
    print(f"chaos seed {seed}: killed {kills}")
    server.behaviour.note_delay = 0.0
    with RunStore(path) as store:
        stats = search_toys(store, "chaos", address)
        assert stats.status == "finished", f"seed {seed}, kills {kills}"
    store_invariants(path, "chaos", reference)
    with RunStore(path, read_only=True) as store:
        attempts = sorted((a["problem"], a["attempt_index"]) for a in store.attempts("chaos"))
        assert attempts == ALL_ATTEMPTS, f"seed {seed}, kills {kills}"  # every attempt exactly once
        assert set(store.solutions("chaos")) == reference, f"seed {seed}, kills {kills}"
        assert store.lease_holder("chaos") is None
