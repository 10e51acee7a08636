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

    prover: Literal["hammer", "subgoal"] = Field(
        "hammer",
        description="subgoal: the model pipeline (statement, subgoals, proof); hammer: heuristics and Sledgehammer "
        "on the bare statement, no model",
    )
    attempts_per_problem: int = Field(1, ge=1, description="candidate proofs per problem (pass@k is over these)")
    problem_timeout_s: float = Field(
        3600.0, gt=0, description="wall-clock seconds per problem from its first attempt; then it closes as timeout"
    )
    total_timeout_s: float | None = Field(
        None, gt=0, description="wall-clock seconds for the whole run, then all open work is cancelled; None: no limit"
    )
    max_total_attempts: int | None = Field(
        None, ge=1, description="most attempts the run starts over all problems; None: no limit"
    )
    seed: int = Field(0, ge=0, description="run seed; each attempt's seed derives from it, the problem and the index")
    repair_rounds: int = Field(0, ge=0, description="times a rejected proof is sent back with Isabelle's messages")


class IsabelleConfig(_Section):
    """Where checks run: `checkers` Ray actors, each with `sessions_per_checker` warm sessions."""

    session: str | None = Field(
        None, description="Isabelle session checks run in; None: the smallest built one whose heap holds the imports"
    )
    dirs: tuple[str, ...] = Field((), description="session directories (with ROOT files) for a session of your own")
    checkers: int = Field(1, ge=1, description="checker Ray actors, each with its own Isabelle server")
    sessions_per_checker: int = Field(
        1, ge=1, description="warm Isabelle sessions per checker, one check each at a time"
    )
    checker_num_cpus: float = Field(0.0, ge=0, description="Ray CPUs each checker actor reserves (0: none)")
    isabelle_path: str | None = Field(
        None,
        description="Isabelle installation (the folder with bin/isabelle); None: $ISABELLE_HOME, PATH, then the "
        "newest one `subgoalxl isabelle install` recorded",
    )
    server: str | None = Field(
        None, description="HOST:PORT of a running Isabelle server; the password comes from the environment"
    )


class CheckingConfig(_Section):
    """Mirrors `isabelle_env.checker.CheckerConfig`."""

    tactics: tuple[str, ...] = Field(
        DEFAULT_TACTICS,
        description="terminal methods (e.g. 'by auto') tried at each sledgehammer step, after try0 (those it lacks)",
    )
    tactic_timeout: float = Field(10.0, gt=0, description="seconds per round of tactics (one method at every step)")
    sledgehammer: bool = Field(True, description="run Sledgehammer on the steps no tactic closed")
    sledgehammer_timeout: float = Field(30.0, gt=0, description="seconds Sledgehammer searches per step")
    final_timeout: float = Field(120.0, gt=0, description="seconds for the final check of the completed proof")
    proof_timeout: float = Field(
        600.0, gt=0, description="wall-clock seconds for the whole candidate; past it the verdict is TIMEOUT"
    )
    allow_aux_lemmas: bool = Field(False, description="let a candidate state auxiliary lemmas before the theorem")
    allowed_oracles: tuple[str, ...] = Field(
        CODE_GENERATOR_ORACLES,
        description="oracles a proved theorem may rest on (skip_proof never); [] for kernel-only proofs",
    )
    try0: bool = Field(True, description="ask Isabelle's try0 at every step first, then the tactics it does not cover")
    salvage_depth: int = Field(
        3,
        ge=0,
        description="salvaging a failed proof: 0 off; 1 failing steps become gaps; k >= 2 also coarsen open gaps "
        "up to k - 1 levels",
    )
    imports: Literal["benchmark", "problem"] = Field(
        "benchmark", description="benchmark: its fixed header plus the problem's imports; problem: the problem's own"
    )

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

    name: str = Field(
        pattern=r"^[A-Za-z0-9_.+-]+$", description="the variant's name, recorded with every sample and attempt"
    )
    proof_model: str | None = Field(
        None, description="this variant's proof model; None: generation.proof_model or generation.model"
    )
    base_url: str | None = Field(None, description="openai backend: the server of this variant's model")
    proof_prompts: tuple[str, ...] = Field(
        (), description="proof templates (NAME or NAME.vN); with several, the variant's k-th sample uses the k mod n-th"
    )
    use_informal_proof: bool | None = Field(
        None, description="give this variant's prompts the informal proof; None: generation.use_informal_proof"
    )


class GenerationConfig(_Section):
    """Models for the subgoal prover (statement, subgoal and proof roles)."""

    backend: Literal["transformers", "vllm", "openai"] = Field(
        "transformers",
        description="transformers or vllm: the model loaded in the generator actors; openai: an OpenAI-compatible "
        "server at base_url",
    )
    model: str | None = Field(
        None,
        description="the model of every role without its own: a local folder, a HF id, or the name served at base_url",
    )
    base_url: str | None = Field(None, description="openai backend: the server, e.g. http://127.0.0.1:8000/v1")
    statement_model: str | None = Field(None, description="the statement (autoformalization) model; None: model")
    subgoal_model: str | None = Field(None, description="the subgoal model; None: model")
    proof_model: str | None = Field(None, description="the proof model; None: model")
    autoformalize: bool = Field(
        False, description="sample formal statements first and prove the first one Isabelle accepts"
    )
    use_informal_proof: bool = Field(True, description="give the prompts the problem's informal proof when it has one")
    statement_samples: int = Field(1, ge=1, description="formal statements sampled per attempt (autoformalize)")
    subgoal_samples: int = Field(1, ge=1, description="subgoal lists sampled per attempt")
    proof_samples: int = Field(1, ge=1, description="proofs sampled per subgoal list; one of them is checked")
    temperature: float = Field(0.6, ge=0, le=10, description="sampling temperature")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling: the probability mass sampled from")
    max_tokens: int = Field(1024, ge=1, description="most new tokens per sample")
    rank_with_scorer: bool = Field(
        False, description="check the proof with the best posterior p(subgoals | proof), not the first that parses"
    )
    experts_file: str | None = Field(
        None, description="LoRA experts served side by side: a TOML file of [[expert]] tables"
    )
    routers: dict[Literal["statement", "subgoal", "proof"], dict[str, Any]] = Field(
        {},
        description="per role, how requests are routed to experts_file's experts: {strategy = 'round_robin' | "
        "'fixed' | 'weighted', experts = ['proof/v1/r2', ...], weights = [...]}",
    )
    actors: int = Field(1, ge=1, description="generator Ray actors (one model load each)")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each generator actor reserves (fractions allowed)")
    num_cpus: float = Field(1.0, ge=0, description="CPUs each generator actor reserves")
    prompts: dict[Role, str] = Field(
        {}, description="prompt template per role (NAME or NAME.vN, e.g. release_proof); default: ours"
    )
    generate_subgoals: bool = Field(
        True, description="sample subgoals first; false: the proof prompt gets the informal proof or nothing"
    )
    variants: tuple[ProofVariant, ...] = Field(
        (), description="proof variants; attempt i uses variant i mod their number; empty: this section alone"
    )

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

    max_checks_in_flight: int = Field(
        0, ge=0, description="most checks queued or running at once; 0: twice the checker sessions"
    )
    max_generations_in_flight: int = Field(
        0, ge=0, description="most generation requests at once; 0: four per generator actor"
    )
    max_actor_failures: int = Field(3, ge=0, description="times one check may lose its actor before the run stops")
    max_generation_failures: int = Field(3, ge=0, description="generation errors in a row before the run stops")


class RunConfig(_Section):
    search: SearchConfig = Field(SearchConfig(), description="[search]: which prover, how many attempts, budgets")
    isabelle: IsabelleConfig = Field(IsabelleConfig(), description="[isabelle]: where checks run")
    checking: CheckingConfig = Field(CheckingConfig(), description="[checking]: how a candidate proof is verified")
    generation: GenerationConfig = Field(GenerationConfig(), description="[generation]: the models and sampling")
    scheduling: SchedulingConfig = Field(SchedulingConfig(), description="[scheduling]: bounds on in-flight work")

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
