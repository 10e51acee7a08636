"""Starting a server from an installation, the session pool, and recovery from hangs and deaths."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from isabelle_env.errors import IsabelleError, IsabelleNotFoundError, IsabelleTimeoutError
from isabelle_env.installation import find_isabelle
from isabelle_env.server import IsabelleServer
from isabelle_env.session_pool import SessionPool, SessionPoolConfig
from tests.conftest import address_of
from tests.supervision import remaining


def test_find_isabelle_explicit_env_and_path(fake_isabelle, monkeypatch, tmp_path):
    found = find_isabelle(fake_isabelle)
    assert found.executable == fake_isabelle / "bin" / "isabelle" and found.found_via == "explicit"
    assert find_isabelle(fake_isabelle / "bin" / "isabelle").home == fake_isabelle
    monkeypatch.setenv("ISABELLE_HOME", str(fake_isabelle))
    assert find_isabelle().found_via == "ISABELLE_HOME"
    monkeypatch.delenv("ISABELLE_HOME")
    monkeypatch.setenv("PATH", f"{fake_isabelle / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert find_isabelle().found_via == "PATH"
    assert found.version == "Isabelle2025"
    assert found.built_heaps() == ["HOL", "Pure"]


def test_not_found_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(IsabelleNotFoundError, match="set ISABELLE_HOME.*--isabelle-server HOST:PORT --password PW"):
        find_isabelle()
    monkeypatch.setenv("ISABELLE_HOME", str(tmp_path))
    with pytest.raises(IsabelleNotFoundError, match=f"ISABELLE_HOME={tmp_path} holds no executable bin/isabelle"):
        find_isabelle()
    with pytest.raises(IsabelleNotFoundError, match="not an Isabelle installation"):
        find_isabelle(tmp_path)


def test_server_starts_from_its_banner_and_leaves_nothing_behind(fake_isabelle, monkeypatch, tmp_path):
    pid_file = tmp_path / "pids.json"
    monkeypatch.setenv("FAKE_ISABELLE_PID_FILE", str(pid_file))
    monkeypatch.setenv("FAKE_ISABELLE_STARTUP_DELAY", "0.3")
    with IsabelleServer(find_isabelle(fake_isabelle)) as server:
        assert server.address.host == "127.0.0.1" and server.address.port > 0
        assert server.name.startswith("subgoalxl-")
        with server.connect() as client:
            assert "use_theories" in client.help()
        assert server.address.password not in server.output_tail() + repr(server)
    pids = json.loads(pid_file.read_text())
    assert remaining([pids["server"], pids["helper"]]) == []


def test_server_that_fails_to_start_reports_its_output(fake_isabelle, monkeypatch):
    monkeypatch.setenv("FAKE_ISABELLE_SERVER_FAILS", "1")
    server = IsabelleServer(find_isabelle(fake_isabelle), startup_timeout=30)
    with pytest.raises(IsabelleError, match="simulated failure"):
        server.start()


def test_server_startup_timeout_kills_it(fake_isabelle, monkeypatch, tmp_path):
    pid_file = tmp_path / "pids.json"
    monkeypatch.setenv("FAKE_ISABELLE_PID_FILE", str(pid_file))
    monkeypatch.setenv("FAKE_ISABELLE_STARTUP_DELAY", "60")
    server = IsabelleServer(find_isabelle(fake_isabelle), startup_timeout=1.5)
    with pytest.raises(IsabelleTimeoutError, match="Starting server"):
        server.start()
    pids = json.loads(pid_file.read_text())
    assert remaining([pids["server"], pids["helper"]]) == []


def test_pool_lends_warm_sessions_and_purges_after_each_use(standin, tmp_path):
    server = standin(rename_theories=True)
    config = SessionPoolConfig(size=2, check_timeout=10)
    with SessionPool(address_of(server), config) as pool:
        assert pool.sessions_started == 2
        ids = set()
        for i in range(5):
            with pool.session() as lent:
                ids.add(lent.session_id)
                result = lent.use_theories([str(tmp_path / f"T{i}")], timeout=10)
                assert result.ok and result.nodes[0].theory_name == f"Draft.T{i}"
        assert ids <= server.sessions and len(ids) == 2
        purges = [arg for name, arg in server.received if name == "purge_theories"]
        # only what the check loaded is purged, never `all`: library theories stay loaded for the next check
        assert [p["theories"] for p in purges] == [[str(tmp_path / f"T{i}")] for i in range(5)]
        assert not any(p["all"] for p in purges)
        assert pool.sessions_replaced == 0
    stops = [arg["session_id"] for name, arg in server.received if name == "session_stop"]
    assert sorted(stops) == sorted(ids)


def test_pool_is_safe_under_concurrent_checkouts(standin, tmp_path):
    server = standin(rename_theories=True, note_delay=0.002)
    results: list[bool] = []
    with SessionPool(address_of(server), SessionPoolConfig(size=3)) as pool:

        def work(i: int) -> None:
            results.append(pool.use_theories([str(tmp_path / f"C{i}")], timeout=10).ok)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [True] * 12


def test_a_session_that_hangs_past_its_deadline_is_cancelled_and_replaced(standin, tmp_path):
    server = standin(hang_use_theories=True, ignore_cancel=True)
    config = SessionPoolConfig(size=1, check_timeout=0.3, cancel_grace=0.2, stop_timeout=2)
    with SessionPool(address_of(server), config) as pool:
        with pool.session() as lent:
            first = lent.session_id
            with pytest.raises(IsabelleTimeoutError):
                lent.use_theories(["Hang"])
            assert lent.broken
        assert [arg["task"] for name, arg in server.received if name == "cancel"]
        assert ("session_stop", {"session_id": first}) in server.received
        assert pool.sessions_replaced == 1
        with pool.session() as lent:
            assert lent.session_id != first


def test_a_dead_server_we_own_is_restarted(fake_isabelle, tmp_path, monkeypatch):
    pid_file = tmp_path / "pids.json"
    monkeypatch.setenv("FAKE_ISABELLE_PID_FILE", str(pid_file))
    theory = tmp_path / "Good.thy"
    theory.write_text("theory Good imports Main begin end")
    with IsabelleServer(find_isabelle(fake_isabelle)) as server, SessionPool(server, SessionPoolConfig()) as pool:
        assert pool.use_theories([str(theory.with_suffix(""))]).ok
        first = json.loads(pid_file.read_text())
        os.kill(first["server"], signal.SIGKILL)
        with pytest.raises(IsabelleError):  # the check in flight when it died is an infrastructure error
            pool.use_theories([str(theory.with_suffix(""))])
        assert pool.server_restarts == 1 and server.restarts == 1
        assert pool.use_theories([str(theory.with_suffix(""))]).ok  # healed
        second = json.loads(pid_file.read_text())
    assert remaining([first["server"], first["helper"], second["server"], second["helper"]]) == []


@pytest.mark.ray
def test_pool_inside_a_ray_actor(standin, tmp_path, ray_local):
    server = standin(rename_theories=True)

    @ray_local.remote(num_cpus=0)
    class Checker:
        def __init__(self, address):
            self.pool = SessionPool(address, SessionPoolConfig(size=1)).start()

        def check(self, theory: str) -> bool:
            return self.pool.use_theories([theory], timeout=10).ok

        def close(self) -> None:
            self.pool.close()

    actor = Checker.remote(address_of(server))
    try:
        assert ray_local.get(actor.check.remote(str(tmp_path / "InRay")), timeout=60) is True
        ray_local.get(actor.close.remote(), timeout=30)
    finally:
        ray_local.kill(actor)


def test_a_running_server_is_found_by_name(fake_isabelle, monkeypatch):
    from isabelle_env.errors import IsabelleConnectionError
    from isabelle_env.server import find_running_server

    installation = find_isabelle(fake_isabelle)
    with IsabelleServer(installation, name="shared-one") as server:
        found = find_running_server(installation, "shared-one")
        assert (found.port, found.password, found.name) == (server.address.port, server.address.password, "shared-one")
        with SessionPool(found, SessionPoolConfig()) as pool:
            assert pool.sessions_started == 1
    with pytest.raises(IsabelleConnectionError, match="no running Isabelle server named 'nobody'"):
        find_running_server(installation, "nobody")
