"""pass@k estimator against closed forms, benchmark aggregation, unions over runs and category counts."""

from __future__ import annotations

from math import comb

import pytest

from benchmarks.data.passk import (
    benchmark_pass_at_k,
    category_counts,
    format_category_counts,
    pass_at_k,
    solved_names,
    union_solved,
)


def test_closed_forms():
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(10, 10, 3) == 1.0
    assert pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0
    for n, c in [(7, 3), (100, 1), (64, 17)]:
        assert pass_at_k(n, c, 1) == pytest.approx(c / n)
    assert pass_at_k(4, 2, 3) == 1.0  # fewer failures than draws: a success is certain


def test_matches_binomials_and_stays_stable_for_large_n():
    for n in range(1, 16):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)
    value = pass_at_k(10_000, 3, 100)  # C(10000, 100) overflows a float; the product does not
    assert value == pytest.approx(1 - comb(9997, 100) / comb(10000, 100), rel=1e-9)
    assert 0.0 < value < 1.0


@pytest.mark.parametrize(
    ("n", "c", "k", "message"), [(5, 1, 6, "n=5, k=6"), (5, 1, 0, "n=5, k=0"), (0, 0, 1, "n=0, k=1")]
)
def test_k_outside_1_to_n_is_rejected(n, c, k, message):
    with pytest.raises(ValueError, match=message):
        pass_at_k(n, c, k)


def test_successes_outside_0_to_n_are_rejected():
    with pytest.raises(ValueError, match="n=3, c=4"):
        pass_at_k(3, 4, 1)


def test_benchmark_mean_and_denominator():
    results = {"a": (5, 2), "b": (5, 0), "c": (5, 5)}
    assert benchmark_pass_at_k(results, 2) == pytest.approx((0.7 + 0.0 + 1.0) / 3)
    assert benchmark_pass_at_k(results, 1) == pytest.approx((0.4 + 0.0 + 1.0) / 3)
    assert benchmark_pass_at_k(results, 2, total=244) == pytest.approx(1.7 / 244)  # unattempted count as 0
    with pytest.raises(ValueError, match="b: pass@k needs 1 <= k <= n samples, got n=1, k=2"):
        benchmark_pass_at_k({"a": (5, 2), "b": (1, 0)}, 2)
    with pytest.raises(ValueError, match="total=2 is smaller"):
        benchmark_pass_at_k(results, 1, total=2)
    with pytest.raises(ValueError, match="empty benchmark"):
        benchmark_pass_at_k({}, 1)


def test_union_over_runs_and_category_counts():
    run1 = solved_names({"aime_1983_p2": (4, 1), "mathd_algebra_10": (4, 0), "imo_1959_p1": (4, 4)})
    assert run1 == {"aime_1983_p2", "imo_1959_p1"}
    run2 = ["aime1983_2", "amc12a_2019_21", "imo_2007_6", "mathd_algebra_10"]  # DSP's compact spellings
    union = union_solved(run1, run2)
    assert union == {"aime_1983_p2", "imo_1959_p1", "amc12a_2019_p21", "imosl_2007_algebra_p6", "mathd_algebra_10"}
    counts = category_counts(union | {"aime1983_2"})  # one problem, two spellings: counted once
    assert (counts["aime"], counts["imo"], counts["amc12"], counts["mathd_algebra"], counts["induction"]) == (
        1,
        2,
        1,
        1,
        0,
    )
    assert format_category_counts(counts) == "1 MATH algebra, 1 AMC12, 1 AIME, 2 IMO"
    assert format_category_counts({"amc12": 41, "aime": 9, "imo": 3}) == "41 AMC12, 9 AIME, 3 IMO"
    assert format_category_counts({"amc12": 41}, totals={"amc12": 45, "aime": 15}) == "41/45 AMC12, 0/15 AIME"
    assert format_category_counts({}) == "none"
