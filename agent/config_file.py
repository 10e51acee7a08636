"""Reading a TOML config file into plain data for a pydantic model: the errors a person can act on.

Shared by the run config (`agent.config`) and the loop config (`expert_iteration.config`): a missing, unreadable
or non-UTF-8 file, invalid TOML, and a section written as a value (`search = 5`) each get one line naming the file
and the fix, before any validation.
"""

from __future__ import annotations

import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from isabelle_env.text_files import TextFileError, read_text_file


def table_sections(model: type[BaseModel]) -> list[str]:
    """The model's fields that are themselves models: TOML tables (`[search]`), never plain values."""
    out = []
    for name, field in model.model_fields.items():
        union = typing.get_origin(field.annotation) in (typing.Union, types.UnionType)
        inner = typing.get_args(field.annotation) if union else (field.annotation,)
        if any(isinstance(a, type) and issubclass(a, BaseModel) for a in inner):
            out.append(name)
    return out


def read_config_file(path: Path, error: type[Exception], sections: list[str]) -> dict[str, Any]:
    if not path.is_file():
        raise error(f"config file {path} does not exist" if not path.exists() else f"config file {path} is a folder")
    try:
        text = read_text_file(path, "config file")
    except TextFileError as exc:
        raise error(str(exc)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path} is not valid TOML: {exc}") from None
    check_sections(data, sections, str(path), error)
    return data


def check_sections(data: dict[str, Any], sections: list[str], source: str, error: type[Exception]) -> None:
    for name in sections:
        if name in data and not isinstance(data[name], dict):
            raise error(
                f"{source}: {name} must be a table (a [{name}] line with `key = value` lines under it), "
                f"not {data[name]!r}"
            )


def apply_overrides(data: dict[str, Any], overrides: dict[str, dict[str, Any]] | None) -> None:
    """Command-line values per section (None: not given); sections are known to be tables by now."""
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
