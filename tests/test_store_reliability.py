"""The run store's guarantees without Ray: one driver per run (the lease), a proved attempt never without its
solution (one transaction; old stores heal on resume), read-only opening, and one clear line for every store that
cannot be opened or created."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest
from typer.testing import CliRunner

from agent.store import RunRefused, RunStore, StoreError
from cli.main import app
from tests.mounts import full_disk, read_only
from tests.test_search import PROBLEMS


def lease_row(store_path, run_id, **fields):
    """Write a lease as another driver would have left it."""
    row = {
        "run_id": run_id,
        "owner": "someone-else",
        "host": socket.gethostname(),
        "pidns": "",
        "pid": 1,
        "pid_started": 0.0,
        "command": "subgoalxl eval --run-id " + run_id,
        "acquired": time.time() - 100,
        "heartbeat": time.time(),
        **fields,
    }
    conn = sqlite3.connect(store_path)
    conn.execute(
        "create table if not exists leases (run_id text primary key, owner text not null, host text, pidns text, "
        "pid integer, pid_started real, command text, acquired real, heartbeat real)"
    )
    conn.execute(f"insert or replace into leases values ({', '.join('?' for _ in row)})", list(row.values()))
    conn.commit()
    conn.close()


def dead_pid() -> tuple[int, float]:
    """The pid and start time of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(process.pid).create_time()
    process.wait()
    return process.pid, started


# ---------------------------------------------------------------------------------------------------------------
# One driver per run


def test_a_second_driver_is_refused_naming_the_owner_until_the_first_lets_go(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as first, RunStore(path) as second:
        lease = first.acquire_lease("r")
        with pytest.raises(RunRefused) as refused:
            second.acquire_lease("r")
        message = str(refused.value)
        assert f"pid {lease.me.pid} on host {socket.gethostname()}" in message and "one driver per run" in message
        assert second.lease_holder("r").owner == lease.owner
        first.release_lease("r")
        assert second.lease_holder("r") is None
        assert second.acquire_lease("r").taken_over is None  # free: acquired, nothing taken over


def test_the_lease_names_the_command_without_its_password(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/subgoalxl", "eval", "--password", "s3cret", "--run-id", "r"])
    with RunStore(tmp_path / "runs.sqlite") as store:
        store.acquire_lease("r")
        holder = store.lease_holder("r")
    assert holder.command == "subgoalxl eval --password *** --run-id r" and "s3cret" not in holder.describe(0)


def test_a_stale_lease_is_taken_over_and_a_live_one_is_not(tmp_path):
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()
    pid, started = dead_pid()
    from agent.run_lease import _pid_namespace

    here = {"host": socket.gethostname(), "pidns": _pid_namespace()}
    cases = {
        "dead": ({**here, "pid": pid, "pid_started": started}, "has ended"),  # same host, process gone
        "reused": ({**here, "pid": 1, "pid_started": 12345.0}, "has ended"),  # pid alive, but another process
        "silent": ({"host": "elsewhere", "heartbeat": time.time() - 3600}, "no heartbeat from host elsewhere"),
    }
    with RunStore(path) as store:
        for run_id, (fields, reason) in cases.items():
            lease_row(path, run_id, **fields)
            lease = store.acquire_lease(run_id)
            assert reason in lease.taken_over and "took over run" in lease.taken_over
            assert store.lease_holder(run_id).owner == lease.owner
        lease_row(path, "alive", host="elsewhere", heartbeat=time.time())  # another host, beating
        with pytest.raises(RunRefused, match="run alive is being run by pid 1 on host elsewhere"):
            store.acquire_lease("alive")
        me = psutil.Process()
        lease_row(path, "mine", **here, pid=me.pid, pid_started=me.create_time(), heartbeat=time.time() - 3600)
        with pytest.raises(RunRefused, match="last heartbeat 3600s ago"):  # alive here: never taken, however old
            store.acquire_lease("mine")


def test_the_heartbeat_moves_and_a_driver_whose_lease_was_taken_commits_nothing_more(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        store.open_run("r", config={}, meta={})
        lease = store.acquire_lease("r", heartbeat_s=0.05)
        first = store.lease_holder("r").heartbeat
        time.sleep(0.3)
        assert store.lease_holder("r").heartbeat > first
        store.record_attempt("r", {"problem": "p", "attempt_index": 0, "status": "unparsed"})
        store.flush()
        # another host found the lease stale (this driver was paused, say) and took the run
        conn = sqlite3.connect(path)
        conn.execute("update leases set owner = 'other', host = 'elsewhere', pid = 77 where run_id = 'r'")
        conn.commit()
        store.record_attempt("r", {"problem": "p", "attempt_index": 1, "status": "unparsed"})
        with pytest.raises(RunRefused, match="run r was taken over by pid 77 on host elsewhere"):
            store.flush()
        with pytest.raises(RunRefused):
            store.update_run("r", status="finished")
        assert [a["attempt_index"] for a in store.attempts("r")] == [0]  # nothing after the takeover
        assert lease.owner != "other"
    assert RunStore(path, read_only=True).lease_holder("r").owner == "other"  # closing did not drop theirs


# ---------------------------------------------------------------------------------------------------------------
# A proved attempt and its solution


def test_a_proved_attempt_its_solution_and_problem_status_share_one_transaction(tmp_path, monkeypatch):
    batches = []
    original = RunStore._commit

    def commit(self, batch):
        batches.append([item for kind, payload in batch if kind != "event" for item in _rows(kind, payload)])
        original(self, batch)

    monkeypatch.setattr(RunStore, "_commit", commit)
    with RunStore(tmp_path / "runs.sqlite", batch_size=1) as store:  # every queue item its own batch
        store.open_run("r", config={}, meta={})
        store.add_problems("r", [{"name": "p"}])
        row = {
            "problem": "p",
            "attempt_index": 3,
            "status": "checked",
            "verdict_kind": "proved",
            "final_proof": "by simp",
        }
        store.record_attempt("r", row, solved=True)
        store.flush()
        assert store.solutions("r") == {"p": "by simp"}
        assert store.problems("r")[0]["status"] == "proved"
    (together,) = [b for b in batches if b]
    assert sorted(together) == ["attempts", "problems", "solutions"]


def _rows(kind, payload):
    return [table for table, *_ in (payload if kind == "rows" else [payload])]


def test_resuming_an_old_store_derives_solutions_from_proved_attempts(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        store.open_run("old", config={}, meta={})
        store.add_problems("old", [{"name": n} for n in ("a", "b", "c")])
        for problem, index, kind in [("a", 0, "failed"), ("a", 1, "proved"), ("a", 2, "proved"), ("b", 0, "failed")]:
            proof = f"proof {index}" if kind == "proved" else None
            row = {"problem": problem, "attempt_index": index, "status": "checked", "verdict_kind": kind}
            store.record_attempt("old", {**row, "final_proof": proof})  # as before: the solution row never came
        store.record_attempt("old", {"problem": "c", "attempt_index": 0, "status": "checked", "verdict_kind": "proved"})
        store.record_solution("old", "c", 0, "kept")
        store.flush()
        progress = store.progress("old", planned=4)
        assert progress.solved == {"a": 1, "c": 0} and "a" in progress.closed
        assert store.solutions("old") == {"a": "proof 1", "c": "kept"}
        assert {p["name"]: p["status"] for p in store.problems("old")}["a"] == "proved"
        assert store.heal_solutions("old") == []  # healed once, for good


# ---------------------------------------------------------------------------------------------------------------
# Stores that cannot be opened or created; read-only stores


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "problems"
    folder.mkdir()
    (folder / "toy2.thy").write_text(PROBLEMS[2].theory_text)
    return folder


def eval_with_store(store, data, *extra):
    # a server address is only parsed, never contacted, before the store is opened
    args = ["eval", "--data", str(data), "--store", str(store), "--isabelle-server", "127.0.0.1:9"]
    return CliRunner().invoke(app, [*args, "--password", "x", *extra])


def test_every_store_that_cannot_be_opened_gets_one_line_and_exit_2(tmp_path, data):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    one_line_error(eval_with_store(folder, data), f"the run store {folder} is a folder", "--store")
    text = tmp_path / "notes.txt"
    text.write_text("these are my notes, not a database\n" * 100)
    one_line_error(eval_with_store(text, data), f"{text} is not a run store", "--store PATH")
    report = CliRunner().invoke(app, ["report", "r", "--out", str(tmp_path / "out"), "--store", str(text)])
    one_line_error(report, f"{text} is not a run store")
    for command in (["iterate-report", "loop"], ["iterate-experts", "loop", "--out", str(tmp_path / "e.toml")]):
        one_line_error(CliRunner().invoke(app, [*command, "--store", str(text)]), f"{text} is not a run store")
    from expert_iteration.state import IterationStore

    with pytest.raises(StoreError, match=f"the run store {folder} is a folder"):
        IterationStore(folder)
    empty = tmp_path / "other.sqlite"
    sqlite3.connect(empty).execute("create table t (x)").connection.close()
    report = CliRunner().invoke(app, ["report", "r", "--out", str(tmp_path / "out"), "--store", str(empty)])
    one_line_error(report, f"{empty} is not a run store (an SQLite file without the run tables)")
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        one_line_error(eval_with_store(locked / "runs.sqlite", data), "cannot write the run store", "writable folder")
        one_line_error(eval_with_store(locked / "sub" / "runs.sqlite", data), "cannot write the run store")


def test_a_full_disk_at_start_is_one_line(tmp_path, data):
    with full_disk(tmp_path / "full") as folder:
        one_line_error(eval_with_store(folder / "runs.sqlite", data), "the disk is full", "another disk")


def test_report_reads_a_store_on_read_only_media(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    with RunStore(folder / "runs.sqlite") as store:
        store.open_run("r", config={}, meta={"benchmark": "toys", "split": "valid", "fingerprint": "fp"})
        store.add_problems("r", [{"name": "toy2", "split": "valid"}])
        row = {"problem": "toy2", "attempt_index": 0, "status": "checked", "verdict_kind": "proved"}
        store.record_attempt("r", {**row, "final_proof": "by simp"}, solved=True)
        store.update_run("r", status="finished")
    before = (folder / "runs.sqlite").read_bytes()
    with read_only(folder):
        out = tmp_path / "report"
        result = CliRunner().invoke(app, ["report", "r", "--store", str(folder / "runs.sqlite"), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "solved 1/1" in result.stdout
        with RunStore(folder / "runs.sqlite", read_only=True) as store:
            assert store.solutions("r") == {"toy2": "by simp"}
            with pytest.raises(StoreError, match="opened read-only"):
                store.update_run("r", status="x")
    assert (folder / "runs.sqlite").read_bytes() == before


def test_a_run_on_another_problem_set_is_refused_before_anything_starts(tmp_path, data, monkeypatch):
    import agent.run

    def no_ray(address):
        raise AssertionError("Ray was started for a run that is refused")

    monkeypatch.setattr(agent.run, "init_ray", no_ray)
    store = tmp_path / "runs.sqlite"
    with RunStore(store) as run_store:
        run_store.open_run("old", config={}, meta={"benchmark": "minif2f", "split": "", "fingerprint": "another"})
    started = time.monotonic()
    result = eval_with_store(store, data, "--run-id", "old")
    one_line_error(result, "run old was started on fingerprint='another'", "use a new --run-id")
    assert "resume" not in result.stderr  # one thing to do, not two
    assert time.monotonic() - started < 10
    with RunStore(store, read_only=True) as run_store:
        assert run_store.lease_holder("old") is None  # refused before the lease was taken


# ---------------------------------------------------------------------------------------------------------------
# Several processes creating one new file at the same moment


def test_set_up_steps_are_retried_while_another_process_sets_up_the_same_file():
    from isabelle_env.sqlite_setup import when_settled

    calls = []

    def racing():
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked" if len(calls) == 1 else "table runs already exists")
        return "done"

    assert when_settled(racing) == "done" and len(calls) == 3
    with pytest.raises(sqlite3.OperationalError, match="no such table"):  # not a race: raised at once
        when_settled(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("no such table: x")))
    with pytest.raises(sqlite3.OperationalError, match="locked"):  # a race that never ends: raised in time
        when_settled(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked")), timeout=0.2)


OPEN_AT = """
import sys, time
kind, path, at = sys.argv[1], sys.argv[2], float(sys.argv[3])
from agent.store import RunStore
from isabelle_env.check_cache import CheckCache
time.sleep(max(0.0, at - time.time()))
RunStore(path).close() if kind == "store" else CheckCache(path)._db.conn.close()
"""


def test_drivers_and_checkers_opening_one_new_file_together_all_succeed(tmp_path):
    for round_ in range(4):
        kind = "store" if round_ % 2 else "cache"
        at = time.time() + 2.0  # the processes start (imports) first, then open the file together
        path = str(tmp_path / f"{kind}{round_}.sqlite")
        openers = [
            subprocess.Popen([sys.executable, "-c", OPEN_AT, kind, path, str(at)], stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        errors = [p.communicate(timeout=60)[1] for p in openers]
        assert [p.returncode for p in openers] == [0] * 4, errors
