"""Backend configurations: one typed object per backend, validated at construction, no heavy imports.

A TOML or JSON config maps one-to-one onto these (`kind` picks the class); an unknown key or a bad value
fails at load time, naming the field and what is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]+)?)$")
#: adapter names become module keys (peft) and served model names (vLLM): no dots, slashes or spaces
ADAPTER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


class StrictConfig(BaseModel):
    """Frozen, no unknown keys; an unknown key's error lists the allowed ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: object) -> object:
        """Name the unknown key and list the allowed ones (pydantic alone says only "extra inputs")."""
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in set(data) - set(cls.model_fields))
            if unknown:
                raise ValueError(f"unknown field(s) {unknown}; {cls.__name__} allows: {', '.join(cls.model_fields)}")
        return data


def check_adapters(adapters: dict[str, str], adapter: str | None) -> None:
    """Adapter names must be usable as peft/vLLM names, and the default adapter must be one of them."""
    bad = [name for name in adapters if not ADAPTER_NAME.match(name)]
    if bad:
        raise ValueError(f"adapter names may hold only letters, digits, _ and - (no dots or slashes); got {bad}")
    if adapter is not None and adapter not in adapters:
        raise ValueError(f"adapter {adapter!r} is not one of adapters: {sorted(adapters) or 'none given'}")


class TransformersConfig(StrictConfig):
    """A Hugging Face causal LM run in this process (CPU or GPU): the test default, and fine for small models."""

    kind: Literal["transformers"] = "transformers"
    model: str = Field(description="HF model id, or a local directory holding config.json and the tokenizer")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N | mps")
    dtype: Dtype = "auto"
    batch_size: int = Field(8, ge=1, description="sequences per forward pass (prompts x n are chunked to this)")
    trust_remote_code: bool = False
    adapters: dict[str, str] = Field(
        default_factory=dict, description="LoRA adapters over `model` (name -> peft adapter folder), loaded once"
    )
    adapter: str | None = Field(None, description="the adapter plain generate/score use (None: the base model)")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(f"device must be one of auto, cpu, cuda, cuda:N, mps; got {value!r}")
        return value

    @model_validator(mode="after")
    def _adapters(self) -> TransformersConfig:
        check_adapters(self.adapters, self.adapter)
        return self


class VLLMConfig(StrictConfig):
    """A vLLM engine in this process (GPU hosts, `pip install -e '.[vllm]'`)."""

    kind: Literal["vllm"] = "vllm"
    model: str
    tokenizer: str | None = None
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    dtype: Dtype = "auto"
    max_model_len: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0)
    enforce_eager: bool = False
    trust_remote_code: bool = False
    enable_lora: bool = Field(False, description="serve LoRA adapters per request (implied by `adapters`)")
    max_loras: int = Field(4, ge=1, description="LoRA adapters in one batch at once")
    max_lora_rank: int = Field(16, ge=1, description="the largest LoRA rank any adapter has")
    max_cpu_loras: int | None = Field(None, ge=1, description="adapters cached in CPU memory (vLLM default if None)")
    adapters: dict[str, str] = Field(default_factory=dict, description="LoRA adapters: name -> peft adapter folder")
    adapter: str | None = Field(None, description="the adapter plain generate/score use (None: the base model)")

    @model_validator(mode="after")
    def _adapters(self) -> VLLMConfig:
        check_adapters(self.adapters, self.adapter)
        return self

    @property
    def lora(self) -> bool:
        return self.enable_lora or bool(self.adapters)


class OpenAIConfig(StrictConfig):
    """Any OpenAI-compatible server (`vllm serve MODEL`, a hosted API): completions or chat."""

    kind: Literal["openai"] = "openai"
    model: str = Field(description="the model name the server knows (`vllm serve` uses its model path or id)")
    base_url: str = Field(description="e.g. http://127.0.0.1:8000/v1")
    api_key: str = "EMPTY"
    api: Literal["completions", "chat"] = "completions"
    system_prompt: str | None = Field(None, description="chat only: a system message before each prompt")
    timeout: float = Field(120.0, gt=0, description="seconds per request")
    max_retries: int = Field(4, ge=0, description="retries on 429, 5xx, timeouts and connection errors")
    backoff_initial: float = Field(0.5, ge=0, description="first retry delay (s); doubles each retry")
    backoff_max: float = Field(16.0, ge=0)
    max_concurrency: int = Field(16, ge=1, description="requests in flight at once")
    request_token_counts: bool = Field(
        True, description="ask for per-token logprobs of the output, the only per-choice token count servers give"
    )

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"base_url must start with http:// or https:// and name a host, got {value!r}")
        return value.rstrip("/")


BackendConfig = Annotated[TransformersConfig | VLLMConfig | OpenAIConfig, Field(discriminator="kind")]
BACKEND_KINDS = ("transformers", "vllm", "openai")


def backend_config(data: dict[str, object]) -> TransformersConfig | VLLMConfig | OpenAIConfig:
    """Validate a plain dict (from TOML/JSON/CLI) into the config class its `kind` names."""
    return TypeAdapter(BackendConfig).validate_python(data)


def resolve_model_source(model: str) -> tuple[str, bool]:
    """(what to pass to from_pretrained, local_files_only): a local directory, or a HF id.

    A string that exists on disk, or looks like a path (absolute, ./, ../, ~, or more than one `/`), is a
    local directory and must exist; anything else (`org/name`) is a hub id, read from the local cache when
    HF_HUB_OFFLINE=1.
    """
    path = Path(model).expanduser()
    looks_like_path = model.startswith(("/", "./", "../", "~")) or model.count("/") > 1 or model in (".", "..")
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise FileNotFoundError(f"model path {path} is not a model directory (no config.json in it)")
        return str(path.resolve()), True
    if looks_like_path:
        raise FileNotFoundError(f"model path {path} does not exist (give a local model directory or a HF model id)")
    return model, False
