"""Generators hosted in Ray actors: one model load per actor, requests spread over a pool, batched inside.

`GeneratorWorker` is an async actor that owns one backend. Requests that arrive within `batch_window_ms`, or
while the backend is busy with the previous batch, are merged into one backend call when their sampling
parameters agree apart from the seed: every prompt keeps its own seed (`Backend.generate_seeded`), and what a
seed draws does not depend on the batch it ran in, so seeded requests are merged as freely as unseeded ones.
Backend calls run in threads, at most `backend.max_concurrent_calls` at once (1 for a model in this process;
an HTTP client allows more), so the actor keeps collecting the next batch meanwhile. When a merged call fails,
each of its requests is run again alone, so one bad request fails only its own caller.

`GeneratorPool` starts `num_actors` workers (`num_cpus`/`num_gpus` each, restarted by Ray up to
`max_restarts` times), cuts each call into chunks of `chunk_prompts` prompts, sends every chunk to the
least-loaded actor, and re-submits a chunk whose actor died to another one. Prompt g of a call seeded s gets
seed s + g whichever chunk and actor it lands on, so a seeded call's result does not depend on how it was cut.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from generators.backend import Backend, BackendError, Completion, SamplingParams, ScoreResult, prompt_seeds
from generators.backends.config import StrictConfig

log = logging.getLogger(__name__)


class PoolConfig(StrictConfig):
    """How many actors, what each reserves, and how requests are cut, batched and retried."""

    num_actors: int = Field(1, ge=1)
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)
    max_restarts: int = Field(3, ge=-1, description="Ray restarts of a dead actor (-1: forever)")
    max_resubmits: int = Field(3, ge=0, description="times one chunk is re-sent after its actor died")
    chunk_prompts: int = Field(8, ge=1, description="prompts per request; a call is spread over actors in chunks")
    batch_window_ms: float = Field(5.0, ge=0, description="how long an actor collects requests before a call")
    max_batch_prompts: int = Field(64, ge=1, description="most prompts merged into one backend call")
    ready_timeout_s: float = Field(600.0, gt=0, description="how long to wait for actors to load their model")


@dataclass
class _Pending:
    prompts: list[str]
    seeds: list[int | None]
    future: asyncio.Future[list[list[Completion]]]


def _settle(future: asyncio.Future[Any], result: Any = None, *, error: BaseException | None = None) -> None:
    """Give a waiting caller its result or error (unless it gave up already)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class GeneratorWorker:
    """The actor body: one backend, loaded once; async so concurrent requests can be merged."""

    def __init__(
        self,
        backend: dict[str, Any] | Callable[[], Backend],
        batch_window_ms: float = 5.0,
        max_batch_prompts: int = 64,
    ) -> None:
        from generators.backends import make_backend

        self.backend = backend() if callable(backend) else make_backend(backend)
        self.window_s = batch_window_ms / 1000
        self.max_batch_prompts = max_batch_prompts
        # requests waiting for a backend call, by their sampling parameters without the seed
        self._pending: dict[SamplingParams, list[_Pending]] = {}
        self._flush: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # strong references: the loop keeps only weak ones
        self._slots: asyncio.Semaphore | None = None
        self.backend_calls = 0
        self.requests = 0
        self.largest_batch = 0  # prompts in the largest merged call (benchmarks, tests)

    def info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "backend": self.backend.describe(),
            "backend_calls": self.backend_calls,
            "requests": self.requests,
            "largest_batch": self.largest_batch,
        }

    def _slot(self) -> asyncio.Semaphore:
        if self._slots is None:  # created inside the actor's event loop
            self._slots = asyncio.Semaphore(max(1, int(getattr(self.backend, "max_concurrent_calls", 1))))
        return self._slots

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._slot():
            self.backend_calls += 1
            return await asyncio.to_thread(fn, *args)

    async def generate(
        self, prompts: list[str], params: dict[str, Any], seeds: list[int | None] | None = None
    ) -> list[list[Completion]]:
        """Completions for `prompts`; `seeds` gives each prompt its seed (default: params' seed + i)."""
        sampling = SamplingParams(**params)
        self.requests += 1
        if seeds is None:
            seeds = prompt_seeds(sampling.seed, len(prompts))
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        future: asyncio.Future[list[list[Completion]]] = asyncio.get_running_loop().create_future()
        key = dataclasses.replace(sampling, seed=None)
        self._pending.setdefault(key, []).append(_Pending(list(prompts), list(seeds), future))
        if self._flush is None:
            self._flush = self._spawn(self._flush_loop())
        return await future

    async def _flush_loop(self) -> None:
        """Wait out the window, then hand every batch to a free backend slot; requests that arrive while
        the slots are busy join the next batch."""
        await asyncio.sleep(self.window_s)
        slots = self._slot()
        while self._pending:
            await slots.acquire()
            pending, self._pending = self._pending, {}
            batches = [(key, batch) for key, requests in pending.items() for batch in self._batches(requests)]
            for k, (key, batch) in enumerate(batches):
                if k:
                    await slots.acquire()
                self._spawn(self._run_batch(key, batch, slots))
        self._flush = None

    async def _run_batch(self, key: SamplingParams, batch: list[_Pending], slots: asyncio.Semaphore) -> None:
        """One backend call for a merged batch (its slot already taken); on failure each request alone."""
        prompts = [p for r in batch for p in r.prompts]
        seeds = [s for r in batch for s in r.seeds]
        self.backend_calls += 1
        self.largest_batch = max(self.largest_batch, len(prompts))
        failure: Exception | None = None
        try:
            results = await asyncio.to_thread(self.backend.generate_seeded, prompts, key, seeds)
        except Exception as exc:
            failure = exc
        finally:
            slots.release()
        if failure is None:
            offset = 0
            for r in batch:
                _settle(r.future, results[offset : offset + len(r.prompts)])
                offset += len(r.prompts)
        elif len(batch) == 1:
            _settle(batch[0].future, error=failure)
        else:
            for r in batch:  # a merged call failed: find out whose request it was
                try:
                    _settle(r.future, await self._run(self.backend.generate_seeded, r.prompts, key, r.seeds))
                except Exception as alone:  # noqa: BLE001 - handed to that request's caller
                    _settle(r.future, error=alone)

    def _batches(self, requests: list[_Pending]) -> list[list[_Pending]]:
        batches: list[list[_Pending]] = [[]]
        size = 0
        for r in requests:
            if batches[-1] and size + len(r.prompts) > self.max_batch_prompts:
                batches.append([])
                size = 0
            batches[-1].append(r)
            size += len(r.prompts)
        return batches

    async def score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        self.requests += 1
        return await self._run(self.backend.score_many, pairs)

    def close(self) -> None:
        self.backend.close()


@dataclass
class _Chunk:
    index: int
    method: str
    payload: tuple[Any, ...]
    tried: list[int] = field(default_factory=list)


class GeneratorPool:
    """`num_actors` GeneratorWorkers behind one `generate`/`score_many`; thread-safe, so callers may overlap."""

    def __init__(
        self, backend: dict[str, Any] | BaseModel | Callable[[], Backend], config: PoolConfig | None = None
    ) -> None:
        import ray

        self._ray = ray
        self.config = config or PoolConfig()
        if isinstance(backend, BaseModel):
            backend = backend.model_dump()
        if isinstance(backend, dict):
            from generators.backends import backend_config

            backend_config(backend)  # fail here, not in every actor, on a bad config
        self._backend = backend
        if not ray.is_initialized():
            log.info("starting a local Ray instance (call ray.init() first to configure it)")
            ray.init()
        cfg = self.config
        self._remote = ray.remote(
            num_cpus=cfg.num_cpus, num_gpus=cfg.num_gpus, max_restarts=cfg.max_restarts, max_task_retries=0
        )(GeneratorWorker)
        self.actors = [self._start_actor() for _ in range(cfg.num_actors)]
        self._load = [0] * cfg.num_actors
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self.resubmitted = 0

    def _start_actor(self) -> Any:
        cfg = self.config
        return self._remote.remote(self._backend, cfg.batch_window_ms, cfg.max_batch_prompts)

    def wait_ready(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Block until every actor has loaded its model; an actor that cannot start raises BackendError."""
        infos = self.info(timeout)
        dead = [i for i in infos if not i["alive"]]
        if dead:
            raise BackendError(f"{len(dead)} generator actor(s) failed to start: {dead[0]['error']}")
        return infos

    def info(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Per actor: pid, backend, call counts and `alive`; waits for actors that are restarting."""
        ray = self._ray
        deadline = time.monotonic() + (timeout or self.config.ready_timeout_s)
        infos = []
        for actor in self.actors:
            while True:
                try:
                    left = max(deadline - time.monotonic(), 0.01)
                    infos.append({"alive": True, **ray.get(actor.info.remote(), timeout=left)})
                    break
                except ray.exceptions.ActorUnavailableError:  # restarting: ask again
                    if time.monotonic() > deadline:
                        raise BackendError("a generator actor is still restarting; try again later") from None
                    time.sleep(0.1)
                except ray.exceptions.RayActorError as exc:
                    infos.append({"alive": False, "error": str(exc).splitlines()[0]})
                    break
        return infos

    # --------------------------------------------------------------------------------------- calls

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Same contract as `Backend.generate`, spread over the pool's actors."""
        params = SamplingParams(n, temperature, top_p, max_tokens, tuple(stop or ()), seed)
        return self.generate_seeded(prompts, params, prompt_seeds(seed, len(prompts)))

    def generate_seeded(
        self, prompts: Sequence[str], params: SamplingParams, seeds: Sequence[int | None]
    ) -> list[list[Completion]]:
        """`Backend.generate_seeded` spread over the pool's actors: each prompt keeps its own seed."""
        if len(seeds) != len(prompts):
            raise ValueError(f"generate_seeded() needs one seed per prompt: {len(prompts)} prompts, {len(seeds)} seeds")
        size = self.config.chunk_prompts
        payload = dataclasses.replace(params, seed=None).to_json()
        chunks = [
            _Chunk(c, "generate", (list(prompts[start : start + size]), payload, list(seeds[start : start + size])))
            for c, start in enumerate(range(0, len(prompts), size))
        ]
        return [row for part in self._run_chunks(chunks) for row in part]

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[ScoreResult]:
        size = self.config.chunk_prompts
        chunks = [
            _Chunk(c, "score_many", (list(pairs[start : start + size]),))
            for c, start in enumerate(range(0, len(pairs), size))
        ]
        return [row for part in self._run_chunks(chunks) for row in part]

    def score(self, prompt: str, completion: str) -> ScoreResult:
        return self.score_many([(prompt, completion)])[0]

    def _pick(self, avoid: list[int]) -> int:
        with self._lock:
            candidates = [i for i in range(len(self.actors)) if i not in avoid] or list(range(len(self.actors)))
            least = min(self._load[i] for i in candidates)
            ties = [i for i in candidates if self._load[i] == least]
            chosen = ties[next(self._turn) % len(ties)]
            self._load[chosen] += 1
            return chosen

    def _submit(self, chunk: _Chunk) -> tuple[Any, int]:
        actor = self._pick(chunk.tried[-1:])
        chunk.tried.append(actor)
        return getattr(self.actors[actor], chunk.method).remote(*chunk.payload), actor

    def _run_chunks(self, chunks: list[_Chunk]) -> list[Any]:
        ray = self._ray
        results: list[Any] = [None] * len(chunks)
        in_flight = {}
        for chunk in chunks:
            ref, actor = self._submit(chunk)
            in_flight[ref] = (chunk, actor)
        while in_flight:
            done, _ = ray.wait(list(in_flight), num_returns=1)
            ref = done[0]
            chunk, actor = in_flight.pop(ref)
            with self._lock:
                self._load[actor] -= 1
            try:
                results[chunk.index] = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                if len(chunk.tried) > self.config.max_resubmits:
                    self._cancel(in_flight)
                    raise BackendError(
                        f"chunk {chunk.index} failed on {len(chunk.tried)} actors, the last with: {exc}"
                    ) from None
                log.warning(
                    "generator actor %d died (%s); re-submitting chunk %d", actor, type(exc).__name__, chunk.index
                )
                self.resubmitted += 1
                new_ref, new_actor = self._submit(chunk)
                in_flight[new_ref] = (chunk, new_actor)
            except ray.exceptions.RayTaskError as exc:
                self._cancel(in_flight)
                raise exc.as_instanceof_cause() from None
        return results

    def _cancel(self, refs: dict[Any, Any]) -> None:
        for ref in refs:
            try:
                self._ray.cancel(ref)
            except Exception as exc:  # best effort: the call failed anyway
                log.debug("could not cancel %s: %s", ref, exc)

    def close(self) -> None:
        """Kill the actors (their models go with them)."""
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []

    def __enter__(self) -> GeneratorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
