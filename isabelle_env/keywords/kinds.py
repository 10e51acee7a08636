"""Isabelle's outer-syntax keyword kinds and the categories Isabelle groups them into.

The kind names and every category below are copied from Isabelle's own classification, so that code asking
"does this command start a proof?" gives Isabelle's answer:

- ``src/Pure/Isar/keyword.ML`` (isabelle-prover/mirror-isabelle @ 0e02c5d3740dd626ece378ce8be3aa36d2dc9c78):
  the kind strings, ``command_kinds`` and the ``*_kinds`` sets behind ``Keyword.is_proof`` etc.
- ``src/Pure/Isar/keyword.scala`` (same mirror @ 4725307ca792c5413dc255f512426038606507f4): the same kinds; the
  Scala side adds a few sets of its own (``theory_block_kinds`` ...), kept here under ``SCALA_`` names. Note the
  one real difference: Scala's ``proof_asm_goal_kinds`` is ``{prf_asm, prf_asm_goal}``, ML's is ``{prf_asm_goal}``.

``before_command`` and ``quasi_command`` are not commands: ``Keyword.add_keywords`` puts them, like plain minor
keywords (declared with no kind), into the *minor* lexicon. ``MINOR`` is this project's name for that last case.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "COMMAND_KINDS",
    "DIAG_KINDS",
    "DOCUMENT_BODY_KINDS",
    "DOCUMENT_HEADING_KINDS",
    "DOCUMENT_KINDS",
    "DOCUMENT_RAW_KINDS",
    "IMPROPER_KINDS",
    "MINOR_KINDS",
    "PRINTED_KINDS",
    "PROOF_ASM_GOAL_KINDS",
    "PROOF_ASM_KINDS",
    "PROOF_BODY_KINDS",
    "PROOF_CLOSE_KINDS",
    "PROOF_GOAL_KINDS",
    "PROOF_KINDS",
    "PROOF_OPEN_KINDS",
    "QED_GLOBAL_KINDS",
    "QED_KINDS",
    "SCALA_CLOSE_STRUCTURE_KINDS",
    "SCALA_PROOF_ASM_GOAL_KINDS",
    "SCALA_PROOF_ENCLOSE_KINDS",
    "SCALA_PRF_SCRIPT_KINDS",
    "SCALA_THEORY_BLOCK_KINDS",
    "SCALA_THEORY_DEFN_KINDS",
    "THEORY_BEGIN_KINDS",
    "THEORY_BODY_KINDS",
    "THEORY_END_KINDS",
    "THEORY_GOAL_KINDS",
    "THEORY_KINDS",
    "THEORY_LOAD_KINDS",
    "VACUOUS_KINDS",
    "KeywordKind",
    "parse_kind",
]


class KeywordKind(StrEnum):
    """One keyword kind; the value is the string a theory header writes after ``::``."""

    DIAG = "diag"
    DOCUMENT_HEADING = "document_heading"
    DOCUMENT_BODY = "document_body"
    DOCUMENT_RAW = "document_raw"
    THY_BEGIN = "thy_begin"
    THY_END = "thy_end"
    THY_DECL = "thy_decl"
    THY_DECL_BLOCK = "thy_decl_block"
    THY_DEFN = "thy_defn"
    THY_STMT = "thy_stmt"
    THY_LOAD = "thy_load"
    THY_GOAL = "thy_goal"
    THY_GOAL_DEFN = "thy_goal_defn"
    THY_GOAL_STMT = "thy_goal_stmt"
    QED = "qed"
    QED_SCRIPT = "qed_script"
    QED_BLOCK = "qed_block"
    QED_GLOBAL = "qed_global"
    PRF_GOAL = "prf_goal"
    PRF_BLOCK = "prf_block"
    NEXT_BLOCK = "next_block"
    PRF_OPEN = "prf_open"
    PRF_CLOSE = "prf_close"
    PRF_CHAIN = "prf_chain"
    PRF_DECL = "prf_decl"
    PRF_ASM = "prf_asm"
    PRF_ASM_GOAL = "prf_asm_goal"
    PRF_SCRIPT = "prf_script"
    PRF_SCRIPT_GOAL = "prf_script_goal"
    PRF_SCRIPT_ASM_GOAL = "prf_script_asm_goal"
    BEFORE_COMMAND = "before_command"
    QUASI_COMMAND = "quasi_command"
    #: a keyword declared without ``::`` (Isabelle's ``Keyword.no_spec``, kind ``""``)
    MINOR = "minor"

    @property
    def is_command(self) -> bool:
        return self in COMMAND_KINDS

    @property
    def is_minor(self) -> bool:
        return self in MINOR_KINDS


K = KeywordKind


def _set(*kinds: KeywordKind) -> frozenset[KeywordKind]:
    return frozenset(kinds)


# keyword.ML `command_kinds`: the kinds Keyword.check_spec accepts for a command
COMMAND_KINDS = _set(
    K.DIAG, K.DOCUMENT_HEADING, K.DOCUMENT_BODY, K.DOCUMENT_RAW, K.THY_BEGIN, K.THY_END, K.THY_LOAD,
    K.THY_DECL, K.THY_DECL_BLOCK, K.THY_DEFN, K.THY_STMT, K.THY_GOAL, K.THY_GOAL_DEFN, K.THY_GOAL_STMT, K.QED,
    K.QED_SCRIPT, K.QED_BLOCK, K.QED_GLOBAL, K.PRF_GOAL, K.PRF_BLOCK, K.NEXT_BLOCK, K.PRF_OPEN, K.PRF_CLOSE,
    K.PRF_CHAIN, K.PRF_DECL, K.PRF_ASM, K.PRF_ASM_GOAL, K.PRF_SCRIPT, K.PRF_SCRIPT_GOAL, K.PRF_SCRIPT_ASM_GOAL,
)  # fmt: skip
# keyword.ML `add_keywords`: kind "" / before_command / quasi_command go to the minor lexicon
MINOR_KINDS = _set(K.MINOR, K.BEFORE_COMMAND, K.QUASI_COMMAND)

# keyword.ML (and keyword.scala, identical unless noted), in the order they appear there
VACUOUS_KINDS = _set(K.DIAG, K.DOCUMENT_HEADING, K.DOCUMENT_BODY, K.DOCUMENT_RAW)
DIAG_KINDS = _set(K.DIAG)
DOCUMENT_HEADING_KINDS = _set(K.DOCUMENT_HEADING)
DOCUMENT_BODY_KINDS = _set(K.DOCUMENT_BODY)
DOCUMENT_RAW_KINDS = _set(K.DOCUMENT_RAW)
DOCUMENT_KINDS = _set(K.DOCUMENT_HEADING, K.DOCUMENT_BODY, K.DOCUMENT_RAW)
THEORY_BEGIN_KINDS = _set(K.THY_BEGIN)
THEORY_END_KINDS = _set(K.THY_END)
THEORY_LOAD_KINDS = _set(K.THY_LOAD)
THEORY_KINDS = _set(
    K.THY_BEGIN, K.THY_END, K.THY_LOAD, K.THY_DECL, K.THY_DECL_BLOCK, K.THY_DEFN, K.THY_STMT, K.THY_GOAL,
    K.THY_GOAL_DEFN, K.THY_GOAL_STMT,
)  # fmt: skip
THEORY_BODY_KINDS = _set(
    K.THY_LOAD, K.THY_DECL, K.THY_DECL_BLOCK, K.THY_DEFN, K.THY_STMT, K.THY_GOAL, K.THY_GOAL_DEFN, K.THY_GOAL_STMT
)
PROOF_KINDS = _set(
    K.QED, K.QED_SCRIPT, K.QED_BLOCK, K.QED_GLOBAL, K.PRF_GOAL, K.PRF_BLOCK, K.NEXT_BLOCK, K.PRF_OPEN,
    K.PRF_CLOSE, K.PRF_CHAIN, K.PRF_DECL, K.PRF_ASM, K.PRF_ASM_GOAL, K.PRF_SCRIPT, K.PRF_SCRIPT_GOAL,
    K.PRF_SCRIPT_ASM_GOAL,
)  # fmt: skip
PROOF_BODY_KINDS = _set(
    K.DIAG, K.DOCUMENT_HEADING, K.DOCUMENT_BODY, K.DOCUMENT_RAW, K.PRF_BLOCK, K.NEXT_BLOCK, K.PRF_OPEN,
    K.PRF_CLOSE, K.PRF_CHAIN, K.PRF_DECL, K.PRF_ASM, K.PRF_ASM_GOAL, K.PRF_SCRIPT, K.PRF_SCRIPT_GOAL,
    K.PRF_SCRIPT_ASM_GOAL,
)  # fmt: skip
THEORY_GOAL_KINDS = _set(K.THY_GOAL, K.THY_GOAL_DEFN, K.THY_GOAL_STMT)
PROOF_GOAL_KINDS = _set(K.PRF_GOAL, K.PRF_ASM_GOAL, K.PRF_SCRIPT_GOAL, K.PRF_SCRIPT_ASM_GOAL)
QED_KINDS = _set(K.QED, K.QED_SCRIPT, K.QED_BLOCK)
QED_GLOBAL_KINDS = _set(K.QED_GLOBAL)
PROOF_OPEN_KINDS = PROOF_GOAL_KINDS | {K.PRF_OPEN}
PROOF_CLOSE_KINDS = QED_KINDS | {K.PRF_CLOSE}
PROOF_ASM_KINDS = _set(K.PRF_ASM, K.PRF_ASM_GOAL)
# keyword.ML; keyword.scala differs: see SCALA_PROOF_ASM_GOAL_KINDS
PROOF_ASM_GOAL_KINDS = _set(K.PRF_ASM_GOAL)
IMPROPER_KINDS = _set(K.QED_SCRIPT, K.PRF_SCRIPT, K.PRF_SCRIPT_GOAL, K.PRF_SCRIPT_ASM_GOAL)
# keyword.ML `printed_kinds = Symset.union theory_goal_kinds proof_kinds`
PRINTED_KINDS = THEORY_GOAL_KINDS | PROOF_KINDS

# keyword.scala only
SCALA_THEORY_BLOCK_KINDS = _set(K.THY_BEGIN, K.THY_DECL_BLOCK)
SCALA_THEORY_DEFN_KINDS = _set(K.THY_DEFN, K.THY_GOAL_DEFN)
SCALA_PRF_SCRIPT_KINDS = _set(K.PRF_SCRIPT)
SCALA_PROOF_ENCLOSE_KINDS = _set(K.PRF_BLOCK, K.NEXT_BLOCK, K.QED_BLOCK, K.PRF_CLOSE)
SCALA_PROOF_ASM_GOAL_KINDS = _set(K.PRF_ASM, K.PRF_ASM_GOAL)
SCALA_CLOSE_STRUCTURE_KINDS = _set(K.NEXT_BLOCK, K.QED_BLOCK, K.PRF_CLOSE, K.THY_END)


def parse_kind(text: str) -> KeywordKind:
    """The kind a header names (``""`` is a minor keyword); a clear error for anything Isabelle would reject.

    Isabelle's ``Keyword.check_spec`` fails with "Unknown outer syntax keyword kind" for the same input.
    """
    if text == "":
        return KeywordKind.MINOR
    try:
        kind = KeywordKind(text)
    except ValueError:
        known = ", ".join(k.value for k in KeywordKind if k is not KeywordKind.MINOR)
        raise ValueError(f"unknown outer syntax keyword kind {text!r}; Isabelle's kinds are: {known}") from None
    if kind is KeywordKind.MINOR:
        raise ValueError("'minor' is this project's name for a keyword declared without '::', not a header kind")
    return kind
