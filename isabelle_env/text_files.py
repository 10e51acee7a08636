"""Reading the text files people hand us (theories, candidate proofs, configs): UTF-8 or a clear refusal.

Isabelle reads theory files as UTF-8 (symbols beyond ASCII are written `\\<forall>`), and TOML is UTF-8 by its
specification; a file in another encoding gets one line naming it, where the first bad byte is, and the fix.
"""

from __future__ import annotations

from pathlib import Path


class TextFileError(ValueError):
    """A file cannot be read as UTF-8 text; the message names it, what is wrong and what to do."""


def decode_problem(data: bytes, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 sits: "byte 0xe9 at line 3, column 7"."""
    before = data[: exc.start]
    line = before.count(b"\n") + 1
    column = exc.start - (before.rfind(b"\n") + 1) + 1
    return f"byte 0x{data[exc.start]:02x} at line {line}, column {column} is not UTF-8"


def decode_utf8(data: bytes, source: str, what: str = "file") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextFileError(
            f"{what} {source} is not UTF-8 text ({decode_problem(data, exc)}): save it as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8 FILE > NEW`)"
        ) from None


def read_text_file(path: Path, what: str = "file") -> str:
    """The file's text, or `TextFileError` (missing, unreadable, or not UTF-8)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise TextFileError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise TextFileError(f"{what} {path} is a folder: give a file") from None
    except OSError as exc:
        raise TextFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return decode_utf8(data, str(path), what)
