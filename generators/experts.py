"""Experts: every generator version (role, variant, round) as a record, a set of them, and a router.

Expert learning makes a new statement, subgoal and proof generator every round, and SubgoalXL samples proofs
from several proof experts at once. An `Expert` says what one version is and how it is served: a LoRA
adapter over a base model (cheap: many share one loaded base) or a full model of its own (`model_path`), or
the base model itself (round 0). An `ExpertSet` holds the versions a run may use, from the model registry,
a list or a TOML file. An `ExpertRouter` sends each sample to an expert by the run's `RouterConfig` (one
fixed expert, round-robin, or seeded weights), so every sample can record which expert wrote it
(`Expert.name`, e.g. `proof/v1/r2`). Serving lives in `generators.experts_serving`; nothing here imports torch.
"""

from __future__ import annotations

import random
import re
import threading
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from generators.backend import Completion
from generators.backends.config import StrictConfig
from generators.roles import Role

_VARIANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class ExpertError(ValueError):
    """An expert set, name or router config that cannot be used; the message names what and lists what exists."""


class Expert(StrictConfig):
    """One generator version: its role, variant and round, and how to serve it.

    `adapter` set: a LoRA adapter over `base_model`. `model_path` set: a full fine-tune, served as a model of its
    own (`base_model` is what it was tuned from, kept for provenance). Neither: `base_model` itself.
    """

    role: Role
    variant: str = Field("v1", description="a line of experts trained the same way, e.g. v1")
    round: int = Field(0, ge=0, description="the expert-learning round that produced it (0: the starting model)")
    base_model: str = Field(description="HF id or local folder of the base model")
    adapter: str | None = Field(None, description="peft LoRA adapter folder over base_model")
    model_path: str | None = Field(None, description="a full fine-tune's model folder (served on its own)")
    served_name: str | None = Field(
        None, description="the name an OpenAI-compatible server knows it by (default: slug for adapters, else path)"
    )

    @field_validator("variant")
    @classmethod
    def _variant(cls, value: str) -> str:
        if not _VARIANT.match(value):
            raise ValueError(f"variant must be letters, digits, _ or - (e.g. v1), got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Expert:
        if self.adapter is not None and self.model_path is not None:
            raise ValueError("give adapter (LoRA over base_model) or model_path, not both")
        return self

    @property
    def name(self) -> str:
        """What samples record as their model: `role/variant/rROUND`, e.g. `proof/v1/r2`."""
        return f"{self.role}/{self.variant}/r{self.round}"

    @property
    def slug(self) -> str:
        """The name as an adapter name (peft module key, vLLM LoRA name): `proof-v1-r2`."""
        return self.name.replace("/", "-")

    @property
    def is_adapter(self) -> bool:
        return self.adapter is not None

    @property
    def served_model(self) -> str:
        """The model that must be loaded to serve it: the base for adapters and round 0, else the full model."""
        return self.model_path or self.base_model

    @property
    def request_name(self) -> str:
        """The `model` of an OpenAI-compatible request for this expert."""
        return self.served_name or (self.slug if self.is_adapter else self.served_model)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, **self.model_dump(mode="json", exclude_none=True)}


def _resolve(value: str | None, root: Path | None, always: bool) -> str | None:
    """A relative path in a TOML file is relative to that file; an HF id (`org/name`) stays as it is."""
    if value is None or root is None or Path(value).is_absolute():
        return value
    if always or value.startswith(("./", "../")):
        return str((root / value).resolve())
    return value


class ExpertSet:
    """The experts a run may use, by name; names (role/variant/round) are unique."""

    def __init__(self, experts: Iterable[Expert]) -> None:
        self.experts: tuple[Expert, ...] = tuple(experts)
        self._by_name: dict[str, Expert] = {}
        for expert in self.experts:
            if expert.name in self._by_name:
                raise ExpertError(f"expert {expert.name} is listed twice: each role/variant/round once")
            self._by_name[expert.name] = expert

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any] | Expert], *, source: str = "experts") -> ExpertSet:
        """From registry rows or dicts (`role`, `variant`, `round`, `base_model`, `adapter` | `model_path`)."""
        experts = []
        for k, record in enumerate(records):
            if isinstance(record, Expert):
                experts.append(record)
                continue
            try:
                experts.append(Expert.model_validate(dict(record)))
            except ValidationError as exc:
                problems = "; ".join(
                    ".".join(f"{p}: " for p in e["loc"][:1]) + e["msg"].removeprefix("Value error, ")
                    for e in exc.errors()
                )
                raise ExpertError(f"{source}: expert {k + 1}: {problems}") from None
        return cls(experts)

    @classmethod
    def from_toml(cls, path: str | Path) -> ExpertSet:
        """`[[expert]]` tables; relative adapter/model_path (and ./ or ../ base_model) are relative to the file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ExpertError(f"cannot read expert file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ExpertError(f"{path} is not valid TOML: {exc}") from None
        unknown = sorted(set(data) - {"expert"})
        if unknown or not isinstance(data.get("expert"), list):
            raise ExpertError(f"{path}: expected [[expert]] tables only (found keys {sorted(data) or 'none'})")
        root = path.parent
        rows = []
        for row in data["expert"]:
            row = dict(row)
            for key, always in (("adapter", True), ("model_path", True), ("base_model", False)):
                if isinstance(row.get(key), str):
                    row[key] = _resolve(row[key], root, always)
            rows.append(row)
        return cls.from_records(rows, source=str(path))

    def __len__(self) -> int:
        return len(self.experts)

    def __iter__(self) -> Iterator[Expert]:
        return iter(self.experts)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def get(self, name: str) -> Expert:
        try:
            return self._by_name[name]
        except KeyError:
            raise ExpertError(f"no expert {name!r}; known: {', '.join(self.names) or 'none'}") from None

    def select(self, role: Role | str | None = None, variant: str | None = None, round: int | None = None) -> ExpertSet:
        """The experts matching every given field."""
        return ExpertSet(
            e
            for e in self.experts
            if (role is None or e.role == Role(role))
            and (variant is None or e.variant == variant)
            and (round is None or e.round == round)
        )

    def latest(self, role: Role | str, variant: str | None = None) -> Expert:
        """The newest round of a role (and variant)."""
        chosen = self.select(role, variant)
        if not chosen:
            raise ExpertError(f"no {role} expert{f' of variant {variant}' if variant else ''}; known: {self.names}")
        return max(chosen, key=lambda e: e.round)

    def served_models(self) -> dict[str, list[Expert]]:
        """Experts by the model that must be loaded for them: adapters share their base, full models stand alone."""
        groups: dict[str, list[Expert]] = {}
        for expert in self.experts:
            groups.setdefault(expert.served_model, []).append(expert)
        return groups

    def router(self, config: RouterConfig) -> ExpertRouter:
        return ExpertRouter(self, config)

    def to_json(self) -> list[dict[str, object]]:
        return [e.to_json() for e in self.experts]


# ---------------------------------------------------------------------------------------------------------------
# Routing


class RouterConfig(StrictConfig):
    """Which expert writes each sample: one `fixed` expert, `round_robin` over experts, or `weighted` (seeded)."""

    strategy: Literal["fixed", "round_robin", "weighted"] = "fixed"
    experts: tuple[str, ...] = Field(min_length=1, description="expert names, e.g. proof/v1/r2")
    weights: tuple[float, ...] | None = Field(None, description="weighted only: one non-negative weight per expert")
    seed: int = Field(0, ge=0, description="weighted: seeds the draws of unseeded calls")

    @model_validator(mode="after")
    def _consistent(self) -> RouterConfig:
        if len(set(self.experts)) != len(self.experts):
            raise ValueError(f"router experts must be distinct, got {list(self.experts)}")
        if self.strategy == "fixed" and len(self.experts) != 1:
            raise ValueError(f"strategy 'fixed' takes exactly one expert, got {len(self.experts)}")
        if self.strategy == "weighted":
            if self.weights is None or len(self.weights) != len(self.experts):
                raise ValueError("strategy 'weighted' needs weights, one per expert")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError(f"weights must be >= 0 with a positive sum, got {list(self.weights)}")
        elif self.weights is not None:
            raise ValueError(f"weights are only used with strategy 'weighted', not {self.strategy!r}")
        return self


class ExpertRouter:
    """Assigns an expert to every (prompt, sample) cell of a call; thread-safe.

    A seeded call's assignment depends only on its seed (round-robin starts at seed mod E; weighted draws from
    an RNG seeded with the router's and the call's seed), so a rerun gets the same experts whatever ran before.
    Unseeded calls continue one shared counter (round-robin) or one RNG seeded with `config.seed` (weighted).
    """

    def __init__(self, experts: ExpertSet, config: RouterConfig) -> None:
        missing = [name for name in config.experts if name not in experts]
        if missing:
            raise ExpertError(f"router names unknown expert(s) {missing}; known: {', '.join(experts.names) or 'none'}")
        self.config = config
        self.experts: tuple[Expert, ...] = tuple(experts.get(name) for name in config.experts)
        self._lock = threading.Lock()
        self._next = 0
        self._rng = random.Random(config.seed)

    def assign(self, num_prompts: int, n: int, seed: int | None = None) -> list[list[Expert]]:
        """`num_prompts` rows of `n` experts: cell (i, j) is the expert that writes sample j of prompt i."""
        cells = num_prompts * n
        experts = self.experts
        if self.config.strategy == "fixed":
            flat = [experts[0]] * cells
        elif self.config.strategy == "round_robin":
            if seed is None:
                with self._lock:
                    start, self._next = self._next, self._next + cells
            else:
                start = seed % len(experts)
            flat = [experts[(start + k) % len(experts)] for k in range(cells)]
        else:
            weights = list(self.config.weights or ())
            if seed is None:
                with self._lock:
                    flat = self._rng.choices(experts, weights, k=cells)
            else:
                flat = random.Random(f"{self.config.seed}:{seed}").choices(experts, weights, k=cells)
        return [flat[i * n : (i + 1) * n] for i in range(num_prompts)]

    def describe(self) -> dict[str, object]:
        return {
            "strategy": self.config.strategy,
            "experts": [e.name for e in self.experts],
            **({"weights": list(self.config.weights)} if self.config.weights else {}),
        }


@dataclass(frozen=True)
class ExpertCompletion(Completion):
    """A completion with the expert that wrote it (`proof/v1/r2`); a `Completion` everywhere one is expected."""

    expert: str = ""


def with_expert(completion: Completion, expert: Expert | str) -> ExpertCompletion:
    name = expert if isinstance(expert, str) else expert.name
    return ExpertCompletion(
        completion.text,
        completion.prompt_tokens,
        completion.completion_tokens,
        completion.finish_reason,
        seed=completion.seed,
        expert=name,
    )


def expert_of(completion: Completion) -> str | None:
    """The expert a completion records, if any (what a sample stores as its model)."""
    return getattr(completion, "expert", None) or None


def group_cells(assignment: Sequence[Sequence[Expert]]) -> list[tuple[Expert, int, list[int]]]:
    """Cells by (expert, count): each group is one backend call of n=count over the prompts listed.

    Grouped first by expert (so a backend switches adapter once per expert), then by how many samples each
    prompt needs from it, since one backend call samples the same n for every prompt.
    """
    counts: dict[str, dict[int, list[int]]] = {}
    order: dict[str, Expert] = {}
    for i, row in enumerate(assignment):
        per_prompt: dict[str, int] = {}
        for expert in row:
            order.setdefault(expert.name, expert)
            per_prompt[expert.name] = per_prompt.get(expert.name, 0) + 1
        for name, count in per_prompt.items():
            counts.setdefault(name, {}).setdefault(count, []).append(i)
    return [(order[name], count, prompts) for name in order for count, prompts in sorted(counts.get(name, {}).items())]
