"""Run configuration: one typed object per concept, loaded from TOML, unknown keys rejected by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.config_file import load_model, parse_model
from isabelle_env.checker import CODE_GENERATOR_ORACLES, DEFAULT_TACTICS, CheckerConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchConfig(_Section):
    """What to search for and how much of it."""

    prover: Literal["hammer", "subgoal"] = "hammer"
    attempts_per_problem: int = Field(1, ge=1)
    problem_timeout_s: float = Field(3600.0, gt=0)
    total_timeout_s: float | None = Field(None, gt=0)
    max_total_attempts: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0)
    repair_rounds: int = Field(0, ge=0, description="times a rejected proof is sent back with Isabelle's messages")


class IsabelleConfig(_Section):
    """Where checks run: `checkers` Ray actors, each with `sessions_per_checker` warm sessions."""

    session: str | None = None  # None: the smallest built session whose heap holds the problems' imports
    dirs: tuple[str, ...] = ()
    checkers: int = Field(1, ge=1)
    sessions_per_checker: int = Field(1, ge=1)
    checker_num_cpus: float = Field(0.0, ge=0)
    isabelle_path: str | None = None
    server: str | None = None  # HOST:PORT of a running server; the password comes from the environment


class CheckingConfig(_Section):
    """Mirrors `isabelle_env.checker.CheckerConfig`."""

    tactics: tuple[str, ...] = DEFAULT_TACTICS
    tactic_timeout: float = Field(10.0, gt=0)
    sledgehammer: bool = True
    sledgehammer_timeout: float = Field(30.0, gt=0)
    final_timeout: float = Field(120.0, gt=0)
    proof_timeout: float = Field(600.0, gt=0)
    allow_aux_lemmas: bool = False
    allowed_oracles: tuple[str, ...] = CODE_GENERATOR_ORACLES  # [] for kernel-only proofs
    try0: bool = True
    salvage_depth: int = Field(3, ge=0)  # 0 off; 1 failing steps become gaps; k >= 2 also coarsen k - 1 levels
    imports: Literal["benchmark", "problem"] = "benchmark"  # the benchmark's fixed header, or each problem's own

    def header_for(self, benchmark: str) -> tuple[str, ...]:
        """The fixed header checks of `benchmark` run under (empty: each problem's own imports)."""
        from benchmarks.data.problems import BENCHMARK_HEADERS

        return BENCHMARK_HEADERS.get(benchmark, ()) if self.imports == "benchmark" else ()

    def checker_config(self, header_imports: tuple[str, ...] = ()) -> CheckerConfig:
        """`header_imports`: the benchmark's fixed header (empty when the benchmark has none)."""
        fields = self.model_dump(exclude={"imports"})
        benchmark = self.imports == "benchmark" and bool(header_imports)
        return CheckerConfig(
            **fields, header="benchmark" if benchmark else "problem", header_imports=header_imports if benchmark else ()
        )

    @model_validator(mode="after")
    def _valid_for_checker(self) -> CheckingConfig:
        self.checker_config()  # raises ValueError naming a bad tactic
        return self


Role = Literal["statement", "subgoal", "proof"]


class ProofVariant(_Section):
    """One proof generator among several: attempt i of a problem uses variant i mod (number of variants).

    The SubgoalXL release samples four proof-generator checkpoints, each with and without the informal proof,
    and reports the union (`configs/subgoalxl-paper.toml`). Unset keys fall back to `[generation]`'s.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$", description="recorded with every sample and attempt")
    proof_model: str | None = None
    base_url: str | None = Field(None, description="openai backend: the server of this variant's model")
    proof_prompts: tuple[str, ...] = Field(
        (), description="proof templates (NAME or NAME.vN); with several, the variant's k-th sample uses the k mod n-th"
    )
    use_informal_proof: bool | None = None


class GenerationConfig(_Section):
    """Models for the subgoal prover (statement, subgoal and proof roles)."""

    backend: Literal["transformers", "vllm", "openai"] = "transformers"
    model: str | None = None
    base_url: str | None = None
    statement_model: str | None = None
    subgoal_model: str | None = None
    proof_model: str | None = None
    autoformalize: bool = False
    use_informal_proof: bool = True
    statement_samples: int = Field(1, ge=1)
    subgoal_samples: int = Field(1, ge=1)
    proof_samples: int = Field(1, ge=1)
    temperature: float = Field(0.6, ge=0, le=10)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)
    rank_with_scorer: bool = False
    # LoRA experts served side by side: a TOML of [[expert]] tables, and per role how requests are routed
    # ({strategy = "round_robin" | "fixed" | "weighted", experts = ["proof/v1/r2", ...], weights = [...]})
    experts_file: str | None = None
    routers: dict[Literal["statement", "subgoal", "proof"], dict[str, Any]] = {}
    actors: int = Field(1, ge=1)
    num_gpus: float = Field(0.0, ge=0)
    num_cpus: float = Field(1.0, ge=0)
    # prompt template per role (NAME or NAME.vN, e.g. "release_proof"); default: ours (`subgoalxl prompts list`)
    prompts: dict[Role, str] = {}
    generate_subgoals: bool = Field(
        True, description="sample subgoals first; false: the proof prompt gets the informal proof or nothing"
    )
    variants: tuple[ProofVariant, ...] = ()

    @model_validator(mode="after")
    def _prompts_exist(self) -> GenerationConfig:
        from generators.roles import Role as GeneratorRole
        from generators.roles import role_template

        for role, spec in self.prompts.items():
            role_template(GeneratorRole(role), spec)  # ValueError naming the template and what is wrong
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"generation.variants: names must differ, got {names}")
        for variant in self.variants:
            for spec in variant.proof_prompts:
                role_template(GeneratorRole.PROOF, spec)
        return self


class SchedulingConfig(_Section):
    """Bounded in-flight work (backpressure); 0 means "derive from the number of checkers/actors"."""

    max_checks_in_flight: int = Field(0, ge=0)
    max_generations_in_flight: int = Field(0, ge=0)
    max_actor_failures: int = Field(3, ge=0, description="times one check may lose its actor before the run stops")
    max_generation_failures: int = Field(3, ge=0, description="generation errors in a row before the run stops")


class RunConfig(_Section):
    search: SearchConfig = SearchConfig()
    isabelle: IsabelleConfig = IsabelleConfig()
    checking: CheckingConfig = CheckingConfig()
    generation: GenerationConfig = GenerationConfig()
    scheduling: SchedulingConfig = SchedulingConfig()

    @model_validator(mode="after")
    def _subgoal_needs_models(self) -> RunConfig:
        g = self.generation
        if g.routers and not g.experts_file:
            raise ValueError("generation.routers needs generation.experts_file (a TOML of [[expert]] tables)")
        if self.search.prover != "subgoal":
            return self
        own = {"statement": g.statement_model, "subgoal": g.subgoal_model, "proof": g.proof_model}
        needed = (["subgoal"] if g.generate_subgoals else []) + ["proof"] + (["statement"] if g.autoformalize else [])
        if g.variants and all(v.proof_model for v in g.variants):
            needed.remove("proof")
        missing = [role for role in needed if not (g.routers.get(role) or own[role] or g.model)]
        if missing:
            raise ValueError(
                f"search.prover = 'subgoal' needs a model for {', '.join(missing)}: generation.model (a local folder, "
                f"a HF id, or the name served at base_url), generation.{missing[0]}_model, or generation.routers"
            )
        shared_url_needed = (
            g.generate_subgoals or g.autoformalize or not g.variants or not all(v.base_url for v in g.variants)
        )
        if g.backend == "openai" and not g.base_url and shared_url_needed:
            raise ValueError("generation.backend = 'openai' needs generation.base_url, e.g. http://127.0.0.1:8000/v1")
        return self


class ConfigError(ValueError):
    """A config file or value is invalid; the message names the key and what is allowed."""


def parse_config(data: dict[str, Any], *, source: str = "config") -> RunConfig:
    return parse_model(RunConfig, data, ConfigError, source=source)


def load_config(path: Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> RunConfig:
    """Read a TOML file (or defaults when None) and apply command-line overrides per section."""
    return load_model(RunConfig, path, ConfigError, overrides)
