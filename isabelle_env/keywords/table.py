"""Outer-syntax keywords as data: which words are commands (and of which kind) and which are minor keywords.

One table per Isabelle release ships in ``isabelle_env/keywords/data/<release>.json``; a table for any
installation can be made with ``python -m isabelle_env.keywords.generate`` and read with
``KeywordTable.from_file``. A word may be both a command and a minor keyword (``by`` is both in Pure.thy):
Isabelle keeps two lexicons, and so does this table.

Matching follows ``Token.scan_token`` in ``src/Pure/Isar/token.ML`` (isabelle-prover/mirror-isabelle @ 1bf61b3c):
the longest keyword is compared with the longest identifier-like token (identifier, long identifier, schematic
variable, type variable, number, symbolic identifier) by ``Scan.max`` (``src/Pure/General/scan.ML``), which counts
symbols and, on a tie, keeps the keyword. So ``lemma`` is a command but ``lemma1`` is an identifier, ``==`` is a
keyword but ``==>`` a symbolic identifier, and ``\\<proof>`` a command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from isabelle_env.keywords.header import split_symbols
from isabelle_env.keywords.kinds import COMMAND_KINDS, MINOR_KINDS, KeywordKind
from isabelle_env.symbols import LETTER_SYMBOLS, SYM_CHARS

__all__ = ["FORMAT", "KeywordEntry", "KeywordTable", "UnknownReleaseError", "load", "supported_releases"]

#: version of the JSON layout written by ``generate`` and read here
FORMAT = 1
_DATA = "data"


class UnknownReleaseError(LookupError):
    """No keyword table ships for that release; says which do and how to make one."""

    def __init__(self, release: str, supported: Iterable[str]):
        self.release = release
        self.supported = tuple(supported)
        super().__init__(
            f"no keyword table ships for {release!r}; supported releases: {', '.join(self.supported)}. "
            f"Make one from your installation with `python -m isabelle_env.keywords.generate --isabelle-src "
            f"PATH/TO/{release} --release {release} --out {release}.json` and read it with "
            f"KeywordTable.from_file('{release}.json')"
        )


@dataclass(frozen=True)
class KeywordEntry:
    """One keyword: its kind, tags (``% "proof"``), load command and the theory files that declare it."""

    word: str
    kind: KeywordKind
    tags: tuple[str, ...] = ()
    load_command: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    #: False where the declaring file was not read at the release itself (see the table's provenance)
    verified: bool = True
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "files": list(self.files)}
        if self.tags:
            out["tags"] = list(self.tags)
        if self.load_command:
            out["load_command"] = list(self.load_command)
        if not self.verified:
            out["verified"] = False
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_json(cls, word: str, data: Mapping[str, Any]) -> KeywordEntry:
        return cls(
            word=word,
            kind=KeywordKind(data["kind"]),
            tags=tuple(data.get("tags", ())),
            load_command=tuple(data.get("load_command", ())),
            files=tuple(data.get("files", ())),
            verified=bool(data.get("verified", True)),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class KeywordTable:
    """The keywords of one Isabelle release (or one installation), with where each fact came from."""

    release: str
    provenance: Mapping[str, Any]
    commands: Mapping[str, KeywordEntry]
    minor_entries: Mapping[str, KeywordEntry]
    _lexicon: dict[tuple[str, ...], str] = field(init=False, repr=False, compare=False)
    _max_len: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for word, entry in self.commands.items():
            if entry.kind not in COMMAND_KINDS:
                raise ValueError(f"{word!r} is listed as a command but has kind {entry.kind.value!r}")
        for word, entry in self.minor_entries.items():
            if entry.kind not in MINOR_KINDS:
                raise ValueError(f"{word!r} is listed as a minor keyword but has kind {entry.kind.value!r}")
        lexicon = {tuple(split_symbols(w)): w for w in (*self.commands, *self.minor_entries)}
        object.__setattr__(self, "_lexicon", lexicon)
        object.__setattr__(self, "_max_len", max((len(k) for k in lexicon), default=0))

    # -- queries -------------------------------------------------------------------------------------------

    @property
    def minor(self) -> frozenset[str]:
        """The minor lexicon: plain minor keywords, ``before_command`` and ``quasi_command`` words."""
        return frozenset(self.minor_entries)

    @property
    def before_command(self) -> frozenset[str]:
        """`private`, `qualified`: keywords that take the command after them into their span."""
        return frozenset(w for w, e in self.minor_entries.items() if e.kind is KeywordKind.BEFORE_COMMAND)

    def kind(self, word: str) -> KeywordKind | None:
        """The command kind of ``word``, else its minor kind, else None (not a keyword)."""
        entry = self.commands.get(word) or self.minor_entries.get(word)
        return entry.kind if entry else None

    def is_command(self, word: str) -> bool:
        return word in self.commands

    def is_minor(self, word: str) -> bool:
        return word in self.minor_entries

    def is_keyword(self, word: str) -> bool:
        return word in self.commands or word in self.minor_entries

    def entry(self, word: str) -> KeywordEntry | None:
        """The command entry if ``word`` is a command, else its minor entry."""
        return self.commands.get(word) or self.minor_entries.get(word)

    def commands_of_kind(self, *kinds: KeywordKind) -> list[str]:
        """Sorted command words whose kind is one of ``kinds`` (e.g. ``*THEORY_GOAL_KINDS``)."""
        wanted = set(kinds)
        return sorted(w for w, e in self.commands.items() if e.kind in wanted)

    def longest_match(self, text: str, offset: int = 0) -> str | None:
        """The keyword Isabelle's outer lexer reads at ``offset``, or None where it reads something else.

        ``offset`` must be where a token starts (not inside a string, comment or cartouche). The keyword must be
        at least as long, in symbols, as the identifier-like token that starts there: ``..`` beats ``.``,
        ``lemmas`` beats ``lemma``, and ``lemma_1``, ``?x`` or ``==>`` are no keyword at all.
        """
        syms = _symbols_from(text, offset, self._max_len)
        best = 0
        for n in range(min(self._max_len, len(syms)), 0, -1):
            if tuple(syms[:n]) in self._lexicon:
                best = n
                break
        if best == 0:
            return None
        # `best + 2` symbols tell whether a longer identifier-like token starts here (`lemma.x`: the dot and one more)
        if _identifier_like_length(text, offset, best + 2) > best:
            return None
        return self._lexicon[tuple(syms[:best])]

    # -- (de)serialisation ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "release": self.release,
            "provenance": dict(self.provenance),
            "commands": {w: self.commands[w].to_json() for w in sorted(self.commands)},
            "minor": {w: self.minor_entries[w].to_json() for w in sorted(self.minor_entries)},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "<json>") -> KeywordTable:
        if data.get("format") != FORMAT:
            raise ValueError(
                f"{source}: keyword table format {data.get('format')!r}, this version reads format {FORMAT}; "
                "regenerate it with `python -m isabelle_env.keywords.generate`"
            )
        try:
            return cls(
                release=str(data["release"]),
                provenance=dict(data.get("provenance", {})),
                commands={w: KeywordEntry.from_json(w, e) for w, e in data["commands"].items()},
                minor_entries={w: KeywordEntry.from_json(w, e) for w, e in data["minor"].items()},
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{source}: not a keyword table ({exc})") from exc

    @classmethod
    def union(cls, tables: Iterable[KeywordTable]) -> KeywordTable:
        """Every keyword of any of `tables` (a later table's entry wins): what to lex with when the release that
        will check a text is not known, so that a word any release reads as a command is read as one."""
        tables = list(tables)
        commands: dict[str, KeywordEntry] = {}
        minor: dict[str, KeywordEntry] = {}
        for table in tables:
            commands.update(table.commands)
            minor.update(table.minor_entries)
        releases = [t.release for t in tables]
        return cls("+".join(releases), {"union_of": releases}, commands, minor)

    @classmethod
    def from_file(cls, path: str | Path) -> KeywordTable:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no keyword table at {path}: make one with `python -m isabelle_env.keywords.generate`"
            ) from None
        return cls.from_json(data, source=str(path))

    @classmethod
    def load(cls, release: str) -> KeywordTable:
        """The shipped table of ``release``; see `load`."""
        return load(release)

    @staticmethod
    def supported_releases() -> list[str]:
        return supported_releases()


def supported_releases() -> list[str]:
    """Releases with a shipped table, oldest first."""
    names = [p.name[: -len(".json")] for p in resources.files(__package__).joinpath(_DATA).iterdir()]
    return sorted((n for n in names if n.startswith("Isabelle")), key=_release_key)


def load(release: str) -> KeywordTable:
    """The shipped table of ``release`` (e.g. ``Isabelle2025``); `UnknownReleaseError` names those that ship."""
    supported = supported_releases()
    if release not in supported:
        raise UnknownReleaseError(release, supported)
    data = resources.files(__package__).joinpath(_DATA, f"{release}.json").read_text(encoding="utf-8")
    return KeywordTable.from_json(json.loads(data), source=f"{release}.json")


def _release_key(name: str) -> tuple[int, int]:
    match = re.fullmatch(r"Isabelle(\d{4})(?:-(\d+))?", name)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)


# -- identifier-like tokens (Lexicon.scan_* in src/Pure/Syntax/lexicon.ML, Token.scan_symid) -----------------

_SYMBOL_RE = re.compile(r"\\<\^?[A-Za-z0-9_']*>|.", re.DOTALL)
_SYMBOLIC_CHARS = SYM_CHARS
_LETTER_SYMBOLS = LETTER_SYMBOLS
_QUASI_SYMBOLS = frozenset(["\\<^sub>", "\\<^isub>", "\\<^isup>"])


def _symbols_from(text: str, offset: int, count: int) -> list[str]:
    out: list[str] = []
    pos = offset
    while pos < len(text) and len(out) < count:
        match = _SYMBOL_RE.match(text, pos)
        assert match is not None
        out.append(match.group(0))
        pos = match.end()
    return out


def _is_letter(s: str) -> bool:
    return (len(s) == 1 and s.isascii() and s.isalpha()) or s in _LETTER_SYMBOLS


def _is_quasi(s: str) -> bool:
    return _is_letter(s) or (len(s) == 1 and (s.isdigit() and s.isascii() or s in "_'")) or s in _QUASI_SYMBOLS


def _is_symbolic_symbol(s: str) -> bool:
    return s.startswith("\\<") and not s.startswith("\\<^") and s not in _LETTER_SYMBOLS


def _identifier_like_length(text: str, offset: int, limit: int = 4096) -> int:
    """Symbols in the longest identifier, long identifier, variable, number or symbolic identifier at offset,
    counted up to `limit` (the lexer asks only whether it beats a keyword: reading on to the text's end for every
    keyword made lexing quadratic)."""
    syms = _symbols_from(text, offset, limit)

    def ident(i: int) -> int:
        if i < len(syms) and _is_letter(syms[i]):
            j = i + 1
            while j < len(syms) and _is_quasi(syms[j]):
                j += 1
            return j - i
        return 0

    def nat(i: int) -> int:
        j = i
        while j < len(syms) and len(syms[j]) == 1 and syms[j].isascii() and syms[j].isdigit():
            j += 1
        return j - i

    def longid(i: int) -> int:
        n = ident(i)
        while n and i + n < len(syms) and syms[i + n] == "." and ident(i + n + 1):
            n += 1 + ident(i + n + 1)
        return n

    def var(i: int, prefix: str) -> int:
        if syms[i : i + len(prefix)] != list(prefix):
            return 0
        n = ident(i + len(prefix))
        if not n:
            return 0
        n += len(prefix)
        if prefix.startswith("?") and i + n < len(syms) and syms[i + n] == "." and nat(i + n + 1):
            n += 1 + nat(i + n + 1)
        return n

    def number(i: int) -> int:
        n = nat(i)
        if n and i + n < len(syms) and syms[i + n] == "." and nat(i + n + 1):
            n += 1 + nat(i + n + 1)
        return n

    def symid(i: int) -> int:
        j = i
        while j < len(syms) and syms[j] in _SYMBOLIC_CHARS:
            j += 1
        if j > i:
            return j - i
        return 1 if i < len(syms) and _is_symbolic_symbol(syms[i]) else 0

    if not syms:
        return 0
    return max(longid(0), var(0, "?"), var(0, "'"), var(0, "?'"), number(0), symid(0))
