"""The expert-iteration loop: per round, sample -> verify -> score -> select -> build -> train -> evaluate.

Each round's generators are the newest registered versions (round 0: the configured models); each round trains
new versions from them on that round's datasets. Every step is marked started and done in the store (`ei_steps`)
and writes what it produced (candidates, verdicts, scores, datasets, model folders, agent runs) before it is marked
done, so a loop killed anywhere resumes at the step it was in, and within it at the unit it was in:

| step     | its state                                              | a resumed step redoes            |
| -------- | ------------------------------------------------------ | -------------------------------- |
| sample   | `ei_candidates`; finished chunks in `ei_units`         | the chunks not finished          |
| verify   | a verdict per candidate                                | candidates without a verdict     |
| score    | a score per candidate                                  | candidates without a score       |
| select   | `selected` flags (deterministic, seeded)               | the whole step (cheap)           |
| build    | `round-N/datasets/*.jsonl`, `ei_examples`              | the whole step (deterministic)   |
| train    | `round-N/models/<role>/`, `ei_models`; roles in units  | the roles not yet registered     |
| evaluate | the agent run `<loop>-rN-eval`, then `ei_rounds`       | what that agent run had not done |
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expert_iteration.config import RESUME_MAY_CHANGE, ROLES, IterateConfig
from expert_iteration.state import IterationStore, ModelVersion

log = logging.getLogger(__name__)

STEPS: tuple[str, ...] = ("sample", "verify", "score", "select", "build", "train", "evaluate")

#: (purpose, model) -> what a GeneratorPool takes: a backend config dict, or a zero-argument Backend constructor.
#: purpose is "sample", "score" or "evaluate"; the default builds `{"kind": <backend>, "model": model}`.
BackendFactory = Callable[[str, str], Any]


class LoopError(RuntimeError):
    """The loop cannot start or go on; the message says why and what to do."""


@dataclass(frozen=True)
class LoopEvent:
    loop_id: str
    round: int
    step: str
    status: str  # started | progress | done | skipped | failed | finished
    detail: str = ""


def default_paths(config: IterateConfig) -> tuple[Path, Path]:
    """(store, work_dir): the config's, else the user data folder's."""
    from isabelle_env.user_dirs import data_dir

    store = Path(config.loop.store).expanduser() if config.loop.store else data_dir() / "runs.sqlite"
    work = Path(config.loop.work_dir).expanduser() if config.loop.work_dir else data_dir() / "iterations"
    return store, work


class ExpertIteration:
    def __init__(
        self,
        config: IterateConfig,
        *,
        loop_id: str | None = None,
        store_path: Path | None = None,
        work_dir: Path | None = None,
        server: Any = None,
        ray_address: str | None = None,
        cache_path: str | None = None,
        backend_factory: BackendFactory | None = None,
        on_event: Callable[[LoopEvent], None] | None = None,
    ):
        self.config = config
        store_default, work_default = default_paths(config)
        self.store_path = Path(store_path or store_default)
        self.loop_id = loop_id or config.loop.id or f"loop-{config.fingerprint()}"
        self.work_dir = Path(work_dir or work_default) / self.loop_id
        self.server = server
        self.ray_address = ray_address
        self.cache_path = cache_path
        self.backend_factory = backend_factory
        self.on_event = on_event or (lambda _: None)
        self.store = IterationStore(self.store_path)
        self._ray_started = False
        self._train: Any = None
        self._heldout: Any = None

    # ------------------------------------------------------------------ the loop
    def run(self) -> list[dict[str, Any]]:
        """Run (or resume) every planned round; returns the per-round numbers (`ei_rounds`)."""
        self._open()
        rounds = self.config.loop.rounds
        try:
            if self.config.evaluation.enabled and self.config.evaluation.baseline:
                self._run_step(0, "evaluate")
            for round_ in range(1, rounds + 1):
                for step in STEPS:
                    self._run_step(round_, step)
        except KeyboardInterrupt:
            self.store.update_loop(self.loop_id, status="interrupted")
            raise
        except BaseException as exc:
            self.store.update_loop(self.loop_id, status=f"failed: {type(exc).__name__}: {exc}"[:500])
            raise
        self.store.update_loop(self.loop_id, status="finished")
        self.on_event(LoopEvent(self.loop_id, rounds, "", "finished"))
        return self.store.rounds(self.loop_id)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> ExpertIteration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        cfg = self.config
        existing = self.store.loop(self.loop_id)
        problems = f"{self.train_problems.fingerprint[:16]}/{self.heldout_problems.fingerprint[:16]}"
        if existing is not None:
            if existing["fingerprint"] != cfg.fingerprint():
                changed = _changed_keys(json.loads(existing["config"]), cfg.model_dump(mode="json"))
                raise LoopError(
                    f"loop {self.loop_id} was started with another config (changed: {', '.join(changed) or '?'}); "
                    "a resumed loop may change only rounds, paths and hardware: restore the config or use a new loop.id"
                )
            if existing["problems_fingerprint"] != problems:
                raise LoopError(
                    f"loop {self.loop_id} was started on other problems (the training or held-out statements "
                    "changed since): restore them or use a new loop.id"
                )
            self.store.update_loop(self.loop_id, rounds_planned=cfg.loop.rounds, status="running")
        else:
            from agent.run import code_version

            self.store.create_loop(
                self.loop_id,
                config=cfg.model_dump(mode="json"),
                fingerprint=cfg.fingerprint(),
                problems_fingerprint=problems,
                rounds=cfg.loop.rounds,
                work_dir=str(self.work_dir),
                code_version=code_version(),
            )
        names = ("all",) if cfg.dataset.mode == "single" else ROLES
        for name in names:
            if self.store.model_for(self.loop_id, 0, name) is None:
                initial = cfg.models.initial("proof" if name == "all" else name) or ""
                self.store.register_model(
                    loop_id=self.loop_id, round_=0, role=name, path=initial, parent=None, config={"initial": True}
                )
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def _run_step(self, round_: int, step: str) -> None:
        row = self.store.step(self.loop_id, round_, step)
        if row is not None and row["status"] == "done":
            self.on_event(LoopEvent(self.loop_id, round_, step, "skipped", "done before"))
            return
        self.on_event(LoopEvent(self.loop_id, round_, step, "started"))
        self.store.start_step(self.loop_id, round_, step)
        try:
            summary = getattr(self, f"_step_{step}")(round_)
        except BaseException as exc:
            self.on_event(LoopEvent(self.loop_id, round_, step, "failed", f"{type(exc).__name__}: {exc}"))
            raise
        self.store.finish_step(self.loop_id, round_, step, summary)
        self.on_event(LoopEvent(self.loop_id, round_, step, "done", _brief(step, summary)))

    def _progress(self, round_: int, step: str) -> Callable[[str], None]:
        return lambda detail: self.on_event(LoopEvent(self.loop_id, round_, step, "progress", detail))

    # ------------------------------------------------------------------ problems, models, backends
    @property
    def train_problems(self) -> Any:
        if self._train is None:
            self._load_problems()
        return self._train

    @property
    def heldout_problems(self) -> Any:
        if self._heldout is None:
            self._load_problems()
        return self._heldout

    def _load_problems(self) -> None:
        from benchmarks.data.problems import ProblemLoadError, load_problems

        p = self.config.problems
        try:
            train = load_problems(p.train, split=p.train_split).select(names=p.train_names, limit=p.train_limit)
            heldout = load_problems(p.heldout or p.train, split=p.heldout_split)
            heldout = heldout.select(names=p.heldout_names, limit=p.heldout_limit)
        except (ProblemLoadError, ValueError) as exc:
            raise LoopError(f"problems: {exc}") from None
        overlap = sorted(set(train.names) & set(heldout.names))
        if overlap:
            raise LoopError(
                f"{len(overlap)} problem(s) are both training and held-out (e.g. {overlap[0]}): give "
                "problems.train_split and problems.heldout_split (or different sources)"
            )
        if not len(train):
            raise LoopError("problems: no training problems selected")
        self._train, self._heldout = train, heldout

    def models_for(self, before_round: int) -> dict[str, ModelVersion]:
        out = {}
        for role in ROLES:
            version = self.store.current_model(self.loop_id, role, before_round)
            if version is None:
                raise LoopError(f"no model version for role {role} before round {before_round}")
            out[role] = version
        return out

    def _spec(self, purpose: str, model: str) -> Any:
        if self.backend_factory is not None:
            return self.backend_factory(purpose, model)
        if purpose == "score":
            s = self.config.scoring
            spec: dict[str, Any] = {"kind": s.backend, "model": model}
            return spec | ({"base_url": s.base_url} if s.backend == "openai" else {})
        return {"kind": self.config.models.backend, "model": model}

    def _generator(self, purpose: str, model: str, placement: str, num_cpus: float, num_gpus: float, actors: int):  # noqa: ANN202
        spec = self._spec(purpose, model)
        if placement == "local":
            if callable(spec):
                return spec()
            from generators.backends import make_backend

            return make_backend(spec)
        from generators.ray_pool import GeneratorPool, PoolConfig

        self._ensure_ray()
        pool = GeneratorPool(spec, PoolConfig(num_actors=actors, num_cpus=num_cpus, num_gpus=num_gpus))
        pool.wait_ready()
        return pool

    def _ensure_ray(self) -> None:
        if not self._ray_started:
            from agent.run import init_ray

            init_ray(self.ray_address)
            self._ray_started = True

    def round_dir(self, round_: int) -> Path:
        return self.work_dir / f"round-{round_}"

    # ------------------------------------------------------------------ steps
    def _step_sample(self, round_: int) -> dict[str, Any]:
        from expert_iteration.sampling import RoleGenerator, Sampler

        cfg = self.config.sampling
        models = self.models_for(round_)
        generators: dict[str, Any] = {}
        try:
            for path in sorted({m.path for m in models.values()}):
                generators[path] = self._generator(
                    "sample", path, cfg.placement, cfg.num_cpus, cfg.num_gpus, cfg.actors
                )
            sampler = Sampler(
                store=self.store,
                loop_id=self.loop_id,
                round_=round_,
                config=cfg,
                generators={role: RoleGenerator(generators[m.path], m.version) for role, m in models.items()},
                seed=self.config.loop.seed,
                on_progress=self._progress(round_, "sample"),
            )
            summary = sampler.run(list(self.train_problems))
        finally:
            for generator in generators.values():
                generator.close()
        return summary | {"models": {role: m.version for role, m in models.items()}}

    def _step_verify(self, round_: int) -> dict[str, Any]:
        from agent.config import RunConfig
        from agent.run import start_checkers
        from expert_iteration.verification import Verifier

        self._ensure_ray()
        run_config = RunConfig(isabelle=self.config.isabelle, checking=self.config.checking)
        dispatcher = start_checkers(run_config, self.server, self.cache_path)
        try:
            verifier = Verifier(
                store=self.store,
                loop_id=self.loop_id,
                round_=round_,
                dispatcher=dispatcher,
                max_in_flight=self.config.scheduling.max_checks_in_flight,
                max_actor_failures=self.config.scheduling.max_actor_failures,
                on_progress=self._progress(round_, "verify"),
            )
            return verifier.run({p.name: p for p in self.train_problems})
        finally:
            dispatcher.close()

    def _step_score(self, round_: int) -> dict[str, Any]:
        from expert_iteration.scoring import CandidateScorer

        s = self.config.scoring
        model = self.config.scorer_model()
        scorer = self._generator("score", model, s.placement, s.num_cpus, s.num_gpus, 1)
        try:
            scored = CandidateScorer(
                store=self.store,
                loop_id=self.loop_id,
                round_=round_,
                scorer=scorer,
                on_progress=self._progress(round_, "score"),
            ).run({p.name: p for p in self.train_problems})
        finally:
            scorer.close()
        return {"scored": scored, "scorer": model}

    def _step_select(self, round_: int) -> dict[str, Any]:
        from expert_iteration.selection import select_round

        return select_round(self.store, self.loop_id, round_, self.config.selection, self.config.loop.seed)

    def _step_build(self, round_: int) -> dict[str, Any]:
        from expert_iteration.build import RoundInputs, build_round

        inputs = RoundInputs(
            self.config, self.store, self.loop_id, self.train_problems, self.heldout_problems, self.round_dir(round_)
        )
        return build_round(inputs, round_)

    def _step_train(self, round_: int) -> dict[str, Any]:
        from expert_iteration.training import train_model

        build = json.loads(self.store.step(self.loop_id, round_, "build")["summary"])
        summary: dict[str, Any] = {}
        for name, info in build["datasets"].items():
            unit = f"train:{name}"
            registered = self.store.model_for(self.loop_id, round_, name)
            if self.store.unit_done(self.loop_id, round_, "train", unit):
                summary[name] = {"version": registered.version if registered else None, "resumed": True}
                continue
            if info["examples"] == 0:
                summary[name] = {"version": None, "skipped": "empty dataset: the previous version carries over"}
                self.store.finish_unit(self.loop_id, round_, "train", unit, summary[name])
                continue
            parent = self.store.current_model(self.loop_id, "proof" if name == "all" else name, round_)
            if parent is None:
                raise LoopError(f"no model version of {name} to train from before round {round_}")
            out_dir = self.round_dir(round_) / "models" / name
            shutil.rmtree(out_dir, ignore_errors=True)  # a folder without a registry row is from a killed run
            self.on_event(LoopEvent(self.loop_id, round_, "train", "progress", f"{name}: {info['examples']} examples"))
            seed = self.config.loop.seed + round_
            metrics = train_model(parent.path, Path(info["path"]), out_dir, self.config.training, seed)
            version = self.store.register_model(
                loop_id=self.loop_id,
                round_=round_,
                role=name,
                path=str(out_dir),
                parent=parent.version,
                data_hash=info["data_hash"],
                dataset_path=info["path"],
                examples=info["examples"],
                config=self.config.training.model_dump(mode="json"),
                metrics={"training": metrics},
            )
            summary[name] = {"version": version.version, "parent": parent.version, **metrics}
            self.store.finish_unit(self.loop_id, round_, "train", unit, summary[name])
        return summary

    def _step_evaluate(self, round_: int) -> dict[str, Any]:
        from expert_iteration.evaluation import evaluate_round

        models = self.models_for(round_ + 1)
        evaluation: dict[str, Any] = {}
        if self.config.evaluation.enabled:
            self._ensure_ray()
            factory = None
            if self.backend_factory is not None:
                factory = lambda model: self.backend_factory("evaluate", model)  # noqa: E731
            evaluation = evaluate_round(
                istore=self.store,
                store_path=self.store_path,
                loop_id=self.loop_id,
                round_=round_,
                config=self.config,
                heldout=list(self.heldout_problems),
                heldout_split=self.config.problems.heldout_split or "",
                models={role: m.path for role, m in models.items()},
                server=self.server,
                ray_address=self.ray_address,
                cache_path=self.cache_path,
                backend_factory=factory,
                on_progress=self._progress(round_, "evaluate"),
            )
            for version in {m.version for m in models.values() if m.round == round_}:
                self.store.add_model_metrics(version, {"evaluation": _without_names(evaluation)})
        metrics = {"evaluation": evaluation, "models": {role: m.version for role, m in models.items()}}
        for step in ("select", "build", "train"):
            row = self.store.step(self.loop_id, round_, step)
            if row is not None:
                metrics[step] = json.loads(row["summary"])
        if "build" in metrics:
            metrics["datasets"] = {
                name: {"examples": d["examples"], "data_hash": d["data_hash"], "roles": d["report"]["roles"]}
                for name, d in metrics.pop("build")["datasets"].items()
            }
        self.store.record_round(self.loop_id, round_, metrics)
        return _without_names(evaluation)


def _without_names(evaluation: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in evaluation.items() if not k.endswith("_names")}


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b and f"{prefix}{key}" not in RESUME_MAY_CHANGE and f"{prefix}*" not in RESUME_MAY_CHANGE:
            keys.append(f"{prefix}{key}")
    return keys


def _brief(step: str, summary: dict[str, Any]) -> str:
    """One line for the progress display."""
    if step == "sample":
        return ", ".join(f"{r} {summary[r]['parsed']}/{summary[r]['sampled']} parsed" for r in ROLES if r in summary)
    if step == "verify":
        s, p = summary.get("statement", {}), summary.get("proof", {})
        return f"statements accepted {s.get('accepted', 0)}, proofs proved {p.get('proved', 0)}"
    if step == "select":
        return ", ".join(f"{r} {summary[r]['selected']}" for r in ROLES if r in summary)
    if step == "build":
        return ", ".join(f"{n} {d['examples']}" for n, d in summary.get("datasets", {}).items())
    if step == "train":
        return ", ".join(f"{n} -> {d.get('version') or 'unchanged'}" for n, d in summary.items())
    if step == "evaluate":
        return (
            f"solved {summary.get('solved', 0)}/{summary.get('evaluated', 0)}, union {summary.get('union_solved', 0)}"
        )
    return ""
