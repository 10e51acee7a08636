"""Isabelle's outer-syntax keywords as data: one table per supported release, and the generator that makes them.

    from isabelle_env.keywords import load
    table = load("Isabelle2025")
    table.kind("lemma")          # KeywordKind.THY_GOAL_STMT
    table.longest_match("..", 0) # ".."

See ``table.py`` for the matching rule, ``kinds.py`` for the kinds and categories, ``generate.py`` to make a table
from an installation.
"""

from isabelle_env.keywords.kinds import KeywordKind
from isabelle_env.keywords.table import KeywordEntry, KeywordTable, UnknownReleaseError, load, supported_releases

__all__ = ["KeywordEntry", "KeywordKind", "KeywordTable", "UnknownReleaseError", "load", "supported_releases"]
