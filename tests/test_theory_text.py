"""Theory text utilities on the real miniF2F and DSP data, and on small hand-written texts."""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from isabelle_env.syntax.tokens import TokenKind as K
from isabelle_env.theory_text import (
    ProblemTheory,
    TheoryParseError,
    atp_to_sledgehammer,
    build_check_theory,
    find_atp_spans,
    normalise_proof,
    parse_candidate,
    parse_problem,
    problem_from_statement,
    replace_sledgehammer,
    tokenize,
)

README_IMPORTS = {
    "Complex_Main",
    "HOL-Computational_Algebra.Computational_Algebra",
    "HOL-Number_Theory.Number_Theory",
    "HOL-Library.Code_Target_Numeral",
    "HOL-Library.Sum_of_Squares",
    "HOL-Analysis.Analysis",
    "HOL.HOL",
    "Symmetric_Polynomials.Vieta",
}


@pytest.fixture(scope="module")
def minif2f(shared: Path) -> dict[str, tuple[str, str, ProblemTheory]]:
    """name -> (split, text, parsed problem) for all 488 problems."""
    out = {}
    for path in sorted((shared / "datasets/minif2f/isabelle").glob("*/*.thy")):
        text = path.read_text()
        out[path.stem] = (path.parent.name, text, parse_problem(text))
    return out


@pytest.fixture(scope="module")
def dsp_proofs(shared: Path) -> list[dict]:
    with tarfile.open(shared / "datasets/dsp/results/human_100_proofs.jsonl.tar.gz") as tar:
        member = tar.extractfile("human_100_proofs.jsonl")
        assert member is not None
        return [json.loads(line) for line in member.read().decode().splitlines() if line.strip()]


# -- miniF2F problems -------------------------------------------------------------------------------------------


def test_all_problems_parse_with_matching_names(minif2f):
    assert len(minif2f) == 488
    assert Counter(split for split, _, _ in minif2f.values()) == {"valid": 244, "test": 244}
    for name, (_, _, problem) in minif2f.items():
        assert problem.theory_name == name == problem.theorem_name
        assert problem.statement.startswith("theorem")
        assert problem.shows, name


def test_shipped_proofs_are_counted_per_split(minif2f):
    shipped = Counter(split for split, _, p in minif2f.values() if p.has_shipped_proof)
    assert shipped == {"valid": 76, "test": 71}
    assert sum(p.proof == "sorry" for _, _, p in minif2f.values()) == 488 - 147


def test_imports_are_those_of_the_readme(minif2f):
    union = {i for _, _, p in minif2f.values() for i in p.imports}
    assert union == README_IMPORTS
    vieta = sorted(f"{s}/{n}" for n, (s, _, p) in minif2f.items() if "Symmetric_Polynomials.Vieta" in p.imports)
    assert vieta == ["valid/amc12_2000_p15", "valid/amc12a_2002_p1"]
    assert minif2f["amc12_2000_p15"][2].imports == (
        "Complex_Main",
        "HOL-Computational_Algebra.Computational_Algebra",
        "Symmetric_Polynomials.Vieta",
    )


def test_preambles(minif2f):
    with_preamble = {n: p.preamble.split()[0] for n, (_, _, p) in minif2f.items() if p.preamble}
    assert with_preamble == {
        "mathd_numbertheory_764": "definition",
        "amc12a_2020_p4": "function",
        "mathd_numbertheory_135": "function",
        "mathd_algebra_313": "term",
    }
    assert minif2f["mathd_numbertheory_764"][2].preamble.startswith('definition inv_mod::"nat')


def test_stripping_removes_the_shipped_proof(minif2f):
    for name, (_, text, p) in minif2f.items():
        stripped = p.stripped_text()
        assert stripped == text[: p.statement_end] + "\n"
        assert normalise_proof(stripped).endswith(normalise_proof(p.statement))
        bare = parse_problem(p.bare())
        assert (bare.statement, bare.proof, bare.has_shipped_proof) == (p.statement, "sorry", False), name
        if p.has_shipped_proof:
            assert p.proof is not None and p.proof not in stripped and p.proof not in p.bare()
        else:  # a problem that ends in sorry is its own bare form
            assert normalise_proof(p.bare()) == normalise_proof(text)


def test_statement_structure_long_and_short_forms(minif2f):
    p = minif2f["aimeII_2001_p3"][2]
    assert [(f.name, f.type) for f in p.fixes] == [("x", "nat \\<Rightarrow> int")]
    assert [a.label for a in p.assumes] == ["h0", "h1", "h2", "h3", "h4"]
    assert p.assumes[0].text == "x 1 = 211" and p.assumes[0].line == 11
    assert [s.text for s in p.shows] == ["x 531 + x 753 + x 975 = 898"]
    p = minif2f["aime_1983_p9"][2]
    assert [(a.label, a.text) for a in p.assumes] == [(None, "0<x"), (None, "x<pi")]
    p = minif2f["mathd_algebra_296"][2]
    assert (p.fixes, p.assumes) == ((), ())
    assert [s.text for s in p.shows] == ["abs (((3491 - 60) * (3491 + 60) - 3491^2)) = (3600::int)"]
    assert p.proof == "by eval" and p.has_shipped_proof
    p = minif2f["aime_1984_p15"][2]
    assert [(f.name, f.type) for f in p.fixes] == [(v, "real") for v in "xyzw"]
    assert len(p.assumes) == 4 and p.proof == "using assms by algebra"


def test_problem_text_errors_name_the_line():
    with pytest.raises(TheoryParseError, match=r"line 1: expected `theory NAME imports") as err:
        parse_problem('theorem t: "True" by simp')
    assert isinstance(err.value, ValueError) and err.value.line == 1
    with pytest.raises(TheoryParseError, match=r"line 3: expected a `theorem NAME:`"):
        parse_problem("theory T imports Main\n\nbegin\nend\n")
    with pytest.raises(TheoryParseError, match=r"expected `end` closing the theory"):
        parse_problem('theory T imports Main begin\ntheorem T: "True"\n  by simp\n')
    with pytest.raises(TheoryParseError, match=r"line 2: expected `\*\)` closing the comment"):
        parse_problem("theory T imports Main begin\n(* (* *)\nend")
    with pytest.raises(TheoryParseError, match=r"line 1: expected `imports` after the theory name"):
        parse_problem("theory T\n  begin\nend")
    with pytest.raises(TheoryParseError, match=r"line 3: expected a `shows` clause"):
        parse_problem("theory T imports Main begin\ntheorem T:\n  fixes x :: nat\n  sorry\nend")


def test_problem_robust_to_crlf_tabs_nested_comments_and_trailing_junk():
    text = (
        '(* header (* nested *) \\<open> *)\r\ntheory\tT imports Main "HOL-Library.Sum_of_Squares"\r\nbegin\r\n'
        'theorem T:\r\n\tfixes x :: real\r\n\tassumes "x \\<le> 1" (* why (* nested *) *)\r\n'
        '\tshows "x - 1 \\<le> 0 \\<and> (* not a comment *) True"\r\n\tusing assms by simp\r\nend\r\n  trailing junk'
    )
    p = parse_problem(text)
    assert p.imports == ("Main", "HOL-Library.Sum_of_Squares")
    assert p.shows[0].text == "x - 1 \\<le> 0 \\<and> (* not a comment *) True"
    assert p.shows[0].line == 7 and p.assumes[0].line == 6
    assert p.proof == "using assms by simp" and p.has_shipped_proof
    assert p.trailing == "\r\n  trailing junk"


def test_problem_from_statement_wraps_a_bare_statement():
    p = problem_from_statement('lemma foo: "(1::nat) + 1 = 2"')
    assert (p.theory_name, p.theorem_name, p.imports, p.proof) == ("foo", "foo", ("Complex_Main",), "sorry")


# -- lexer ------------------------------------------------------------------------------------------------------


def test_lexer_nesting_strings_and_formal_comments():
    # Pure/Isar/token.scala: delimited tokens; Pure/General/comment.scala: `\<comment>` then a cartouche.
    # `--` is no comment marker in current Isabelle (Pure.thy declares no `--`): a symbolic identifier.
    text = (
        '(* a (* b *) " c *) x "y \\" (* \\<le>" \\<open>a \\<open>b\\<close> (*\\<close> \u2039u \u2039v\u203a\u203a'
        ' \\<comment> \\<open>note\\<close> \\<^cancel>\\<open>gone\\<close> -- "old" z'
    )
    toks = [t for t in tokenize(text) if t.kind is not K.SPACE]
    assert [t.kind for t in toks] == [
        K.INFORMAL_COMMENT,
        K.IDENT,
        K.STRING,
        K.CARTOUCHE,
        K.CARTOUCHE,
        K.FORMAL_COMMENT,
        K.FORMAL_COMMENT,
        K.SYM_IDENT,
        K.STRING,
        K.IDENT,
    ]
    assert toks[0].text == '(* a (* b *) " c *)'
    assert toks[2].content == 'y \\" (* \\<le>'
    assert toks[3].content == "a \\<open>b\\<close> (*"
    assert toks[4].content == "u \u2039v\u203a"
    assert toks[5].content == "note" and toks[6].content == "gone" and toks[8].content == "old"
    assert "".join(t.text for t in tokenize(text)) == text


def test_keywords_win_ties_and_lose_to_longer_identifiers():
    # token.scala `keyword ||| (ident | ...)`: the longest token wins, a keyword wins a tie
    toks = [t for t in tokenize("by bye print_ok code_len thus thus' proof- .. . :: : ?thesis") if t.is_proper]
    kinds = [(t.text, t.kind) for t in toks]
    assert kinds == [
        ("by", K.COMMAND),
        ("bye", K.IDENT),
        ("print_ok", K.IDENT),
        ("code_len", K.IDENT),
        ("thus", K.COMMAND),
        ("thus'", K.IDENT),
        ("proof", K.COMMAND),
        ("-", K.SYM_IDENT),
        ("..", K.COMMAND),
        (".", K.COMMAND),
        ("::", K.KEYWORD),
        (":", K.KEYWORD),
        ("?thesis", K.VAR),
    ]


def test_lexer_lines_offsets_and_names():
    text = "a\r\n\tb.c ?thesis\n  x\\<^sub>1 \\<alpha>'  :: 12 3.5 ..  .\n\"s\ns\" 'a"
    toks = [t for t in tokenize(text) if t.significant]
    assert [(t.text, t.line) for t in toks] == [
        ("a", 1),
        ("b.c", 2),
        ("?thesis", 2),
        ("x\\<^sub>1", 3),
        ("\\<alpha>'", 3),
        ("::", 3),
        ("12", 3),
        ("3.5", 3),
        ("..", 3),
        (".", 3),
        ('"s\ns"', 4),
        ("'a", 5),
    ]
    assert all(text[t.start : t.end] == t.text for t in toks)


# -- candidates -------------------------------------------------------------------------------------------------

ISAR = """theorem t:
  fixes x :: real
  assumes h0: "0 < x"
  shows "0 < x * x"
proof -
  (* informal: square of a positive *)
  have c0: "0 < x" using h0 by simp
  moreover have "x * x = x^2" by (simp add: power2_eq_square)
  ultimately have "0 < x^2" by simp
  then show ?thesis
  proof (cases "x > 1")
    case True
    then show ?thesis using c0 sledgehammer
  next
    case False
    obtain y where "y = x" by simp
    show ?thesis using h0 (*<ATP>*) by (simp add: mult_pos_pos) (*</ATP>*)
  qed
qed"""


def test_isar_step_tree():
    c = parse_candidate(ISAR)
    assert (c.kind, c.goal.name, c.root.closing_kind) == ("theorem", "t", "proof")
    steps = [(s.kind, s.chain, s.label, s.prop, s.line, s.closing_kind) for s in c.steps]
    assert steps == [
        ("proof", None, None, None, 5, "qed"),
        ("have", None, "c0", "0 < x", 7, "by"),
        ("moreover", None, None, None, 8, None),
        ("have", None, None, "x * x = x^2", 8, "by"),
        ("have", "ultimately", None, "0 < x^2", 9, "by"),
        ("show", "then", None, "?thesis", 10, "proof"),
        ("proof", None, None, None, 11, "qed"),
        ("case", None, "True", None, 12, None),
        ("show", "then", None, "?thesis", 13, "sledgehammer"),
        ("next", None, None, None, 14, None),
        ("case", None, "False", None, 15, None),
        ("obtain", None, None, "y = x", 16, "by"),
        ("show", None, None, "?thesis", 17, "by"),
    ]
    have = c.steps[1]
    assert have.refinements == ["using h0"] and have.closing == "by simp"
    assert [s.kind for s in c.steps[5].children[0].children][:2] == ["case", "show"]
    assert [(s.index, s.line, ISAR[s.start : s.end]) for s in c.sledgehammer] == [(0, 13, "sledgehammer")]
    assert [(s.line, s.closing_span) for s in c.sledgehammer_steps] == [
        (13, (c.sledgehammer[0].start, c.sledgehammer[0].end))
    ]
    assert [(m.text, m.line, m.next_step.line) for m in c.comments] == [("informal: square of a positive", 6, 7)]
    assert [(a.line, a.inner) for a in c.atp_spans] == [(17, "by (simp add: mult_pos_pos)")]


def test_proof_only_and_apply_candidates():
    c = parse_candidate("  using assms\n  apply (auto simp: field_simps)\n  subgoal by simp\n  done\n")
    assert (c.kind, c.statement, c.goal, c.aux_lemmas) == ("proof", None, None, [])
    assert c.proof == "using assms\n  apply (auto simp: field_simps)\n  subgoal by simp\n  done"
    assert (c.root.kind, c.root.refinements, c.root.closing_kind) == ("goal", ["using assms"], "apply")
    assert [(s.kind, s.closing_kind) for s in c.steps] == [("subgoal", "by")]
    assert [cmd.name for cmd in parse_candidate("by code_simp").commands] == ["by"]
    c = parse_candidate("sledgehammer")
    assert c.kind == "proof" and c.root.closing_kind == "sledgehammer" and len(c.sledgehammer) == 1


def test_aux_lemmas_and_whole_theory_candidates():
    text = (
        'theory X imports Complex_Main begin\n\nlemma aux: "(1::nat) > 0"\n  by simp\n\n'
        'lemma helper [simp]: "True" ..\n\ntheorem t: "(2::nat) > 0"\n  using aux by simp\n\nend\n'
    )
    c = parse_candidate(text)
    assert (c.kind, c.theory_name, c.imports, c.goal.name, c.proof) == (
        "theory",
        "X",
        ("Complex_Main",),
        "t",
        "using aux by simp",
    )
    assert [(a.name, a.statement, a.proof, a.line) for a in c.aux_lemmas] == [
        ("aux", 'lemma aux: "(1::nat) > 0"', "by simp", 3),
        ("helper", 'lemma helper [simp]: "True"', "..", 6),
    ]


def test_dsp_proofs_parse(dsp_proofs):
    assert len(dsp_proofs) == 200
    kinds = Counter()
    for rec in dsp_proofs:
        c = parse_candidate(rec["proof"])
        kinds[c.kind] += 1
        assert c.goal is not None and c.root.closing_kind in ("by", "proof")
        assert not c.stray
    assert kinds == {"theorem": 200}
    assert sum(len(find_atp_spans(r["proof"])) for r in dsp_proofs) == 452
    sketches = [parse_candidate(atp_to_sledgehammer(r["proof"])) for r in dsp_proofs]
    assert sum(len(s.sledgehammer) for s in sketches) == 453  # plus one `sledgehammer+` left by DSP
    c = parse_candidate(next(r["proof"] for r in dsp_proofs if r["problem_name"] == "aime1990_15"))
    assert [(m.line, m.next_step.line, m.next_step.kind) for m in c.comments] == [
        (10, 12, "define"),
        (15, 24, "have"),
        (31, 33, "hence"),
        (40, 46, "hence"),
    ]
    assert c.comments[0].text == "Set $S = (x + y)$ and $P = xy$."


def test_dsp_sledgehammer_plus_is_one_site(dsp_proofs):
    text = next(r["proof"] for r in dsp_proofs if r["problem_name"] == "mathd_algebra_338")
    sites = parse_candidate(text).sledgehammer
    assert [(s.line, text[s.start : s.end]) for s in sites] == [(24, "sledgehammer+")]
    assert replace_sledgehammer(text, {0: "by auto"}) == text.replace("sledgehammer+", "by auto")


def test_atp_markers_round_trip_through_sledgehammer_byte_exactly(dsp_proofs):
    for rec in dsp_proofs:
        text = rec["proof"]
        if "sledgehammer" in text:
            continue
        spans = find_atp_spans(text)
        sketch = atp_to_sledgehammer(text)
        assert "(*<ATP>*)" not in sketch and sketch.count("sledgehammer") == len(spans)
        filled = replace_sledgehammer(sketch, {k: s.inner for k, s in enumerate(spans)})
        expected, pos = [], 0
        for s in spans:
            expected += [text[pos : s.start], s.inner]
            pos = s.end
        assert filled == "".join(expected) + text[pos:]


def test_replace_sledgehammer_keeps_everything_else():
    text = 'proof -\r\n  have "a" (* keep *) sledgehammer\n\tshow ?thesis using x sledgehammer\nqed  '
    out = replace_sledgehammer(text, {1: "by (metis x)"})
    assert out == text.replace("x sledgehammer", "x by (metis x)")
    assert replace_sledgehammer(text, {}) == text
    with pytest.raises(KeyError, match="no sledgehammer step"):
        replace_sledgehammer(text, {2: "by simp"})


def test_normalise_proof():
    a = 'proof -\n  (* c *) have  "x  =  1"\tby   simp\r\nqed'
    b = 'proof - have "x  =  1" by simp qed (* other *)'
    assert normalise_proof(a) == normalise_proof(b) == 'proof - have "x  =  1" by simp qed'
    assert normalise_proof('have "x = 1" by simp') != normalise_proof('have "x  =  1" by simp')
    assert normalise_proof("sor(* *)ry") == "sor ry"


# -- check theories ---------------------------------------------------------------------------------------------


def test_build_check_theory_uses_the_problem_statement():
    problem = problem_from_statement(
        'theorem t:\n  fixes x :: real\n  assumes h0: "0 < x"\n  shows "0 < x * x"', theory_name="T"
    )
    cand_text = 'lemma t :\n fixes x::real\n assumes h0:"0<x"\n shows "0<x*x"\n  using h0\n  by simp'
    cand = parse_candidate(cand_text)
    check = build_check_theory(problem, cand, theory_name="Check_1")
    assert check.text.startswith("theory Check_1\n  imports Complex_Main\nbegin\n")
    assert problem.statement + "\n  using h0\n  by simp\n" in check.text
    assert cand.statement not in check.text
    restated = 'theorem t_restated:\n  fixes x :: real\n  assumes h0: "0 < x"\n  shows "0 < x * x"'
    assert restated + "\n  using assms by (rule t)\n" in check.text
    assert check.text.endswith("\nend\n") and (check.theorem_name, check.restated_name) == ("t", "t_restated")
    lines = check.text.split("\n")
    assert check.line_map == {
        lines.index("  using h0") + 1: 5,
        lines.index("  by simp") + 1: 6,
    }
    assert check.candidate_line(1) is None


def test_build_check_theory_multiple_conclusions_and_aux_lemmas():
    problem = problem_from_statement('theorem u: shows "a = a" and b: "(1::nat) = 1"')
    cand = parse_candidate('lemma l: "True" by simp\n\ntheorem u: shows "a = a" and b: "(1::nat) = 1"\n  by auto')
    check = build_check_theory(problem, cand)
    assert 'lemma l: "True" by simp\n' in check.text
    assert 'theorem u_restated: shows "a = a" and b: "(1::nat) = 1"\nproof -\n' in check.text
    assert '  show "a = a" by (rule u(1))\n  show "(1::nat) = 1" by (rule u(2))\nqed\n' in check.text
    assert "using assms" not in check.text
    assert check.line_map[1 + check.text.split("\n").index('lemma l: "True" by simp')] == 1


def test_build_check_theory_on_every_shipped_proof(minif2f):
    for name, (_, _, problem) in minif2f.items():
        if not problem.has_shipped_proof:
            continue
        cand = parse_candidate(problem.proof)
        check = build_check_theory(problem, cand)
        again = parse_problem(check.text)
        assert (again.theorem_name, again.statement, again.proof) == (name, problem.statement, problem.proof)
        assert problem.goal.renamed(f"{name}_restated") in check.text
        built = check.text.split("\n")
        original = problem.text.split("\n")
        offset = problem.text.count("\n", 0, problem.text.index(problem.proof, problem.statement_end))
        for b, c in check.line_map.items():
            assert c == check.candidate_line(b)
            assert built[b - 1] in original[c - 1 + offset]


def test_fresh_restated_name_avoids_names_in_the_candidate():
    problem = problem_from_statement('theorem t: "True"')
    cand = parse_candidate("using t_restated by simp")
    assert build_check_theory(problem, cand).restated_name == "t_restated'"
