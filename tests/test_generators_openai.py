"""The OpenAI-compatible HTTP backend against a local stand-in server: generation, scoring, retries, limits."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math
import socket
import time

import pytest

from generators.backend import BackendError, ScoringUnsupported
from generators.backends import OpenAIConfig, TransformersConfig, make_backend
from generators.backends.openai_backend import completion_span_logprobs
from tests.openai_standin import CannedEngine, Faults, ModelEngine, OpenAIStandin
from tests.tiny_model import MINI_PROOF, mini_prompt


@pytest.fixture
def standin():
    started: list[OpenAIStandin] = []

    def make(engine=None, **faults) -> OpenAIStandin:
        server = OpenAIStandin(engine, Faults(**faults)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def client(server: OpenAIStandin, **overrides):
    settings = {"model": "tiny", "base_url": server.base_url, "backoff_initial": 0.01, "max_retries": 3} | overrides
    return make_backend(OpenAIConfig(**settings))


def test_completions_return_n_choices_per_prompt_with_counts(standin):
    server = standin(CannedEngine(["Step 1: a.\nStep 2: b.\n### next", "Step 1: only one and a long tail of words"]))
    with client(server) as backend:
        rows = backend.generate(["p0", "p1"], n=2, temperature=0.5, max_tokens=6, stop=["\n###"], seed=4)
    assert len(rows) == 2 and all(len(row) == 2 for row in rows)
    texts = sorted(c.text for row in rows for c in row)
    assert texts == ["Step 1: a.\nStep 2: b."] * 2 + ["Step 1: only one and a"] * 2
    cut = next(c for row in rows for c in row if c.text.startswith("Step 1: only"))
    assert cut.finish_reason == "length" and cut.completion_tokens == 6
    bodies = sorted((body["prompt"], body["seed"]) for _, body in server.requests)
    assert bodies == [("p0", 4), ("p1", 5)]  # one request per prompt, seed + i
    assert all(body["stop"] == ["\n###"] and body["n"] == 2 and body["logprobs"] == 0 for _, body in server.requests)


def test_chat_api_with_a_system_prompt(standin):
    server = standin(CannedEngine(["```isabelle\nproof -\nqed\n```"]))
    with client(server, api="chat", system_prompt="You are Isabelle.") as backend:
        [[completion]] = backend.generate(["prove it"], max_tokens=50)
    assert completion.text.startswith("```isabelle") and completion.completion_tokens == 5
    path, body = server.requests[0]
    assert path == "/v1/chat/completions"
    assert body["messages"] == [
        {"role": "system", "content": "You are Isabelle."},
        {"role": "user", "content": "prove it"},
    ]


def test_a_503_is_retried_until_the_server_answers(standin):
    server = standin(fail_first=2)
    with client(server) as backend:
        [[completion]] = backend.generate(["x"])
    assert completion.text.startswith("Step 1") and len(server.requests) == 3


def test_retries_give_up_with_a_clear_error(standin):
    server = standin(fail_first=10)
    with client(server, max_retries=2) as backend, pytest.raises(BackendError, match=r"HTTP 503, after 3 attempt"):
        backend.generate(["x"])
    assert len(server.requests) == 3


def test_client_errors_are_not_retried(standin):
    server = standin()
    with client(server, model="other") as backend, pytest.raises(BackendError, match="answered 404: .*serving 'tiny'"):
        backend.generate(["x"])
    assert len(server.requests) == 1


def test_a_slow_server_times_out(standin):
    server = standin(delay_s=1.0)
    started = time.monotonic()
    with (
        client(server, timeout=0.2, max_retries=1) as backend,
        pytest.raises(BackendError, match="no answer within 0.2 s"),
    ):
        backend.generate(["x"])
    assert time.monotonic() - started < 1.0


def test_nothing_listening_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = make_backend(
        OpenAIConfig(model="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff_initial=0)
    )
    with backend, pytest.raises(BackendError, match="connection failed"):
        backend.generate(["x"])


def test_concurrency_is_bounded(standin):
    server = standin(delay_s=0.1)
    with client(server, max_concurrency=2) as backend:
        rows = backend.generate([f"p{i}" for i in range(6)], max_tokens=3)
    assert len(rows) == 6 and server.max_in_flight == 2


def test_scoring_reads_the_completions_tokens_by_character_offset(standin):
    server = standin()
    with client(server) as backend:
        # tokens of "Step 1: a claim." are "Step" " 1:" " a" " claim." with logprobs None, -1, -1.5, -0.5
        result = backend.score("Step 1:", " a claim.")
    assert result.num_tokens == 2 and math.isclose(result.sum_logprob, -2.0) and math.isclose(result.mean_logprob, -1.0)
    body = server.requests[-1][1]
    assert body["echo"] is True and body["logprobs"] == 1 and body["prompt"] == "Step 1: a claim."


def test_completion_span_includes_a_straddling_token_and_excludes_generated_ones():
    tokens, logprobs, offsets = ["ab", "cd", "ef", "X"], [None, -1.0, -2.0, -3.0], [0, 2, 4, 6]
    assert completion_span_logprobs(tokens, logprobs, offsets, prompt_chars=3, completion_chars=3) == [-1.0, -2.0]
    assert completion_span_logprobs(tokens, logprobs, offsets, prompt_chars=4, completion_chars=2) == [-2.0]


def test_servers_that_cannot_score_say_so(standin):
    with client(standin(), api="chat") as backend, pytest.raises(ScoringUnsupported, match="chat API cannot score"):
        backend.score("a", "b")
    with (
        client(standin(no_echo_logprobs=True)) as backend,
        pytest.raises(ScoringUnsupported, match="no prompt logprobs"),
    ):
        backend.score("a", "b")


def test_a_model_behind_the_server_scores_and_samples_like_the_local_backend(standin, tiny_model_dir):
    local = make_backend(TransformersConfig(model=str(tiny_model_dir)))
    server = standin(ModelEngine(local))
    prompt = mini_prompt()
    with client(server) as remote:
        remote_score = remote.score(prompt, MINI_PROOF)
        [[remote_greedy]] = remote.generate([prompt], temperature=0, max_tokens=20)
    local_score = local.score(prompt, MINI_PROOF)
    assert remote_score.num_tokens == local_score.num_tokens
    assert math.isclose(remote_score.sum_logprob, local_score.sum_logprob, rel_tol=1e-4)
    [[local_greedy]] = local.generate([prompt], temperature=0, max_tokens=20)
    assert remote_greedy.text == local_greedy.text and remote_greedy.completion_tokens == 20
    assert remote_greedy.prompt_tokens == local_greedy.prompt_tokens
