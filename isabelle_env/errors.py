"""Exceptions of the Isabelle helpers; each says what happened and what to do about it."""

from __future__ import annotations

from typing import Any


class IsabelleError(RuntimeError):
    """Base of every error raised while talking to Isabelle."""


class IsabelleNotFoundError(IsabelleError):
    """No Isabelle installation could be located."""


class IsabelleProtocolError(IsabelleError):
    """The server sent something this client cannot interpret."""


class IsabelleConnectionError(IsabelleError):
    """The connection to the server could not be opened, was refused, or was lost."""


class IsabelleTimeoutError(IsabelleError, TimeoutError):
    """Isabelle did not answer within the allowed time."""


class IsabelleCommandError(IsabelleError):
    """The server answered a command with ERROR."""

    def __init__(self, command: str, payload: Any):
        self.command = command
        self.payload = payload
        detail = payload if isinstance(payload, str) else (payload or {}).get("message", payload)
        super().__init__(f"Isabelle server rejected {command!r}: {detail}")


class IsabelleTaskFailedError(IsabelleError):
    """An asynchronous task ended with FAILED (e.g. a session that does not exist, or an interrupt)."""

    def __init__(self, command: str, payload: Any):
        self.command = command
        self.payload = payload
        message = payload.get("message", payload) if isinstance(payload, dict) else payload
        self.message = str(message)
        super().__init__(f"Isabelle task {command!r} failed: {self.message}")
