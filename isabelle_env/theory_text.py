"""Isabelle theory text without Isabelle: lexing outer syntax, miniF2F problems, candidate proofs, check theories.

Everything here is pure text processing (stdlib only). It exists so that statements can be stripped of their
shipped proofs, candidate proofs can be audited and sketched, and the theory sent to the kernel can be built so
that the kernel itself checks the problem's statement, not whatever the candidate wrote.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "AtpSpan",
    "AuxLemma",
    "Candidate",
    "CheckTheory",
    "Command",
    "Fix",
    "InformalComment",
    "Layout",
    "ProblemTheory",
    "Prop",
    "SledgehammerSite",
    "Statement",
    "Step",
    "TheoryParseError",
    "Token",
    "Unit",
    "atp_to_sledgehammer",
    "build_check_theory",
    "find_atp_spans",
    "find_sledgehammer",
    "normalise_proof",
    "parse_candidate",
    "parse_problem",
    "parse_statement",
    "problem_from_statement",
    "replace_sledgehammer",
    "split_commands",
    "tokenize",
]


class TheoryParseError(ValueError):
    """Text that is not the expected Isabelle shape; says where and what was expected."""

    def __init__(self, line: int, expected: str, found: str | None = None):
        self.line = line
        self.expected = expected
        self.found = found
        detail = f", found {found!r}" if found is not None else ""
        super().__init__(f"line {line}: expected {expected}{detail}")


# ---------------------------------------------------------------------------------------------------------------
# Tokens


def _words(text: str) -> frozenset[str]:
    """A keyword table written as a whitespace-separated string."""
    return frozenset(text.split())


SPACE = "space"
COMMENT = "comment"  # (* ... *), nested
FORMAL_COMMENT = "formal_comment"  # \<comment> \<open>...\<close>, or the old -- "..."
STRING = "string"  # "..." inner syntax
ALT_STRING = "alt_string"  # `...` literal fact
CARTOUCHE = "cartouche"  # \<open>...\<close> or ‹...›, nested
VERBATIM = "verbatim"  # {* ... *} (old)
IDENT = "ident"  # name or long.name, may hold \<alpha>, \<^sub>
VAR = "var"  # ?x, ?thesis
TYPE_VAR = "type_var"  # 'a
NAT = "nat"  # 42 or 4.2
SYMBOL = "symbol"  # punctuation, symbolic identifiers, \<name>
CONTROL = "control"  # \<^name> outside identifiers
OTHER = "other"  # anything Isabelle would not lex at outer level (stray non-ASCII, lone backslash, ...)

_IGNORED = frozenset({SPACE, COMMENT, FORMAL_COMMENT})
_QUOTED = frozenset({STRING, ALT_STRING, CARTOUCHE})


@dataclass(frozen=True, slots=True)
class Token:
    """One outer-syntax token: `start`/`end` are offsets in the original text, `line` is 1-based."""

    kind: str
    text: str
    start: int
    end: int
    line: int

    @property
    def significant(self) -> bool:
        return self.kind not in _IGNORED

    @property
    def content(self) -> str:
        """Inner text of a string, cartouche, verbatim or comment (delimiters removed)."""
        if self.kind in (STRING, ALT_STRING):
            return self.text[1:-1]
        if self.kind == CARTOUCHE:
            return _strip_cartouche(self.text)
        if self.kind == VERBATIM or self.kind == COMMENT:
            return self.text[2:-2]
        if self.kind == FORMAL_COMMENT:
            body = self.text[2:] if self.text.startswith("--") else self.text[len("\\<comment>") :]
            body = body.strip()
            return body[1:-1] if body[:1] in '"`' else _strip_cartouche(body)
        return self.text


_OPEN = ("\\<open>", "‹")
_CLOSE = ("\\<close>", "›")
_WS = " \t\r\n\f\v"
_SYM_CHARS = frozenset("!#$%&*+-/<=>?@^_|~")
_PUNCT = frozenset("()[]{},;")
_GREEK = sorted(
    _words(
        "alpha beta gamma delta epsilon zeta eta theta iota kappa mu nu xi pi rho sigma tau upsilon phi chi psi "
        "omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
    )
)
_DOUBLE = [c + c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"]
_LETTER_SYM = r"\\<(?:[A-Za-z]|" + "|".join(_DOUBLE + _GREEK) + r")>"
_SUBSUP = r"\\<\^(?:sub|sup|isub|isup)>"
_LETTER = rf"(?:[^\W\d_]|{_LETTER_SYM})"
_SIMPLE_IDENT = rf"{_LETTER}(?:{_LETTER}|[0-9_']|{_SUBSUP})*"
_IDENT_RE = re.compile(rf"{_SIMPLE_IDENT}(?:\.{_SIMPLE_IDENT})*")
_SYMBOL_NAME_RE = re.compile(r"\\<\^?[A-Za-z][A-Za-z0-9_']*>")
_NAT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LETTER_SYM_RE = re.compile(_LETTER_SYM)


def _strip_cartouche(text: str) -> str:
    start = next(len(o) for o in _OPEN if text.startswith(o))
    end = next(len(c) for c in _CLOSE if text.endswith(c))
    return text[start : len(text) - end]


def _open_at(text: str, i: int) -> int:
    return next((len(o) for o in _OPEN if text.startswith(o, i)), 0)


def _close_at(text: str, i: int) -> int:
    return next((len(c) for c in _CLOSE if text.startswith(c, i)), 0)


def _is_letter_at(text: str, i: int) -> bool:
    if i >= len(text):
        return False
    c = text[i]
    if c.isascii():
        return c.isalpha() or (c == "\\" and _LETTER_SYM_RE.match(text, i) is not None)
    return c.isalpha()


def _scan_comment(text: str, i: int, line: int) -> int:
    """End of the nested (* ... *) comment starting at i; comments nest in Isabelle, quotes inside do not count."""
    depth, j = 0, i
    while j < len(text):
        if text.startswith("(*", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("*)", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    raise TheoryParseError(line, "`*)` closing the comment opened here", "end of text")


def _scan_cartouche(text: str, i: int, line: int) -> int:
    depth, j = 0, i
    while j < len(text):
        if n := _open_at(text, j):
            depth, j = depth + 1, j + n
        elif n := _close_at(text, j):
            depth, j = depth - 1, j + n
            if depth == 0:
                return j
        else:
            j += 1
    raise TheoryParseError(line, "`\\<close>` closing the cartouche opened here", "end of text")


def _scan_quoted(text: str, i: int, line: int) -> int:
    """End of a "..." or `...` string: backslash escapes the quote and itself; \\<name> is one symbol."""
    quote, j = text[i], i + 1
    while j < len(text):
        c = text[j]
        if c == quote:
            return j + 1
        if c == "\\":
            m = _SYMBOL_NAME_RE.match(text, j)
            j = m.end() if m else j + 2
        else:
            j += 1
    raise TheoryParseError(line, f"`{quote}` closing the string opened here", "end of text")


def _formal_comment_end(text: str, i: int, head: int, line: int) -> int | None:
    """End of a formal comment whose marker ends at `head`, or None when no text argument follows."""
    j = head
    while j < len(text) and text[j] in _WS:
        j += 1
    if _open_at(text, j):
        return _scan_cartouche(text, j, line)
    if j < len(text) and text[j] in '"`':
        return _scan_quoted(text, j, line)
    return None


def _scan_token(text: str, i: int, line: int) -> tuple[str, int]:  # noqa: C901 - one branch per token class
    """Kind and end offset of the token that starts at i."""
    c = text[i]
    if c in _WS:
        j = i
        while j < len(text) and text[j] in _WS:
            j += 1
        return SPACE, j
    if text.startswith("(*", i):
        return COMMENT, _scan_comment(text, i, line)
    if text.startswith("{*", i):
        j = text.find("*}", i + 2)
        if j < 0:
            raise TheoryParseError(line, "`*}` closing the verbatim text opened here", "end of text")
        return VERBATIM, j + 2
    if c in '"`':
        return (STRING if c == '"' else ALT_STRING), _scan_quoted(text, i, line)
    if _open_at(text, i):
        return CARTOUCHE, _scan_cartouche(text, i, line)
    if text.startswith("\\<comment>", i) and (j := _formal_comment_end(text, i, i + 10, line)) is not None:
        return FORMAL_COMMENT, j
    old_comment = text.startswith("--", i) and text[i + 2 : i + 3] not in _SYM_CHARS
    if old_comment and (j := _formal_comment_end(text, i, i + 2, line)) is not None:
        return FORMAL_COMMENT, j
    if _is_letter_at(text, i):
        return IDENT, _IDENT_RE.match(text, i).end()
    if c in "?'" and _is_letter_at(text, i + 1):
        j = _IDENT_RE.match(text, i + 1).end()
        return (VAR if c == "?" else TYPE_VAR), j
    if c.isascii() and c.isdigit():
        return NAT, _NAT_RE.match(text, i).end()
    if c == "\\" and (m := _SYMBOL_NAME_RE.match(text, i)):
        return (CONTROL if text[i + 2] == "^" else SYMBOL), m.end()
    if c == ":":
        return SYMBOL, i + (2 if text.startswith("::", i) else 1)
    if c == ".":
        return SYMBOL, i + (2 if text.startswith("..", i) else 1)
    if c in _PUNCT:
        return SYMBOL, i + 1
    if c in _SYM_CHARS:
        j = i
        while j < len(text) and text[j] in _SYM_CHARS and not text.startswith("(*", j):
            j += 1
        return SYMBOL, j
    return OTHER, i + 1


def tokenize(text: str) -> list[Token]:
    """All tokens of `text`, whitespace and comments included, so that spans can be edited byte-exactly."""
    tokens: list[Token] = []
    i, line = 0, 1
    while i < len(text):
        kind, j = _scan_token(text, i, line)
        tokens.append(Token(kind, text[i:j], i, j, line))
        line += text.count("\n", i, j)
        i = j
    return tokens


# ---------------------------------------------------------------------------------------------------------------
# Commands

#: Commands that live inside proofs (the audit allows only a subset of them).
PROOF_LEVEL_COMMANDS = frozenset(
    _words(
        """proof qed by apply apply_end done defer prefer back using unfolding including supply with from then have
    show hence thus obtain guess fix assume presume let define def note moreover ultimately also finally next
    case consider sledgehammer subgoal sorry oops ML_prf ML_val ML_command interpret write include unfold txt
    print_state print_facts print_cases print_statement print_term_bindings print_rules print_simpset
    print_claset print_context thm term typ prop value values find_theorems find_consts nitpick nunchaku
    quickcheck try try0 solve_direct sketch explore smt_status approximate prf full_prf help"""
    )
) | {".", "..", "{", "}", "\\<proof>"}

#: Theory-level commands of Pure, HOL and its libraries; they end a proof and are never allowed in candidates
#: except the goal keywords (and the problem's own preamble).
THEORY_LEVEL_COMMANDS = frozenset(
    _words(
        """theory begin end theorem lemma corollary proposition schematic_goal lemmas theorems definition
    abbreviation fun function primrec primcorec primcorecursive corec corecursive friend_of_corec
    partial_function termination inductive inductive_set coinductive coinductive_set inductive_cases
    inductive_simps datatype codatatype datatype_compat old_datatype old_rep_datatype rep_datatype
    free_constructors record typedef type_synonym typedecl nonterminal quotient_type quotient_definition
    lift_definition setup_lifting lifting_update lifting_forget overloading instantiation instance subclass class
    locale sublocale interpretation global_interpretation permanent_interpretation experiment context notepad
    bundle unbundle open_bundle named_theorems declare notation no_notation type_notation no_type_notation
    syntax no_syntax translations no_translations adhoc_overloading no_adhoc_overloading hide_const hide_fact
    hide_type hide_class alias type_alias axiomatization axioms consts defs oracle arities classes classrel
    judgment judgement specification ax_specification default_sort ML ML_file ML_file_debug ML_file_no_debug
    ML_export SML_file SML_file_debug SML_file_no_debug SML_import SML_export setup local_setup declaration
    syntax_declaration method_setup attribute_setup simproc_setup parse_translation print_translation
    parse_ast_translation print_ast_translation typed_print_translation method export_code code_datatype
    code_printing code_identifier code_reserved code_monad code_reflect code_pred code_deps code_thms
    code_module code_const code_type code_class code_instance code_include code_modulename code_abort
    external_file generate_file export_generated_files compile_generated_files export_files document_files
    chapter section subsection subsubsection paragraph subparagraph header text text_raw find_unused_assms
    print_theorems print_theory print_syntax print_commands print_methods print_attributes print_options
    sledgehammer_params nitpick_params quickcheck_params quickcheck_generator realizers realizability
    extract_type extract simps_of_case case_of_simps bnf functor copy_bnf lift_bnf bnf_axiomatization
    nominal_datatype consts_code types_code unused_thms thm_deps thy_deps class_deps locale_deps"""
    )
)

_DIAGNOSTIC = frozenset(
    _words(
        """ML_val ML_command txt text print_state print_facts print_cases print_statement print_term_bindings
    print_rules print_simpset print_claset print_context thm term typ prop value values find_theorems find_consts
    nitpick nunchaku quickcheck try try0 solve_direct sketch explore smt_status approximate prf full_prf
    help"""
    )
)
GOAL_KEYWORDS = frozenset({"theorem", "lemma", "corollary", "proposition"})
_COMMAND_PATTERN = re.compile(r"^(?:S?ML(?:_\w*)?|print_\w+|code_(?!simp$)\w+|\w+_setup)$")


def is_command_token(tok: Token) -> bool:
    """Whether Isabelle would read this token as the start of a command (keywords win over names)."""
    if tok.kind == IDENT:
        return (
            tok.text in PROOF_LEVEL_COMMANDS
            or tok.text in THEORY_LEVEL_COMMANDS
            or bool(_COMMAND_PATTERN.match(tok.text))
        )
    return tok.kind == SYMBOL and tok.text in (".", "..", "{", "}", "\\<proof>")


@dataclass(frozen=True)
class Command:
    """A command keyword and its arguments; `name` is "" for text before any keyword."""

    name: str
    tokens: tuple[Token, ...]  # significant tokens only, keyword first
    source: str = field(repr=False)

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end

    @property
    def line(self) -> int:
        return self.tokens[0].line

    @property
    def text(self) -> str:
        return self.source[self.start : self.end]

    @property
    def args(self) -> tuple[Token, ...]:
        return self.tokens[1:] if self.name else self.tokens


def split_commands(tokens: Sequence[Token], source: str) -> list[Command]:
    """Group significant tokens into commands, each starting at a command keyword."""
    commands: list[Command] = []
    current: list[Token] = []
    name = ""
    for tok in tokens:
        if not tok.significant:
            continue
        if is_command_token(tok):
            if current:
                commands.append(Command(name, tuple(current), source))
            current, name = [tok], tok.text
        else:
            current.append(tok)
    if current:
        commands.append(Command(name, tuple(current), source))
    return commands


# ---------------------------------------------------------------------------------------------------------------
# Statements

_MINOR = frozenset({"and", "if", "for", "is", "where", "when", "in", "at", "obtains", "defines"})
_ELEMENTS = ("fixes", "assumes", "shows", "obtains", "defines", "includes", "notes", "constrains")


@dataclass(frozen=True)
class Fix:
    name: str
    type: str | None  # type text without quotes, None when not given


@dataclass(frozen=True)
class Prop:
    """One proposition of an `assumes`/`shows`; props of one labelled group share the label."""

    label: str | None
    text: str  # inner syntax, quotes removed
    source: str  # token as written, quotes or cartouche included
    line: int


@dataclass(frozen=True)
class Statement:
    """A parsed `theorem`/`lemma` statement (keyword through the end of the `shows` clause)."""

    keyword: str
    name: str | None
    text: str
    line: int
    fixes: tuple[Fix, ...]
    assumes: tuple[Prop, ...]
    shows: tuple[Prop, ...]  # the conclusions; for the short form `theorem n: "P"` the props given
    name_span: tuple[int, int] | None  # offsets of the name within `text`
    tokens: tuple[Token, ...] = field(repr=False, compare=False)  # significant tokens, source offsets

    def renamed(self, new_name: str) -> str:
        """The statement text under another theorem name (for restating it)."""
        if self.name_span is None:
            head = len(self.keyword)
            return f"{self.text[:head]} {new_name}:{self.text[head:]}"
        a, b = self.name_span
        return self.text[:a] + new_name + self.text[b:]


def _split_and(tokens: Sequence[Token]) -> list[list[Token]]:
    """Split at `and` outside parentheses/brackets."""
    groups: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == SYMBOL and tok.text in "([":
            depth += 1
        elif tok.kind == SYMBOL and tok.text in ")]":
            depth -= 1
        if depth == 0 and tok.kind == IDENT and tok.text == "and":
            groups.append([])
        else:
            groups[-1].append(tok)
    return [g for g in groups if g]


def _skip_brackets(tokens: Sequence[Token], i: int) -> int:
    """Index after the bracket group starting at tokens[i] (which must be `[` or `(`)."""
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].kind == SYMBOL and tokens[j].text in "([":
            depth += 1
        elif tokens[j].kind == SYMBOL and tokens[j].text in ")]":
            depth -= 1
            if depth == 0:
                return j + 1
    raise TheoryParseError(tokens[i].line, "a closing bracket", "end of statement")


def _label(tokens: Sequence[Token]) -> tuple[str | None, int]:
    """`name [attrs] :` at the start of a group: the name and the index after the colon."""
    if len(tokens) >= 2 and tokens[0].kind in (IDENT, NAT):
        j = 1
        if tokens[j].kind == SYMBOL and tokens[j].text == "[":
            j = _skip_brackets(tokens, j)
        if j < len(tokens) and tokens[j].kind == SYMBOL and tokens[j].text == ":":
            return tokens[0].text, j + 1
    return None, 0


def _props(tokens: Sequence[Token], label: str | None) -> list[Prop]:
    """Propositions of one group; `(is ...)` patterns are skipped."""
    props: list[Prop] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == SYMBOL and tok.text == "(":
            i = _skip_brackets(tokens, i)
            continue
        if tok.kind in _QUOTED or tok.kind in (VAR, IDENT) and tok.text not in _MINOR:
            props.append(Prop(label, tok.content, tok.text, tok.line))
        i += 1
    return props


def _fixes(tokens: Sequence[Token]) -> list[Fix]:
    fixes: list[Fix] = []
    for group in _split_and(tokens):
        names: list[str] = []
        typ: str | None = None
        for k, tok in enumerate(group):
            if tok.kind == SYMBOL and tok.text == "::":
                if k + 1 >= len(group):
                    raise TheoryParseError(tok.line, "a type after `::`", "end of statement")
                typ = group[k + 1].content
                break
            if tok.kind == SYMBOL and tok.text == "(":  # mixfix annotation
                break
            names.append(tok.text)
        fixes.extend(Fix(n, typ) for n in names)
    return fixes


def _labelled_props(tokens: Sequence[Token]) -> list[Prop]:
    props: list[Prop] = []
    for group in _split_and(tokens):
        label, i = _label(group)
        props.extend(_props(group[i:], label))
    return props


def parse_statement(command: Command) -> Statement:
    """Structure of a goal command: name, fixes, assumes and shows (long form) or the props (short form)."""
    toks = command.tokens
    src = command.source
    if command.name not in GOAL_KEYWORDS:
        raise TheoryParseError(command.line, "`theorem` or `lemma`", command.name)
    name, name_span, i = None, None, 1
    label, j = _label(toks[1:])
    if label is not None:
        name = label
        name_span = (toks[1].start - command.start, toks[1].end - command.start)
        i = 1 + j
    elif len(toks) > 1 and toks[1].kind == SYMBOL and toks[1].text == "[":
        i = _skip_brackets(toks, 1)
        if i < len(toks) and toks[i].text == ":":
            i += 1
    body = toks[i:]
    if not body:
        raise TheoryParseError(command.line, "a proposition or `fixes`/`assumes`/`shows` after the name")
    sections: dict[str, list[Token]] = {}
    if body[0].kind == IDENT and body[0].text in _ELEMENTS:
        current = ""
        for tok in body:
            if tok.kind == IDENT and tok.text in _ELEMENTS:
                current = tok.text
                sections.setdefault(current, [])
            else:
                sections[current].append(tok)
        if "shows" not in sections:
            raise TheoryParseError(body[-1].line, "a `shows` clause", body[-1].text)
        shows = _labelled_props(sections["shows"])
    else:
        shows = _props(body, None)
    if not shows:
        raise TheoryParseError(body[0].line, "a proposition to prove", body[0].text)
    return Statement(
        keyword=command.name,
        name=name,
        text=src[command.start : command.end],
        line=command.line,
        fixes=tuple(_fixes(sections.get("fixes", []))),
        assumes=tuple(_labelled_props(sections.get("assumes", []))),
        shows=tuple(shows),
        name_span=name_span,
        tokens=toks,
    )


# ---------------------------------------------------------------------------------------------------------------
# Theory structure shared by problems and candidates


@dataclass
class Unit:
    """A top-level command and the proof commands that follow it (goals, but also `function`, `termination`)."""

    head: Command
    proof: list[Command]


@dataclass
class Layout:
    """Top-level shape of a text: header, other top-level commands, goals with their proofs, end."""

    header: Command | None = None
    begin: Command | None = None
    end: Command | None = None
    goals: list[Unit] = field(default_factory=list)
    loose_proof: list[Command] = field(default_factory=list)  # proof commands before any top-level command
    others: list[Unit] = field(default_factory=list)  # any other top-level command (incl. a 2nd theory)
    after_end: list[Command] = field(default_factory=list)


def _layout(commands: Sequence[Command]) -> Layout:
    lay = Layout()
    unit: Unit | None = None
    for k, cmd in enumerate(commands):
        if lay.end is not None:
            lay.after_end.append(cmd)
        elif cmd.name == "theory" and k == 0:
            lay.header = cmd
        elif cmd.name == "begin" and lay.header is not None and lay.begin is None and not lay.others:
            lay.begin = cmd
        elif cmd.name == "end" and (lay.header is not None or k == len(commands) - 1):
            lay.end = cmd
        elif unit is None and not lay.loose_proof and cmd.name in _DIAGNOSTIC:  # `term x` in a preamble
            lay.others.append(Unit(cmd, []))
        elif cmd.name in PROOF_LEVEL_COMMANDS or cmd.name == "":
            (unit.proof if unit is not None else lay.loose_proof).append(cmd)
        else:
            unit = Unit(cmd, [])
            (lay.goals if cmd.name in GOAL_KEYWORDS else lay.others).append(unit)
    return lay


def _header_parts(cmd: Command) -> tuple[str, list[str]]:
    """Theory name and imports of `theory NAME imports A "B" ...`."""
    args = cmd.args
    if not args or args[0].kind not in (IDENT, STRING):
        raise TheoryParseError(cmd.line, "a theory name after `theory`")
    name = args[0].content
    if len(args) < 2 or args[1].text != "imports":
        raise TheoryParseError(args[0].line, "`imports` after the theory name")
    imports: list[str] = []
    for tok in args[2:]:
        if tok.kind == IDENT and tok.text in ("keywords", "abbrevs"):
            break
        if tok.kind not in (IDENT, STRING):
            raise TheoryParseError(tok.line, "a theory name in `imports`", tok.text)
        imports.append(tok.content)
    if not imports:
        raise TheoryParseError(args[1].line, "at least one imported theory")
    return name, imports


def _span_text(source: str, commands: Sequence[Command]) -> str:
    return source[commands[0].start : commands[-1].end] if commands else ""


# ---------------------------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class ProblemTheory:
    """A miniF2F-style problem theory: header, preamble, the theorem statement, and the shipped proof if any.

    What a prover may see: `stripped_text()` (the file cut right after the statement) or `bare()` (the same
    closed with `sorry` and `end`, a valid theory that Isabelle accepts only in quick_and_dirty mode).
    """

    text: str = field(repr=False)
    theory_name: str
    imports: tuple[str, ...]
    preamble: str  # text between `begin` and the theorem (e.g. a `definition`), stripped
    theorem_name: str
    statement: str  # exact text from the goal keyword through the end of the `shows` clause
    goal: Statement = field(repr=False)
    proof: str | None  # the shipped proof, "sorry", or None when nothing follows the statement
    statement_start: int = field(repr=False)
    statement_end: int = field(repr=False)
    trailing: str = field(default="", repr=False)  # whatever follows `end` (ignored)

    @property
    def fixes(self) -> tuple[Fix, ...]:
        return self.goal.fixes

    @property
    def assumes(self) -> tuple[Prop, ...]:
        return self.goal.assumes

    @property
    def shows(self) -> tuple[Prop, ...]:
        return self.goal.shows

    @property
    def has_shipped_proof(self) -> bool:
        return self.proof is not None and normalise_proof(self.proof) not in ("", "sorry")

    def stripped_text(self) -> str:
        """The theory cut right after the statement: what a prover may see (no proof, no `end`)."""
        return self.text[: self.statement_end] + "\n"

    def bare(self) -> str:
        """A valid theory with the proof replaced by `sorry` (checks only in quick_and_dirty mode)."""
        return self.text[: self.statement_end] + "\n  sorry\n\nend\n"


def parse_problem(text: str) -> ProblemTheory:
    """Parse a problem theory; the theorem is the one named like the theory (else the last one)."""
    cmds = split_commands(tokenize(text), text)
    if not cmds or cmds[0].name != "theory":
        found = cmds[0].text[:40] if cmds else "end of text"
        raise TheoryParseError(cmds[0].line if cmds else 1, "`theory NAME imports ... begin`", found)
    lay = _layout(cmds)
    theory_name, imports = _header_parts(cmds[0])
    if lay.begin is None:
        raise TheoryParseError(cmds[0].line, "`begin` after the imports")
    if not lay.goals:
        raise TheoryParseError(lay.begin.line, "a `theorem NAME:` statement after `begin`")
    main = next((g for g in lay.goals if _goal_name(g.head) == theory_name), lay.goals[-1])
    stray = [u.head for u in lay.others if u.head.start > main.head.start] + lay.loose_proof
    if stray:
        raise TheoryParseError(stray[0].line, "`end` after the proof", stray[0].name or stray[0].text[:40])
    if lay.end is None:
        raise TheoryParseError(cmds[-1].line, "`end` closing the theory", "end of text")
    goal = parse_statement(main.head)
    if goal.name is None:
        raise TheoryParseError(main.head.line, "a theorem name (`theorem NAME:`)")
    return ProblemTheory(
        text=text,
        theory_name=theory_name,
        imports=tuple(imports),
        preamble=text[lay.begin.end : main.head.start].strip(),
        theorem_name=goal.name,
        statement=goal.text,
        goal=goal,
        proof=_span_text(text, main.proof) or None,
        statement_start=main.head.start,
        statement_end=main.head.end,
        trailing=text[lay.end.tokens[0].end :],
    )


def _goal_name(cmd: Command) -> str | None:
    label, _ = _label(cmd.tokens[1:])
    return label


def problem_from_statement(
    statement: str, *, theory_name: str | None = None, imports: Sequence[str] = ("Complex_Main",), preamble: str = ""
) -> ProblemTheory:
    """Wrap a bare statement into a problem theory (e.g. to audit a proof against its own statement)."""
    cmds = [c for c in split_commands(tokenize(statement), statement) if c.name in GOAL_KEYWORDS]
    if not cmds:
        raise TheoryParseError(1, "a `theorem`/`lemma` statement")
    name = theory_name or _goal_name(cmds[-1]) or "Problem"
    quoted = " ".join(_quote_import(i) for i in imports)
    text = f"theory {name} imports {quoted}\nbegin\n\n{preamble}\n\n{statement.strip()}\n  sorry\n\nend\n"
    return parse_problem(text)


def _quote_import(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z][A-Za-z0-9_']*(?:\.[A-Za-z][A-Za-z0-9_']*)*", name) else f'"{name}"'


def theory_header(name: str, imports: Sequence[str]) -> str:
    """`theory NAME imports ... begin`, quoting session-qualified imports like "HOL-Library.Sum_of_Squares"."""
    return f"theory {name}\n  imports {' '.join(_quote_import(i) for i in imports)}\nbegin\n"


# ---------------------------------------------------------------------------------------------------------------
# Candidates: Isar step tree

_CHAIN = frozenset({"then", "from", "with", "ultimately", "finally"})
_GOAL_STEPS = frozenset({"have", "show", "hence", "thus", "obtain", "consider", "guess", "interpret"})
_REFINE = frozenset({"using", "unfolding", "including", "supply"})
_APPLY = frozenset({"apply", "apply_end", "defer", "prefer", "back"})
_ABORT = frozenset({"sorry", "oops", "\\<proof>"})


@dataclass
class Step:
    """A node of the Isar proof tree.

    `kind` is the command (have, show, obtain, proof, {, next, case, fix, ...; "theorem"/"lemma" for the
    goal of a candidate, "goal" for a proof-only candidate); `chain` holds `then`/`from x`/`finally`... that
    precede a goal; `closing_kind` is how a goal is closed: "by", ".", "..", "sledgehammer", "proof", "apply",
    "sorry"/"oops", "qed" (for a proof block), or None when nothing closes it.
    """

    kind: str
    line: int
    start: int
    end: int
    text: str  # the head command as written
    label: str | None = None
    props: list[str] = field(default_factory=list)
    chain: str | None = None
    refinements: list[str] = field(default_factory=list)  # using/unfolding/... before the closing
    closing_kind: str | None = None
    closing: str | None = None
    closing_span: tuple[int, int] | None = None
    children: list[Step] = field(default_factory=list)

    @property
    def prop(self) -> str | None:
        return " and ".join(self.props) if self.props else None

    def walk(self) -> Iterator[Step]:
        """This step and all steps below it, in text order."""
        yield self
        for child in self.children:
            yield from child.walk()


def _step_for(cmd: Command, chain: list[Command]) -> Step:
    toks = cmd.args
    label: str | None = None
    props: list[str] = []
    if cmd.name in ("case", "note", "fix", "let", "next", "{", "}", "moreover", "also"):
        label = " ".join(t.text for t in toks) or None if cmd.name == "case" else None
        if cmd.name == "let":
            props = [t.content for t in toks if t.kind in _QUOTED]
    else:
        label, i = _label(toks)
        body = toks[i:]
        if cmd.name in ("obtain", "define"):
            where = next((k for k, t in enumerate(body) if t.text == "where"), None)
            body = body[where + 1 :] if where is not None else body
        props = [p.text for p in _props(body, label)]
    start = chain[0].start if chain else cmd.start
    return Step(
        kind=cmd.name,
        line=chain[0].line if chain else cmd.line,
        start=start,
        end=cmd.end,
        text=cmd.text,
        label=label,
        props=props,
        chain=" ".join(c.text for c in chain) or None,
    )


class _StepParser:
    """Recursive descent over the command list of a proof."""

    def __init__(self, commands: Sequence[Command]):
        self.cmds = list(commands)
        self.i = 0

    def peek(self) -> Command | None:
        return self.cmds[self.i] if self.i < len(self.cmds) else None

    def take(self) -> Command:
        cmd = self.cmds[self.i]
        self.i += 1
        return cmd

    def close(self, step: Step, kind: str, cmds: Sequence[Command]) -> None:
        step.closing_kind = kind
        step.closing_span = (cmds[0].start, cmds[-1].end)
        step.closing = cmds[0].source[cmds[0].start : cmds[-1].end]
        step.end = max(step.end, cmds[-1].end)

    def goal_tail(self, step: Step) -> None:
        """Refinements and the closing of a goal step."""
        while (c := self.peek()) is not None and c.name in _REFINE:
            step.refinements.append(self.take().text)
            step.end = c.end
        c = self.peek()
        if c is None:
            return
        if c.name in ("by", ".", "..", "sledgehammer") or c.name in _ABORT:
            self.close(step, c.name if c.name != "\\<proof>" else "sorry", [self.take()])
        elif c.name == "proof":
            block = self.block()
            step.children.append(block)
            step.closing_kind, step.closing, step.end = "proof", block.text, block.end
            step.closing_span = (block.start, block.end)
        elif c.name in _APPLY or c.name == "subgoal":
            self.apply_script(step)

    def apply_script(self, step: Step) -> None:
        first = self.peek()
        last = first
        while (c := self.peek()) is not None:
            if c.name in _APPLY or c.name in _REFINE:
                last = self.take()
            elif c.name == "subgoal":
                sub = _step_for(self.take(), [])
                self.goal_tail(sub)
                step.children.append(sub)
                last = self.cmds[self.i - 1]
            elif c.name == "proof":
                block = self.block()
                step.children.append(block)
                last = self.cmds[self.i - 1]
                break
            elif c.name in ("done", "by", "sledgehammer") or c.name in _ABORT:
                last = self.take()
                break
            else:
                break
        self.close(step, "apply", [first, last])

    def block(self) -> Step:
        """`proof [method] ... qed`, children are the body's steps."""
        head = self.take()
        block = _step_for(head, [])
        block.props, block.label = [], None
        block.children = self.body({"qed"} | _ABORT)
        c = self.peek()
        if c is not None and (c.name == "qed" or c.name in _ABORT):
            self.close(block, "qed" if c.name == "qed" else c.name, [self.take()])
        elif block.children:
            block.end = block.children[-1].end
        return block

    def body(self, stop: set[str] | frozenset[str]) -> list[Step]:
        steps: list[Step] = []
        while (c := self.peek()) is not None and c.name not in stop:
            if c.name in ("qed", "}"):
                break
            chain: list[Command] = []
            while (c := self.peek()) is not None and c.name in _CHAIN:
                chain.append(self.take())
            if c is not None and c.name in _GOAL_STEPS:
                step = _step_for(self.take(), chain)
                self.goal_tail(step)
                steps.append(step)
                continue
            steps.extend(_step_for(ch, []) for ch in chain)
            if c is None or c.name in stop or c.name in ("qed", "}"):
                break
            if c.name == "proof":
                steps.append(self.block())
            elif c.name == "{":
                block = _step_for(self.take(), [])
                block.children = self.body({"}"})
                if (c2 := self.peek()) is not None and c2.name == "}":
                    self.close(block, "}", [self.take()])
                steps.append(block)
            else:
                steps.append(_step_for(self.take(), []))
        return steps


# ---------------------------------------------------------------------------------------------------------------
# Candidates


@dataclass(frozen=True)
class SledgehammerSite:
    """A `sledgehammer` placeholder: `index` counts them in text order; `start`/`end` cover the command
    (DSP's `sledgehammer+` included)."""

    index: int
    line: int
    start: int
    end: int


@dataclass(frozen=True)
class InformalComment:
    """A `(* ... *)` comment in a proof (DSP puts the informal subgoal there) and the step that follows it."""

    text: str
    line: int
    start: int
    end: int
    next_step: Step | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class AtpSpan:
    """A `(*<ATP>*) ... (*</ATP>*)` region (markers included); `inner` is what automation found."""

    start: int
    end: int
    line: int
    inner: str


@dataclass(frozen=True)
class AuxLemma:
    name: str | None
    statement: str
    proof: str
    line: int
    start: int
    end: int


@dataclass
class Candidate:
    """A candidate proof: a whole theory, a theorem (possibly after auxiliary lemmas) or a proof body."""

    text: str = field(repr=False)
    kind: str  # "theory" | "theorem" | "proof"
    statement: str | None
    goal: Statement | None = field(repr=False)
    aux_lemmas: list[AuxLemma]
    proof: str
    proof_start: int
    proof_end: int
    root: Step = field(repr=False)
    sledgehammer: list[SledgehammerSite]
    comments: list[InformalComment] = field(repr=False)
    atp_spans: list[AtpSpan] = field(repr=False)
    theory_name: str | None = None
    imports: tuple[str, ...] | None = None
    commands: list[Command] = field(default_factory=list, repr=False)
    layout: Layout = field(default_factory=Layout, repr=False)
    stray: list[Step] = field(default_factory=list, repr=False)  # steps after the goal is closed

    @property
    def steps(self) -> list[Step]:
        """All steps below the goal, in text order."""
        return [s for s in self.root.walk() if s is not self.root]

    @property
    def sledgehammer_steps(self) -> list[Step]:
        """Goal steps closed by `sledgehammer`, in text order (each has `closing_span`)."""
        return [s for s in self.steps if s.closing_kind == "sledgehammer"]

    @property
    def proof_line(self) -> int:
        return self.text.count("\n", 0, self.proof_start) + 1


def find_sledgehammer(commands: Sequence[Command]) -> list[SledgehammerSite]:
    sites = [c for c in commands if c.name == "sledgehammer"]
    return [SledgehammerSite(k, c.line, c.start, c.end) for k, c in enumerate(sites)]


def find_atp_spans(text: str, tokens: Sequence[Token] | None = None) -> list[AtpSpan]:
    """Matched `(*<ATP>*)`/`(*</ATP>*)` comment pairs; unmatched markers are ignored."""
    spans: list[AtpSpan] = []
    opened: Token | None = None
    for tok in tokens if tokens is not None else tokenize(text):
        if tok.kind != COMMENT:
            continue
        marker = tok.content.strip()
        if marker == "<ATP>":
            opened = tok
        elif marker == "</ATP>" and opened is not None:
            spans.append(AtpSpan(opened.start, tok.end, opened.line, text[opened.end : tok.start].strip()))
            opened = None
    return spans


def atp_to_sledgehammer(text: str) -> str:
    """Turn DSP's marked automation back into `sledgehammer`, so a verified proof becomes a sketch."""
    out, pos = [], 0
    for span in find_atp_spans(text):
        out += [text[pos : span.start], "sledgehammer"]
        pos = span.end
    return "".join(out) + text[pos:]


def replace_sledgehammer(proof_text: str, replacements: dict[int, str]) -> str:
    """Replace the sledgehammer placeholders numbered in `replacements` by tactics; all else byte for byte."""
    sites = find_sledgehammer(split_commands(tokenize(proof_text), proof_text))
    unknown = sorted(set(replacements) - {s.index for s in sites})
    if unknown:
        raise KeyError(f"no sledgehammer step {unknown}: the text has {len(sites)} (indices 0..{len(sites) - 1})")
    out, pos = [], 0
    for site in sites:
        if site.index in replacements:
            out += [proof_text[pos : site.start], replacements[site.index]]
            pos = site.end
    return "".join(out) + proof_text[pos:]


def _informal_comments(tokens: Sequence[Token], steps: Sequence[Step], lo: int, hi: int) -> list[InformalComment]:
    starts = [s.start for s in steps]
    comments = []
    for tok in tokens:
        if tok.kind != COMMENT or not lo <= tok.start < hi or tok.content.strip() in ("<ATP>", "</ATP>"):
            continue
        k = bisect.bisect_left(starts, tok.end)
        nxt = steps[k] if k < len(steps) else None
        comments.append(InformalComment(tok.content.strip(), tok.line, tok.start, tok.end, nxt))
    return comments


def parse_candidate(text: str) -> Candidate:
    """Parse a candidate; raises TheoryParseError on lexical errors, an empty text or a malformed statement."""
    tokens = tokenize(text)
    cmds = split_commands(tokens, text)
    if not cmds:
        raise TheoryParseError(1, "a theory, a theorem or a proof", "no text")
    lay = _layout(cmds)
    kind = "theory" if lay.header is not None else ("proof" if lay.loose_proof and not lay.goals else "theorem")
    theory_name = imports = None
    if lay.header is not None:
        name, imp = _header_parts(lay.header)
        theory_name, imports = name, tuple(imp)
    goal: Statement | None = None
    proof_cmds = lay.loose_proof
    aux: list[AuxLemma] = []
    if lay.goals:
        main = lay.goals[-1]
        goal = parse_statement(main.head)
        proof_cmds = main.proof
        for g in lay.goals[:-1]:
            head = parse_statement(g.head)
            end = g.proof[-1].end if g.proof else g.head.end
            aux.append(AuxLemma(head.name, head.text, _span_text(text, g.proof), g.head.line, g.head.start, end))
        root = Step(goal.keyword, goal.line, main.head.start, main.head.end, goal.text, goal.name)
        root.props = [p.text for p in goal.shows]
    else:
        first = proof_cmds[0] if proof_cmds else cmds[0]
        root = Step("goal", first.line, first.start, first.start, "")
    parser = _StepParser(proof_cmds)
    parser.goal_tail(root)
    stray = parser.body(frozenset())
    while parser.peek() is not None:  # unmatched qed or }
        stray.append(_step_for(parser.take(), []))
        stray.extend(parser.body(frozenset()))
    p_start = proof_cmds[0].start if proof_cmds else root.end
    p_end = proof_cmds[-1].end if proof_cmds else root.end
    all_steps = [s for s in root.walk() if s is not root] + [x for s in stray for x in s.walk()]
    all_steps.sort(key=lambda s: s.start)
    return Candidate(
        text=text,
        kind=kind,
        statement=goal.text if goal else None,
        goal=goal,
        aux_lemmas=aux,
        proof=text[p_start:p_end],
        proof_start=p_start,
        proof_end=p_end,
        root=root,
        sledgehammer=find_sledgehammer(proof_cmds),
        comments=_informal_comments(tokens, all_steps, p_start, p_end),
        atp_spans=find_atp_spans(text, tokens),
        theory_name=theory_name,
        imports=imports,
        commands=cmds,
        layout=lay,
        stray=stray,
    )


# ---------------------------------------------------------------------------------------------------------------
# Check theories


@dataclass(frozen=True)
class CheckTheory:
    """The theory sent to Isabelle, and where its lines came from in the candidate."""

    text: str
    theory_name: str
    theorem_name: str
    restated_name: str
    line_map: dict[int, int]  # line of `text` -> line of the candidate text (only lines copied from it)

    def candidate_line(self, line: int) -> int | None:
        return self.line_map.get(line)


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.line = 1
        self.line_map: dict[int, int] = {}

    def add(self, text: str, from_line: int | None = None) -> None:
        if from_line is not None:
            for k in range(text.count("\n") + 1):
                self.line_map[self.line + k] = from_line + k
        self.parts.append(text)
        self.line += text.count("\n")

    def text(self) -> str:
        return "".join(self.parts)


def _restatement(problem: ProblemTheory, name: str) -> str:
    """The problem's statement under `name`, proved only from the candidate's theorem.

    One conclusion: `using assms by (rule THM)`; several: an Isar block that shows each conclusion from
    `THM(k)`. If the candidate's proof did not state THM with exactly this statement, this fails in Isabelle.
    """
    goal = problem.goal
    thm = problem.theorem_name
    using = "using assms " if goal.assumes else ""
    head = goal.renamed(name)
    if len(goal.shows) == 1:
        return f"{head}\n  {using}by (rule {thm})\n"
    shows = "\n".join(f"  show {p.source} {using}by (rule {thm}({k}))" for k, p in enumerate(goal.shows, 1))
    return f"{head}\nproof -\n{shows}\nqed\n"


def _fresh_name(base: str, taken: str) -> str:
    name = f"{base}_restated"
    while re.search(rf"\b{re.escape(name)}\b", taken):
        name += "'"
    return name


def build_check_theory(problem: ProblemTheory, candidate: Candidate, *, theory_name: str | None = None) -> CheckTheory:
    """Theory text for the kernel: the problem's header, imports and preamble, the candidate's auxiliary lemmas,
    the PROBLEM's statement with the candidate's proof, and a restatement proved from it (see `_restatement`)."""
    name = theory_name or problem.theory_name
    restated = _fresh_name(problem.theorem_name, candidate.text)
    b = _Builder()
    b.add(f"theory {name}\n  imports {' '.join(_quote_import(i) for i in problem.imports)}\nbegin\n\n")
    if problem.preamble:
        b.add(problem.preamble + "\n\n")
    for lemma in candidate.aux_lemmas:
        b.add(candidate.text[lemma.start : lemma.end], lemma.line)
        b.add("\n\n")
    b.add(problem.statement + "\n")
    if candidate.proof:
        line_start = candidate.text.rfind("\n", 0, candidate.proof_start) + 1
        indent = candidate.text[line_start : candidate.proof_start]
        b.add((indent if not indent.strip() else "  ") + candidate.proof, candidate.proof_line)
        b.add("\n")
    b.add("\n" + _restatement(problem, restated) + "\nend\n")
    return CheckTheory(b.text(), name, problem.theorem_name, restated, b.line_map)


# ---------------------------------------------------------------------------------------------------------------
# Normalisation


def normalise_proof(text: str) -> str:
    """Canonical form for dedup and cache keys: comments dropped, tokens joined by one space
    (strings and cartouches kept verbatim). Not for display."""
    try:
        tokens = tokenize(text)
    except TheoryParseError:
        return " ".join(text.split())
    return " ".join(t.text for t in tokens if t.significant)
