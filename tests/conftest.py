"""Shared fixtures: where the reference data lives, and guards that keep tests hermetic."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Before anything imports torch: one OpenMP thread (a busy machine makes the default spin 30-60x slower),
# and never reach for a model hub.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from tests.tiny_model import tiny_model_dir, tuned_model_dir  # noqa: E402,F401

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The project's reference data (`../shared` beside the checkout, or $SUBGOALXL_SHARED)."""
    return Path(os.environ.get("SUBGOALXL_SHARED", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(autouse=True)
def _private_data_dir(request, monkeypatch, tmp_path_factory):
    """No test sees the developer's recorded Isabelle installs (`subgoalxl isabelle install`) or data;
    tests marked `isabelle` keep the real folder, where a recorded release may be the one under test."""
    if request.node.get_closest_marker("isabelle") is None:
        monkeypatch.setenv("SUBGOALXL_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "datasets").is_dir():
        pytest.fail(f"reference data not found at {path}: set SUBGOALXL_SHARED to the shared/ folder")
    return path


@pytest.fixture(scope="session")
def transcripts(shared: Path) -> Path:
    return shared / "isabelle-transcripts"


@pytest.fixture
def standin(transcripts):
    """Factory for stand-in servers: `standin(**behaviour)` returns a started one; all are stopped after."""
    from tests.isabelle_standin import Behaviour, IsabelleStandin

    started: list[IsabelleStandin] = []

    def make(**behaviour) -> IsabelleStandin:
        server = IsabelleStandin(transcripts, Behaviour(**behaviour)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def address_of(server):
    """The address (with password) of a stand-in server."""
    from isabelle_env.address import ServerAddress

    return ServerAddress("127.0.0.1", server.port, server.behaviour.password)


#: the toy problem the checker tests prove (the scripted prover judges its propositions)
TOY_PROBLEM = """theory toy imports Main begin

theorem toy:
  fixes x :: nat
  assumes h0: "x = 2"
  shows "x + x = 4"
  sorry

end
"""


@pytest.fixture
def checker_for(standin, tmp_path):
    """Factory: `checker_for(prover, config, cache=False, **behaviour)` -> (ProofChecker, stand-in server), on a pool
    of one session over a stand-in that judges theories with `prover`; every pool is closed after the test."""
    from isabelle_env.check_cache import CheckCache
    from isabelle_env.checker import CheckerConfig, ProofChecker
    from isabelle_env.session_pool import SessionPool, SessionPoolConfig

    pools: list[SessionPool] = []

    def make(prover, config: CheckerConfig | None = None, cache: bool = False, **behaviour):
        server = standin(rename_theories=True, choose_transcript=prover, **behaviour)
        pool = SessionPool(address_of(server), SessionPoolConfig(size=1, check_timeout=30, cancel_grace=1)).start()
        pools.append(pool)
        store = CheckCache(tmp_path / "cache.sqlite") if cache else None
        return ProofChecker(pool, config, cache=store), server

    yield make
    for pool in pools:
        pool.close()


@pytest.fixture
def fake_isabelle(tmp_path, transcripts, monkeypatch):
    """An installation whose `isabelle` is the stand-in (tests/fake_isabelle.py); returns its home."""
    from tests.fake_isabelle import install

    monkeypatch.setenv("SUBGOALXL_TRANSCRIPTS", str(transcripts))
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    return install(tmp_path / "Isabelle2025")


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory):
    """One embedded Ray for the whole test session (start ~4 s), sized small; shut down at the end.

    Its workers keep the environment of this moment: the check cache they use is the test session's own, never
    the user's (a cached verdict from another run would decide a test)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    previous_cache = os.environ.get("SUBGOALXL_CACHE_DIR")
    os.environ["SUBGOALXL_CACHE_DIR"] = str(tmp_path_factory.mktemp("ray-cache"))
    import ray

    ray.init(num_cpus=2, object_store_memory=256 * 1024**2, include_dashboard=False, log_to_driver=False)
    from ray._private import worker

    session = worker._global_node.get_session_dir_path()
    if previous_cache is None:  # only the workers need it; tests in this process set their own
        os.environ.pop("SUBGOALXL_CACHE_DIR")
    else:
        os.environ["SUBGOALXL_CACHE_DIR"] = previous_cache
    yield ray
    ray.shutdown()
    shutil.rmtree(session, ignore_errors=True)  # Ray keeps a session folder per start forever


def pytest_collection_modifyitems(config, items):
    """Tests marked `isabelle` run whenever a real Isabelle is found, and skip cleanly otherwise."""
    from isabelle_env.installation import isabelle_or_none

    marked = [item for item in items if item.get_closest_marker("isabelle")]
    if not marked:
        return
    found = isabelle_or_none()
    if found is None:
        skip = pytest.mark.skip(
            reason="no real Isabelle found (set ISABELLE_HOME, put isabelle on PATH, or run subgoalxl isabelle install)"
        )
        for item in marked:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_isabelle():
    from isabelle_env.installation import find_isabelle

    return find_isabelle()


def pytest_sessionfinish(session, exitstatus):
    """Nothing the tests start may outlive them: after every fixture is torn down (Ray included), no
    process started by this test session may still run."""
    import time

    import psutil

    deadline = time.monotonic() + 15
    while True:
        left = []
        for child in psutil.Process().children(recursive=True):
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{child.pid} {' '.join(child.cmdline())[:120]}")
            except psutil.Error:
                pass
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if left:
        print("\nprocesses started by the tests are still running:\n  " + "\n  ".join(left))
        session.exitstatus = 1
