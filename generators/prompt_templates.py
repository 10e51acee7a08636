"""Prompt templates: versioned plain-text files shipped as package data (`generators/prompts/NAME.vN.txt`).

A template is a short header (`key: value` lines, then `---`) and a body with `{{field}}` placeholders.
Double braces because Isabelle text and LaTeX use single braces and `$` freely. Every sample records the
template's name, version and a hash of its bytes, so a result can always be traced to the exact prompt.

Header keys: `name`, `version`, `description`, `stop` (a JSON list), and optionally `role` (the generator role
the template is for), `parser` (how that role reads a completion of this template; default the role's own),
`source` (where a format comes from; may repeat) and `final_newline: false` (the prompt ends where the body's
last line ends, without a newline: formats that a model continues on the same line need it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

_FILE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[0-9]+)\.txt$")
_PLACEHOLDER = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")
_HEADER_KEYS = ("name", "version", "description", "stop", "role", "parser", "source", "final_newline")


@dataclass(frozen=True)
class PromptRef:
    """Which prompt produced a sample: name, version and the first 16 hex digits of the file's sha256."""

    name: str
    version: int
    sha256: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    def __str__(self) -> str:
        return f"{self.name}.v{self.version}@{self.sha256}"


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template; `render(**fields)` fills every placeholder or fails naming the missing ones."""

    name: str
    version: int
    description: str
    stop: tuple[str, ...]
    body: str
    sha256: str
    role: str | None = None
    parser: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def ref(self) -> PromptRef:
        return PromptRef(self.name, self.version, self.sha256)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_PLACEHOLDER.findall(self.body)))

    def render(self, fields: Mapping[str, str] | None = None, /, **kwargs: str) -> str:
        values = {**(fields or {}), **kwargs}
        missing = [f for f in self.fields if values.get(f) is None]
        if missing:
            raise KeyError(f"prompt {self.ref} needs fields {missing}; got {sorted(values)}")
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), self.body)

    @classmethod
    def parse(cls, text: str, *, source: str = "<string>") -> PromptTemplate:
        """Parse a template file's text (header, `---`, body)."""
        head, sep, body = text.partition("\n---\n")
        if not sep:
            raise ValueError(f"{source}: a prompt file needs a header, a line `---`, then the body")
        header: dict[str, str] = {}
        sources: list[str] = []
        for line in head.splitlines():
            key, colon, value = line.partition(":")
            if not colon or key.strip() not in _HEADER_KEYS:
                raise ValueError(f"{source}: header line {line!r} is not one of `{': ..`, `'.join(_HEADER_KEYS)}: ..`")
            if key.strip() == "source":
                sources.append(value.strip())
            header[key.strip()] = value.strip()
        final_newline = header.get("final_newline", "true")
        if final_newline not in ("true", "false"):
            raise ValueError(f"{source}: `final_newline:` must be true or false, got {final_newline!r}")
        if final_newline == "false":
            body = body.removesuffix("\n")
        for key in ("name", "version"):
            if key not in header:
                raise ValueError(f"{source}: header lacks `{key}:`")
        try:
            stop = tuple(json.loads(header.get("stop", "[]")))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: `stop:` must be a JSON list of strings: {exc}") from None
        return cls(
            name=header["name"],
            version=int(header["version"]),
            description=header.get("description", ""),
            stop=stop,
            body=body,
            sha256=hashlib.sha256(text.encode()).hexdigest()[:16],
            role=header.get("role") or None,
            parser=header.get("parser") or None,
            sources=tuple(sources),
        )


def _prompt_dir():  # noqa: ANN202 - a Traversable
    return resources.files("generators") / "prompts"


@cache
def available_prompts() -> dict[str, tuple[int, ...]]:
    """Template names shipped with the package and their versions, ascending."""
    found: dict[str, list[int]] = {}
    for entry in _prompt_dir().iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.setdefault(match["name"], []).append(int(match["version"]))
    return {name: tuple(sorted(versions)) for name, versions in sorted(found.items())}


@cache
def load_prompt(name: str, version: int | None = None) -> PromptTemplate:
    """The template `name` at `version` (default: the newest); errors list what exists."""
    versions = available_prompts().get(name)
    if not versions:
        raise ValueError(f"no prompt named {name!r}; available: {', '.join(available_prompts()) or 'none'}")
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise ValueError(f"prompt {name!r} has no version {version}; available: {list(versions)}")
    path = _prompt_dir() / f"{name}.v{chosen}.txt"
    template = PromptTemplate.parse(path.read_text(encoding="utf-8"), source=str(path))
    if (template.name, template.version) != (name, chosen):
        raise ValueError(f"{path}: header says {template.name} v{template.version}, file name says {name} v{chosen}")
    return template


def parse_prompt_spec(spec: str) -> tuple[str, int | None]:
    """`proof` or `proof.v2` -> (name, version)."""
    name, _, version = spec.partition(".v")
    if version and not version.isdigit():
        raise ValueError(f"prompt {spec!r}: expected NAME or NAME.vN")
    return name, int(version) if version else None
