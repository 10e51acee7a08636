"""Serve an `ExpertSet` with as few model loads as possible, and route samples to experts.

`ExpertServer` loads one backend per served model: a base model with every LoRA adapter over it (transformers
+ peft: switched per batch with `set_adapter`; vLLM: a `LoRARequest` per request), and each full fine-tune on
its own. With the `openai` backend nothing is loaded here: one client talks to a server that serves every
expert under its `request_name` (`vllm serve BASE --enable-lora --lora-modules NAME=PATH ...`, see
`serve_commands`). `server.backend_for(name)` is one expert as a plain `Backend`; `server.routed(router)` is a
`Backend` that sends each sample to the expert the router picks and returns `ExpertCompletion`s, so it drops in
wherever a backend does (a `GeneratorPool` actor, `generate_samples`, the subgoal proposer).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from generators.backend import Backend, BackendError, Completion, SamplingParams, ScoreResult
from generators.backends.config import StrictConfig, backend_config
from generators.experts import (
    Expert,
    ExpertCompletion,
    ExpertError,
    ExpertRouter,
    ExpertSet,
    RouterConfig,
    group_cells,
    with_expert,
)

#: backend config fields the server fills in itself, per served model
_SERVER_FIELDS = ("kind", "model", "adapters", "adapter")

Group = tuple[str | None, list[str], SamplingParams]


class ServingConfig(StrictConfig):
    """How experts are run: a backend kind and that backend's settings (all but model and adapters)."""

    backend: Literal["transformers", "vllm", "openai"] = "transformers"
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="fields of the backend's config, e.g. device/dtype/batch_size, max_lora_rank, base_url",
    )

    @model_validator(mode="after")
    def _valid_options(self) -> ServingConfig:
        taken = sorted(set(self.options) & set(_SERVER_FIELDS))
        if taken:
            raise ValueError(f"options may not set {taken}: the expert set decides the model and its adapters")
        self.backend_config("placeholder", {})  # an unknown or bad option fails here, named
        return self

    def backend_config(self, model: str, adapters: Mapping[str, str]) -> dict[str, Any]:
        config: dict[str, Any] = {"kind": self.backend, **self.options, "model": model}
        if adapters and self.backend != "openai":
            config["adapters"] = dict(adapters)
        return backend_config(config).model_dump()


def _make_backend(config: dict[str, Any]) -> Backend:
    from generators.backends import make_backend

    return make_backend(config)


def _generate_groups(backend: Backend, groups: list[Group]) -> list[list[list[Completion]]]:
    """Run (adapter, prompts, params) groups on one backend: in one call where it mixes adapters, else in order."""
    if hasattr(backend, "_generate_groups"):
        results = backend._generate_groups(groups)
    elif all(adapter is None for adapter, _, _ in groups) and not hasattr(backend, "_generate_adapter"):
        results = [backend.generate_with(prompts, params) for _, prompts, params in groups]
    else:
        results = [backend._generate_adapter(prompts, params, adapter) for adapter, prompts, params in groups]  # type: ignore[attr-defined]
    for (adapter, prompts, params), rows in zip(groups, results, strict=True):
        if len(rows) != len(prompts) or any(len(row) != params.n for row in rows):
            raise BackendError(
                f"{backend.kind} backend returned {[len(r) for r in rows]} completions for {len(prompts)} prompts "
                f"x n={params.n} on adapter {adapter}"
            )
    return results


class ExpertView(Backend):
    """One expert as a plain `Backend` over the server's shared model; completions carry the expert's name."""

    def __init__(self, parent: Backend, adapter: str | None, expert: Expert) -> None:
        self.parent = parent
        self.adapter = adapter
        self.expert = expert
        self.kind = parent.kind
        self.model = expert.name

    def describe(self) -> dict[str, object]:
        return {**self.parent.describe(), "model": self.expert.name, "expert": self.expert.to_json()}

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        [rows] = _generate_groups(self.parent, [(self.adapter, prompts, params)])
        return [[with_expert(c, self.expert) for c in row] for row in rows]

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        if hasattr(self.parent, "_score_adapter"):
            return self.parent._score_adapter(pairs, self.adapter)  # type: ignore[attr-defined]
        if self.adapter is not None:
            raise BackendError(f"{self.parent.kind} backend cannot score on adapter {self.adapter!r}")
        return self.parent.score_many(pairs)

    def close(self) -> None:
        """The server owns the model; closing a view releases nothing."""


class ExpertServer:
    """Every expert of a set, loaded once per served model (a base with its adapters, or a full model)."""

    def __init__(
        self,
        experts: ExpertSet,
        serving: ServingConfig | Mapping[str, Any] | None = None,
        *,
        backend_factory: Callable[[dict[str, Any]], Backend] | None = None,
    ) -> None:
        if not len(experts):
            raise ExpertError("an expert server needs at least one expert")
        self.experts = experts
        self.serving = serving if isinstance(serving, ServingConfig) else ServingConfig(**(serving or {}))
        make = backend_factory or _make_backend
        self.backends: dict[str, Backend] = {}
        self.views: dict[str, ExpertView] = {}
        try:
            if self.serving.backend == "openai":  # one client; the server behind it serves every expert by name
                first = experts.experts[0]
                client = make(self.serving.backend_config(first.request_name, {}))
                self.backends["openai"] = client
                for expert in experts:
                    self.views[expert.name] = ExpertView(client, expert.request_name, expert)
            else:
                for model, group in experts.served_models().items():
                    adapters = {e.slug: e.adapter for e in group if e.adapter is not None}
                    backend = make(self.serving.backend_config(model, adapters))
                    self.backends[model] = backend
                    for expert in group:
                        self.views[expert.name] = ExpertView(
                            backend, expert.slug if expert.is_adapter else None, expert
                        )
        except BaseException:
            self.close()
            raise

    def backend_for(self, expert: Expert | str) -> ExpertView:
        """One expert as a `Backend` (shares the loaded model with the other experts over it)."""
        name = expert if isinstance(expert, str) else expert.name
        self.experts.get(name)  # a clear error for an unknown name
        return self.views[name]

    def generate(
        self, prompts: Sequence[str], params: SamplingParams, assignment: Sequence[Sequence[Expert]]
    ) -> list[list[ExpertCompletion]]:
        """Completions for `prompts`, cell (i, j) written by `assignment[i][j]`; each records its expert.

        Cells are grouped by expert, then by how many samples a prompt needs from it; groups on one backend go
        together (vLLM and OpenAI: one call; transformers: one adapter switch per expert).
        """
        if len(assignment) != len(prompts) or any(len(row) != params.n for row in assignment):
            raise ValueError(f"assignment must be {len(prompts)} rows of n={params.n} experts")
        per_backend: dict[int, tuple[Backend, list[tuple[Expert, list[int], Group]]]] = {}
        for expert, count, indices in group_cells(assignment):
            view = self.backend_for(expert)
            group: Group = (view.adapter, [prompts[i] for i in indices], dataclasses.replace(params, n=count))
            per_backend.setdefault(id(view.parent), (view.parent, []))[1].append((expert, indices, group))
        results: list[list[ExpertCompletion | None]] = [[None] * params.n for _ in prompts]
        for backend, groups in per_backend.values():
            outputs = _generate_groups(backend, [g for _, _, g in groups])
            for (expert, indices, _), rows in zip(groups, outputs, strict=True):
                for i, row in zip(indices, rows, strict=True):
                    cells = iter(j for j, e in enumerate(assignment[i]) if e.name == expert.name)
                    for completion in row:
                        results[i][next(cells)] = with_expert(completion, expert)
        return results  # type: ignore[return-value] - every cell was filled

    def routed(self, router: RouterConfig | ExpertRouter, *, owns_server: bool = False) -> RoutedBackend:
        """A `Backend` that routes every sample by `router` over this server's experts."""
        if isinstance(router, RouterConfig):
            router = self.experts.router(router)
        return RoutedBackend(self, router, owns_server=owns_server)

    def describe(self) -> dict[str, object]:
        return {
            "serving": self.serving.backend,
            "served_models": {key: backend.describe() for key, backend in self.backends.items()},
            "experts": self.experts.to_json(),
        }

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()
        self.backends = {}

    def __enter__(self) -> ExpertServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RoutedBackend(Backend):
    """A `Backend` whose every sample is written by the expert the router picks (`ExpertCompletion.expert`).

    Scoring uses the router's first expert (the only one, for a fixed router).
    """

    kind = "experts"

    def __init__(self, server: ExpertServer, router: ExpertRouter, *, owns_server: bool = False) -> None:
        self.server = server
        self.router = router
        self.owns_server = owns_server
        names = [e.name for e in router.experts]
        self.model = names[0] if router.config.strategy == "fixed" else f"{router.config.strategy}({', '.join(names)})"

    def describe(self) -> dict[str, object]:
        return {"backend": self.kind, "model": self.model, "serving": self.server.serving.backend} | {
            "router": self.router.describe()
        }

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        assignment = self.router.assign(len(prompts), params.n, params.seed)
        return self.server.generate(prompts, params, assignment)  # type: ignore[return-value]

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return self.server.backend_for(self.router.experts[0])._score_many(pairs)

    def close(self) -> None:
        if self.owns_server:
            self.server.close()


def routed_backend(
    experts: ExpertSet | Sequence[Mapping[str, Any] | Expert],
    serving: ServingConfig | Mapping[str, Any] | None,
    router: RouterConfig | Mapping[str, Any],
) -> RoutedBackend:
    """Load the experts and return a routed backend that owns them (closing it frees the models)."""
    if not isinstance(experts, ExpertSet):
        experts = ExpertSet.from_records(experts)
    if not isinstance(router, RouterConfig):
        router = RouterConfig(**router)
    return ExpertServer(experts, serving).routed(router, owns_server=True)


def routed_backend_factory(
    experts: ExpertSet | Sequence[Mapping[str, Any] | Expert],
    serving: ServingConfig | Mapping[str, Any] | None,
    router: RouterConfig | Mapping[str, Any],
) -> Callable[[], Backend]:
    """For `GeneratorPool(factory, ...)`: each actor loads the experts once and routes inside itself.

    Everything is validated here, before any actor starts.
    """
    if not isinstance(experts, ExpertSet):
        experts = ExpertSet.from_records(experts)
    serving = serving if isinstance(serving, ServingConfig) else ServingConfig(**(serving or {}))
    router = router if isinstance(router, RouterConfig) else RouterConfig(**router)
    experts.router(router)
    return functools.partial(routed_backend, experts, serving, router)


def serve_commands(
    experts: ExpertSet, *, max_loras: int = 4, max_lora_rank: int = 16, port: int = 8000
) -> list[list[str]]:
    """The `vllm serve` command lines that serve every expert under its `request_name` (one per served model).

    Adapter experts ride on their base with `--lora-modules NAME=PATH`; full fine-tunes get a server each
    (on consecutive ports), since one vLLM server serves one base model.
    """
    commands = []
    for k, (model, group) in enumerate(experts.served_models().items()):
        command = ["vllm", "serve", model, "--port", str(port + k)]
        adapters = [e for e in group if e.is_adapter]
        if adapters:
            command += ["--enable-lora", "--max-loras", str(max_loras), "--max-lora-rank", str(max_lora_rank)]
            command += ["--lora-modules", *(f"{e.request_name}={e.adapter}" for e in adapters)]
        commands.append(command)
    return commands
