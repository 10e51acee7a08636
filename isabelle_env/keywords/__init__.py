"""Isabelle's outer-syntax keywords as data: one table per supported release, and the generator that makes them.

    from isabelle_env.keywords import load
    table = load("Isabelle2025")
    table.kind("lemma")          # KeywordKind.THY_GOAL_STMT
    table.longest_match("..", 0) # ".."

See ``table.py`` for the matching rule, ``kinds.py`` for the kinds and categories, ``generate.py`` to make a table
from an installation.
"""

from functools import lru_cache

from isabelle_env.keywords.kinds import (
    DIAG_KINDS,
    DOCUMENT_KINDS,
    PROOF_KINDS,
    THEORY_KINDS,
    VACUOUS_KINDS,
    KeywordKind,
)
from isabelle_env.keywords.table import KeywordEntry, KeywordTable, UnknownReleaseError, load, supported_releases

__all__ = [
    "DIAG_KINDS",
    "DOCUMENT_KINDS",
    "PROOF_KINDS",
    "THEORY_KINDS",
    "VACUOUS_KINDS",
    "KeywordEntry",
    "KeywordKind",
    "KeywordTable",
    "UnknownReleaseError",
    "default_table",
    "load",
    "supported_releases",
    "table_for",
]


@lru_cache(maxsize=1)
def default_table() -> KeywordTable:
    """The union of every shipped release's keywords: for text whose checking release is not known."""
    return KeywordTable.union(load(release) for release in supported_releases())


@lru_cache(maxsize=16)
def table_for(release: str | None) -> KeywordTable:
    """The table of the Isabelle release a server reports (`isabelle_name`, e.g. "Isabelle2025"); the union of
    all shipped tables for a release without one (a development snapshot, a newer release)."""
    if release in supported_releases():
        return load(release)
    return default_table()
