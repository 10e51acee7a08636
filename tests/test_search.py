"""Proof search end to end on Ray with the stand-in server: budgets, early stop, dedup, faults, resumption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass

import pytest

from agent.config import parse_config
from agent.proposers import statement_hash
from agent.run import RunMeta, run_search, start_checkers
from agent.search import ProofSearch
from agent.store import RunStore
from isabelle_env.address import ServerAddress
from tests.conftest import address_of
from tests.scripted_prover import ScriptedProver

pytestmark = pytest.mark.ray


@dataclass(frozen=True)
class Toy:
    name: str
    theory_text: str
    split: str = "valid"
    category: str = "other"
    formal_statement: str = ""
    informal_statement: str | None = None
    informal_proof: str | None = None


def toy(i: int) -> Toy:
    text = (
        f"theory toy{i} imports Main begin\n\ntheorem toy{i}:\n  fixes x :: nat\n"
        f'  assumes h0: "x = {i}"\n  shows "x + {i} = {2 * i}"\n  sorry\n\nend\n'
    )
    return Toy(f"toy{i}", text)


PROBLEMS = [toy(i) for i in range(10)]
# even problems close with simp, multiples of 3 need Sledgehammer (metis), the rest cannot be proved
SCRIPT = {
    f"x + {i} = {2 * i}": ({"by simp"} if i % 2 == 0 else {"by metis"} if i % 3 == 0 else set()) for i in range(10)
}
SOLVABLE = {f"toy{i}" for i in range(10) if i % 2 == 0 or i % 3 == 0}


def config(**search):
    return parse_config(
        {
            "search": {"attempts_per_problem": 1, **search},
            "isabelle": {"checkers": 2, "sessions_per_checker": 1},
            "checking": {"tactic_timeout": 5, "sledgehammer_timeout": 2, "proof_timeout": 60},
        }
    )


def search_toys(store, run_id, server, *, cfg=None, problems=PROBLEMS, **options):
    """One search over toy problems against a stand-in server (no check cache)."""
    return run_search(
        problems=problems,
        config=cfg or config(),
        store=store,
        run_id=run_id,
        meta=RunMeta("toys", "valid", "fp"),
        server=address_of(server) if not isinstance(server, ServerAddress) else server,
        cache_path="",
        **options,
    )


@pytest.fixture
def isabelle(standin):
    prover = ScriptedProver(SCRIPT)
    server = standin(rename_theories=True, choose_transcript=prover)
    return server, prover


def test_a_ten_problem_run_completes_with_every_attempt_recorded(isabelle, tmp_path, ray_local):
    server, _ = isabelle
    with RunStore(tmp_path / "runs.sqlite") as store:
        stats = search_toys(store, "r1", server)
        assert stats.status == "finished"
        assert stats.solved == len(SOLVABLE) and stats.checked == 10
        assert set(store.solutions("r1")) == SOLVABLE
        assert "using assms by simp" in store.solutions("r1")["toy2"]
        assert "using assms by metis" in store.solutions("r1")["toy3"]
        # every attempt says which statement it was checked against: here always the problem's own
        toy2 = store.attempts("r1", "toy2")[0]
        assert toy2["benchmark_statement"] == 1 and toy2["statement"].startswith("theorem toy2:")
        assert toy2["statement_hash"] == statement_hash(toy2["statement"]) and toy2["variant"] is None
        counts = store.counts("r1")
        assert counts["attempts_checked"] == 10 and counts["verdict_proved"] == len(SOLVABLE)
        assert counts["verdict_failed"] == 10 - len(SOLVABLE)
        run = store.run("r1")
        assert run["status"] == "finished" and run["isabelle_version"] == "Isabelle2025"
        assert json.loads(run["config"])["search"]["prover"] == "hammer"
        statuses = {p["name"]: p["status"] for p in store.problems("r1")}
        assert {n for n, s in statuses.items() if s == "proved"} == SOLVABLE
        # resuming a finished run redoes nothing
        before = len([1 for name, _ in server.received if name == "use_theories"])
        again = search_toys(store, "r1", server)
        assert again.solved == len(SOLVABLE) and again.checked == 0
        assert len([1 for name, _ in server.received if name == "use_theories"]) == before


def test_early_stop_and_dedup_show_in_the_counts(isabelle, tmp_path, ray_local):
    server, _ = isabelle
    with RunStore(tmp_path / "runs.sqlite") as store:
        stats = search_toys(store, "r2", server, cfg=config(attempts_per_problem=3))
        counts = store.counts("r2")
    # the hammer proposes the same proof every time: each problem is checked once, the rest is
    # either a duplicate (problem not yet solved) or skipped (solved: early stop)
    assert counts["attempts_checked"] == 10
    assert counts.get("attempts_dedup", 0) + counts["skipped"] == 20
    assert counts.get("attempts_dedup", 0) >= 2 * (10 - len(SOLVABLE))  # unsolvable ones never stop early
    assert stats.deduplicated == counts.get("attempts_dedup", 0) and stats.skipped == counts["skipped"]


def test_a_killed_checker_actor_is_replaced_and_its_work_requeued(standin, tmp_path, ray_local):
    import ray

    prover = ScriptedProver(SCRIPT)
    server = standin(rename_theories=True, choose_transcript=prover, note_delay=0.05)
    cfg = config()
    dispatcher = start_checkers(cfg, address_of(server), cache_path="")
    killed = []

    def kill_once(stats) -> None:
        if not killed and stats.checks_in_flight:
            ray.kill(dispatcher.actors[0], no_restart=False)
            killed.append(True)

    with RunStore(tmp_path / "runs.sqlite") as store:
        store.open_run("r3", config={}, meta={})
        store.add_problems("r3", [{"name": p.name} for p in PROBLEMS])
        from agent.proposers import HammerProposer

        search = ProofSearch(
            store=store,
            run_id="r3",
            problems=PROBLEMS,
            config=cfg,
            proposer=HammerProposer(),
            dispatcher=dispatcher,
            on_progress=kill_once,
        )
        try:
            stats = search.run()
        finally:
            dispatcher.close()
        assert killed and stats.requeued >= 1
        assert stats.status == "finished" and stats.solved == len(SOLVABLE)
        assert store.counts("r3")["attempts_checked"] == 10


DRIVER = textwrap.dedent(
    """
    import sys, json
    sys.path.insert(0, {repo!r})
    import ray
    ray.init(address={address!r}, log_to_driver=False)
    from agent.store import RunStore
    from isabelle_env.address import ServerAddress
    from tests.test_search import search_toys

    def progress(stats):
        print("DONE", stats.attempts_done, flush=True)
    with RunStore({store!r}) as store:
        server = ServerAddress("127.0.0.1", {port}, {password!r})
        stats = search_toys(store, "killed", server, on_progress=progress)
    print("FINISHED", json.dumps(stats.to_json()), flush=True)
    """
)


def test_a_driver_killed_mid_run_resumes_without_redoing_finished_work(isabelle, tmp_path, ray_local):
    server, _ = isabelle
    server.behaviour.note_delay = 0.03
    address = address_of(server)
    script = DRIVER.format(
        repo=os.getcwd(),
        address=ray_local.get_runtime_context().gcs_address,
        port=address.port,
        password=address.password,
        store=str(tmp_path / "runs.sqlite"),
    )
    driver = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    for line in driver.stdout:
        if line.startswith("DONE") and int(line.split()[1]) >= 3:
            break
        assert time.monotonic() < deadline
    assert driver.poll() is None, "the driver ended before it could be killed"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    with RunStore(tmp_path / "runs.sqlite") as store:
        before = store.counts("killed").get("attempts_checked", 0)
        assert 0 < before < 10
        server.behaviour.note_delay = 0.0
        stats = search_toys(store, "killed", address)
        assert stats.checked == 10 - before  # only what was not finished
        attempts = store.attempts("killed")
        assert sorted((a["problem"], a["attempt_index"]) for a in attempts) == sorted(
            (p.name, 0) for p in PROBLEMS
        )  # every attempt exactly once
        assert set(store.solutions("killed")) == SOLVABLE


class Repairing:
    """A proposer whose first proof is wrong and whose repair (given Isabelle's messages) is right."""

    name = "repairing"
    WRONG = 'proof -\n  have c1: "x = 0" using h0 sledgehammer\n  show ?thesis using h0 sledgehammer\nqed'
    RIGHT = "using assms sledgehammer"

    def __init__(self) -> None:
        self.proposed: list[tuple[str, int]] = []
        self.repaired: list[tuple[str, int, int, str]] = []

    def propose(self, problem, attempt_index, seed):
        from concurrent.futures import Future

        from agent.proposers import Proposal

        self.proposed.append((problem.name, attempt_index))
        future: Future = Future()
        future.set_result(Proposal(problem.name, attempt_index, self.WRONG))
        return future

    def repair(self, problem, attempt_index, round_index, candidate, verdict, seed):
        from concurrent.futures import Future

        from agent.proposers import Proposal
        from agent.subgoal_proposer import verdict_feedback

        self.repaired.append((problem.name, attempt_index, round_index, verdict_feedback(verdict)))
        future: Future = Future()
        future.set_result(Proposal(problem.name, attempt_index, self.RIGHT, repair_round=round_index))
        return future

    def models(self):
        return {}

    def close(self):
        pass


def test_a_rejected_proof_is_repaired_from_isabelles_messages(isabelle, tmp_path, ray_local):
    server, _ = isabelle
    proposer = Repairing()
    problems = [PROBLEMS[2], PROBLEMS[4]]
    with RunStore(tmp_path / "runs.sqlite") as store:
        stats = search_toys(store, "rep", server, cfg=config(repair_rounds=1), problems=problems, proposer=proposer)
        assert stats.solved == 2 and stats.attempts_done == 2
        assert sorted(r[:3] for r in proposer.repaired) == [("toy2", 0, 1), ("toy4", 0, 1)]
        assert all("line 2: no tactic closed this step" in r[3] for r in proposer.repaired)
        rows = [(a["problem"], a["repair_round"], a["final"], a["verdict_kind"]) for a in store.attempts("rep")]
        assert sorted(rows) == [
            ("toy2", 0, 0, "failed"),
            ("toy2", 1, 1, "proved"),
            ("toy4", 0, 0, "failed"),
            ("toy4", 1, 1, "proved"),
        ]


def test_a_run_stopped_before_a_repair_resumes_with_the_repair(isabelle, tmp_path, ray_local):
    server, _ = isabelle
    with RunStore(tmp_path / "runs.sqlite") as store:
        first = Repairing()
        search_toys(store, "rep2", server, cfg=config(repair_rounds=0), problems=[PROBLEMS[2]], proposer=first)
        assert store.attempts("rep2")[0]["final"] == 1  # no repairs configured: the attempt ended failed
        # the same failure, recorded as awaiting its repair (as a run killed right after the check leaves it)
        store._db.conn.execute("update attempts set final = 0 where run_id = 'rep2'")
        again = Repairing()
        stats = search_toys(store, "rep2", server, cfg=config(repair_rounds=1), problems=[PROBLEMS[2]], proposer=again)
        assert again.proposed == [] and [r[:3] for r in again.repaired] == [("toy2", 0, 1)]
        assert stats.solved == 1
