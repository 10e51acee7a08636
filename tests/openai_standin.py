"""A small OpenAI-compatible server for tests: /v1/completions (with echo + logprobs) and /v1/chat/completions.

It listens on 127.0.0.1 on an OS-chosen port, answers from an engine (canned text, or the tiny model
through the transformers backend), and can misbehave on purpose: answer 503 to the first N requests, or
answer slowly. It records every request body and the most requests it ever had in flight at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

TokenLogprob = tuple[str, int, float | None]  # token text, character offset, logprob (None for the first)


class Engine(Protocol):
    def complete(self, prompt: str, body: dict[str, Any]) -> list[tuple[str, int, str]]:
        """n choices of (text, completion token count, finish reason)."""
        ...

    def echo_logprobs(self, text: str) -> list[TokenLogprob]: ...


@dataclass
class CannedEngine:
    """Returns `texts` in turn (cut at stop strings); a token is a run of non-space text with its leading spaces."""

    texts: list[str] = field(default_factory=lambda: ["Step 1: a claim.\nStep 2: the goal."])
    _next: int = 0

    def complete(self, prompt: str, body: dict[str, Any]) -> list[tuple[str, int, str]]:
        choices = []
        for _ in range(int(body.get("n") or 1)):
            text = self.texts[self._next % len(self.texts)]
            self._next += 1
            finish = "stop"
            for stop in body.get("stop") or []:
                text = text.split(stop)[0]
            words = re.findall(r"\s*\S+", text)
            limit = int(body.get("max_tokens") or 16)
            if len(words) > limit:
                text, finish = "".join(words[:limit]), "length"
            choices.append((text, min(len(words), limit), finish))
        return choices

    def echo_logprobs(self, text: str) -> list[TokenLogprob]:
        """Deterministic: the k-th token gets log-probability -(1 + k % 3) / 2; the first gets None."""
        found = [(m.group(), m.start()) for m in re.finditer(r"\s*\S+|\s+$", text)]
        return [(tok, off, None if k == 0 else -(1 + k % 3) / 2) for k, (tok, off) in enumerate(found)]


class ModelEngine:
    """Answers with a real (tiny) model through `generators`' transformers backend."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._lock = threading.Lock()  # one forward pass at a time, like a single GPU worker

    def complete(self, prompt: str, body: dict[str, Any]) -> list[tuple[str, int, str]]:
        with self._lock:
            [choices] = self.backend.generate(
                [prompt],
                n=int(body.get("n") or 1),
                temperature=float(body.get("temperature", 1.0)),
                top_p=float(body.get("top_p", 1.0)),
                max_tokens=int(body.get("max_tokens") or 16),
                stop=body.get("stop") or None,
                seed=body.get("seed"),
            )
        return [(c.text, c.completion_tokens, c.finish_reason) for c in choices]

    def echo_logprobs(self, text: str) -> list[TokenLogprob]:
        with self._lock:
            return self.backend.token_logprobs(text)


@dataclass
class Faults:
    fail_first: int = 0  # answer `fail_status` to this many requests first
    fail_status: int = 503
    delay_s: float = 0.0  # sleep before answering every request
    no_echo_logprobs: bool = False  # answer echo requests without logprobs (a server that cannot score)


class OpenAIStandin:
    def __init__(self, engine: Engine | None = None, faults: Faults | None = None, model: str = "tiny") -> None:
        self.engine = engine or CannedEngine()
        self.faults = faults or Faults()
        self.model = model
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._failed = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> OpenAIStandin:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": standin.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, payload = standin._handle(self.path, body)
                self._send(status, payload)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAIStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------- behaviour

    def _handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((path, body))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fail = self._failed < self.faults.fail_first
            self._failed += fail
        try:
            if self.faults.delay_s:
                time.sleep(self.faults.delay_s)
            if fail:
                return self.faults.fail_status, {"error": {"message": "overloaded, try again", "type": "server_error"}}
            if body.get("model") != self.model:
                return 404, {"error": {"message": f"model {body.get('model')!r} not found; serving {self.model!r}"}}
            if path.rstrip("/") == "/v1/completions":
                return 200, self._completions(body)
            if path.rstrip("/") == "/v1/chat/completions":
                return 200, self._chat(body)
            return 404, {"error": {"message": f"no route {path}"}}
        finally:
            with self._lock:
                self.in_flight -= 1

    def _usage(self, prompt: str, counts: list[int]) -> dict[str, int]:
        prompt_tokens = len(self.engine.echo_logprobs(prompt)) if prompt else 0
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": sum(counts),
            "total_tokens": prompt_tokens + sum(counts),
        }

    def _completions(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["prompt"]
        assert isinstance(prompt, str), "the stand-in takes one prompt per request"
        choices, counts = [], []
        for index, (text, count, finish) in enumerate(self.engine.complete(prompt, body)):
            logprobs = None
            if body.get("echo"):
                echoed = self.engine.echo_logprobs(prompt + text)
                text = prompt + text
                if not self.faults.no_echo_logprobs and body.get("logprobs") is not None:
                    logprobs = {
                        "tokens": [t for t, _, _ in echoed],
                        "token_logprobs": [lp for _, _, lp in echoed],
                        "text_offset": [o for _, o, _ in echoed],
                        "top_logprobs": None,
                    }
            elif body.get("logprobs") is not None:
                logprobs = {
                    "tokens": ["t"] * count,
                    "token_logprobs": [-1.0] * count,
                    "text_offset": list(range(count)),
                    "top_logprobs": None,
                }
            choices.append({"index": index, "text": text, "finish_reason": finish, "logprobs": logprobs})
            counts.append(count)
        return {
            "id": f"cmpl-{len(self.requests)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": choices,
            "usage": self._usage(prompt, counts),
        }

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = "\n\n".join(m["content"] for m in body["messages"])
        choices, counts = [], []
        for index, (text, count, finish) in enumerate(self.engine.complete(prompt, body)):
            logprobs = None
            if body.get("logprobs"):
                logprobs = {"content": [{"token": "t", "logprob": -1.0, "bytes": None, "top_logprobs": []}] * count}
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": logprobs,
                }
            )
            counts.append(count)
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": choices,
            "usage": self._usage(prompt, counts),
        }
