"""Generators in Ray actors: one model per actor, requests spread and merged, dead actors restarted or avoided."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from generators.backend import SamplingParams
from generators.backends import TransformersConfig
from generators.ray_pool import GeneratorPool, PoolConfig
from generators.roles import Problem, Role
from generators.samples import generate_samples
from tests.tiny_model import MINI_PROOF, mini_prompt


def test_pool_config_names_bad_fields():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['actors'\]; PoolConfig allows: num_actors"):
        PoolConfig(actors=2)
    with pytest.raises(ValueError, match="num_cpus"):
        PoolConfig(num_cpus=-1)


@pytest.mark.ray
def test_a_pool_of_two_actors_generates_scores_merges_and_survives_dead_actors(
    ray_local, tuned_model_dir, shared: Path
):
    config = PoolConfig(num_actors=2, num_cpus=0.5, max_restarts=1, chunk_prompts=2, batch_window_ms=20)
    pool = GeneratorPool(TransformersConfig(model=str(tuned_model_dir)), config)
    try:
        infos = pool.wait_ready(timeout=120)
        assert len({i["pid"] for i in infos}) == 2 and all(i["backend"]["backend"] == "transformers" for i in infos)

        # every role, through the pool, 3 problems x n=2 (two chunks, one per actor)
        with open(shared / "datasets/dsp/new_complete_mini.jsonl", encoding="utf-8") as f:
            problems = [Problem.model_validate_json(next(f)) for _ in range(3)]
        for role in Role:
            samples = list(generate_samples(problems, role, pool, SamplingParams(n=2, max_tokens=8, seed=1)))
            assert [s["problem_name"] for s in samples] == [p.problem_name for p in problems for _ in range(2)]
            assert all(s["provenance"]["completion_tokens"] <= 8 for s in samples)
        assert {i["requests"] > 0 for i in pool.info()} == {True}  # both actors took work

        # the memorised proof comes back through an actor, greedy, and scores like it did locally
        [[greedy]] = pool.generate([mini_prompt()], temperature=0, max_tokens=120, stop=["\n###"])
        assert greedy.text.strip() == MINI_PROOF
        [score] = pool.score_many([(mini_prompt(), MINI_PROOF)])
        assert math.isfinite(score.mean_logprob) and score.num_tokens > 20

        # concurrent unseeded calls are merged into fewer backend calls
        before = sum(i["backend_calls"] for i in pool.info())
        with ThreadPoolExecutor(8) as threads:
            rows = list(threads.map(lambda k: pool.generate([f"Show that {k}"], max_tokens=4), range(8)))
        assert all(len(r) == 1 and len(r[0]) == 1 for r in rows)
        calls = sum(i["backend_calls"] for i in pool.info()) - before
        assert calls < 8, f"8 concurrent requests took {calls} backend calls"

        # an actor killed by accident is restarted by Ray (max_restarts) and its model reloaded
        old_pid = infos[0]["pid"]
        ray_local.kill(pool.actors[0], no_restart=False)
        rows = pool.generate(["a", "b", "c", "d"], max_tokens=4, seed=3)
        assert len(rows) == 4 and all(len(r) == 1 for r in rows)
        assert pool.info()[0]["pid"] != old_pid

        # a permanently dead actor: its chunks are re-submitted to the other one
        ray_local.kill(pool.actors[1], no_restart=True)
        resubmitted = pool.resubmitted
        rows = pool.generate(["a", "b", "c", "d"], max_tokens=4, seed=3)
        assert len(rows) == 4 and pool.resubmitted > resubmitted
    finally:
        pool.close()
