"""Soundness audit of candidate proofs, run before Isabelle sees them.

A real kernel "checks" theories that declare axioms, cheat through ML, set quick_and_dirty, end in `oops` or prove
another statement (see STACK_NOTES), and ML can run shell commands on the checking machine. So a candidate may
contain only what an ALLOW-list names: Isar proof commands, and (if enabled) auxiliary lemmas with proofs. The
problem's own header and preamble may be repeated verbatim.

Which word starts a command is read from Isabelle's own keyword table for the release that will check the text
(`isabelle_env.keywords`; the union of all supported releases when that is unknown), with Isabelle's longest-match
rule (`isabelle_env.syntax.tokens`): `print_ok` is a name, `thm_oracles` a command. Every command is a finding
unless it is a proof command on the allow-list; the rule it breaks follows from its keyword kind and name
(`thy_load` reads files, `diag` proves nothing, theory kinds are top-level, ML and code-generation commands run
code). On top, the text is searched for escapes (sorry, cheat_tac, quick_and_dirty, ...) and for the names of
dangerous commands in every spelling (any case, look-alike letters, split by comments, inside cartouches), and the
statement is compared with the problem's. When in doubt, the audit rejects.

Decisions:
- allowed: proof qed by apply apply_end done defer prefer back using unfolding including supply with from then
  have show hence thus obtain fix assume presume let define note moreover ultimately also finally next case
  consider subgoal sledgehammer . .. { } -- `sledgehammer` stays as the placeholder a checker replaces.
- rejected although harmless in Isabelle: diagnostics (nitpick, try0, quickcheck, value, thm, ...: they prove
  nothing and may run external tools for long), `txt`/`text`, `interpret`, `write`, `include`,
  `private`/`qualified`; config attributes other than a small allow-list of tracing/limit options.
- `theorem`, `lemma`, `corollary` and `proposition` state the same kind of fact: the keyword is not compared.
  Theorem name, assumption labels, fixes (with types) and propositions are, modulo whitespace, comments, quote
  style ("..." vs cartouche) and quotes around a single name (`real` vs "real").
- a whole-theory candidate may use another theory name (the checker names the theory) but must import exactly the
  problem's theories; a trailing `end` after a theorem or proof is ignored.
- the audit is one guard of two: whatever passes it, a verdict of PROVED also needs Isabelle's own report that
  the theorem rests on no `skip_proof` (isabelle_env.oracles).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from isabelle_env.keywords import DIAG_KINDS, PROOF_KINDS, THEORY_KINDS, KeywordKind, KeywordTable, default_table
from isabelle_env.syntax.candidates import Candidate, CandidateKind, parse_candidate
from isabelle_env.syntax.layout import Unit
from isabelle_env.syntax.normalise import normalise_proof
from isabelle_env.syntax.problems import ProblemTheory
from isabelle_env.syntax.spans import Command
from isabelle_env.syntax.statements import Prop, Statement
from isabelle_env.syntax.tokens import TheoryParseError, Token, TokenKind, tokenize

__all__ = [
    "ALLOWED_CONFIG_OPTIONS",
    "ALLOWED_PROOF_COMMANDS",
    "ALL_RULES",
    "AuditReport",
    "Finding",
    "audit_candidate",
    "statement_differences",
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Rule ids ------------------------------------------------------------------------------------------------------
LEXICAL = "lexical"  # unreadable text, look-alike characters, comments splitting words, control symbols
SKIP_PROOF = "skip_proof"  # sorry, oops, \<proof>, cheat, admit, Skip_Proof
QUICK_AND_DIRTY = "quick_and_dirty"  # quick_and_dirty / skip_proofs in any form
AXIOM = "axiom"  # axiomatization, axioms, consts, defs, oracle, arities, classrel, ...
DEFINITION = "definition"  # definition, fun, primrec, abbreviation, datatype, typedef, ...
ML_CODE = "ml_code"  # ML commands, *_setup, tactic methods, antiquotations
SYSTEM = "system_command"  # export_code, code_*, generate_file, file "...", ...
CONFIG = "config_attribute"  # [[option]] not on the allow-list (e.g. smt_oracle)
STATEMENT = "statement_mismatch"  # changed, weakened, renamed theorem
THEORY_HEADER = "theory_header"  # second theory, other imports, keywords declarations, missing begin/end
AFTER_END = "text_after_end"
TOP_LEVEL = "top_level_command"  # declare, context, locale, notation, begin blocks, lemmas, ...
NOT_ALLOWED = "command_not_allowed"  # a proof-level command outside the allow-list
AUX_LEMMA = "aux_lemma"  # auxiliary lemma while not enabled, or named like the theorem
STRUCTURE = "structure"  # no theorem, no proof, unparseable statement, stray text

ALL_RULES = (
    LEXICAL,
    SKIP_PROOF,
    QUICK_AND_DIRTY,
    AXIOM,
    DEFINITION,
    ML_CODE,
    SYSTEM,
    CONFIG,
    STATEMENT,
    THEORY_HEADER,
    AFTER_END,
    TOP_LEVEL,
    NOT_ALLOWED,
    AUX_LEMMA,
    STRUCTURE,
)

ALLOWED_PROOF_COMMANDS = frozenset(
    _words(
        """proof qed by apply apply_end done defer prefer back using unfolding including supply with from then have
    show hence thus obtain fix assume presume let define note moreover ultimately also finally next case consider
    subgoal sledgehammer"""
    )
) | {".", "..", "{", "}"}

ALLOWED_CONFIG_OPTIONS = frozenset(
    _words(
        """simp_trace simp_trace_depth_limit simp_depth_limit simp_trace_new linarith_split_limit linarith_neq_limit
    linarith_trace arith_split_limit smt_timeout smt_trace smt_verbose smt_reconstruction_step_timeout
    smt_nat_as_int show_types show_sorts show_consts show_brackets show_question_marks names_short names_long
    eta_contract unify_search_bound unify_trace_bound unify_trace_failure blast_trace blast_stats metis_trace
    metis_verbose argo_timeout goals_limit rule_trace simproc"""
    )
)

_FIX = {
    LEXICAL: "write plain ASCII outside strings (Isabelle symbols as \\<name>) and keep comments between tokens",
    SKIP_PROOF: "prove the step instead (leave `sledgehammer` where automation should close it)",
    QUICK_AND_DIRTY: "remove it; proofs are checked without quick_and_dirty",
    AXIOM: "remove it; a candidate may not add axioms or unchecked constants",
    DEFINITION: "remove it; use `define` inside the proof, or the problem's own definitions",
    ML_CODE: "remove it; ML can run arbitrary code on the checking machine (use proof methods instead)",
    SYSTEM: "remove it; code generation and file commands are not allowed in a proof",
    CONFIG: "remove the attribute (only tracing/limit options are allowed)",
    STATEMENT: "state the theorem exactly as the problem does, or send only the proof",
    THEORY_HEADER: "use the problem's header (`theory ... imports <the problem's imports> begin`) or send only the "
    "theorem",
    AFTER_END: "delete everything after `end`",
    TOP_LEVEL: "remove it; only the theorem (and auxiliary lemmas, if enabled) may follow `begin`",
    NOT_ALLOWED: "remove it; only proof commands are allowed",
    AUX_LEMMA: "inline the lemma as a `have` inside the proof",
    STRUCTURE: "send a theorem with its proof, or a proof",
}

_SKIP_WORDS = {
    "sorry": "`sorry` skips the proof",
    "\\<proof>": "`\\<proof>` is Isabelle's alias of `sorry`",
    "oops": "`oops` abandons the proof, so the theorem is silently not stated",
    "admit": "`admit` is an escape, not a proof",
    "admitted": "`Admitted` is an escape, not a proof",
    "cheat": "`cheat` skips the proof",
    "cheat_tac": "`cheat_tac` proves anything without the kernel",
    "skip_proof": "`Skip_Proof` proves anything without the kernel",
}
_QAD_WORDS = {"quick_and_dirty", "skip_proofs"}
_AXIOM_WORDS = _words(
    """axiomatization axioms axiom consts defs oracle arities classes classrel judgment judgement
    specification ax_specification bnf_axiomatization typedecl"""
)
_DEFINITION_WORDS = _words(
    """definition abbreviation fun function primrec primcorec primcorecursive corec corecursive
    partial_function termination inductive inductive_set coinductive coinductive_set datatype codatatype record
    typedef type_synonym quotient_type quotient_definition lift_definition overloading instantiation instance
    nominal_datatype free_constructors old_datatype rep_datatype old_rep_datatype"""
)
_ML_WORDS = _words(
    """setup local_setup declaration syntax_declaration tactic raw_tactic ml_tactic parse_translation
    print_translation parse_ast_translation print_ast_translation typed_print_translation eisbach_tactic
    code_reflect"""
)
_SYSTEM_WORDS = _words(
    """export_code external_file generate_file export_generated_files compile_generated_files
    export_files document_files file scala isabelle_system"""
)

_DENY: dict[str, tuple[str, str]] = {
    **{w: (SKIP_PROOF, r) for w, r in _SKIP_WORDS.items()},
    **{w: (QUICK_AND_DIRTY, f"`{w}` turns off proof checking") for w in _QAD_WORDS},
    **{w: (AXIOM, f"`{w}` adds unchecked axioms or constants") for w in _AXIOM_WORDS},
    **{w: (DEFINITION, f"`{w}` introduces new definitions") for w in _DEFINITION_WORDS},
    **{w: (ML_CODE, f"`{w}` runs ML code") for w in _ML_WORDS},
    **{w: (SYSTEM, f"`{w}` generates code or files on the checking machine") for w in _SYSTEM_WORDS},
}
_DENY["oracle"] = (AXIOM, "`oracle` installs ML code that produces theorems without proof")
#: what a COMMAND's name says about it (applied to keywords of the table only, never to other words)
_COMMAND_PATTERNS = (
    (re.compile(r"S?ML(_\w+)?"), ML_CODE, "ML commands run arbitrary code"),
    (re.compile(r"\w+_(setup|translation)"), ML_CODE, "setup commands run ML code"),
    (re.compile(r"code_\w+"), SYSTEM, "`code_*` commands configure or run code generation"),
    (re.compile(r"export_\w+"), SYSTEM, "export commands write files"),
    (
        re.compile(r"\w*generated_files|scala\w*|\w+_file|\w+_files"),
        SYSTEM,
        "it reads or writes files on the checking machine",
    ),
)
_DANGEROUS = frozenset({SKIP_PROOF, QUICK_AND_DIRTY, AXIOM, DEFINITION, ML_CODE, SYSTEM})
_SUBSTRINGS = (
    (re.compile(r"quick[\s_\-]*and[\s_\-]*dirty", re.I), QUICK_AND_DIRTY, "quick_and_dirty turns off proof checking"),
    (re.compile(r"skip[\s_\-]*proofs", re.I), QUICK_AND_DIRTY, "skip_proofs turns off proof checking"),
    (re.compile(r"skip[\s_\-]*proof(?!s)", re.I), SKIP_PROOF, "Skip_Proof proves anything without the kernel"),
    (re.compile(r"cheat[\s_\-]*tac", re.I), SKIP_PROOF, "cheat_tac proves anything without the kernel"),
)
_WORD_RE = re.compile(r"(?<![A-Za-z0-9_'])[A-Za-z][A-Za-z0-9_']*(?:\.[A-Za-z][A-Za-z0-9_']*)*")
_SAFE_CONTROL = frozenset({"sub", "sup", "isub", "isup", "bsub", "esub", "bsup", "esup", "bold"})
_CONTROL_RE = re.compile(r"\\<\^([A-Za-z_]+)>")
#: keyword kinds of the commands a proof may use (keyword.ML `proof_kinds`), and the placeholder's (diag)
_PROOF_OK_KINDS = PROOF_KINDS | DIAG_KINDS


def command_rule(name: str, kind: KeywordKind | None, *, in_proof: bool) -> tuple[str, str]:
    """The rule a command breaks when a candidate uses it, and why (every command not allowed gets one)."""
    if name.lower() in _DENY:
        return _DENY[name.lower()]
    for pattern, rule, reason in _COMMAND_PATTERNS:
        if pattern.fullmatch(name):
            return rule, f"`{name}`: {reason}"
    if kind is KeywordKind.THY_LOAD:
        return SYSTEM, f"`{name}` loads a file from the checking machine"
    if kind in DIAG_KINDS:
        return NOT_ALLOWED, f"diagnostic command `{name}` proves nothing"
    if kind in THEORY_KINDS:
        where = "inside a proof" if in_proof else "in a candidate"
        return TOP_LEVEL, f"theory-level command `{name}` {where}"
    if in_proof:
        return NOT_ALLOWED, f"`{name}` is not on the allow-list of proof commands"
    return TOP_LEVEL, f"top-level command `{name}`"


_WORD_RULES: dict[str, dict[str, tuple[str, str]]] = {}


def _word_rules(keywords: KeywordTable) -> dict[str, tuple[str, str]]:
    """Words (lower case) that must not appear in any spelling: escapes, and every command of the table whose
    rule is dangerous (a look-alike or re-cased `ML`, `export_code`, `axiomatization`, ...)."""
    cached = _WORD_RULES.get(keywords.release)
    if cached is None:
        cached = dict(_DENY)
        for name, entry in keywords.commands.items():
            rule, reason = command_rule(name, entry.kind, in_proof=False)
            if rule in _DANGEROUS:
                cached.setdefault(name.lower(), (rule, reason))
        _WORD_RULES[keywords.release] = cached
    return cached


@dataclass(frozen=True)
class Finding:
    """One reason to reject: `rule` is one of ALL_RULES, `line` is 1-based in the candidate text."""

    rule: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: [{self.rule}] {self.message}"


@dataclass
class AuditReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def rules(self) -> set[str]:
        return {f.rule for f in self.findings}

    def __str__(self) -> str:
        return "audit ok" if self.ok else "\n".join(str(f) for f in self.findings)


# ---------------------------------------------------------------------------------------------------------------
# Skeleton text: what the words would be once look-alikes, invisible characters and letter symbols are undone

_CONFUSABLES = dict(
    zip(
        "аеорсухѕіјԁӏɡкмтвнАВЕКМНОРСТХЅІЈοαρτικυενΑΒΕΖΗΙΚΜΝΟΡΤΥΧℓı",
        "aeopcyxsijdlgkmtbhABEKMHOPCTXSIJoaptikuevABEZHIKMNOPTYXli",
        strict=True,
    )
)


def _skeleton_piece(piece: str) -> str:
    if piece.startswith("\\<"):
        name = piece[2:-1]
        if len(name) == 1 or (len(name) == 2 and name[0] == name[1]):
            return name[0]
        return "" if name.lstrip("^") in ("sub", "sup", "isub", "isup") else piece
    if piece.isascii():
        return piece
    if unicodedata.category(piece) in ("Cf", "Mn", "Me", "Zs") or piece in "\u200b\u2060\ufeff":
        return ""
    if piece in _CONFUSABLES:
        return _CONFUSABLES[piece]
    folded = unicodedata.normalize("NFKC", piece)
    return folded if folded.isascii() else piece


_PIECE_RE = re.compile(r"\\<\^?[A-Za-z]+>|.", re.S)


@dataclass
class _View:
    """A transformed copy of the candidate with, for each character, its offset in the original."""

    text: str
    offsets: list[int]


_COMMENTS = frozenset({TokenKind.INFORMAL_COMMENT, TokenKind.FORMAL_COMMENT})


def _view(tokens: Sequence[Token], exempt: Sequence[tuple[int, int]], *, strings: bool, glue: bool) -> _View:
    """Comments removed (`glue`) or blanked, strings kept (decoded) or blanked, exempt ranges blanked, skeletonised."""
    chars: list[str] = []
    offs: list[int] = []
    for tok in tokens:
        body = tok.text
        if tok.is_space or any(a <= tok.start < b for a, b in exempt):
            body = " "
        elif tok.kind in _COMMENTS:
            body = "" if glue else " "
        elif tok.kind in (TokenKind.STRING, TokenKind.ALT_STRING):
            body = re.sub(r"\\([0-9]{3})", lambda m: chr(int(m.group(1))), body) if strings else '" "'
        if body.isascii() and "\\" not in body:  # fast path: nothing to undo
            chars.append(body)
            offs.extend(range(tok.start, tok.start + len(body)) if body is tok.text else [tok.start] * len(body))
            continue
        for m in _PIECE_RE.finditer(body):
            piece = _skeleton_piece(m.group())
            chars.append(piece)
            offs.extend([tok.start + min(m.start(), len(tok.text) - 1)] * len(piece))
    return _View("".join(chars), offs)


# ---------------------------------------------------------------------------------------------------------------
# The audit

_WORDY = frozenset(
    {TokenKind.IDENT, TokenKind.LONG_IDENT, TokenKind.NAT, TokenKind.VAR, TokenKind.COMMAND, TokenKind.KEYWORD}
)


class _Audit:
    def __init__(self, text: str, keywords: KeywordTable):
        self.text = text
        self.keywords = keywords
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.findings: list[Finding] = []

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset)

    def add(self, rule: str, line: int, reason: str) -> None:
        self.findings.append(Finding(rule, line, f"{reason}; {_FIX[rule]}"))

    def report(self) -> AuditReport:
        seen: set[tuple[str, int]] = set()
        unique = []
        for f in sorted(self.findings, key=lambda f: f.line):
            if (f.rule, f.line) not in seen:
                seen.add((f.rule, f.line))
                unique.append(f)
        return AuditReport(unique)

    # -- lexical ------------------------------------------------------------------------------------------------
    def lexical(self, tokens: Sequence[Token]) -> None:
        sig = [t for t in tokens if not t.is_space]
        for k, tok in enumerate(sig):
            if tok.kind is TokenKind.ERROR and tok.text.startswith("\\<^"):
                self.add(ML_CODE, tok.line, f"control symbol {tok.text} outside strings")
            elif tok.kind is TokenKind.ERROR:
                self.add(LEXICAL, tok.line, f"character {tok.text!r} (U+{ord(tok.text[0]):04X}) outside strings")
            elif tok.kind in (TokenKind.IDENT, TokenKind.LONG_IDENT) and not tok.text.isascii():
                self.add(LEXICAL, tok.line, f"non-ASCII letters in name {tok.text!r} (look-alike characters?)")
            elif tok.kind is TokenKind.CONTROL:
                self.add(ML_CODE, tok.line, f"control cartouche / antiquotation {tok.text[:20]} outside strings")
            elif tok.kind is TokenKind.COMMAND and tok.text == "{" and self.text.startswith("*", tok.end):
                self.add(LEXICAL, tok.line, "old `{* ... *}` verbatim text is not allowed in a proof")
            elif (
                tok.kind is TokenKind.INFORMAL_COMMENT and 0 < k < len(sig) - 1 and _glued(sig[k - 1], tok, sig[k + 1])
            ):
                self.add(LEXICAL, tok.line, "a comment splits a word (Isabelle reads two tokens there)")
            if tok.kind in (TokenKind.CARTOUCHE, TokenKind.FORMAL_COMMENT, TokenKind.CONTROL):
                self.antiquotations(tok)

    def antiquotations(self, tok: Token) -> None:
        """Antiquotations in cartouches and formal comments are evaluated by Isabelle (some compile ML)."""
        for m in re.finditer(r"@\{", tok.text):
            self.add(ML_CODE, self.line_of(tok.start + m.start()), "antiquotation `@{...}` outside strings")
        for m in _CONTROL_RE.finditer(tok.text):
            if m.group(1) not in _SAFE_CONTROL:
                self.add(ML_CODE, self.line_of(tok.start + m.start()), f"antiquotation {m.group()} in a cartouche")

    # -- words --------------------------------------------------------------------------------------------------
    def words(self, tokens: Sequence[Token], exempt: Sequence[tuple[int, int]]) -> None:
        rules = _word_rules(self.keywords)
        for glue in (True, False):
            code = _view(tokens, exempt, strings=False, glue=glue)
            for m in _WORD_RE.finditer(code.text):
                self.word(m.group(), self.line_of(code.offsets[m.start()]), rules)
            full = _view(tokens, exempt, strings=True, glue=glue)
            for pattern, rule, reason in _SUBSTRINGS:
                for m in pattern.finditer(full.text):
                    self.add(rule, self.line_of(full.offsets[m.start()]), reason)

    def word(self, word: str, line: int, rules: dict[str, tuple[str, str]]) -> None:
        low = word.lower()
        if low in rules:
            rule, reason = rules[low]
            self.add(rule, line, reason)
            return
        if "." in word:
            for part in low.split("."):
                if part in _SKIP_WORDS or part in _QAD_WORDS:
                    rule, reason = _DENY[part]
                    self.add(rule, line, reason)

    # -- config attributes --------------------------------------------------------------------------------------
    def config(self, tokens: Sequence[Token]) -> None:
        sig = [t for t in tokens if t.is_proper]
        for k in range(len(sig) - 1):
            if sig[k].text == "[[":
                starts = k + 1
            elif sig[k].text == "[" and sig[k + 1].text == "[":
                starts = k + 2
            else:
                continue
            for name_tok in _attribute_names(sig, starts):
                self.config_name(name_tok)

    def config_name(self, tok: Token) -> None:
        name = tok.text
        if name.lower() in _QAD_WORDS:
            self.add(QUICK_AND_DIRTY, tok.line, f"`[[{name}]]` turns off proof checking")
        elif "oracle" in name.lower():
            self.add(CONFIG, tok.line, f"`[[{name}]]` trusts an external tool without proof reconstruction")
        elif name not in ALLOWED_CONFIG_OPTIONS:
            self.add(CONFIG, tok.line, f"config attribute `[[{name}]]` is not on the allow-list")

    # -- structure ----------------------------------------------------------------------------------------------
    def structure(self, problem: ProblemTheory, cand: Candidate, allow_aux: bool) -> None:
        lay = cand.layout
        if cand.kind is CandidateKind.THEORY:
            self.header(problem, cand)
        after = list(lay.end.args) if lay.end is not None else []
        after += [t for c in lay.after_end for t in c.tokens]
        if after:
            self.add(AFTER_END, after[0].line, f"text after `end`: {after[0].text[:30]!r}")
        preamble_units = self.preamble_units(problem, cand)
        for unit in lay.others:
            if unit not in preamble_units:
                self.top_level(unit.head)
        if lay.loose_proof and (lay.goals or cand.kind is CandidateKind.THEORY):
            self.add(STRUCTURE, lay.loose_proof[0].line, "proof text outside any theorem")
        for cmd in lay.loose_proof + [c for g in lay.goals for c in g.proof]:
            self.proof_command(cmd)
        for g in lay.goals:
            self.modifiers(g.head)
        if cand.kind is CandidateKind.PROOF:
            if cand.commands and cand.commands[0].name == "":
                self.add(STRUCTURE, cand.commands[0].line, "text before the first proof command")
            return
        if not lay.goals:
            self.add(STRUCTURE, cand.commands[0].line, "no `theorem`/`lemma` found")
            return
        self.goals(problem, cand, allow_aux)

    def header(self, problem: ProblemTheory, cand: Candidate) -> None:
        lay = cand.layout
        assert lay.header is not None
        begins = [t for t in lay.header.args if t.is_keyword("begin")]
        for tok in lay.header.args:
            if tok.is_keyword("keywords", "abbrevs"):
                self.add(THEORY_HEADER, tok.line, f"the header declares `{tok.text}`")
        for extra in begins[1:]:
            self.add(TOP_LEVEL, extra.line, "a second `begin` opens a block inside the theory")
        extra = sorted(set(cand.imports or ()) - set(problem.imports))
        missing = sorted(set(problem.imports) - set(cand.imports or ()))
        if extra or missing:
            self.add(
                THEORY_HEADER, lay.header.line, f"imports differ from the problem's: extra {extra}, missing {missing}"
            )
        if not begins:
            self.add(THEORY_HEADER, lay.header.line, "`begin` is missing after the imports")
        if lay.end is None:
            self.add(THEORY_HEADER, cand.commands[-1].line, "`end` is missing at the end of the theory")

    def preamble_units(self, problem: ProblemTheory, cand: Candidate) -> list[Unit]:
        """The candidate's top-level commands before its first theorem, if they repeat the problem's preamble."""
        lay = cand.layout
        first_goal = lay.goals[0].head.start if lay.goals else len(self.text)
        units = [u for u in lay.others if u.head.start < first_goal and u.head.name != "theory"]
        if not units or not problem.preamble:
            return []
        end = units[-1].proof[-1].end if units[-1].proof else units[-1].head.end
        if normalise_proof(self.text[units[0].head.start : end]) == normalise_proof(problem.preamble):
            return units
        return []

    def modifiers(self, head: Command) -> None:
        for tok in head.modifiers:
            self.add(TOP_LEVEL, tok.line, f"`{tok.text}` changes the name space of what follows")

    def top_level(self, head: Command) -> None:
        self.modifiers(head)
        if head.name == "theory":
            self.add(THEORY_HEADER, head.line, "a second `theory`")
        elif head.name == "":
            self.add(STRUCTURE, head.line, f"unexpected text {head.text[:30]!r}")
        else:
            self.add(*_at(head.line, command_rule(head.name, head.kind, in_proof=False)))

    def proof_command(self, cmd: Command) -> None:
        self.modifiers(cmd)
        if cmd.name in ALLOWED_PROOF_COMMANDS and cmd.kind in _PROOF_OK_KINDS:
            return
        if cmd.name == "":
            self.add(STRUCTURE, cmd.line, f"text {cmd.text[:30]!r} where a proof command is expected")
        else:
            self.add(*_at(cmd.line, command_rule(cmd.name, cmd.kind, in_proof=True)))

    def goals(self, problem: ProblemTheory, cand: Candidate, allow_aux: bool) -> None:
        lay = cand.layout
        for aux in lay.goals[:-1]:
            if not allow_aux:
                self.add(AUX_LEMMA, aux.head.line, "auxiliary lemmas are not enabled")
            aux_name = next((t.text for t in aux.head.args[:1] if t.is_name), None)
            if aux_name == problem.theorem_name:
                self.add(AUX_LEMMA, aux.head.line, f"an auxiliary lemma is named like the theorem `{aux_name}`")
        for g in lay.goals:
            if not g.proof:
                self.add(STRUCTURE, g.head.line, f"`{g.head.name}` has no proof")
        if cand.goal is not None:
            for line, message in statement_differences(problem.goal, cand.goal):
                self.add(STATEMENT, line, message)


def _at(line: int, rule_reason: tuple[str, str]) -> tuple[str, int, str]:
    return rule_reason[0], line, rule_reason[1]


def _glued(before: Token, comment: Token, after: Token) -> bool:
    return before.end == comment.start and comment.end == after.start and before.kind in _WORDY and after.kind in _WORDY


def _attribute_names(sig: Sequence[Token], k: int) -> Iterable[Token]:
    """Names of the attributes of `[[a = 1, b]]` starting at sig[k] (after the brackets)."""
    depth, expect_name = 0, True
    while k < len(sig):
        tok = sig[k]
        if tok.text in ("(", "["):
            depth += 1
        elif tok.text in (")", "]", "]]"):
            if depth == 0:
                return
            depth -= 1
        elif depth == 0 and tok.text == ",":
            expect_name = True
            k += 1
            continue
        if expect_name and depth == 0 and tok.kind in (TokenKind.IDENT, TokenKind.LONG_IDENT, TokenKind.COMMAND):
            yield tok
        expect_name = False
        k += 1


# ---------------------------------------------------------------------------------------------------------------
# Statements

_INNER_RE = re.compile(
    r"\\<\^?[A-Za-z0-9_']+>|[A-Za-z][A-Za-z0-9_']*(?:\.[A-Za-z][A-Za-z0-9_']*)*|[0-9]+(?:\.[0-9]+)?"
    r"|[!#$%&*+\-/<=>?@^|~:]+|\S"
)


def _normalise_inner(text: str) -> str:
    """Inner syntax with whitespace reduced to single spaces between inner tokens (`x+1` == `x + 1`)."""
    return " ".join(_INNER_RE.findall(text))


def _norm_token(tok: Token) -> str:
    if tok.is_quoted:
        inner = _normalise_inner(tok.content)
        return inner if re.fullmatch(r"[A-Za-z][A-Za-z0-9_'.]*", inner) else f'"{inner}"'
    return tok.text


def _norm_props(props: Sequence[Prop]) -> list[tuple[str | None, str]]:
    return [(p.label, _normalise_inner(p.text)) for p in props]


def statement_differences(expected: Statement, found: Statement) -> list[tuple[int, str]]:
    """(line, message) for each way `found` differs from `expected`; empty when they are the same statement.

    The goal keyword (`theorem`/`lemma`/...) is not compared; whitespace, comments and quote style are ignored.
    """
    a = [_norm_token(t) for t in expected.tokens[1:]]
    b = [_norm_token(t) for t in found.tokens[1:]]
    if a == b:
        return []
    diffs: list[tuple[int, str]] = []
    if expected.name != found.name:
        diffs.append((found.line, f"theorem name `{found.name}` differs from the problem's `{expected.name}`"))
    fx = [(f.name, _normalise_inner(f.type or "")) for f in expected.fixes]
    fy = [(f.name, _normalise_inner(f.type or "")) for f in found.fixes]
    if fx != fy:
        show = lambda fs: ", ".join(f"{n} :: {t}" if t else n for n, t in fs)  # noqa: E731
        diffs.append((found.line, f"fixes differ: expected `{show(fx)}`, found `{show(fy)}`"))
    for what, xs, ys in (("assumption", expected.assumes, found.assumes), ("conclusion", expected.shows, found.shows)):
        diffs.extend(_prop_differences(what, xs, ys, found.line))
    if not diffs:
        k = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        tok = found.tokens[1 + k] if 1 + k < len(found.tokens) else found.tokens[-1]
        expected_text = a[k] if k < len(a) else "end of statement"
        diffs.append(
            (tok.line, f"statement differs from the problem's: expected `{expected_text}`, found `{tok.text}`")
        )
    return diffs


def _prop_differences(what: str, xs: Sequence[Prop], ys: Sequence[Prop], line: int) -> list[tuple[int, str]]:
    nx, ny = _norm_props(xs), _norm_props(ys)
    if nx == ny:
        return []
    for k, (x, y) in enumerate(zip(nx, ny, strict=False)):
        if x != y:
            return [(ys[k].line, f"{what} {k + 1} differs: expected {_show_prop(xs[k])}, found {_show_prop(ys[k])}")]
    if len(ny) > len(nx):
        return [(ys[len(nx)].line, f"extra {what} {_show_prop(ys[len(nx)])} (the problem has {len(nx)})")]
    return [(ys[-1].line if ys else line, f"missing {what} {_show_prop(xs[len(ny)])} (the problem has {len(nx)})")]


def _show_prop(p: Prop) -> str:
    text = " ".join(p.text.split())
    return f'{p.label}: "{text}"' if p.label else f'"{text}"'


# ---------------------------------------------------------------------------------------------------------------


def audit_candidate(
    problem: ProblemTheory,
    candidate_text: str,
    *,
    allow_aux_lemmas: bool = False,
    keywords: KeywordTable | None = None,
) -> AuditReport:
    """Check a candidate against the allow-list and the problem's statement; `ok` only when nothing was found.

    `keywords` is the keyword table of the Isabelle release that will check it; by default the union of every
    supported release (a word that is a command in any of them is read as that command).
    """
    keywords = keywords or default_table()
    audit = _Audit(candidate_text, keywords)
    try:
        tokens = tokenize(candidate_text, keywords)
    except TheoryParseError as err:
        audit.add(LEXICAL, err.line, str(err))
        return audit.report()
    audit.lexical(tokens)
    audit.config(tokens)
    exempt: list[tuple[int, int]] = []
    cand: Candidate | None = None
    try:
        cand = parse_candidate(candidate_text, keywords)
    except TheoryParseError as err:
        audit.add(STRUCTURE, err.line, str(err))
    if cand is not None:
        exempt = _exempt_ranges(audit, problem, cand)
        audit.structure(problem, cand, allow_aux_lemmas)
    audit.words(tokens, exempt)
    return audit.report()


def _exempt_ranges(audit: _Audit, problem: ProblemTheory, cand: Candidate) -> list[tuple[int, int]]:
    """Text checked structurally instead of word by word: a clean header and the problem's own preamble."""
    lay = cand.layout
    ranges: list[tuple[int, int]] = []
    if lay.header is not None:
        args = lay.header.args
        declares = any(t.is_keyword("keywords", "abbrevs") for t in args)
        begin = next((t for t in args if t.is_keyword("begin")), None)
        if begin is not None and not declares:
            ranges.append((lay.header.start, begin.end))
    units = audit.preamble_units(problem, cand)
    if units:
        end = units[-1].proof[-1].end if units[-1].proof else units[-1].head.end
        ranges.append((units[0].head.start, end))
    return ranges
