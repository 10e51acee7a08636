"""Model backends behind `generators.backend.Backend`; each imports its heavy library only when built."""

from __future__ import annotations

from generators.backend import Backend
from generators.backends.config import (
    BACKEND_KINDS,
    BackendConfig,
    OpenAIConfig,
    TransformersConfig,
    VLLMConfig,
    backend_config,
)

__all__ = [
    "BACKEND_KINDS",
    "BackendConfig",
    "OpenAIConfig",
    "TransformersConfig",
    "VLLMConfig",
    "backend_config",
    "make_backend",
]


def make_backend(config: TransformersConfig | VLLMConfig | OpenAIConfig | dict[str, object]) -> Backend:
    """Build (and load) the backend a config describes."""
    if isinstance(config, dict):
        config = backend_config(config)
    if isinstance(config, TransformersConfig):
        from generators.backends.transformers_backend import TransformersBackend

        return TransformersBackend(config)
    if isinstance(config, VLLMConfig):
        from generators.backends.vllm_backend import VLLMBackend

        return VLLMBackend(config)
    if isinstance(config, OpenAIConfig):
        from generators.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(config)
    raise TypeError(f"not a backend config: {config!r} (kinds: {', '.join(BACKEND_KINDS)})")
