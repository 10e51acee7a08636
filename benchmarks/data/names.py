"""miniF2F problem names: the older spellings mapped to current names, categories, and known errata.

Published results (DSP, most 2022-23 papers) use openai/miniF2F v1 names, and DSP's lists use a compact form
of those (`aime1983_2`, `amc12a_2019_21`, `imo_1964_1_1`, `aimei_2000_7`). Comparing with them, or selecting
problems by the names a paper prints, needs one map to the current facebookresearch/miniF2F names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "CATEGORIES",
    "CATEGORY_LABELS",
    "KNOWN_ERRATA",
    "RENAMED_V1_TO_CURRENT",
    "categories_of",
    "category",
    "current_name",
    "expand_compact",
]

#: Problems renamed since openai/miniF2F v1 (facebookresearch/miniF2F; shared/datasets/minif2f/README.txt).
RENAMED_V1_TO_CURRENT: dict[str, str] = {
    "aimeI_2001_p3": "aimeII_2001_p3",
    "aime_1997_p12": "aime_1997_p11",
    "amc12a_2020_p22": "amc12a_2020_p21",
    "imo_2006_p6": "imo_2006_p3",
    "imo_2007_p6": "imosl_2007_algebra_p6",
}

#: Problems whose current statement is known to be wrong or to need more than the HOL sessions; results on
#: them deserve a footnote, not silent exclusion (papers count them).
KNOWN_ERRATA: dict[str, str] = {
    "amc12a_2021_p12": "test: wrong conclusion `b = 88`, should be `b = -88` (openai/miniF2F#103)",
    "mathd_numbertheory_764": (
        "test: the local `definition inv_mod` is buggy ([x*p = 1] (mod p) ignores d; facebookresearch/miniF2F#18)"
    ),
    "amc12_2000_p15": "valid: imports the AFP session Symmetric_Polynomials.Vieta",
    "amc12a_2002_p1": "valid: imports the AFP session Symmetric_Polynomials.Vieta",
}

#: Categories in reporting order; `category()` returns one of these.
CATEGORIES: tuple[str, ...] = (
    "mathd_algebra",
    "mathd_numbertheory",
    "amc12",
    "aime",
    "imo",
    "algebra",
    "numbertheory",
    "induction",
    "other",
)

CATEGORY_LABELS: dict[str, str] = {
    "mathd_algebra": "MATH algebra",
    "mathd_numbertheory": "MATH number theory",
    "amc12": "AMC12",
    "aime": "AIME",
    "imo": "IMO",
    "algebra": "custom algebra",
    "numbertheory": "custom number theory",
    "induction": "induction",
    "other": "other",
}

# DSP's compact spellings of v1 names; mathd_*, algebra_*, numbertheory_* and induction_* are never compacted.
_COMPACT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"aime(\d{4})_(\d+)"), r"aime_\1_p\2"),  # aime1983_2 -> aime_1983_p2
    (re.compile(r"aimei_(\d{4})_(\d+)"), r"aimeI_\1_p\2"),  # aimei_2000_7 -> aimeI_2000_p7
    (re.compile(r"aimeii_(\d{4})_(\d+)"), r"aimeII_\1_p\2"),
    (re.compile(r"(amc12[ab]?)_(\d{4})_(\d+)"), r"\1_\2_p\3"),  # amc12a_2019_21 -> amc12a_2019_p21
    (re.compile(r"imo_(\d{4})_(\d+)((?:_\d+)*)"), r"imo_\1_p\2\3"),  # imo_1964_1_1 -> imo_1964_p1_1
)

_CATEGORY_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"mathd_algebra_"), "mathd_algebra"),
    (re.compile(r"mathd_numbertheory_"), "mathd_numbertheory"),
    (re.compile(r"amc12[ab]?_"), "amc12"),
    (re.compile(r"aime(?:i|ii)?_|aime\d", re.IGNORECASE), "aime"),
    (re.compile(r"imo(?:sl)?_"), "imo"),
    (re.compile(r"algebra_"), "algebra"),
    (re.compile(r"numbertheory_"), "numbertheory"),
    (re.compile(r"induction_"), "induction"),
)


def expand_compact(name: str) -> str:
    """The v1 name behind a DSP compact name (`aime1983_2` -> `aime_1983_p2`); other names unchanged."""
    for pattern, replacement in _COMPACT_RULES:
        if pattern.fullmatch(name):
            return pattern.sub(replacement, name)
    return name


def current_name(name: str) -> str:
    """The current miniF2F name for a current, v1 or DSP compact name (a pure spelling map, no lookup)."""
    v1 = expand_compact(name.strip())
    return RENAMED_V1_TO_CURRENT.get(v1, v1)


def category(name: str) -> str:
    """The miniF2F category from the name's prefix (amc12a/amc12b/amc12 -> amc12, aimeI/aimeII -> aime, ...)."""
    for pattern, cat in _CATEGORY_RULES:
        if pattern.match(name):
            return cat
    return "other"


def categories_of(names: Iterable[str]) -> dict[str, int]:
    """How many of `names` fall in each category, every category present (zero included), in reporting order."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for name in names:
        counts[category(name)] += 1
    return counts
