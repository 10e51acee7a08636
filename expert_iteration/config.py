"""The expert-iteration configuration: one typed section per concept, loaded from TOML, unknown keys named.

`subgoalxl iterate --config iterate.toml` reads one of these. The Isabelle, checking and scheduling sections are
the agent's own (`agent.config`), so a run's and a loop's TOML read the same there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.config import CheckingConfig, IsabelleConfig, SchedulingConfig
from agent.config_file import load_model, parse_model

RoleName = Literal["statement", "subgoal", "proof"]
ROLES: tuple[str, ...] = ("statement", "subgoal", "proof")
SourceKind = Literal["verified", "prompt_demos", "minif2f_shipped", "dsp_human", "jsonl"]
#: source kinds that read files, and what their `path` names
SOURCE_PATHS: dict[str, str] = {
    "minif2f_shipped": "a miniF2F checkout or folder of .thy files (theories that ship a proof)",
    "dsp_human": "DSP's results/human_100_proofs.jsonl(.tar.gz); formal statements from new_complete_mini.jsonl beside",
    "jsonl": "a JSONL file of {problem_name, informal_statement, informal_proof, formal_statement, subgoals, proof}",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoopSection(_Section):
    """Which loop, how many rounds, and where its state lives (store: SQLite; work_dir: models and datasets)."""

    id: str | None = Field(None, description="loop id; default: derived from the config's hash")
    rounds: int = Field(1, ge=0, description="rounds to run (0: only the baseline evaluation, when enabled)")
    seed: int = Field(0, ge=0, description="seeds sampling, selection, dataset mixing, training and evaluation")
    store: str | None = Field(None, description="the run store (SQLite); default DATA_DIR/runs.sqlite")
    work_dir: str | None = Field(None, description="models and datasets; default DATA_DIR/iterations")


class ModelsSection(_Section):
    """The round-0 generators: one `base` for every role, or one per role (a local folder or a HF id)."""

    base: str | None = Field(None, description="the round-0 model of every role without its own")
    statement: str | None = Field(None, description="the round-0 statement generator; None: base")
    subgoal: str | None = Field(None, description="the round-0 subgoal generator; None: base")
    proof: str | None = Field(None, description="the round-0 proof generator; None: base")
    backend: Literal["transformers", "vllm"] = Field("transformers", description="how samplers and evaluation run")

    def initial(self, role: str) -> str | None:
        return getattr(self, role) or self.base


class ProblemsSection(_Section):
    """Training problems (informal statement and proof given) and the held-out problems the agent is scored on."""

    train: str = Field(description="a miniF2F checkout, a folder of .thy files or a JSONL file")
    train_split: Literal["valid", "test"] | None = Field(None, description="train only on this split; None: all")
    train_names: tuple[str, ...] | None = Field(None, description="train only on these problems; None: all")
    train_limit: int | None = Field(None, ge=1, description="train on at most the first N problems selected")
    heldout: str | None = Field(None, description="the held-out problems' source; default: the same source as train")
    heldout_split: Literal["valid", "test"] | None = Field(None, description="hold out only this split; None: all")
    heldout_names: tuple[str, ...] | None = Field(None, description="hold out only these problems; None: all")
    heldout_limit: int | None = Field(None, ge=1, description="hold out at most the first N problems selected")


class SamplingSection(_Section):
    """Step 1: per problem, statements and subgoal lists from the current generators, then proofs for each list."""

    statements_per_problem: int = Field(8, ge=0, description="formal statements sampled per problem (0: none)")
    subgoals_per_problem: int = Field(8, ge=1, description="subgoal lists sampled per problem")
    proofs_per_subgoal: int = Field(1, ge=1, description="proofs sampled per parsed subgoal list")
    temperature: float = Field(0.6, ge=0, le=10, description="sampling temperature")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling: the probability mass sampled from")
    max_tokens: int = Field(1024, ge=1, description="most new tokens per sample")
    problems_per_call: int = Field(8, ge=1, description="problems per generation call (the unit of resumption)")
    placement: Literal["ray", "local"] = Field("ray", description="ray: GeneratorPool actors; local: this process")
    actors: int = Field(1, ge=1, description="ray placement: generator actors per model")
    num_cpus: float = Field(1.0, ge=0, description="ray placement: CPUs each generator actor reserves")
    num_gpus: float = Field(0.0, ge=0, description="ray placement: GPUs each generator actor reserves")


class ScoringSection(_Section):
    """Step 3: another model's length-normalised log-likelihood (default: the round-0 proof model, kept fixed)."""

    model: str | None = Field(None, description="the scoring model; None: the round-0 proof model")
    backend: Literal["transformers", "vllm", "openai"] = Field(
        "transformers", description="transformers or vllm: loaded here or in an actor; openai: a server at base_url"
    )
    base_url: str | None = Field(None, description="openai backend: the server, e.g. http://127.0.0.1:8000/v1")
    placement: Literal["ray", "local"] = Field("ray", description="ray: one GeneratorPool actor; local: this process")
    num_cpus: float = Field(1.0, ge=0, description="ray placement: CPUs the scoring actor reserves")
    num_gpus: float = Field(0.0, ge=0, description="ray placement: GPUs the scoring actor reserves")

    @model_validator(mode="after")
    def _openai_needs_url(self) -> ScoringSection:
        if self.backend == "openai" and not (self.base_url and self.model):
            raise ValueError("scoring.backend = 'openai' needs scoring.model and scoring.base_url")
        return self


class SelectionSection(_Section):
    """Step 4: keep k of the n verified candidates per problem and role by statistical rejection sampling."""

    k: int = Field(2, ge=1, description="candidates kept per problem and role (fewer when fewer are eligible)")
    k_by_role: dict[RoleName, int] = Field(default_factory=dict, description="per-role k, e.g. {proof = 4}")
    beta: float = Field(0.5, gt=0, description="temperature of exp((r - r_max) / beta)")

    def k_for(self, role: str) -> int:
        return self.k_by_role.get(role, self.k)  # type: ignore[call-overload]


class SourceSection(_Section):
    """One data source of the SFT datasets; `weight`s are the mixing ratios of the sources present."""

    name: str = Field(min_length=1, description="the source's unique name, recorded with each of its examples")
    kind: SourceKind = Field(
        description="verified: this loop's selected candidates; prompt_demos, minif2f_shipped, dsp_human, jsonl: "
        "library data"
    )
    path: str | None = Field(None, description="the file or folder minif2f_shipped, dsp_human and jsonl read")
    weight: float = Field(1.0, gt=0, description="mixing ratio against the other sources present")
    roles: tuple[RoleName, ...] = Field(ROLES, description="the role datasets this source feeds")

    @model_validator(mode="after")
    def _path(self) -> SourceSection:
        if self.kind in SOURCE_PATHS and not self.path:
            raise ValueError(f"source {self.name!r} of kind {self.kind!r} needs path: {SOURCE_PATHS[self.kind]}")
        if self.kind not in SOURCE_PATHS and self.path:
            raise ValueError(f"source {self.name!r} of kind {self.kind!r} reads no file: drop path")
        return self


class DatasetSection(_Section):
    """Step 5: one SFT dataset per generator (`experts`) or one for all three roles (`single`)."""

    mode: Literal["experts", "single"] = Field(
        "experts", description="experts: one dataset and model per role; single: one multitask dataset and model"
    )
    sources: tuple[SourceSection, ...] = Field(
        (SourceSection(name="competition", kind="verified"),), description="the data sources, in priority order"
    )
    mix: Literal["downsample", "upsample"] = Field(
        "downsample", description="meet the ratios by dropping from large sources, or repeating small ones"
    )
    near_duplicate_jaccard: float = Field(0.75, gt=0, le=1, description="drop when token Jaccard is above this")
    dedup_scope: Literal["problem", "all"] = Field(
        "problem", description="near duplicates within one role and problem (problem) or across problems (all)"
    )
    short_proof_drop: dict[int, float] = Field(
        default_factory=dict, description='step count -> drop probability, e.g. {"1" = 0.8, "2" = 0.3}'
    )
    max_examples: int | None = Field(None, ge=1, description="cap per dataset, after mixing")
    exclude_heldout: bool = Field(True, description="drop library rows naming a held-out problem")

    @field_validator("short_proof_drop")
    @classmethod
    def _probabilities(cls, value: dict[int, float]) -> dict[int, float]:
        bad = {k: v for k, v in value.items() if k < 1 or not 0 <= v <= 1}
        if bad:
            raise ValueError(f"short_proof_drop maps a step count >= 1 to a probability in [0, 1]; got {bad}")
        return value

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: tuple[SourceSection, ...]) -> tuple[SourceSection, ...]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        if sum(s.kind == "verified" for s in value) > 1:
            raise ValueError("at most one source of kind 'verified' (this loop's own verified candidates)")
        if not value:
            raise ValueError("at least one source is needed")
        return value


class TrainingSection(_Section):
    """Step 6: TRL SFTTrainer, completion-only loss, from the previous round's weights; full or LoRA (merged)."""

    method: Literal["full", "lora"] = Field("full", description="full: every weight; lora: LoRA, merged afterwards")
    learning_rate: float = Field(1e-5, gt=0, description="peak learning rate")
    epochs: float = Field(1.0, gt=0, description="passes over the dataset (fractions allowed)")
    max_steps: int | None = Field(None, ge=1, description="overrides epochs")
    batch_size: int = Field(4, ge=1, description="examples per device per step")
    gradient_accumulation_steps: int = Field(1, ge=1, description="steps whose gradients add up to one update")
    max_length: int = Field(4096, ge=16, description="tokens; longer examples are dropped, not cut")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="share of the steps the learning rate warms up over")
    lr_scheduler: str = Field("linear", description="transformers' lr_scheduler_type, e.g. linear, cosine, constant")
    weight_decay: float = Field(0.0, ge=0, description="the optimizer's weight decay")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="auto: bf16 on GPU, fp32 on CPU")
    activation_checkpointing: bool = Field(True, description="recompute activations: less memory, ~30% slower")
    lora_r: int = Field(16, ge=1, description="lora: the adapters' rank")
    lora_alpha: int = Field(32, ge=1, description="lora: the scaling alpha (updates scale by alpha / r)")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="lora: dropout on the adapters' input")
    lora_target_modules: str | tuple[str, ...] = Field(
        "all-linear", description="lora: peft's target_modules, 'all-linear' or a list of module names"
    )
    launcher: Literal["inprocess", "accelerate"] = Field(
        "inprocess", description="inprocess: here (CPU or the visible GPUs); accelerate: `accelerate launch`"
    )
    num_processes: int = Field(1, ge=1, description="accelerate only: processes (GPUs)")


class EvaluationSection(_Section):
    """Step 7: the agent (subgoal prover) with the new generators on the held-out problems."""

    enabled: bool = Field(True, description="evaluate each round's generators (step 7)")
    baseline: bool = Field(False, description="also evaluate the round-0 generators (round 0 on the curve)")
    skip_solved: bool = Field(True, description="skip problems solved in earlier rounds; the union counts")
    attempts_per_problem: int = Field(1, ge=1, description="candidate proofs per problem (pass@N is over these)")
    problem_timeout_s: float = Field(3600.0, gt=0, description="wall-clock seconds per problem from its first attempt")
    subgoal_samples: int = Field(1, ge=1, description="subgoal lists sampled per attempt")
    proof_samples: int = Field(1, ge=1, description="proofs sampled per subgoal list; one of them is checked")
    temperature: float = Field(0.6, ge=0, le=10, description="sampling temperature")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling: the probability mass sampled from")
    max_tokens: int = Field(1024, ge=1, description="most new tokens per sample")
    rank_with_scorer: bool = Field(
        False, description="check the proof with the best posterior p(subgoals | proof), not the first that parses"
    )
    actors: int = Field(1, ge=1, description="generator Ray actors (one model load each)")
    num_cpus: float = Field(1.0, ge=0, description="CPUs each generator actor reserves")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each generator actor reserves (fractions allowed)")


class IterateConfig(_Section):
    loop: LoopSection = Field(LoopSection(), description="[loop]: id, rounds, seed and where state lives")
    models: ModelsSection = Field(ModelsSection(), description="[models]: the round-0 generators")
    problems: ProblemsSection = Field(description="[problems]: training and held-out problems (required)")
    sampling: SamplingSection = Field(SamplingSection(), description="[sampling]: step 1, sampling candidates")
    scoring: ScoringSection = Field(ScoringSection(), description="[scoring]: step 3, the scoring model")
    selection: SelectionSection = Field(SelectionSection(), description="[selection]: step 4, rejection sampling")
    dataset: DatasetSection = Field(DatasetSection(), description="[dataset]: step 5, the SFT datasets")
    training: TrainingSection = Field(TrainingSection(), description="[training]: step 6, fine-tuning")
    evaluation: EvaluationSection = Field(EvaluationSection(), description="[evaluation]: step 7, the agent")
    isabelle: IsabelleConfig = Field(IsabelleConfig(), description="[isabelle]: where checks run (as a run's)")
    checking: CheckingConfig = Field(CheckingConfig(), description="[checking]: how candidates are verified")
    scheduling: SchedulingConfig = Field(SchedulingConfig(), description="[scheduling]: bounds on in-flight work")

    @model_validator(mode="after")
    def _models(self) -> IterateConfig:
        missing = [r for r in ROLES if not self.models.initial(r)]
        if missing:
            raise ValueError(f"models: no starting model for {', '.join(missing)}: set models.base or models.<role>")
        if self.dataset.mode == "single" and len({self.models.initial(r) for r in ROLES}) > 1:
            raise ValueError("dataset.mode = 'single' trains one model for all roles: give one models.base")
        return self

    def scorer_model(self) -> str:
        return self.scoring.model or self.models.initial("proof") or ""

    def fingerprint(self) -> str:
        """Hash of everything that decides the loop's results: not the keys in `RESUME_MAY_CHANGE`."""
        data = self.model_dump(mode="json")
        for key in RESUME_MAY_CHANGE:
            section, _, name = key.partition(".")
            if name == "*":
                data.pop(section, None)
            else:
                data[section].pop(name, None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


#: keys a resumed loop may change: how many rounds, where things are, and how much hardware (not what is computed)
RESUME_MAY_CHANGE: frozenset[str] = frozenset(
    {
        "loop.rounds",
        "loop.store",
        "loop.work_dir",
        "isabelle.isabelle_path",
        "isabelle.server",
        "isabelle.session",  # which heap the libraries come from; a theory's own imports decide what it sees
        "isabelle.dirs",
        "isabelle.checkers",
        "isabelle.sessions_per_checker",
        "isabelle.checker_num_cpus",
        "scheduling.*",
        "sampling.placement",
        "sampling.actors",
        "sampling.num_cpus",
        "sampling.num_gpus",
        "scoring.placement",
        "scoring.num_cpus",
        "scoring.num_gpus",
        "training.launcher",
        "training.num_processes",
        "evaluation.actors",
        "evaluation.num_cpus",
        "evaluation.num_gpus",
    }
)


class IterateConfigError(ValueError):
    """An invalid config; the message names the key and what is allowed."""


def parse_iterate_config(data: dict[str, Any], *, source: str = "config") -> IterateConfig:
    return parse_model(IterateConfig, data, IterateConfigError, source=source)


def load_iterate_config(path: Path, overrides: dict[str, dict[str, Any]] | None = None) -> IterateConfig:
    """Read a TOML file and apply per-section overrides (None values are ignored)."""
    return load_model(IterateConfig, path, IterateConfigError, overrides)
