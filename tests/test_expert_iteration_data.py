"""Expert iteration without models or Isabelle: rejection sampling, the dataset builder, the config, the library."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from expert_iteration.config import DatasetSection, IterateConfigError, SourceSection, parse_iterate_config
from expert_iteration.dataset import Example, build_datasets, build_role_dataset, jaccard, proof_steps, token_set
from expert_iteration.library import prompt_demos
from expert_iteration.rejection import rejection_sample


def ex(role: str, completion: str, source: str = "competition", problem: str = "p0", score: float = 0.0) -> Example:
    return Example(role, f"prompt for {problem}", completion, source, problem, {"candidate": completion}, score)


def source(name: str, weight: float = 1.0) -> SourceSection:
    if name == "competition":
        return SourceSection(name=name, kind="verified", weight=weight)
    return SourceSection(name=name, kind="jsonl", path="library.jsonl", weight=weight)


def dataset(**kw) -> DatasetSection:
    names = kw.pop("sources", ("competition", "library"))
    return DatasetSection(sources=tuple(source(n) for n in names), **kw)


# ------------------------------------------------------------------------------------------- rejection sampling


def test_rejection_sampling_is_seeded_and_bounded():
    scores = [-1.0, -0.2, -3.0, -0.5, -0.9]
    assert rejection_sample(scores, 3, 0.5, "s") == rejection_sample(scores, 3, 0.5, "s")
    assert len(rejection_sample(scores, 3, 0.5, "s")) == 3
    assert sorted(rejection_sample(scores, 10, 0.5, "s")) == [0, 1, 2, 3, 4]  # fewer than k: all
    assert rejection_sample([], 2, 0.5, 0) == []
    # beta -> 0 is greedy: one acceptance per pass, always the best remaining
    assert rejection_sample(scores, 3, 1e-4, "s") == [1, 3, 4]
    # beta -> inf is uniform: the first k in order are accepted in the first pass
    assert rejection_sample(scores, 3, 1e6, "s") == [0, 1, 2]
    with pytest.raises(ValueError, match="beta"):
        rejection_sample(scores, 1, 0.0, 0)


def test_rejection_sampling_prefers_higher_scores_and_tolerates_minus_infinity():
    scores = [0.0, -0.5, -1.0, -2.0]
    counts = Counter(i for seed in range(2000) for i in rejection_sample(scores, 1, 0.5, seed))
    assert counts[0] == 2000  # k = 1: the best is accepted in the first pass before any other wins
    counts = Counter(i for seed in range(2000) for i in rejection_sample(scores, 2, 0.5, seed))
    assert counts[1] > counts[2] > counts[3] > 0  # the second pick follows exp(r / beta)
    assert sorted(rejection_sample([float("-inf"), -1.0, float("nan")], 3, 0.5, 1)) == [0, 1, 2]
    assert rejection_sample([float("-inf"), -1.0], 1, 0.5, 1) == [1]


# ------------------------------------------------------------------------------------------- dataset builder


def test_near_duplicates_are_dropped_by_token_jaccard_with_the_kept_one_named():
    a = 'have c1: "x = 1" using h0 by simp show ?thesis by simp'
    near = a + " ."  # one extra token: Jaccard 13/14 > 0.75
    far = "by (metis add.commute mult.commute)"
    assert jaccard(token_set(a), token_set(near)) > 0.75 > jaccard(token_set(a), token_set(far))
    examples = [
        ex("proof", a, score=-1.0),
        ex("proof", near, score=-0.5),
        ex("proof", far),
        ex("proof", a, problem="p1"),
    ]
    built = build_role_dataset("proof", examples, dataset(sources=("competition",)), "s", ["competition"])
    status = {(d.example.problem, d.example.completion): d for d in built.decisions}
    # higher score first: `near` is kept and `a` (same problem) is its duplicate
    assert status[("p0", near)].status == "kept"
    assert status[("p0", a)].status == "near_duplicate"
    assert status[("p0", a)].duplicate_of == ex("proof", near).example_id
    assert status[("p0", far)].status == "kept" and status[("p1", a)].status == "kept"  # other problem: kept
    everywhere = build_role_dataset(
        "proof", examples, dataset(sources=("competition",), dedup_scope="all"), "s", ["competition"]
    )
    assert Counter(d.status for d in everywhere.decisions) == {"kept": 2, "near_duplicate": 2}
    strict = build_role_dataset(
        "proof", examples, dataset(sources=("competition",), near_duplicate_jaccard=1.0), "s", ["competition"]
    )
    assert Counter(d.status for d in strict.decisions) == {"kept": 4}  # nothing is more than identical


def distinct(n: int, source: str, role: str = "statement") -> list[Example]:
    return [ex(role, f"theorem t{i}: unique{i} words{i} here{i}", source, problem=f"{source}{i}") for i in range(n)]


def test_sources_are_mixed_in_the_configured_ratios():
    examples = distinct(10, "competition") + distinct(4, "library")
    down = build_role_dataset("statement", examples, dataset(), "s", ["competition", "library"])
    assert down.report["by_source"]["competition"]["kept"] == 4 and down.report["by_source"]["library"]["kept"] == 4
    assert down.report["ratio_actual"] == {"competition": 0.5, "library": 0.5}
    assert down.report["dropped"] == {"mixed_out": 6}
    up = build_role_dataset("statement", examples, dataset(mix="upsample"), "s", ["competition", "library"])
    assert up.report["by_source"]["library"]["kept"] == 10 and up.report["by_source"]["library"]["unique"] == 4
    copies = sorted(d.copies for d in up.decisions if d.example.source == "library")
    assert copies == [2, 2, 3, 3] and len(up.rows) == 20
    weighted = DatasetSection(sources=(source("competition", weight=2), source("library")))
    two_to_one = build_role_dataset("statement", examples, weighted, "s", ["competition", "library"])
    assert two_to_one.report["by_source"]["competition"]["kept"] == 8
    assert two_to_one.report["by_source"]["library"]["kept"] == 4
    alone = build_role_dataset("statement", distinct(5, "library"), dataset(), "s", ["competition", "library"])
    assert alone.report["empty_sources"] == ["competition"] and alone.report["examples"] == 5
    capped = build_role_dataset("statement", examples, dataset(max_examples=4), "s", ["competition", "library"])
    assert capped.report["examples"] == 4 and capped.report["dropped"].get("capped") == 4


def test_short_proofs_are_dropped_with_their_configured_probability():
    one = ["by simp", "using h0 sledgehammer", "proof -\n  show ?thesis by auto\nqed"]
    two = ['proof -\n  have c1: "a = b" sledgehammer\n  show ?thesis using c1 sledgehammer\nqed']
    assert [proof_steps(p) for p in one + two] == [1, 1, 1, 2]
    examples = [ex("proof", p, problem=f"q{i}") for i, p in enumerate(one + two)]
    always = build_role_dataset("proof", examples, dataset(short_proof_drop={1: 1.0}), "s", ["competition"])
    assert Counter(d.status for d in always.decisions) == {"short_proof": 3, "kept": 1}
    never = build_role_dataset("proof", examples, dataset(short_proof_drop={1: 0.0}), "s", ["competition"])
    assert never.report["examples"] == 4
    many = [ex("proof", f"by (simp add: f{i})", problem=f"q{i}") for i in range(400)]
    half = build_role_dataset("proof", many, dataset(short_proof_drop={1: 0.5}), "s", ["competition"])
    assert 150 < half.report["dropped"]["short_proof"] < 250


def test_every_example_is_traced_and_the_written_file_hashes_stably(tmp_path):
    examples = distinct(3, "competition", "proof") + distinct(3, "library", "proof")
    built = build_datasets(examples, dataset(), "seed")["proof"]
    assert all(d.example.origin for d in built.decisions)
    first = built.write(tmp_path / "a.jsonl")
    assert built.write(tmp_path / "b.jsonl") == first and len(first) == 16
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["source"] for r in rows} == {"competition", "library"}
    assert set(rows[0]) == {"prompt", "completion", "role", "source", "problem", "example_id"}


def test_one_model_for_all_roles_gets_one_dataset_with_its_role_balance():
    examples = distinct(4, "competition", "statement") + distinct(2, "competition", "proof")
    examples += distinct(2, "library", "proof") + distinct(3, "library", "subgoal")
    built = build_datasets(examples, dataset(mode="single"), "seed")
    assert list(built) == ["all"]
    report = built["all"].report
    assert report["roles"] == {"statement": 4, "subgoal": 3, "proof": 4}
    assert report["role_balance"]["statement"] == round(4 / 11, 4)
    assert set(report["per_role"]) == {"statement", "subgoal", "proof"}
    assert {r["role"] for r in built["all"].rows} == {"statement", "subgoal", "proof"}


def test_the_prompt_demos_are_a_library_with_all_three_roles():
    rows = prompt_demos()
    assert len(rows) == 4
    assert all(r.formal_statement.startswith("theorem ") for r in rows)
    assert sum(bool(r.subgoals) for r in rows) == 4 and sum(bool(r.proof) for r in rows) == 4


# ------------------------------------------------------------------------------------------- config


def test_the_config_names_a_wrong_key_and_what_is_allowed():
    base = {"problems": {"train": "x.jsonl"}, "models": {"base": "m"}}
    cfg = parse_iterate_config({**base, "dataset": {"short_proof_drop": {"1": 0.5}}})
    assert cfg.dataset.short_proof_drop == {1: 0.5} and cfg.sampling.temperature == 0.6
    assert cfg.sampling.statements_per_problem == 8 and cfg.selection.beta == 0.5
    with pytest.raises(IterateConfigError, match=r"unknown key 'sampling.temprature'; allowed here: .*temperature"):
        parse_iterate_config({**base, "sampling": {"temprature": 0.5}})
    with pytest.raises(IterateConfigError, match=r"unknown key 'dataset.sources.0.wieght'; allowed here: name, kind"):
        parse_iterate_config({**base, "dataset": {"sources": [{"name": "a", "kind": "verified", "wieght": 1}]}})
    with pytest.raises(IterateConfigError, match="needs path"):
        parse_iterate_config({**base, "dataset": {"sources": [{"name": "a", "kind": "jsonl"}]}})
    with pytest.raises(IterateConfigError, match="no starting model for statement, subgoal, proof"):
        parse_iterate_config({"problems": {"train": "x"}})
    with pytest.raises(IterateConfigError, match="problems: required"):
        parse_iterate_config({"models": {"base": "m"}})
    with pytest.raises(IterateConfigError, match="'single' trains one model"):
        parse_iterate_config({**base, "models": {"base": "m", "proof": "p"}, "dataset": {"mode": "single"}})
    a = parse_iterate_config({**base, "loop": {"rounds": 1}})
    b = parse_iterate_config({**base, "loop": {"rounds": 5}})
    assert a.fingerprint() == b.fingerprint()  # more rounds resume the same loop
    c = parse_iterate_config({**base, "isabelle": {"checkers": 4}, "sampling": {"actors": 2}})
    assert c.fingerprint() == a.fingerprint()  # so does more hardware
    assert parse_iterate_config({**base, "selection": {"beta": 1.0}}).fingerprint() != a.fingerprint()
