"""Every key of the run and loop configs says what it means (`Field(description=...)`), as TRL's SFTConfig does,
so the JSON schema, editors and error messages can show it; nested sections and list items included."""

from __future__ import annotations

import typing
from collections.abc import Iterator

from pydantic import BaseModel, Field

from agent.config import RunConfig
from expert_iteration.config import IterateConfig


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """The models an annotation holds: itself, or inside `X | None`, `tuple[X, ...]`, `list[X]`, `dict[K, X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def fields_of(model: type[BaseModel], prefix: str = "", seen: frozenset[type] = frozenset()) -> Iterator[tuple]:
    """(dotted key, FieldInfo) for every field of `model` and of every model nested in its fields (`[]`: an item)."""
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        yield key, info
        for inner in _models_in(info.annotation):
            if inner not in seen:
                item = "[]" if typing.get_origin(info.annotation) in (tuple, list) else ""
                yield from fields_of(inner, f"{key}{item}.", seen | {model})


def undescribed(model: type[BaseModel]) -> list[str]:
    return [key for key, info in fields_of(model) if not (info.description or "").strip()]


# ------------------------------------------------------------------------------------------- the walker itself


class _Item(BaseModel):
    described: int = Field(0, description="a number")
    bare: int = 0


class _Section(BaseModel):
    items: tuple[_Item, ...] = Field((), description="some items")
    maybe: _Item | None = Field(None, description="one item, or none")
    blank: str = Field("", description="  ")


class _Top(BaseModel):
    section: _Section = Field(_Section(), description="a section")


def test_the_walker_finds_an_undescribed_field_anywhere():
    assert undescribed(_Top) == ["section.items[].bare", "section.maybe.bare", "section.blank"]
    assert undescribed(_Item) == ["bare"]


def test_the_walker_reaches_list_items_and_optional_sections():
    keys = {key for key, _ in fields_of(_Top)}
    assert {"section", "section.items", "section.items[].described", "section.maybe.described"} <= keys


# ------------------------------------------------------------------------------------------- the real configs


def test_every_run_config_key_is_described():
    keys = {key for key, _ in fields_of(RunConfig)}
    assert {"checking.allowed_oracles", "generation.variants[].name", "generation.variants[].proof_prompts"} <= keys
    assert undescribed(RunConfig) == []


def test_every_loop_config_key_is_described():
    keys = {key for key, _ in fields_of(IterateConfig)}
    assert {"problems.train", "dataset.sources[].kind", "dataset.sources[].roles", "checking.salvage_depth"} <= keys
    assert undescribed(IterateConfig) == []


def test_descriptions_are_one_line():
    for model in (RunConfig, IterateConfig):
        for key, info in fields_of(model):
            assert "\n" not in (info.description or ""), key


def test_descriptions_reach_the_json_schema():
    schema = RunConfig.model_json_schema()
    oracles = schema["$defs"]["CheckingConfig"]["properties"]["allowed_oracles"]
    assert "kernel-only" in oracles["description"]
    assert schema["properties"]["checking"]["description"].startswith("[checking]")
    for model in (RunConfig, IterateConfig):
        schema = model.model_json_schema()
        for owner in (schema, *schema.get("$defs", {}).values()):
            for name, prop in owner.get("properties", {}).items():
                assert prop.get("description", "").strip(), f"{model.__name__}: {owner.get('title')}.{name}"
