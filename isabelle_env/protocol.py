"""Replies of the `isabelle server` and the typed results of its commands (System Manual, "Server")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from isabelle_env.errors import IsabelleProtocolError


class ReplyKind(StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    NOTE = "NOTE"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    payload: Any  # decoded JSON argument, or None when the reply has none

    @property
    def task_id(self) -> str | None:
        return self.payload.get("task") if isinstance(self.payload, dict) else None


def parse_reply(message: bytes) -> Reply:
    text = message.decode("utf-8", errors="replace")
    name, _, argument = text.partition(" ")
    try:
        kind = ReplyKind(name)
    except ValueError:
        raise IsabelleProtocolError(f"unexpected reply from the Isabelle server: {text[:200]!r}") from None
    if not argument.strip():
        return Reply(kind, None)
    try:
        return Reply(kind, json.loads(argument))
    except json.JSONDecodeError as exc:
        raise IsabelleProtocolError(f"reply {name} carries invalid JSON ({exc}): {argument[:200]!r}") from None


def encode_command(name: str, argument: Any = None) -> str:
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"bad command name {name!r}")
    return name if argument is None else f"{name} {json.dumps(argument, separators=(',', ':'))}"


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Position:
    line: int | None = None
    offset: int | None = None
    end_offset: int | None = None
    file: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Position:
        data = data or {}
        return cls(data.get("line"), data.get("offset"), data.get("end_offset"), data.get("file"))


@dataclass(frozen=True)
class IsabelleMessage:
    """One prover message: `kind` is writeln, warning, error, ... and `text` the message itself."""

    kind: str
    text: str
    pos: Position = field(default_factory=Position)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IsabelleMessage:
        return cls(str(data.get("kind", "")), str(data.get("message", "")), Position.from_json(data.get("pos")))

    @property
    def is_error(self) -> bool:
        return self.kind == "error"


@dataclass(frozen=True)
class NodeStatus:
    ok: bool
    total: int = 0
    unprocessed: int = 0
    running: int = 0
    finished: int = 0
    failed: int = 0
    warned: int = 0
    percentage: int = 0
    consolidated: bool = False
    canceled: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeStatus:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class NodeResult:
    """The outcome for one theory node of `use_theories`."""

    node_name: str
    theory_name: str
    status: NodeStatus
    messages: tuple[IsabelleMessage, ...]
    exports: tuple[Any, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeResult:
        return cls(
            node_name=str(data.get("node_name", "")),
            theory_name=str(data.get("theory_name", "")),
            status=NodeStatus.from_json(data.get("status", {"ok": False})),
            messages=tuple(IsabelleMessage.from_json(m) for m in data.get("messages", [])),
            exports=tuple(data.get("exports", [])),
        )

    @property
    def errors(self) -> list[IsabelleMessage]:
        return [m for m in self.messages if m.is_error]

    @property
    def checked_ok(self) -> bool:
        """Fully processed with no error: the structured notion of "this theory checked"."""
        s = self.status
        return s.ok and not s.canceled and s.failed == 0 and s.unprocessed == 0 and not self.errors


@dataclass(frozen=True)
class UseTheoriesResult:
    ok: bool
    errors: tuple[IsabelleMessage, ...]
    nodes: tuple[NodeResult, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UseTheoriesResult:
        return cls(
            ok=bool(data.get("ok", False)),
            errors=tuple(IsabelleMessage.from_json(m) for m in data.get("errors", [])),
            nodes=tuple(NodeResult.from_json(n) for n in data.get("nodes", [])),
        )


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    tmp_dir: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionInfo:
        try:
            return cls(session_id=str(data["session_id"]), tmp_dir=str(data.get("tmp_dir", "")))
        except (KeyError, TypeError):
            raise IsabelleProtocolError(f"session_start result without session_id: {data!r}") from None


@dataclass(frozen=True)
class TheoryRef:
    node_name: str
    theory_name: str


@dataclass(frozen=True)
class PurgeResult:
    purged: tuple[TheoryRef, ...]
    retained: tuple[TheoryRef, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PurgeResult:
        def refs(items: list[dict[str, Any]]) -> tuple[TheoryRef, ...]:
            return tuple(TheoryRef(str(i.get("node_name", "")), str(i.get("theory_name", ""))) for i in items)

        return cls(refs(data.get("purged", [])), refs(data.get("retained", [])))


@dataclass(frozen=True)
class SessionBuildResult:
    ok: bool
    return_code: int
    sessions: tuple[dict[str, Any], ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionBuildResult:
        return cls(bool(data.get("ok")), int(data.get("return_code", 1)), tuple(data.get("sessions", [])))
