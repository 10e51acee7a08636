"""The one TOML config loader, for the run config (`agent.config`) and the loop config (`expert_iteration.config`).

A missing, unreadable or non-UTF-8 file, invalid TOML, and a section written as a value (`search = 5`) each get one
line naming the file and the fix, before any validation; validation errors name the key, and an unknown key the
keys allowed where it stands.
"""

from __future__ import annotations

import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from isabelle_env.text_files import TextFileError, read_text_file

M = typing.TypeVar("M", bound=BaseModel)


def load_model(
    model: type[M],
    path: Path | None,
    error: type[Exception],
    overrides: dict[str, dict[str, Any]] | None = None,
) -> M:
    """`model` from a TOML file (defaults when None) with command-line overrides per section; `error` otherwise."""
    data: dict[str, Any] = {}
    if path is not None:
        data = read_config_file(path, error, table_sections(model))
    apply_overrides(data, overrides)
    return parse_model(model, data, error, source=str(path) if path else "command line")


def parse_model(model: type[M], data: dict[str, Any], error: type[Exception], *, source: str = "config") -> M:
    """Validate plain data as `model`; every problem in one `error` naming the keys."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{source}: {'; '.join(_describe(model, e) for e in exc.errors())}") from None


def _section_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel]:
    """The (nested) model a location points into; a list index (`generation.variants.0`) keeps the item's model."""
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            continue
        kinds = (field.annotation, *typing.get_args(field.annotation))  # `tuple[Variant, ...]` names its item
        kinds = (*kinds, *(a for k in kinds for a in typing.get_args(k)))
        model = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), model)
    return model


def _describe(model: type[BaseModel], error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_section_at(model, error["loc"][:-1]).model_fields)
        return f"unknown key {where!r}; allowed here: {allowed}"
    if error["type"] == "missing":
        return f"{where}: required"
    if error["type"] in ("literal_error", "value_error", "enum"):
        return f"{where}: {error['msg'].removeprefix('Value error, ')} (got {error.get('input')!r})"
    return f"{where}: {error['msg']} (got {error.get('input')!r})"


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
