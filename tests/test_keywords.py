"""The outer-syntax keyword tables: Pure's commands by kind, HOL's, symbolic longest match, the generator.

Facts asserted here were read from Isabelle sources (named per test); the tables' own provenance says from which
repository and commit. The generator tests run on small header files written here, not on Isabelle sources.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from isabelle_env.keywords import KeywordKind, KeywordTable, UnknownReleaseError, load, supported_releases
from isabelle_env.keywords import kinds as K
from isabelle_env.keywords.bootstrap import parse_bootstrap_keywords
from isabelle_env.keywords.generate import GenerateError, build_table, main
from isabelle_env.keywords.header import HeaderParseError, parse_keywords

KK = KeywordKind


@pytest.fixture(scope="module")
def t2025() -> KeywordTable:
    return load("Isabelle2025")


@pytest.fixture(scope="module")
def t2024() -> KeywordTable:
    return load("Isabelle2024")


# src/Pure/Pure.thy, keywords clause (isabelle-prover/mirror-isabelle @ 83280fb8df05, identical at @04f07b7e),
# every command by kind; Isabelle2025 has this clause (NEWS lists no keyword change to Pure after Isabelle2025).
PURE_COMMANDS_2025 = {
    KK.DOCUMENT_BODY: "text txt",
    KK.DOCUMENT_RAW: "text_raw",
    KK.THY_DECL: (
        "default_sort typedecl nonterminal judgment consts syntax no_syntax syntax_consts syntax_types translations "
        "no_translations type_notation no_type_notation notation no_notation alias type_alias declare hide_class "
        "hide_type hide_const hide_fact generate_file SML_import SML_export ML_export simproc_setup setup "
        "local_setup attribute_setup method_setup declaration syntax_declaration parse_ast_translation "
        "parse_translation print_translation typed_print_translation print_ast_translation oracle unbundle "
        "code_datatype realizers realizability extract_type extract adhoc_overloading no_adhoc_overloading "
        "named_theorems"
    ),
    KK.THY_DEFN: "type_synonym definition abbreviation lemmas",
    KK.THY_STMT: "axiomatization",
    KK.THY_LOAD: (
        "external_file bibtex_file ROOTS_file ML_file ML_file_debug ML_file_no_debug SML_file SML_file_debug "
        "SML_file_no_debug"
    ),
    KK.DIAG: (
        "export_generated_files scala_build_generated_files compile_generated_files ML_val ML_command print_bundles "
        "help print_commands print_options print_context print_theory print_definitions print_syntax print_abbrevs "
        "print_defn_rules print_theorems print_locales print_classes print_locale print_interps print_attributes "
        "print_simpset print_rules print_trans_rules print_methods print_antiquotations print_ML_antiquotations "
        "thy_deps locale_deps class_deps thm_deps thm_oracles print_term_bindings print_facts print_cases "
        "print_statement thm prf full_prf prop term typ print_codesetup print_context_tracing unused_thms "
        "print_state welcome find_theorems find_consts"
    ),
    KK.THY_DECL_BLOCK: "bundle open_bundle context locale experiment class instantiation overloading notepad",
    KK.PRF_DECL: "ML_prf include including note using unfolding let write also moreover",
    KK.PRF_GOAL: "interpret have hence consider",
    KK.THY_GOAL: "interpretation global_interpretation sublocale subclass instance",
    KK.THY_GOAL_STMT: "theorem lemma corollary proposition schematic_goal",
    KK.PRF_ASM_GOAL: "show thus obtain",
    KK.PRF_CHAIN: "then from with finally ultimately",
    KK.PRF_SCRIPT: "supply defer prefer apply apply_end back",
    KK.PRF_ASM: "fix assume presume define case",
    KK.PRF_OPEN: "{",
    KK.PRF_CLOSE: "}",
    KK.NEXT_BLOCK: "next",
    KK.QED_BLOCK: "qed",
    KK.QED: "by .. . sorry \\<proof>",
    KK.QED_SCRIPT: "done",
    KK.QED_GLOBAL: "oops",
    KK.PRF_SCRIPT_GOAL: "subgoal",
    KK.PRF_BLOCK: "proof",
    KK.THY_END: "end",
}
# same clause, the words without a command kind
PURE_MINOR_2025 = {
    KK.MINOR: (
        "!! ! + : ; < <= == => ? [ \\<comment> \\<equiv> \\<leftharpoondown> \\<rightharpoonup> \\<rightleftharpoons> "
        "\\<subseteq> ] binder by congproc identifier in infix infixl infixr is open output overloaded passive "
        "pervasive premises structure unchecked weak_congproc external_files export_files export_prefix "
        "export_classpath"
    ),
    KK.BEFORE_COMMAND: "private qualified",
    KK.QUASI_COMMAND: (
        "assumes constrains defines fixes for if includes notes rewrites obtains shows when where | opening"
    ),
}
# src/Pure/Thy/thy_header.ML `bootstrap_keywords` (isabelle-prover/mirror-isabelle @ 545fbf68c6e1)
BOOTSTRAP = {
    KK.MINOR: "% ( ) , :: = [ ] and",
    KK.QUASI_COMMAND: "begin imports options keywords abbrevs",
    KK.DOCUMENT_HEADING: "chapter section subsection subsubsection paragraph subparagraph",
    KK.DOCUMENT_BODY: "text txt",
    KK.DOCUMENT_RAW: "text_raw",
    KK.THY_BEGIN: "theory",
    KK.THY_END: "end",
    KK.THY_DECL: "ML",
}


def _declared_in(table: KeywordTable, file: str, *, minor: bool) -> dict[KeywordKind, set[str]]:
    entries = table.minor_entries if minor else table.commands
    out: dict[KeywordKind, set[str]] = {}
    for word, entry in entries.items():
        if file in entry.files:
            out.setdefault(entry.kind, set()).add(word)
    return out


def _split(spec: dict[KeywordKind, str]) -> dict[KeywordKind, set[str]]:
    return {kind: set(words.split()) for kind, words in spec.items()}


def test_every_pure_command_has_the_kind_pure_thy_gives_it(t2025):
    assert _declared_in(t2025, "src/Pure/Pure.thy", minor=False) == _split(PURE_COMMANDS_2025)


def test_pure_minor_keywords_before_and_quasi_commands(t2025):
    assert _declared_in(t2025, "src/Pure/Pure.thy", minor=True) == _split(PURE_MINOR_2025)


def test_bootstrap_keywords_of_thy_header_ml(t2025):
    declared = _declared_in(t2025, "src/Pure/Thy/thy_header.ML", minor=False)
    declared.update(_declared_in(t2025, "src/Pure/Thy/thy_header.ML", minor=True))
    assert declared == _split(BOOTSTRAP)
    assert t2025.commands["theory"].tags == ("theory",)
    assert t2025.commands["ML"].tags == ("ML",)
    # Pure.thy redeclares text/txt/text_raw without tags; Keyword.add_keywords (Symtab.update) keeps the later one
    assert t2025.commands["text"].tags == ()
    assert t2025.commands["text"].files == ("src/Pure/Thy/thy_header.ML", "src/Pure/Pure.thy")


def test_tags_of_ml_and_proof_commands(t2025):
    assert t2025.commands["ML_file"].tags == ("ML",)
    assert t2025.commands["ML_prf"].tags == ("proof",)
    assert t2025.commands["have"].tags == ("proof",)
    assert t2025.commands["lemma"].tags == ()


def test_by_is_both_a_command_and_a_minor_keyword(t2025):
    # Pure.thy lists "by" among the minor keywords and again as :: "qed"; the lexer reads a Command on a tie
    assert t2025.is_command("by") and t2025.is_minor("by")
    assert t2025.kind("by") is KK.QED
    assert t2025.longest_match("by simp") == "by"


@pytest.mark.parametrize(
    ("word", "kind", "file"),
    [
        ("value", KK.DIAG, "src/HOL/Code_Evaluation.thy"),
        ("fun", KK.THY_DEFN, "src/HOL/Fun_Def.thy"),
        ("function", KK.THY_GOAL_DEFN, "src/HOL/Fun_Def.thy"),
        ("export_code", KK.THY_DECL, "src/Tools/Code_Generator.thy"),
        ("sledgehammer", KK.DIAG, "src/HOL/Sledgehammer.thy"),
        ("try0", KK.DIAG, "src/HOL/Try0.thy"),
        ("try", KK.DIAG, "src/HOL/HOL.thy"),
        ("nitpick", KK.DIAG, "src/HOL/Nitpick.thy"),
        ("quickcheck", KK.DIAG, "src/HOL/HOL.thy"),
        ("inductive", KK.THY_DEFN, "src/HOL/Inductive.thy"),
        ("primrec", KK.THY_DEFN, "src/HOL/Inductive.thy"),
        ("typedef", KK.THY_GOAL_DEFN, "src/HOL/Typedef.thy"),
        ("lift_definition", KK.THY_GOAL_DEFN, "src/HOL/Lifting.thy"),
        ("specification", KK.THY_GOAL_DEFN, "src/HOL/Hilbert_Choice.thy"),
        ("record", KK.THY_DEFN, "src/HOL/Record.thy"),
        ("code_pred", KK.THY_GOAL, "src/HOL/Predicate_Compile.thy"),
        ("values", KK.DIAG, "src/HOL/Predicate_Compile.thy"),
        ("smt_status", KK.DIAG, "src/HOL/SMT.thy"),
        ("partial_function", KK.THY_DEFN, "src/HOL/Partial_Function.thy"),
        ("datatype_record", KK.THY_DEFN, "src/HOL/Library/Datatype_Records.thy"),
        ("test_code", KK.DIAG, "src/HOL/Library/Code_Test.thy"),
    ],
)
def test_hol_commands(t2024, t2025, word, kind, file):
    for table in (t2024, t2025):
        entry = table.commands[word]
        assert (entry.kind, entry.files[0], entry.verified) == (kind, file, True)


def test_commands_that_read_files_on_the_checking_machine_are_known(t2024, t2025):
    # Pure.thy: bibtex_file and ROOTS_file are thy_load (the file is read), the others diag; syntax_consts and
    # syntax_types are new in Isabelle2025 (NEWS, "New in Isabelle2025": "commands 'syntax_types' or
    # 'syntax_consts'"), so Isabelle2024 lexes them as identifiers.
    for word, kind in {"bibtex_file": KK.THY_LOAD, "ROOTS_file": KK.THY_LOAD, "welcome": KK.DIAG}.items():
        assert t2024.kind(word) is kind and t2025.kind(word) is kind
    assert t2025.kind("thm_oracles") is t2024.kind("thm_oracles") is KK.DIAG
    assert t2025.kind("scala_build_generated_files") is KK.DIAG
    assert t2025.kind("syntax_consts") is t2025.kind("syntax_types") is KK.THY_DECL
    assert not t2024.is_keyword("syntax_consts") and not t2024.is_keyword("syntax_types")
    assert {w: t2025.kind(w) for w in ("private", "qualified")} == dict.fromkeys(
        ("private", "qualified"), KK.BEFORE_COMMAND
    )


def test_what_isabelle2025_added_to_isabelle2024(t2024, t2025):
    # NEWS "New in Isabelle2025": congproc/weak_congproc, syntax_types/syntax_consts, open_bundle; and
    # HOL-Library.Adhoc_Overloading moved into Pure
    assert set(t2025.commands) - set(t2024.commands) == {"syntax_consts", "syntax_types", "open_bundle"}
    assert set(t2024.commands) - set(t2025.commands) == set()
    assert set(t2025.minor) - set(t2024.minor) == {"congproc", "weak_congproc"}
    assert t2024.commands["adhoc_overloading"].files == ("src/HOL/Library/Adhoc_Overloading.thy",)
    assert t2025.commands["adhoc_overloading"].files == ("src/Pure/Pure.thy",)


def test_double_dash_is_no_keyword_and_comment_symbol_is_minor(t2024, t2025):
    # Pure.thy at mirror-isabelle @83280fb8 has no "--"; token.ML @1bf61b3c scans formal comments
    # (Comment.scan_outer) before keywords, so \<comment> only matters as a keyword without a cartouche
    for table in (t2024, t2025):
        assert not table.is_keyword("--")
        assert table.longest_match('-- "text"') is None
        assert table.kind("\\<comment>") is KK.MINOR
        assert "double_dash" in table.provenance["facts"]


@pytest.mark.parametrize(
    ("text", "offset", "expected"),
    [
        ("..", 0, ".."),
        ("...", 0, ".."),  # ".." then "."
        (". ", 0, "."),
        ("\\<proof>", 0, "\\<proof>"),
        ("{ fix x", 0, "{"),
        ("}", 0, "}"),
        ("| B", 0, "|"),
        ("||", 0, None),  # symbolic identifier
        ("x :: nat", 2, "::"),
        ("==>", 0, None),  # symbolic identifier longer than the keyword "=="
        ("== b", 0, "=="),
        ("=> c", 0, "=>"),
        ("\\<Longrightarrow>", 0, None),
        ("lemma foo", 0, "lemma"),
        ("lemmas foo", 0, "lemmas"),
        ("lemma1", 0, None),  # an identifier never starts a command
        ("lemma_x", 0, None),
        ("lemma.x", 0, None),  # long identifier
        ("proof-", 0, "proof"),
        ("apply(simp)", 0, "apply"),
        ("?x", 0, None),
        ("? x", 0, "?"),
        ("  show ?thesis", 2, "show"),
        ("foo", 0, None),
        ("", 0, None),
    ],
)
def test_longest_match(t2025, text, offset, expected):
    assert t2025.longest_match(text, offset) == expected


def test_category_sets_match_keyword_ml():
    assert frozenset(KeywordKind) == K.COMMAND_KINDS | K.MINOR_KINDS
    assert not K.COMMAND_KINDS & K.MINOR_KINDS
    assert K.THEORY_KINDS | K.PROOF_KINDS | K.VACUOUS_KINDS == K.COMMAND_KINDS
    assert {KK.PRF_ASM_GOAL} == K.PROOF_ASM_GOAL_KINDS
    assert {KK.PRF_ASM, KK.PRF_ASM_GOAL} == K.SCALA_PROOF_ASM_GOAL_KINDS
    assert KK.THY_GOAL_STMT in K.THEORY_GOAL_KINDS and KK.PRF_SCRIPT_GOAL in K.PROOF_GOAL_KINDS
    assert K.parse_kind("") is KK.MINOR
    with pytest.raises(ValueError, match="unknown outer syntax keyword kind 'thy_foo'"):
        K.parse_kind("thy_foo")


def test_tables_record_their_provenance(t2024, t2025):
    for table in (t2024, t2025):
        files = table.provenance["files"]
        presumed = {w for gap in table.provenance["known_missing"] for w in gap["words"]}
        for entry in (*table.commands.values(), *table.minor_entries.values()):
            if entry.word in presumed:  # commands whose declaring theory was not found: kept, flagged
                assert not entry.files and not entry.verified and entry.note, entry
                continue
            assert entry.files and set(entry.files) <= set(files), entry
            older = [f for f in entry.files if files[f].get("verified") is False]
            assert entry.verified is (not older and not entry.note), entry
        assert all(info["read_from"] for info in files.values())
    # read only from versions older than the releases, and flagged as such
    assert t2025.commands["codatatype"].verified is False
    assert t2024.minor_entries["passive"].verified is False


def test_json_round_trip(t2025, tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(t2025.to_json()), encoding="utf-8")
    assert KeywordTable.from_file(path) == t2025


def test_unknown_release_names_the_supported_ones():
    assert supported_releases() == ["Isabelle2024", "Isabelle2025"]
    with pytest.raises(UnknownReleaseError) as info:
        load("Isabelle2023")
    message = str(info.value)
    assert "Isabelle2024, Isabelle2025" in message
    assert "python -m isabelle_env.keywords.generate --isabelle-src" in message


def test_bad_table_file_says_how_to_fix(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(ValueError, match="regenerate it"):
        KeywordTable.from_file(path)
    with pytest.raises(FileNotFoundError, match="generate"):
        KeywordTable.from_file(tmp_path / "missing.json")


# -- the generator on a small tree written here ------------------------------------------------------------------

THY_HEADER = r"""val theoryN = "theory";
val beginN = "begin";
val bootstrap_keywords =
  Keyword.empty_keywords
  |> Keyword.add_keywords
    [(("::", \<^here>), Keyword.no_spec),
     (("and", \<^here>), Keyword.no_spec),
     ((beginN, \<^here>), Keyword.quasi_command_spec),
     (("section", \<^here>), Keyword.document_heading_spec),
     ((theoryN, \<^here>), Keyword.command_spec (Keyword.thy_begin, ["theory"])),
     (("end", \<^here>), Keyword.command_spec (Keyword.thy_end, []))];
"""
PURE = r"""(* a comment: keywords "fake" :: diag *)
theory Pure
keywords
    "!!" "\<proof>" ".." "."  (* FIXME "inside" *)
  and "private" :: before_command
  and "lemma" :: thy_goal_stmt
  and "by" "sorry" :: "qed" % "proof"
  and "ML_file" :: thy_load % "ML"
  and "legacy_load" :: thy_load ("ML" "sml") == ""
  and "load_cmd" :: thy_load (ML)
  and "esc\"aped"
abbrevs "\\x" = "y"
begin
lemma "keywords \"late\" :: diag" sorry
end
"""
FOO = r"""section \<open>A theory with theory in its heading\<close>
theory Foo
  imports Pure
  keywords "foo_cmd" :: thy_defn \<comment> \<open>keywords "bar" :: diag\<close>
    and "foo_minor"
begin
end
"""


def _tree(root: Path) -> Path:
    files = {
        "src/Pure/Thy/thy_header.ML": THY_HEADER,
        "src/Pure/Pure.thy": PURE,
        "src/HOL/Foo.thy": FOO,
        "src/HOL/NoKeywords.thy": "theory NoKeywords imports Foo begin end\n",
        "src/HOL/ex/Excluded.thy": 'theory Excluded imports Foo keywords "excluded" :: diag begin end\n',
        "src/HOL/Library/Deep/Lib.thy": 'theory Lib imports Foo keywords "lib_cmd" :: thy_decl begin end\n',
        "AFP/Entry/E.thy": 'theory E imports Foo keywords "entry_cmd" :: diag begin end\n',
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_generator_round_trip(tmp_path, capsys):
    root = _tree(tmp_path)
    out = tmp_path / "out" / "Test.json"
    assert main(["--isabelle-src", str(root), "--release", "Isabelle2099", "--out", str(out),
                 "--extra-dir", str(root / "AFP/Entry")]) == 0  # fmt: skip
    assert "commands" in capsys.readouterr().out
    table = KeywordTable.from_file(out)
    assert table.release == "Isabelle2099"
    assert {w: e.kind for w, e in table.commands.items()} == {
        "theory": KK.THY_BEGIN, "end": KK.THY_END, "section": KK.DOCUMENT_HEADING, "lemma": KK.THY_GOAL_STMT,
        "by": KK.QED, "sorry": KK.QED, "ML_file": KK.THY_LOAD, "legacy_load": KK.THY_LOAD,
        "load_cmd": KK.THY_LOAD, "foo_cmd": KK.THY_DEFN, "lib_cmd": KK.THY_DECL, "entry_cmd": KK.DIAG,
    }  # fmt: skip
    assert {w: e.kind for w, e in table.minor_entries.items()} == {
        "::": KK.MINOR, "and": KK.MINOR, "begin": KK.QUASI_COMMAND, "!!": KK.MINOR, "\\<proof>": KK.MINOR,
        "..": KK.MINOR, ".": KK.MINOR, "private": KK.BEFORE_COMMAND, 'esc"aped': KK.MINOR, "foo_minor": KK.MINOR,
    }  # fmt: skip
    assert table.commands["by"].tags == ("proof",)
    assert table.commands["section"].tags == ("document",)
    assert table.commands["legacy_load"].load_command == ("ML", "sml")
    assert table.commands["load_cmd"].load_command == ("ML",)
    assert table.commands["foo_cmd"].files == ("src/HOL/Foo.thy",)
    assert table.commands["entry_cmd"].files == ("Entry/E.thy",)
    files = table.provenance["files"]
    assert set(files) == {
        "src/Pure/Thy/thy_header.ML", "src/Pure/Pure.thy", "src/HOL/Foo.thy", "src/HOL/Library/Deep/Lib.thy",
        "Entry/E.thy",
    }  # fmt: skip
    pure = (root / "src/Pure/Pure.thy").read_bytes()
    assert files["src/Pure/Pure.thy"] == {"sha256": hashlib.sha256(pure).hexdigest(), "declarations": 12}
    assert table.longest_match("..") == ".."


def test_generator_accepts_the_src_folder_itself(tmp_path):
    root = _tree(tmp_path)
    assert build_table(root / "src", "X").commands.keys() == build_table(root, "X").commands.keys()


def test_generator_errors_name_the_file_and_the_fix(tmp_path, capsys):
    with pytest.raises(GenerateError, match="is not an Isabelle source tree"):
        build_table(tmp_path, "X")
    root = _tree(tmp_path)
    (root / "src/HOL/Bad.thy").write_text('theory Bad\n  imports Foo\n  keywords "b" :: thy_foo\nbegin\n')
    assert main(["--isabelle-src", str(root), "--release", "X", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "src/HOL/Bad.thy:3" in err and "unknown outer syntax keyword kind 'thy_foo'" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('theory A keywords "a" :: diag "b"', "expected 'and', 'abbrevs' or 'begin'"),
        ('theory A keywords "a :: diag begin', "unterminated string"),
        ("theory A keywords and begin", "expected a quoted keyword"),
        ('theory A keywords "a" :: diag % begin', "a tag name after '%'"),
        ('theory A keywords "a" :: diag (* begin', "unterminated comment"),
        ('theory A keywords "a" :: diag \\<comment> begin', "cartouche expected after \\<comment>"),
    ],
)
def test_header_errors(text, message):
    with pytest.raises(HeaderParseError, match=re.escape(message)):
        parse_keywords(text, "A.thy")


def test_header_without_keywords_and_keywords_after_begin():
    assert parse_keywords("theory A imports B begin\nkeywords\n") == []
    assert parse_keywords("(* no theory here *) val x = 1;") == []
    assert parse_keywords('theory A imports B abbrevs "(=" = "\\<subseteq>" begin') == []
    decls = parse_keywords('theory A imports B keywords "a" "b" :: prf_decl % "proof" and "c" begin')
    assert [(d.word, d.kind, d.tags, d.line) for d in decls] == [
        ("a", KK.PRF_DECL, ("proof",), 1),
        ("b", KK.PRF_DECL, ("proof",), 1),
        ("c", KK.MINOR, (), 1),
    ]


def test_bootstrap_errors():
    with pytest.raises(HeaderParseError, match="no 'val bootstrap_keywords'"):
        parse_bootstrap_keywords("val x = 1;")
    bad = 'val bootstrap_keywords = Keyword.add_keywords [(("x", Position.none), Keyword.odd_spec)];'
    with pytest.raises(HeaderParseError, match="unknown keyword spec 'Keyword.odd_spec'"):
        parse_bootstrap_keywords(bad)
