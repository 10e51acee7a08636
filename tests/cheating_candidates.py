"""Cheating candidates for the audit: every rejection rule, with spelling tricks.

Each entry is (rule_id, description, candidate_text, line): the audit of `candidate_text` against PROBLEM must
report `rule_id` at `line` (1-based in the candidate). `line` is a fourth field beyond the (rule, description,
text) triple so that line numbers are asserted, not just rules. HONEST lists candidates that must pass.
"""

from __future__ import annotations

from typing import NamedTuple

from isabelle_env import audit as A


class Cheat(NamedTuple):
    rule: str
    description: str
    text: str
    line: int


PROBLEM_TEXT = """(*
  A small problem with fixes, labelled assumptions and one conclusion.
*)
theory Cheat_Demo imports Complex_Main "HOL-Library.Sum_of_Squares"
begin

theorem cheat_demo:
  fixes x y :: real
  assumes h0: "0 < x" and h1: "0 < y"
  shows "0 < x * y"
  sorry

end
"""

#: The problem's statement (4 lines), so a proof that follows it starts on line 5.
STMT = """theorem cheat_demo:
  fixes x y :: real
  assumes h0: "0 < x" and h1: "0 < y"
  shows "0 < x * y\""""

HEADER = 'theory Cheat_Demo imports Complex_Main "HOL-Library.Sum_of_Squares"\nbegin\n'


def _thy(body: str) -> str:
    return f"{HEADER}\n{body}\n\nend\n"


def _lines(*lines: str) -> str:
    return "\n".join(lines)


HONEST: list[tuple[str, str]] = [
    ("one-line proof", "using h0 h1 by simp"),
    ("theorem with proof", f"{STMT}\n  using h0 h1 by simp"),
    (
        "lemma keyword, other layout",
        _lines(
            "lemma cheat_demo :",
            ' fixes x y::"real"',
            ' assumes h0:"0<x"',
            "  and h1 : \\<open>0 < y\\<close>",
            ' shows "0<x*y" using assms by simp',
        ),
    ),
    ("whole theory", _thy(f"{STMT}\n  using h0 h1 by simp")),
    (
        "whole theory with comments and trailing blank",
        _thy(f"(* informal: positive times positive *)\n{STMT}\n  using h0 h1 by simp") + "\n  \n",
    ),
    (
        "structured Isar",
        _lines(
            "proof -",
            '  have c0: "x * y > 0"',
            "    using h0 h1 by (simp add: mult_pos_pos)",
            "  then show ?thesis by simp",
            "qed",
        ),
    ),
    (
        "apply script",
        _lines(
            "apply (insert h0 h1)", "  apply (rule mult_pos_pos)", "   apply assumption", "  apply assumption", "  done"
        ),
    ),
    (
        "defer/prefer/back",
        _lines(
            "apply (rule mult_pos_pos)", " defer", " prefer 2", " using h1 apply simp", " using h0 apply simp", " done"
        ),
    ),
    (
        "unfolding/including/supply",
        _lines(
            "supply [[simp_trace = false]]",
            "  including lattice_syntax",
            "  unfolding zero_less_mult_iff",
            "  using h0 h1 by auto",
        ),
    ),
    (
        "moreover/ultimately",
        _lines(
            "proof -",
            '  have "0 < x" by (fact h0)',
            '  moreover have "0 < y" using h1 .',
            "  ultimately show ?thesis by simp",
            "qed",
        ),
    ),
    (
        "also/finally",
        _lines(
            "proof -",
            '  have "0 < x * y" using h0 h1 by simp',
            '  also have "\\<dots> = y * x" by simp',
            "  finally show ?thesis using h0 h1 by simp",
            "qed",
        ),
    ),
    (
        "cases/next/obtain/define/let/note/fix/assume/block",
        _lines(
            'proof (cases "x < y")',
            "  case True",
            '  define z where "z = x * y"',
            '  let ?p = "0 < z"',
            "  note hs = h0 h1",
            '  obtain w where "w = z" by simp',
            "  show ?thesis using hs by simp",
            "next",
            "  case False",
            "  fix a",
            '  { assume "a = (1::nat)"',
            '    then have "a > 0" by simp }',
            "  show ?thesis using h0 h1 by simp",
            "qed",
        ),
    ),
    ("subgoal", _lines("apply (rule mult_pos_pos)", "  subgoal by (fact h0)", "  subgoal using h1 by simp", "  done")),
    (
        "sledgehammer sketch",
        _lines("proof -", '  have "0 < x * y" using h0 h1 sledgehammer', "  then show ?thesis sledgehammer", "qed"),
    ),
    ("literal facts", "using h0 h1 `0 < x` \\<open>0 < y\\<close> by (smt (z3) mult_pos_pos)"),
    ("ATP markers", "using h0 h1\n(*<ATP>*) by (simp add: mult_pos_pos) (*</ATP>*)"),
    ("formal comment", "\\<comment> \\<open>multiply positives\\<close>\n  using h0 h1 by simp"),
    ("CRLF and tabs", 'proof -\r\n\thave "0 < x * y"\tusing h0 h1 by simp\r\n\tthen show ?thesis by simp\r\nqed\r\n'),
    ("trailing end", f"{STMT}\n  using h0 h1 by simp\n\nend"),
    (
        "inner syntax that looks like outer",
        _lines(
            "proof -",
            '  have "(* not a comment *) sorry ML \\<le> x * y \\<and> True" using h0 h1 by simp',
            "  then show ?thesis by simp",
            "qed",
        ),
    ),
]

CHEATS: list[Cheat] = [
    # -- skip_proof -------------------------------------------------------------------------------------------
    Cheat(
        A.SKIP_PROOF, "plain sorry in a step", 'proof -\n  have "x * y > 0" sorry\n  then show ?thesis by simp\nqed', 2
    ),
    Cheat(A.SKIP_PROOF, "oops: theorem never stated", f"{STMT}\n  oops", 5),
    Cheat(A.SKIP_PROOF, "oops after a partial proof", f'{STMT}\nproof -\n  have "0 < x" by (fact h0)\n  oops', 7),
    Cheat(A.SKIP_PROOF, "capitalised Sorry", "using h0 h1\n  Sorry", 2),
    Cheat(A.SKIP_PROOF, "sorry split by a comment", "using h0 h1\n  sor(* hidden *)ry", 2),
    Cheat(A.SKIP_PROOF, "\\<proof> alias of sorry", "using h0 h1\n  \\<proof>", 2),
    Cheat(A.SKIP_PROOF, "Cyrillic s in sorry", "using h0 h1\n  \u0455orry", 2),
    Cheat(A.SKIP_PROOF, "fullwidth sorry", "using h0 h1\n  \uff53\uff4f\uff52\uff52\uff59", 2),
    Cheat(A.SKIP_PROOF, "zero-width space inside sorry", "using h0 h1\n  sor\u200bry", 2),
    Cheat(A.SKIP_PROOF, "letter symbol inside sorry", "using h0 h1\n  \\<s>orry", 2),
    Cheat(A.SKIP_PROOF, "sorry in a cartouche at outer level", "using h0 h1 \\<open>sorry\\<close> by simp", 1),
    Cheat(A.SKIP_PROOF, "qualified Pure.sorry", "using h0 h1\n  Pure.sorry", 2),
    Cheat(A.SKIP_PROOF, "cheat method", "by cheat", 1),
    Cheat(
        A.SKIP_PROOF, "old -- comment whose cartouche is an argument today", "using h0 h1 -- \\<open>sorry\\<close>", 1
    ),
    Cheat(A.SKIP_PROOF, "admit", "proof -\n  show ?thesis admit\nqed", 2),
    Cheat(
        A.SKIP_PROOF, "cheat_tac inside a tactic", "by (tactic \\<open>Skip_Proof.cheat_tac \\<^context> 1\\<close>)", 1
    ),
    Cheat(A.SKIP_PROOF, "sorry in an aux lemma", f'lemma aux: "False"\n  sorry\n\n{STMT}\n  using aux by simp', 2),
    # -- quick_and_dirty ----------------------------------------------------------------------------------------
    Cheat(A.QUICK_AND_DIRTY, "using [[quick_and_dirty]]", "using [[quick_and_dirty]]\n  by simp", 1),
    Cheat(
        A.QUICK_AND_DIRTY,
        "supply with =true",
        "proof -\n  supply [[quick_and_dirty=true]]\n  show ?thesis by simp\nqed",
        2,
    ),
    Cheat(A.QUICK_AND_DIRTY, "declare at top level", f"declare [[quick_and_dirty]]\n\n{STMT}\n  by simp", 1),
    Cheat(A.QUICK_AND_DIRTY, "odd case", "using [[Quick_And_Dirty = true]] by simp", 1),
    Cheat(A.QUICK_AND_DIRTY, "split by a comment", "using [[quick_(**)and_dirty]] by simp", 1),
    Cheat(A.QUICK_AND_DIRTY, "look-alike i", "using [[qu\u0456ck_and_dirty]] by simp", 1),
    Cheat(A.QUICK_AND_DIRTY, "skip_proofs", "proof -\n  note [[skip_proofs]]\n  show ?thesis by simp\nqed", 2),
    Cheat(A.QUICK_AND_DIRTY, "second attribute in a list", "using [[simp_trace, quick_and_dirty]] by simp", 1),
    Cheat(A.QUICK_AND_DIRTY, "inside a string", 'using h0 h1 "quick_and_dirty" by simp', 1),
    # -- axiom --------------------------------------------------------------------------------------------------
    Cheat(A.AXIOM, "axiomatization", f'axiomatization where ax: "False"\n\n{STMT}\n  using ax by simp', 1),
    Cheat(A.AXIOM, "axioms", f'axioms ax: "False"\n{STMT}\n  using ax by simp', 1),
    Cheat(A.AXIOM, "consts", f"consts c :: real\n{STMT}\n  by simp", 1),
    Cheat(A.AXIOM, "defs", f'defs c_def: "c == 1"\n{STMT}\n  by simp', 1),
    Cheat(A.AXIOM, "oracle", f"oracle any = \\<open>fn ct => ct\\<close>\n{STMT}\n  by simp", 1),
    Cheat(A.AXIOM, "upper case", f'AXIOMATIZATION where ax: "False"\n{STMT}\n  by simp', 1),
    Cheat(A.AXIOM, "split by a comment", f'axiomat(**)ization where ax: "False"\n{STMT}\n  by simp', 1),
    Cheat(A.AXIOM, "inside a whole theory", _thy(f'axiomatization where ax: "False"\n{STMT}\n  using ax by simp'), 4),
    # -- definition ---------------------------------------------------------------------------------------------
    Cheat(A.DEFINITION, "definition", f'definition c :: real where "c = 1"\n{STMT}\n  by simp', 1),
    Cheat(A.DEFINITION, "fun", f'fun f :: "nat \\<Rightarrow> nat" where "f n = n"\n{STMT}\n  by simp', 1),
    Cheat(
        A.DEFINITION,
        "primrec",
        f'primrec g :: "nat \\<Rightarrow> nat" where "g 0 = 0" | "g (Suc n) = n"\n{STMT}\n  by simp',
        1,
    ),
    Cheat(A.DEFINITION, "abbreviation", f'abbreviation "one \\<equiv> (1::real)"\n{STMT}\n  by simp', 1),
    Cheat(A.DEFINITION, "typedef", f'typedef t = "{{True}}" by simp\n{STMT}\n  by simp', 1),
    Cheat(A.DEFINITION, "datatype, mixed case", f"DataType t = A | B\n{STMT}\n  by simp", 1),
    # -- ml_code ------------------------------------------------------------------------------------------------
    Cheat(A.ML_CODE, "ML block", f'ML \\<open>OS.Process.system "rm -rf /"\\<close>\n{STMT}\n  by simp', 1),
    Cheat(A.ML_CODE, "ML without space, unicode cartouche", f"ML\u2039val _ = ()\u203a\n{STMT}\n  by simp", 1),
    Cheat(
        A.ML_CODE,
        "ML_val in a proof",
        "proof -\n  ML_val \\<open>()\\<close>\n  show ?thesis using h0 h1 by simp\nqed",
        2,
    ),
    Cheat(
        A.ML_CODE,
        "ML_prf in a proof",
        "proof -\n  ML_prf \\<open>()\\<close>\n  show ?thesis using h0 h1 by simp\nqed",
        2,
    ),
    Cheat(A.ML_CODE, "lower-case ml_val", "proof -\n  ml_val \\<open>()\\<close>\n  show ?thesis by simp\nqed", 2),
    Cheat(A.ML_CODE, "Greek capital Mu in ML", f"\u039cL \\<open>()\\<close>\n{STMT}\n  by simp", 1),
    Cheat(A.ML_CODE, "tactic method", "apply (tactic \\<open>all_tac\\<close>)\n  done", 1),
    Cheat(A.ML_CODE, "raw_tactic method", "using h0\n  by (raw_tactic \\<open>K all_tac\\<close>)", 2),
    Cheat(A.ML_CODE, "setup", f"setup \\<open>I\\<close>\n{STMT}\n  by simp", 1),
    Cheat(A.ML_CODE, "local_setup", f"local_setup \\<open>I\\<close>\n{STMT}\n  by simp", 1),
    Cheat(A.ML_CODE, "method_setup", f"method_setup m = \\<open>Scan.succeed (K all_tac)\\<close>\n{STMT}\n  by m", 1),
    Cheat(A.ML_CODE, "attribute_setup", f"attribute_setup a = \\<open>Scan.succeed I\\<close>\n{STMT}\n  by simp", 1),
    Cheat(A.ML_CODE, "simproc_setup", f'simproc_setup s ("x") = \\<open>K (K (K NONE))\\<close>\n{STMT}\n  by simp', 1),
    Cheat(A.ML_CODE, "declaration", f"declaration \\<open>K I\\<close>\n{STMT}\n  by simp", 1),
    Cheat(
        A.ML_CODE,
        "ML antiquotation in a formal comment",
        "\\<comment> \\<open>@{ML \\<open>()\\<close>}\\<close>\n  by simp",
        1,
    ),
    Cheat(A.ML_CODE, "control-symbol antiquotation", "using h0 h1\n  by (simp add: \\<^ML>\\<open>()\\<close>)", 2),
    # -- system_command -----------------------------------------------------------------------------------------
    Cheat(A.SYSTEM, "export_code to a file", f'export_code True in SML file "/tmp/x.ML"\n{STMT}\n  by simp', 1),
    Cheat(
        A.SYSTEM, "code_printing", f'code_printing constant True \\<rightharpoonup> (SML) "true"\n{STMT}\n  by simp', 1
    ),
    Cheat(A.SYSTEM, "generate_file", f'generate_file "x.ML" = \\<open>val x = 1\\<close>\n{STMT}\n  by simp', 1),
    Cheat(A.SYSTEM, "compile_generated_files", f"compile_generated_files \\<open>x\\<close>\n{STMT}\n  by simp", 1),
    Cheat(A.SYSTEM, "external_file", f'external_file "/etc/passwd"\n{STMT}\n  by simp', 1),
    Cheat(A.SYSTEM, "file keyword", 'using h0 h1\n  file "/etc/passwd"\n  by simp', 2),
    Cheat(A.SYSTEM, "scala_build_generated_files", "using h0\n  scala_build_generated_files", 2),
    Cheat(A.SYSTEM, "Export_Code mixed case", f"Export_Code True in SML\n{STMT}\n  by simp", 1),
    # -- config_attribute ---------------------------------------------------------------------------------------
    Cheat(A.CONFIG, "smt_oracle", "using h0 h1 [[smt_oracle]]\n  by smt", 1),
    Cheat(
        A.CONFIG,
        "smt_oracle = true in supply",
        "proof -\n  supply [[smt_oracle = true]]\n  show ?thesis using h0 h1 by smt\nqed",
        2,
    ),
    Cheat(A.CONFIG, "unknown option after an allowed one", "using [[simp_trace, eval_oracle]] by simp", 1),
    Cheat(A.CONFIG, "spaced brackets", "using [ [ smt_oracle ] ] h0 by smt", 1),
    # -- statement_mismatch -------------------------------------------------------------------------------------
    Cheat(
        A.STATEMENT,
        "weakened conclusion",
        STMT.replace('"0 < x * y"', '"0 \\<le> x * y"') + "\n  using h0 h1 by simp",
        4,
    ),
    Cheat(
        A.STATEMENT,
        "extra assumption",
        STMT.replace('h1: "0 < y"', 'h1: "0 < y"\n    and h2: "x = y"') + "\n  by simp",
        4,
    ),
    Cheat(A.STATEMENT, "renamed theorem", STMT.replace("cheat_demo:", "cheat_demo2:") + "\n  using h0 h1 by simp", 1),
    Cheat(A.STATEMENT, "different types", STMT.replace(":: real", ":: int") + "\n  using h0 h1 by simp", 1),
    Cheat(A.STATEMENT, "dropped assumption", STMT.replace(' and h1: "0 < y"', "") + "\n  by simp", 3),
    Cheat(A.STATEMENT, "renamed label", STMT.replace("h0:", "a0:") + "\n  using a0 h1 by simp", 3),
    Cheat(
        A.STATEMENT,
        "changed statement in a whole theory",
        _thy(STMT.replace("x * y", "x + y") + "\n  using h0 h1 by simp"),
        7,
    ),
    Cheat(
        A.STATEMENT,
        "main theorem after an aux lemma, renamed",
        f'lemma cheat_demo: "True" by simp\n{STMT.replace("cheat_demo:", "main:")}\n  by simp',
        2,
    ),
    # -- theory_header ------------------------------------------------------------------------------------------
    Cheat(
        A.THEORY_HEADER, "second theory", _thy(f"{STMT}\n  using h0 h1 by simp\n\ntheory Other imports Main begin"), 10
    ),
    Cheat(
        A.THEORY_HEADER, "extra import", _thy(f"{STMT}\n  using h0 h1 by simp").replace('Squares"', 'Squares" Evil'), 1
    ),
    Cheat(
        A.THEORY_HEADER,
        "missing import",
        _thy(f"{STMT}\n  using h0 h1 by simp").replace(' "HOL-Library.Sum_of_Squares"', ""),
        1,
    ),
    Cheat(
        A.THEORY_HEADER,
        "keywords declaration",
        _thy(f"{STMT}\n  using h0 h1 by simp").replace('Squares"', 'Squares" keywords "cheat" :: thy_decl'),
        1,
    ),
    Cheat(A.THEORY_HEADER, "missing end", f"{HEADER}\n{STMT}\n  using h0 h1 by simp\n", 8),
    # -- text_after_end -----------------------------------------------------------------------------------------
    Cheat(
        A.AFTER_END, "theorem after end", _thy(f"{STMT}\n  using h0 h1 by simp") + 'theorem extra: "True" by simp\n', 11
    ),
    Cheat(A.AFTER_END, "junk after end of a theorem", f"{STMT}\n  using h0 h1 by simp\nend\nfoo bar", 7),
    # -- top_level_command --------------------------------------------------------------------------------------
    Cheat(A.TOP_LEVEL, "declare", f"declare [[simp_trace]]\n{STMT}\n  using h0 h1 by simp", 1),
    Cheat(A.TOP_LEVEL, "context block", f"context\nbegin\n{STMT}\n  using h0 h1 by simp\nend", 1),
    Cheat(A.TOP_LEVEL, "locale", f'locale l = assumes "False"\n{STMT}\n  by simp', 1),
    Cheat(A.TOP_LEVEL, "notation", f'notation times (infixl "**" 70)\n{STMT}\n  using h0 h1 by simp', 1),
    Cheat(A.TOP_LEVEL, "lemmas", f"lemmas hs = h0 h1\n{STMT}\n  using h0 h1 by simp", 1),
    Cheat(A.TOP_LEVEL, "begin block in a whole theory", _thy(f"begin\n{STMT}\n  using h0 h1 by simp"), 4),
    Cheat(A.TOP_LEVEL, "text at top level", f"text \\<open>hello\\<close>\n{STMT}\n  using h0 h1 by simp", 1),
    Cheat(
        A.TOP_LEVEL,
        "theory-level command inside a proof",
        "proof -\n  bundle b = [[simp_trace]]\n  show ?thesis using h0 h1 by simp\nqed",
        2,
    ),
    # -- command_not_allowed ------------------------------------------------------------------------------------
    Cheat(A.NOT_ALLOWED, "nitpick", "proof -\n  nitpick\n  show ?thesis using h0 h1 by simp\nqed", 2),
    Cheat(A.NOT_ALLOWED, "try0", "using h0 h1\n  try0\n  by simp", 2),
    Cheat(A.NOT_ALLOWED, "include", "proof -\n  include lattice_syntax\n  show ?thesis using h0 h1 by simp\nqed", 2),
    Cheat(A.NOT_ALLOWED, "interpret", "proof -\n  interpret l .\n  show ?thesis using h0 h1 by simp\nqed", 2),
    Cheat(
        A.NOT_ALLOWED, "write", 'proof -\n  write times (infixl "**" 70)\n  show ?thesis using h0 h1 by simp\nqed', 2
    ),
    Cheat(A.NOT_ALLOWED, "thm", "proof -\n  thm h0\n  show ?thesis using h0 h1 by simp\nqed", 2),
    Cheat(A.NOT_ALLOWED, "txt", "proof -\n  txt \\<open>x\\<close>\n  show ?thesis using h0 h1 by simp\nqed", 2),
    # -- aux_lemma ----------------------------------------------------------------------------------------------
    Cheat(
        A.AUX_LEMMA,
        "aux lemma while not enabled",
        f'lemma aux: "(0::real) < 1" by simp\n\n{STMT}\n  using h0 h1 by simp',
        1,
    ),
    Cheat(
        A.AUX_LEMMA,
        "aux lemma named like the theorem",
        f'lemma cheat_demo: "True" by simp\n{STMT}\n  using h0 h1 by simp',
        1,
    ),
    # -- lexical ------------------------------------------------------------------------------------------------
    Cheat(A.LEXICAL, "unterminated comment", "using h0 h1 (* by simp\n  by simp", 1),
    Cheat(A.LEXICAL, "unterminated string", 'proof -\n  have "0 < x by simp\nqed', 2),
    Cheat(A.LEXICAL, "unterminated cartouche", "using \\<open>0 < x\n  by simp", 1),
    Cheat(A.LEXICAL, "unicode operator outside strings", "using h0 h1 \u2264 by simp", 1),
    Cheat(A.LEXICAL, "comment splitting a word", "using h0 h1\n  by si(**)mp", 2),
    Cheat(A.LEXICAL, "old verbatim text", "using h0 h1 {* x *} by simp", 1),
    Cheat(A.LEXICAL, "non-ASCII name", "using h\u00f80 h1 by simp", 1),
    # -- structure ----------------------------------------------------------------------------------------------
    Cheat(A.STRUCTURE, "theorem without proof", STMT, 1),
    Cheat(A.STRUCTURE, "prose before the proof", "Here is the proof:\n  using h0 h1 by simp", 1),
    Cheat(A.STRUCTURE, "theory without theorem", _thy(""), 1),
    Cheat(A.STRUCTURE, "malformed statement", "theorem cheat_demo:\n  fixes x :: real\n  by simp", 2),
    Cheat(A.STRUCTURE, "proof before the theorem", f"by simp\n{STMT}\n  by simp", 1),
]
