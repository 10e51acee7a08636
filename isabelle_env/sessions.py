"""Which Isabelle session (logic) to check in: the one whose heap already holds a problem's imports.

A theory that imports what the session's heap lacks is loaded from source inside that session, at every check
(a Number_Theory problem in session `HOL` ran past the 120 s final check; with the imports in the heap it checks
in about a second: ../shared/STACK_NOTES.md). So checks choose, among the sessions whose heaps are built, the
smallest one that holds every import, and say once when none does. This module is pure logic, no I/O:
`session_select` finds what is built, `session_build` builds our own sessions, `session_registry` records them.

What a heap holds (read, not guessed):
- A session's heap is the state after its build: the parent's heap plus every theory the session loads, i.e. its
  `theories` and what they import (src/Doc/System/Sessions.thy, "Session ROOT specifications").
- `sessions` in a ROOT only extends the name space: a theory of another session, named qualified (`B.A`), "is
  loaded again into the current ML process, in contrast to a theory that is already present in the parent
  session" (same section). So a ROOT may list other sessions' theories under `theories` (src/HOL/ROOT does:
  `session "HOL-Proofs" ... sessions "HOL-Library" theories "HOL-Library.Realizers"`), and they end up in its heap.
- The distribution's sessions, from src/HOL/ROOT (Isabelle2024-2025 era mirrors: seL4/isabelle,
  m-fleury/isabelle-emacs): `HOL = Pure + theories Main (global) Complex_Main (global)`;
  `HOL-Library = HOL + theories Library ... Code_Target_Numeral ...`, and src/HOL/Library/Library.thy imports
  `Sum_of_Squares`; `HOL-Computational_Algebra = HOL-Library + Computational_Algebra`;
  `HOL-Number_Theory = HOL-Computational_Algebra + Number_Theory`;
  `HOL-Analysis = HOL + sessions HOL-Library HOL-Combinatorics HOL-Computational_Algebra theories Analysis`.
- AFP thys/Symmetric_Polynomials/Vieta.thy imports only `HOL-Library.FuncSet` and
  `HOL-Computational_Algebra.Computational_Algebra`, so a session below HOL-Number_Theory loads it cheaply.

Known vs assumed: `DISTRIBUTION_HEAPS` lists only what those ROOT files and theory headers say. What else a heap
holds (e.g. which HOL-Library theories HOL-Analysis pulls in) is not tracked and counts as "not known to hold":
the worst case is a notice too many, never a silent load from source.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: The union of miniF2F's imports (../shared/README.md); the last one is an AFP session.
MINIF2F_IMPORTS: tuple[str, ...] = (
    "HOL.HOL",
    "Complex_Main",
    "HOL-Library.Code_Target_Numeral",
    "HOL-Library.Sum_of_Squares",
    "HOL-Computational_Algebra.Computational_Algebra",
    "HOL-Number_Theory.Number_Theory",
    "HOL-Analysis.Analysis",
    "Symmetric_Polynomials.Vieta",
)
#: Imports that come from the AFP rather than the Isabelle distribution.
AFP_IMPORTS: frozenset[str] = frozenset({"Symmetric_Polynomials.Vieta"})

#: Our sessions for miniF2F: all its distribution imports in one heap (and the AFP one, when the AFP is there).
MINIF2F_SESSION = "SubgoalXL_MiniF2F"
MINIF2F_AFP_SESSION = "SubgoalXL_MiniF2F_AFP"
#: Their parent: its heap already holds all but HOL-Analysis (and `isabelle install` builds it), so building
#: ours loads Analysis (and Vieta) only.
MINIF2F_PARENT = "HOL-Number_Theory"

#: Theories that are named without a session qualifier in imports (`(global)` in their ROOT).
GLOBAL_THEORIES: dict[str, str] = {"Pure": "Pure", "Main": "HOL", "Complex_Main": "HOL"}


@dataclass(frozen=True)
class DistributionSession:
    """A session of the Isabelle distribution: its parent and which tracked theories its own build loads."""

    name: str
    parent: str | None
    loads: tuple[str, ...]
    rank: int  # heap size order: smaller is cheaper to start and lighter to keep warm


#: What the distribution's heaps are known to hold among the imports we track (see the module doc for sources).
DISTRIBUTION_HEAPS: dict[str, DistributionSession] = {
    s.name: s
    for s in (
        DistributionSession("Pure", None, ("Pure",), 0),
        DistributionSession("HOL", "Pure", ("HOL.HOL", "Main", "Complex_Main"), 1),
        DistributionSession(
            "HOL-Library",
            "HOL",
            ("HOL-Library.Library", "HOL-Library.Code_Target_Numeral", "HOL-Library.Sum_of_Squares"),
            2,
        ),
        DistributionSession(
            "HOL-Computational_Algebra", "HOL-Library", ("HOL-Computational_Algebra.Computational_Algebra",), 3
        ),
        DistributionSession("HOL-Number_Theory", "HOL-Computational_Algebra", ("HOL-Number_Theory.Number_Theory",), 4),
        DistributionSession("HOL-Analysis", "HOL", ("HOL-Analysis.Analysis",), 5),
    )
}


def canonical_import(name: str) -> str:
    """One spelling per theory: quotes dropped, `HOL.Main` -> `Main` (global theories are named literally)."""
    name = name.strip().strip('"')
    session, dot, theory = name.partition(".")
    if dot and GLOBAL_THEORIES.get(theory) == session:
        return theory
    return name


def library_imports(imports: Iterable[str]) -> tuple[str, ...]:
    """The imports a heap can hold: session-qualified names, global theories and `~~/` distribution paths.

    Plain names like `Foo` or relative paths are the checked file's own neighbours, loaded from its folder.
    """
    seen: dict[str, None] = {}
    for raw in imports:
        name = canonical_import(raw)
        if name in GLOBAL_THEORIES or name.startswith("~~/") or ("." in name and "/" not in name):
            seen.setdefault(name, None)
    return tuple(seen)


def theory_file_imports(text: str) -> tuple[str, ...]:
    """The imports in a theory file's header (`theory A imports B "C.D" begin`); () when it has none."""
    from isabelle_env.syntax.layout import header_parts
    from isabelle_env.syntax.spans import split_commands
    from isabelle_env.syntax.tokens import TheoryParseError, tokenize

    try:
        commands = split_commands(tokenize(text), text)
        header = next((c for c in commands if c.name == "theory"), None)
        return tuple(header_parts(header)[1]) if header is not None else ()
    except TheoryParseError:
        return ()


def ancestors(session: str) -> list[str]:
    """`session` and its known parents, nearest first (only what DISTRIBUTION_HEAPS knows)."""
    chain, current = [], session
    while current is not None and current not in chain:
        chain.append(current)
        known = DISTRIBUTION_HEAPS.get(current)
        current = known.parent if known else None
    return chain


def distribution_holds(session: str) -> frozenset[str]:
    """What the heap of a distribution session is known to hold (empty for a session we know nothing of)."""
    held: set[str] = set()
    for name in ancestors(session):
        known = DISTRIBUTION_HEAPS.get(name)
        if known:
            held.update(known.loads)
    return frozenset(held)


@dataclass(frozen=True)
class SessionSpec:
    """A session of our own, as its ROOT entry says: `NAME = PARENT + sessions ... theories ...`."""

    name: str
    parent: str
    theories: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ValueError(f"bad session name {self.name!r}: use letters, digits, _ and - (e.g. {MINIF2F_SESSION})")
        if self.name in DISTRIBUTION_HEAPS or self.name == self.parent:
            raise ValueError(f"session name {self.name!r} is taken by the Isabelle distribution: pick another")
        bad = [t for t in self.theories if "." not in t or "/" in t or '"' in t]
        if bad:
            raise ValueError(
                f"theories must be session-qualified (SESSION.THEORY, e.g. HOL-Analysis.Analysis), not {bad}"
            )
        if not self.theories:
            raise ValueError("a session needs at least one theory to load")

    @property
    def sessions(self) -> tuple[str, ...]:
        """Sessions whose theories are named but which are not the parent or its known ancestors."""
        inherited = set(ancestors(self.parent))
        found: dict[str, None] = {}
        for theory in self.theories:
            qualifier = theory.partition(".")[0]
            if qualifier not in inherited:
                found.setdefault(qualifier, None)
        return tuple(found)

    def holds(self) -> frozenset[str]:
        """What its heap is known to hold: the parent's known holdings and the listed theories."""
        return distribution_holds(self.parent) | {canonical_import(t) for t in self.theories}

    def root_text(self) -> str:
        """The ROOT file (src/Doc/System/Sessions.thy grammar): qualified theories, their sessions imported."""

        def q(name: str) -> str:
            return f'"{name}"'

        lines = [
            "(* Written by subgoalxl (`subgoalxl isabelle build-session`); rewritten by it, do not edit. *)",
            "",
            f"session {q(self.name)} = {q(self.parent)} +",
        ]
        if self.description:
            lines.append(f"  description {q(self.description)}")
        if self.sessions:
            lines += ["  sessions", *(f"    {q(s)}" for s in self.sessions)]
        lines += ["  theories", *(f"    {q(t)}" for t in self.theories)]
        return "\n".join(lines) + "\n"


def minif2f_spec(*, afp: bool = False, parent: str = MINIF2F_PARENT) -> SessionSpec:
    """Our miniF2F session: the imports the parent's heap does not hold (Analysis; Vieta with the AFP)."""
    wanted = [i for i in MINIF2F_IMPORTS if afp or i not in AFP_IMPORTS]
    held = distribution_holds(parent)
    theories = tuple(i for i in wanted if i not in held and i not in GLOBAL_THEORIES)
    return SessionSpec(
        MINIF2F_AFP_SESSION if afp else MINIF2F_SESSION,
        parent,
        theories,
        description="All imports of miniF2F in one heap" + (" (with the AFP's Vieta)" if afp else ""),
    )


@dataclass(frozen=True)
class HeapSession:
    """A session whose heap is built where checks run, with what that heap is known to hold."""

    name: str
    holds: frozenset[str]
    dirs: tuple[str, ...] = ()  # session directories session_start needs to find it (ours: the ROOT folder)
    rank: int = 100
    origin: str = "distribution"  # "distribution" or "recorded" (built by subgoalxl)

    def missing(self, imports: Iterable[str]) -> tuple[str, ...]:
        return tuple(i for i in imports if i not in self.holds)


def distribution_session(name: str) -> HeapSession:
    known = DISTRIBUTION_HEAPS.get(name)
    return HeapSession(name, distribution_holds(name), rank=known.rank if known else 100)


def recorded_session(spec: SessionSpec, dirs: Sequence[str]) -> HeapSession:
    parent = DISTRIBUTION_HEAPS.get(spec.parent)
    return HeapSession(
        spec.name, spec.holds(), tuple(dirs), rank=(parent.rank if parent else 50) + 10, origin="recorded"
    )


BUILD_HINT = "build one with `subgoalxl isabelle build-session` (for your own Isabelle: add --isabelle PATH)"
AFP_HINT = (
    "with the AFP: `subgoalxl isabelle install --with-afp` (then it is built), or "
    "`subgoalxl isabelle build-session --afp AFP/thys` for your own Isabelle"
)


@dataclass(frozen=True)
class SessionChoice:
    """The session checks run in, and which of the wanted imports its heap is not known to hold."""

    session: str
    dirs: tuple[str, ...]
    imports: tuple[str, ...]  # the library imports asked for (canonical)
    missing: tuple[str, ...]  # imports the chosen heap is not known to hold: loaded from source per check
    reason: str  # why this session, in words
    overridden: bool = False  # --session or [isabelle] session named it
    known: bool = True  # False: a session we know nothing of (its coverage is not judged)
    better: str | None = None  # a built session holding every import, when an override lacks some
    where: str = ""  # which Isabelle the sessions were looked up in, for messages
    candidates: tuple[str, ...] = field(default=(), repr=False)  # the built sessions it chose from
    holds: frozenset[str] = field(default=frozenset(), repr=False)  # what the chosen heap is known to hold
    unbuilt: bool = False  # an override whose heap is not among the built ones looked at

    @property
    def complete(self) -> bool:
        return self.known and not self.missing

    def notice(self) -> str | None:
        """The one message a run prints when the heap lacks imports (None when nothing is missing)."""
        if self.unbuilt and self.known:
            lacks = f"; it also does not hold {', '.join(self.missing)}" if self.missing else ""
            return (
                f"session {self.session} has no built heap in {self.where}: starting it builds the heap first, "
                f"which can take long (build it ahead with `isabelle build -b {self.session}`){lacks}"
            )
        if not self.known:
            return (
                f"session {self.session} is not one subgoalxl knows (not in the distribution, not recorded): "
                "whether its heap holds the imports is not checked"
            )
        if not self.missing:
            return None
        lacks = ", ".join(self.missing)
        text = (
            f"session {self.session} ({self.reason}) does not hold {lacks} in its heap: Isabelle loads "
            f"{'it' if len(self.missing) == 1 else 'them'} from source inside the session, which can take minutes "
            "and is repeated whenever the loaded theories are purged (checks run past their timeouts). "
        )
        if self.better:
            return text + f"Session {self.better} holds every import: drop --session / [isabelle] session to use it"
        hint = AFP_HINT if any(i in AFP_IMPORTS for i in self.missing) else BUILD_HINT
        return text + f"For a session whose heap holds them, {hint}; or pass --session NAME"


def choose_session(
    imports: Iterable[str],
    available: Sequence[HeapSession],
    override: str | None = None,
    *,
    extra_dirs: Sequence[str] = (),
    where: str = "",
    recorded_unbuilt: Sequence[HeapSession] = (),
) -> SessionChoice:
    """The session to check `imports` in.

    `override` (from --session or `[isabelle] session`) always wins; its coverage comes from `available`, else
    the distribution table. Otherwise: the smallest built session holding every import; if none does, the one
    holding the most (then `missing` names the rest); with nothing built known, `HOL`. `extra_dirs` (session
    directories the user gave) come first in the choice's `dirs`, then those the chosen session needs.
    `recorded_unbuilt` are sessions we recorded whose heap is not built (looked up for an override only).
    """
    wanted = library_imports(imports)
    ordered = sorted(available, key=lambda s: (s.rank, s.name))
    full = [s for s in ordered if not s.missing(wanted)]
    names = tuple(s.name for s in ordered)
    if override:
        found = next((s for s in [*ordered, *recorded_unbuilt] if s.name == override), None)
        if found is None and override in DISTRIBUTION_HEAPS:
            found = distribution_session(override)
        dirs = _dirs(extra_dirs, found.dirs if found else ())
        missing = found.missing(wanted) if found else ()
        better = full[0].name if missing and full else None
        return SessionChoice(
            override,
            dirs,
            wanted,
            missing,
            "named by --session or [isabelle] session",
            overridden=True,
            known=found is not None,
            better=better,
            where=where,
            candidates=names,
            holds=found.holds if found else frozenset(),
            unbuilt=bool(where) and override not in names,
        )
    if full:
        pick = full[0]
        reason = f"the smallest built session holding every import{f' in {where}' if where else ''}"
    elif ordered:
        pick = max(ordered, key=lambda s: (len(wanted) - len(s.missing(wanted)), -s.rank))
        reason = f"the built session holding the most imports{f' in {where}' if where else ''}"
    else:
        pick = distribution_session("HOL")
        reason = "the default: no built heap could be inspected" + (f" in {where}" if where else "")
    missing = pick.missing(wanted)
    dirs = _dirs(extra_dirs, pick.dirs)
    return SessionChoice(pick.name, dirs, wanted, missing, reason, where=where, candidates=names, holds=pick.holds)


def _dirs(first: Sequence[str], then: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*first, *then]))
