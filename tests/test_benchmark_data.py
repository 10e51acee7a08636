"""Benchmark loaders, name maps and published-result comparison, on the full shared miniF2F and DSP data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from benchmarks.data.names import KNOWN_ERRATA, RENAMED_V1_TO_CURRENT, category, current_name, expand_compact
from benchmarks.data.problems import JSONL_IMPORTS, ProblemLoadError, ProblemSet, load_problems
from benchmarks.data.published import compare, load_dsp_results, load_published
from cli.commands.problems import problems as problems_command
from isabelle_env.theory_text import parse_problem


@pytest.fixture(scope="module")
def minif2f(shared: Path) -> Path:
    return shared / "datasets" / "minif2f"


@pytest.fixture(scope="module")
def dsp(shared: Path) -> Path:
    return shared / "datasets" / "dsp"


@pytest.fixture(scope="module")
def checkout(minif2f: Path) -> ProblemSet:
    return load_problems(minif2f)


@pytest.fixture(scope="module")
def dsp_rows(dsp: Path) -> ProblemSet:
    return load_problems(dsp / "new_complete_mini.jsonl")


@pytest.fixture(scope="module")
def dsp_results(dsp: Path, checkout: ProblemSet):
    return load_dsp_results(dsp / "results", checkout)


# ---------------------------------------------------------------------------------------------------------------
# The miniF2F checkout


def test_checkout_holds_all_problems_stripped_and_joined(checkout: ProblemSet, minif2f: Path):
    assert len(checkout) == 488
    assert sum(p.split == "valid" for p in checkout) == 244
    assert sum(p.split == "test" for p in checkout) == 244
    stripped = [p for p in checkout if p.had_shipped_proof]
    assert len(stripped) == 147
    assert (sum(p.split == "valid" for p in stripped), sum(p.split == "test" for p in stripped)) == (76, 71)
    assert all(p.informal_statement and p.informal_proof for p in checkout)
    for p in checkout:
        assert Path(p.source) == minif2f / "isabelle" / p.split / f"{p.name}.thy"
        theory = parse_problem(p.theory_text)  # the prover's view: a valid theory ending in `sorry`
        assert theory.theory_name == theory.theorem_name == p.name
        assert not theory.has_shipped_proof and theory.proof == "sorry"
        assert theory.statement == p.formal_statement and theory.imports == p.imports
        assert p.category == category(p.name) != "other"


def test_categories_and_errata(checkout: ProblemSet):
    counts = {c: sum(p.category == c for p in checkout) for c in {p.category for p in checkout}}
    assert counts == {
        "mathd_algebra": 140,
        "mathd_numbertheory": 120,
        "amc12": 90,
        "aime": 30,
        "imo": 40,
        "algebra": 36,
        "numbertheory": 16,
        "induction": 16,
    }
    assert category("aimeII_2001_p3") == category("aime1983_2") == category("aimei_2000_7") == "aime"
    assert category("imosl_2007_algebra_p6") == category("imo_1959_1") == "imo"
    assert category("amc12_2000_p1") == category("amc12b_2002_p2") == "amc12"
    assert category("putnam_1990_a1") == "other"
    splits = {name: checkout.by_name(name).split for name in KNOWN_ERRATA}
    assert splits == {
        "amc12a_2021_p12": "test",
        "mathd_numbertheory_764": "test",
        "amc12_2000_p15": "valid",
        "amc12a_2002_p1": "valid",
    }
    assert "Symmetric_Polynomials.Vieta" in checkout.by_name("amc12a_2002_p1").imports
    assert checkout.by_name("mathd_numbertheory_764").preamble.startswith("definition inv_mod")
    assert checkout.by_name("mathd_algebra_141").erratum is None


def test_other_layouts_load_the_same_problems(checkout: ProblemSet, minif2f: Path):
    assert load_problems(minif2f / "isabelle").fingerprint == checkout.fingerprint
    valid = load_problems(minif2f / "isabelle" / "valid")
    assert len(valid) == 244 and {p.split for p in valid} == {"valid"}
    assert all(p.informal_proof for p in valid)
    assert (
        valid.fingerprint
        == checkout.select(split="valid").fingerprint
        == load_problems(minif2f, split="valid").fingerprint
    )
    one = load_problems(minif2f / "isabelle" / "test" / "imosl_2007_algebra_p6.thy")
    assert one.names == ("imosl_2007_algebra_p6",) and one.problems[0].split == "test"
    assert one.problems[0] == checkout.by_name("imo_2007_p6")


# ---------------------------------------------------------------------------------------------------------------
# Names


def test_name_map_rules():
    assert expand_compact("aime1983_2") == "aime_1983_p2"
    assert expand_compact("aimei_2000_7") == "aimeI_2000_p7"
    assert expand_compact("aimeii_2020_6") == "aimeII_2020_p6"
    assert expand_compact("amc12_2000_1") == "amc12_2000_p1"
    assert expand_compact("amc12a_2019_21") == "amc12a_2019_p21"
    assert expand_compact("imo_1964_1_2") == "imo_1964_p1_2"
    assert expand_compact("mathd_algebra_10") == "mathd_algebra_10"
    assert current_name("aimei_2001_3") == "aimeII_2001_p3"
    assert current_name("aime1997_12") == "aime_1997_p11"
    assert current_name("amc12a_2020_22") == "amc12a_2020_p21"
    assert current_name("imo_2006_6") == "imo_2006_p3"
    assert current_name("imo_2007_p6") == "imosl_2007_algebra_p6"
    assert current_name("imo_2006_p3") == "imo_2006_p3"  # current names are fixed points


def test_every_dsp_name_maps_to_a_current_problem(checkout: ProblemSet, dsp_rows: ProblemSet, dsp: Path):
    raw = [json.loads(line)["problem_name"] for line in (dsp / "new_complete_mini.jsonl").read_text().splitlines()]
    assert len(raw) == 488 and sum(name != current_name(name) for name in raw) == 160
    assert set(dsp_rows.names) == set(checkout.names)
    assert all(checkout.resolve(name) == current_name(name) for name in raw)
    listed = {
        line.strip() for f in (dsp / "results").glob("*.txt") for line in f.read_text().splitlines() if line.strip()
    }
    assert len(listed) == 226
    assert all(checkout.resolve(name) is not None for name in listed)
    assert sum(checkout.resolve(name) != name for name in listed) == 30
    for old, new in RENAMED_V1_TO_CURRENT.items():
        assert checkout.by_name(old).name == new


def test_select_by_any_spelling(checkout: ProblemSet):
    chosen = checkout.select(names=["aime1983_2", "imo_2007_6", "aimeI_2001_p3", "amc12a_2020_22", "mathd_algebra_10"])
    assert set(chosen.names) == {
        "aime_1983_p2",
        "imosl_2007_algebra_p6",
        "aimeII_2001_p3",
        "amc12a_2020_p21",
        "mathd_algebra_10",
    }
    assert chosen.select(split="test").names == ("aime_1983_p2", "imosl_2007_algebra_p6")
    assert len(checkout.select(split="valid", limit=5)) == 5
    assert checkout.select(names="aime1983_2").names == ("aime_1983_p2",)
    with pytest.raises(ValueError, match=r"aime_1983_p22 \(did you mean aime_1983_p2.*nonsense \(no close match\)"):
        checkout.select(names=["aime_1983_p22", "nonsense"])
    with pytest.raises(ValueError, match="did you mean"):
        checkout.by_name("mathd_algebra_1O")
    with pytest.raises(ValueError, match="unknown split 'train'"):
        checkout.select(split="train")


# ---------------------------------------------------------------------------------------------------------------
# DSP's JSONL rows


def test_dsp_rows_become_current_problems(dsp_rows: ProblemSet, checkout: ProblemSet):
    assert len(dsp_rows) == 488 and {p.split for p in dsp_rows} == {""}
    for p in dsp_rows:
        theory = parse_problem(p.theory_text)
        assert theory.theory_name == theory.theorem_name == p.name  # v1/compact names renamed in the statement
        assert p.imports == JSONL_IMPORTS and not p.had_shipped_proof
        assert p.source.endswith(f"new_complete_mini.jsonl:{p.source.rsplit(':', 1)[1]}")
    assert dsp_rows.by_name("imo_2007_6").informal_proof is None  # NaN in the file
    assert sum(p.informal_proof is not None and p.informal_statement is not None for p in dsp_rows) == 487
    assert dsp_rows.by_name("mathd_numbertheory_764").preamble.startswith("definition inv_mod")
    assert dsp_rows.by_name("imo_2006_p3").formal_statement.startswith("theorem imo_2006_p3:")
    # v1 statements differ from the current ones: the fingerprints keep the two versions apart
    assert dsp_rows.fingerprint != checkout.fingerprint


def test_jsonl_rows_with_own_imports_split_and_proof(tmp_path: Path):
    rows = [
        {
            "problem_name": "aime1983_2",
            "informal_statement": None,
            "informal_proof": None,
            "formal_statement": 'theorem aime_1983_p2:\n  fixes x :: real\n  shows "x = x"\n  by simp',
            "imports": ["Complex_Main"],
            "split": "test",
        },
        {
            "problem_name": "my_lemma",
            "informal_statement": "s",
            "informal_proof": "p",
            "formal_statement": 'lemma my_lemma: "True"',
        },
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    loaded = load_problems(path)
    first, second = loaded.problems
    assert first.name == "aime_1983_p2" and first.split == "test" and first.imports == ("Complex_Main",)
    assert first.had_shipped_proof and "by simp" not in first.theory_text
    assert second.category == "other" and second.informal_proof == "p"
    assert first.source == f"{path}:1"
    with pytest.raises(ProblemLoadError, match="split of my_lemma .* is unknown"):
        load_problems(path, split="test")


# ---------------------------------------------------------------------------------------------------------------
# Fingerprint


def _copy(minif2f: Path, folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(minif2f / "isabelle" / "valid" / f"{name}.thy", folder / f"{name}.thy")
    return folder


def test_fingerprint_stable_and_sensitive(checkout: ProblemSet, minif2f: Path, tmp_path: Path):
    assert load_problems(minif2f).fingerprint == checkout.fingerprint
    assert ProblemSet.of(reversed(checkout.problems), "x").fingerprint == checkout.fingerprint
    assert checkout.select(names=checkout.names[:-1]).fingerprint != checkout.fingerprint
    names = ["mathd_algebra_10", "aime_1984_p5", "amc12a_2002_p1"]
    folder = _copy(minif2f, tmp_path / "a", names)
    base = load_problems(folder).fingerprint
    target = folder / "mathd_algebra_10.thy"
    original = target.read_text()
    statement = checkout.by_name("mathd_algebra_10").formal_statement
    target.write_text("(* a new comment *)\n" + original.replace(statement, statement.replace("\n", "\n\n   ")))
    assert load_problems(folder).fingerprint == base  # layout and comments outside the statement do not count
    target.write_text(original.replace(statement, statement.rstrip('"') + ' + 0"'))
    assert load_problems(folder).fingerprint != base  # a changed statement does


# ---------------------------------------------------------------------------------------------------------------
# Bad input


def test_bad_inputs_name_the_file_and_the_fix(tmp_path: Path, minif2f: Path):
    with pytest.raises(ProblemLoadError, match="does not exist: give a miniF2F checkout"):
        load_problems(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ProblemLoadError, match="holds no .thy files"):
        load_problems(empty)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ProblemLoadError, match="neither .thy nor .jsonl"):
        load_problems(tmp_path / "notes.txt")
    with pytest.raises(ProblemLoadError, match="unknown split 'dev'"):
        load_problems(minif2f, split="dev")

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.thy").write_text('theory bad imports Main begin\ntheorem bad: "True"\n')
    with pytest.raises(ProblemLoadError, match=r"bad\.thy: not a problem theory \(line 2: expected `end`"):
        load_problems(broken)
    (broken / "bad.thy").write_text('theory other imports Main begin\ntheorem other: "True"\nend\n')
    with pytest.raises(ProblemLoadError, match="not named like its file"):
        load_problems(broken / "bad.thy")

    dup = _copy(minif2f, tmp_path / "dup" / "valid", ["mathd_algebra_10"])
    (dup.parent / "test").mkdir()
    shutil.copy(dup / "mathd_algebra_10.thy", dup.parent / "test" / "mathd_algebra_10.thy")
    with pytest.raises(ProblemLoadError, match="mathd_algebra_10 in .* and .*: remove the duplicates"):
        load_problems(dup.parent)

    jsonl = tmp_path / "rows.jsonl"
    good = {
        "problem_name": "p",
        "informal_statement": None,
        "informal_proof": None,
        "formal_statement": 'theorem p: "True"',
    }
    jsonl.write_text(json.dumps(good) + "\n" + json.dumps({"problem_name": "q", "formal_statement": "x"}) + "\n")
    with pytest.raises(ProblemLoadError, match=rf"{jsonl}:2: the row lacks informal_statement, informal_proof"):
        load_problems(jsonl)
    jsonl.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(ProblemLoadError, match=rf"{jsonl}:2: not JSON"):
        load_problems(jsonl)
    jsonl.write_text(json.dumps({**good, "formal_statement": 'theorem p: fixes x :: nat assumes "x > 0"'}) + "\n")
    with pytest.raises(ProblemLoadError, match=rf"{jsonl}:1: `formal_statement` does not parse"):
        load_problems(jsonl)
    jsonl.write_text(json.dumps({**good, "problem_name": "q"}) + "\n")
    with pytest.raises(ProblemLoadError, match="problem_name names q but the statement proves p"):
        load_problems(jsonl)
    jsonl.write_text(json.dumps({**good, "informal_proof": 3}) + "\n")
    with pytest.raises(ProblemLoadError, match="`informal_proof` must be a string or null"):
        load_problems(jsonl)


# ---------------------------------------------------------------------------------------------------------------
# Published results


def test_dsp_lists_map_and_split(dsp_results):
    sizes = {
        label: (len(r.listed), len(r.in_split("valid")), len(r.in_split("test"))) for label, r in dsp_results.items()
    }
    # the DSP paper's valid/test counts: 18.0%/20.9%, 42.6%/39.3%, 43.9%/37.7%, 45.5%/40.2% of 244
    assert sizes == {
        "hammer_heuristics_success": (95, 44, 51),
        "human_100_success": (200, 104, 96),
        "minerva_100_success": (199, 107, 92),
        "minerva_200_success": (209, 111, 98),
    }
    assert all(not r.unmapped and len(r.solved) == len(r.listed) for r in dsp_results.values())
    assert "amc12a_2020_p21" not in dsp_results["hammer_heuristics_success"].listed


def test_compare_with_published(dsp_results, checkout: ProblemSet, tmp_path: Path):
    hammer, human = dsp_results["hammer_heuristics_success"], dsp_results["human_100_success"]
    both = compare(human.solved, hammer)
    assert (len(both.both), len(both.only_ours), len(both.only_theirs)) == (92, 108, 3)
    test = compare(human.listed, hammer, split="test")  # compact names work for ours too
    assert (len(test.both), len(test.only_ours), len(test.only_theirs)) == (50, 46, 1)
    assert test.summary() == "vs hammer_heuristics_success (test): both 50, only ours 46, only theirs 1"
    mine = compare(["aime1983_2", "no_such_problem"], hammer)
    assert mine.both == {"aime_1983_p2"} and mine.unmapped_ours == ("no_such_problem",)
    assert "unmapped: ours 1, theirs 0" in mine.summary()

    user = tmp_path / "theirs.jsonl"
    rows = [
        {"problem_name": "imo_2006_6", "solved": True},
        {"problem_name": "mathd_algebra_10", "solved": False},
        "aime1983_2",
        {"problem_name": "putnam_1990_a1"},
    ]
    user.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    theirs = load_published(user, checkout)
    assert theirs.label == "theirs" and theirs.solved == {"imo_2006_p3", "aime_1983_p2"}
    assert theirs.unmapped == ("putnam_1990_a1",)
    user.write_text(json.dumps({"problem_name": "x", "solved": "yes"}) + "\n")
    with pytest.raises(ProblemLoadError, match=rf"{user}:1: `solved` must be true or false"):
        load_published(user, checkout)


# ---------------------------------------------------------------------------------------------------------------
# CLI


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(problems_command)
    app.command("noop")(lambda: None)  # two commands, so the command name is part of the invocation
    return app


def test_cli_lists_problems(cli: typer.Typer, minif2f: Path, checkout: ProblemSet):
    result = CliRunner().invoke(cli, ["problems", str(minif2f), "--split", "valid"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 245
    assert lines[0].startswith("aimeII_2001_p3  valid  aime  Complex_Main")
    row = next(line for line in lines if line.startswith("amc12a_2002_p1 "))
    assert "Symmetric_Polynomials.Vieta" in row and "informal" in row and "erratum: valid: imports the AFP" in row
    fp = checkout.select(split="valid").fingerprint
    assert lines[-1].startswith("244 problems (244 valid); ") and lines[-1].endswith(f"fingerprint {fp}")
    assert "76 shipped proofs stripped; 244 with informal data" in lines[-1]


def test_cli_json(cli: typer.Typer, dsp: Path):
    result = CliRunner().invoke(cli, ["problems", str(dsp / "new_complete_mini.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 488
    first = rows[0]
    assert set(first) == {
        "name",
        "split",
        "category",
        "imports",
        "shipped_proof_stripped",
        "informal",
        "formal_statement",
        "erratum",
        "source",
    }
    assert first["name"] == "algebra_binomnegdiscrineq_10alt28asqp1" and first["imports"] == list(JSONL_IMPORTS)
    assert sum(r["informal"] for r in rows) == 488


def test_cli_bad_input_exits_2(cli: typer.Typer, tmp_path: Path, minif2f: Path):
    result = CliRunner().invoke(cli, ["problems", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "error: " in result.output and "does not exist: give a miniF2F checkout" in result.output
    result = CliRunner().invoke(cli, ["problems", str(minif2f), "--split", "train"])
    assert result.exit_code == 2  # typer rejects the choice
