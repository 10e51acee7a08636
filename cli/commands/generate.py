"""`subgoalxl generate`: run one generator role over a JSONL file of problems and write JSONL samples.

Registered in agent/cli.py as `app.command()(generate)`. Everything heavy (torch, transformers, openai,
vllm) is imported inside the command, so `subgoalxl --help` stays instant.
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.options import fail


class RoleChoice(StrEnum):
    statement = "statement"
    subgoal = "subgoal"
    proof = "proof"


class BackendChoice(StrEnum):
    transformers = "transformers"
    vllm = "vllm"
    openai = "openai"


class ApiChoice(StrEnum):
    completions = "completions"
    chat = "chat"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("subgoalxl")
    except PackageNotFoundError:
        return "unknown"


def generate(
    role: Annotated[RoleChoice, typer.Option("--role", help="which generator to run", show_default=False)],
    model: Annotated[
        str,
        typer.Option(
            "--model", help="local model directory or HF id (openai: the served model's name)", show_default=False
        ),
    ],
    input_path: Annotated[
        Path,
        typer.Option(
            "--input",
            help="JSONL rows: problem_name, informal_statement, informal_proof, formal_statement (+ subgoals)",
            show_default=False,
        ),
    ],
    n: Annotated[int, typer.Option("--n", min=1, help="samples per problem")] = 1,
    output: Annotated[
        Path | None, typer.Option("--output", help="JSONL file to write (default: stdout)", show_default=False)
    ] = None,
    backend: Annotated[
        BackendChoice, typer.Option("--backend", help="how to run the model")
    ] = BackendChoice.transformers,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1")
    ] = None,
    api: Annotated[
        ApiChoice, typer.Option("--api", help="openai backend: completions or chat")
    ] = ApiChoice.completions,
    api_key: Annotated[
        str, typer.Option("--api-key", envvar="OPENAI_API_KEY", help="openai backend: API key", show_default=False)
    ] = "EMPTY",
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="0 = greedy")] = 0.7,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)] = 0.95,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="tokens per completion")] = 512,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="sampling seed (default: unseeded)")] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="prompt template NAME or NAME.vN (default: the role's newest)")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="only the first N problems")] = None,
    device: Annotated[str, typer.Option("--device", help="transformers backend: auto, cpu, cuda, cuda:N")] = "auto",
    batch_problems: Annotated[int, typer.Option("--batch-problems", min=1, help="problems per model call")] = 16,
) -> None:
    """Sample formal statements, subgoals or Isar proofs for each problem; one JSON sample per line."""
    from pydantic import ValidationError

    from generators.backend import BackendError, SamplingParams
    from generators.backends import OpenAIConfig, TransformersConfig, VLLMConfig, make_backend
    from generators.roles import Role, role_template
    from generators.samples import InputError, generate_samples, read_problems

    if backend is not BackendChoice.openai and base_url:
        raise fail("--base-url is only used with --backend openai")
    if backend is BackendChoice.openai and not base_url:
        raise fail("--backend openai needs --base-url URL (e.g. http://127.0.0.1:8000/v1 for `vllm serve`)")
    if not input_path.is_file():
        raise fail(f"input file {input_path} does not exist")
    the_role = Role(role.value)
    try:
        template = role_template(the_role, prompt) if prompt else None
        problems = read_problems(input_path, the_role, template)[:limit]
        params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
        config: Any
        if backend is BackendChoice.openai:
            config = OpenAIConfig(model=model, base_url=base_url, api=api.value, api_key=api_key)
        elif backend is BackendChoice.vllm:
            config = VLLMConfig(model=model)
        else:
            config = TransformersConfig(model=model, device=device)
    except (InputError, ValueError, ValidationError) as exc:
        raise fail(str(exc)) from None

    if backend is BackendChoice.transformers:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # keep stderr to our one summary line
    started = time.monotonic()
    written = parsed_ok = 0
    sink = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115 - closed below
    try:
        with make_backend(config) as engine:
            provenance = {**engine.describe(), "subgoalxl": _version()}
            for sample in generate_samples(
                problems,
                the_role,
                engine,
                params,
                template=template,
                provenance=provenance,
                problems_per_call=batch_problems,
            ):
                sink.write(json.dumps(sample, ensure_ascii=False) + "\n")
                sink.flush()
                written += 1
                parsed_ok += bool(sample["parse_ok"])
    except (BackendError, FileNotFoundError, OSError) as exc:
        raise fail(f"{exc} ({written} samples written before the failure)") from None
    finally:
        if output:
            sink.close()
    where = f" to {output}" if output else ""
    typer.echo(
        f"{written} samples ({parsed_ok} parsed) for {len(problems)} problems in {time.monotonic() - started:.1f} s"
        f"{where}",
        err=True,
    )
