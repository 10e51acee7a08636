"""Byte-level framing of the `isabelle server` protocol (Isabelle's `Byte_Message` line messages).

A message is either one short line (LF or CRLF terminated) or, when it is long or holds a newline, a
line with its byte count followed by exactly that many bytes (the count includes the final newline).
The decoder is incremental: TCP may split a message across reads or put several into one read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Isabelle writes a length header for messages longer than this (Byte_Message.write_line_message).
SHORT_MESSAGE_LIMIT = 100

_LENGTH_LINE = re.compile(rb"^[0-9]+$")


class FramingError(ValueError):
    """The byte stream is not a valid sequence of line messages."""


def encode_message(message: str | bytes) -> bytes:
    """Frame one message the way Isabelle does: a bare line if short, else length header + body."""
    body = message.encode("utf-8") if isinstance(message, str) else message
    if _LENGTH_LINE.match(body):
        raise FramingError(f"a message may not consist of digits only (it would read as a length): {body!r}")
    if body.endswith(b"\n") or body.endswith(b"\r"):
        raise FramingError("a message may not end in a line terminator; the framing adds it")
    if len(body) > SHORT_MESSAGE_LIMIT or b"\n" in body:
        return b"%d\n" % (len(body) + 1) + body + b"\n"
    return body + b"\n"


def _trim_line(data: bytes) -> bytes:
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n") or data.endswith(b"\r"):
        return data[:-1]
    return data


@dataclass
class MessageDecoder:
    """Turns arbitrary chunks of received bytes into complete messages, in order."""

    max_message_bytes: int = 1 << 30
    _buffer: bytearray = field(default_factory=bytearray)
    _expected: int | None = None  # body length still to come after a length header

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        messages: list[bytes] = []
        while True:
            if self._expected is None:
                newline = self._buffer.find(b"\n")
                if newline < 0:
                    return messages
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                line = _trim_line(line)
                if _LENGTH_LINE.match(line):
                    size = int(line)
                    if size > self.max_message_bytes:
                        raise FramingError(f"announced message of {size} bytes exceeds the limit")
                    self._expected = size
                else:
                    messages.append(line)
            else:
                if len(self._buffer) < self._expected:
                    return messages
                body = bytes(self._buffer[: self._expected])
                del self._buffer[: self._expected]
                self._expected = None
                messages.append(_trim_line(body))

    @property
    def pending(self) -> str | None:
        """A description of an incomplete message still buffered, or None when between messages."""
        if self._expected is not None:
            return f"got {len(self._buffer)} of {self._expected} announced bytes"
        if self._buffer:
            return f"got {len(self._buffer)} bytes of a line without its newline"
        return None
