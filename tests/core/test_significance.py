"""Every statistic against scipy (and Holm against statsmodels) on the same numbers, edge
cases included: n = 1 and 2, ties, zero variance, identical groups, sizes around 8."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests

from core.statistics import significance as stats

RNG = np.random.default_rng(0)
SAMPLES = [
    ([0.91, 0.93, 0.92, 0.94, 0.90], [0.89, 0.90, 0.88, 0.91, 0.90]),
    ([1.0, 2.0, 3.0, 4.0], [2.5, 3.5, 4.5, 5.5, 6.5, 7.5]),
    ([0.5, 0.5, 0.6, 0.7], [0.5, 0.6, 0.6, 0.9]),  # ties
    ([0.1, 0.2], [0.3, 0.5]),  # n = 2
    ([1.0, 2.0, 3.0, 4.0, 5.0], [float(v) for v in range(6, 18)]),  # 5 vs 12: exact in scipy
    (list(RNG.normal(0, 1, 8)), list(RNG.normal(0.5, 1, 9))),  # sizes around 8
    (list(RNG.normal(0, 1, 9)), list(RNG.normal(0.5, 1, 8))),
    (list(RNG.normal(0, 1, 12)), list(RNG.normal(0.8, 2, 15))),
    ([0.9, 0.9, 0.9], [0.9, 0.91, 0.92]),  # one group without variance
    ([0.9, 0.9, 0.9], [0.8, 0.8, 0.8]),  # neither varies, means apart
    ([0.9, 0.9, 0.9], [0.9, 0.9, 0.9]),  # identical constant groups
    ([0.3, 0.1, 0.2], [0.3, 0.1, 0.2]),  # identical groups with variance
]


def _same(ours: float | None, ref: float, rel: float = 1e-9) -> None:
    """Ours equals scipy's; NaN in scipy is None in ours (JSON has no NaN), and an infinite
    statistic is None too (the p-value then carries the answer)."""
    if math.isnan(ref) or math.isinf(ref):
        assert ours is None
    else:
        assert ours == pytest.approx(ref, rel=rel, abs=1e-300)


@pytest.mark.parametrize(("a", "b"), SAMPLES)
def test_welch_matches_scipy(a: list[float], b: list[float]) -> None:
    ours = stats.welch(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False)
    assert ours is not None
    _same(ours.statistic, ref.statistic)
    _same(ours.p_value, ref.pvalue)


@pytest.mark.parametrize(("a", "b"), SAMPLES)
def test_mann_whitney_matches_scipy(a: list[float], b: list[float]) -> None:
    ours = stats.mann_whitney(a, b)
    ref = sp.mannwhitneyu(a, b, alternative="two-sided")
    assert ours is not None
    _same(ours.statistic, ref.statistic)
    _same(ours.p_value, ref.pvalue)


def test_mann_whitney_five_against_twelve_is_exact() -> None:
    """The case that was wrong by a factor of 6 with a hand-written size rule."""
    ours = stats.mann_whitney([1, 2, 3, 4, 5], list(range(6, 18)))
    assert ours is not None and ours.p_value == pytest.approx(0.000323, rel=1e-3)


@pytest.mark.parametrize(("a", "b"), [s for s in SAMPLES if len(s[0]) == len(s[1])])
def test_paired_matches_scipy(a: list[float], b: list[float]) -> None:
    ours, ref = stats.paired(a, b), sp.ttest_rel(a, b)
    assert ours is not None
    _same(ours.statistic, ref.statistic)
    _same(ours.p_value, ref.pvalue)


def test_zero_variance_keeps_the_sign_of_the_difference() -> None:
    """Both constant, means apart: scipy says p = 0 with t = -inf when a is lower; ours
    reports p = 0 and no statistic, and the board's verdict uses the means."""
    res = stats.welch([0.5, 0.5, 0.5], [0.75, 0.75, 0.75])
    assert res is not None and res.p_value == 0.0 and res.statistic is None
    assert sp.ttest_ind([0.5] * 3, [0.75] * 3, equal_var=False).statistic < 0


def test_too_small_samples_are_not_tested() -> None:
    assert stats.welch([0.5], [0.4, 0.6]) is None
    assert stats.paired([0.5], [0.4]) is None
    assert stats.paired([0.5, 0.6], [0.4]) is None  # not matched
    assert stats.mann_whitney([], [0.4]) is None
    one = stats.mann_whitney([0.5], [0.4])  # scipy tests n = 1 (p = 1)
    assert one is not None and one.p_value == sp.mannwhitneyu([0.5], [0.4]).pvalue


@pytest.mark.parametrize("xs", [[0.91, 0.93, 0.92, 0.94, 0.90], [0.1, 0.2], [0.7, 0.7, 0.7],
                                [1 + 1e-9, 1 + 2e-9, 1 + 3e-9], list(RNG.normal(5, 2, 30))])
def test_describe_matches_scipy(xs: list[float]) -> None:
    d = stats.describe(xs)
    assert d.n == len(xs) and d.mean == pytest.approx(np.mean(xs), rel=1e-12)
    if len(set(xs)) == 1:  # equal values: exactly 0, where numpy leaves rounding (1.4e-16)
        assert d.std == d.sem == 0.0
        return
    assert d.std == pytest.approx(np.std(xs, ddof=1), rel=1e-9, abs=0)
    assert d.sem == pytest.approx(sp.sem(xs), rel=1e-9, abs=0)
    if d.sem:
        lo, hi = sp.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=sp.sem(xs))
        assert (d.ci95_low, d.ci95_high) == (pytest.approx(lo, rel=1e-12),
                                             pytest.approx(hi, rel=1e-12))
    else:
        assert d.ci95_low == d.ci95_high == d.mean  # seeds that agree: std exactly 0
    assert d.median == pytest.approx(np.median(xs)) and d.min == min(xs) and d.max == max(xs)


def test_describe_small_samples() -> None:
    one = stats.describe([0.5])
    assert one.std is None and one.ci95_low is None and one.mean == 0.5
    assert stats.describe([]).mean is None
    assert stats.describe([0.3, 0.3, 0.3]).std == 0.0  # not 2e-8 from cancellation


@pytest.mark.parametrize("ps", [[0.01, 0.04, 0.03, 0.005, 0.5], [0.2], [0.0, 0.0, 1.0],
                                [0.04, 0.04, 0.04], list(RNG.uniform(0, 0.2, 12))])
def test_holm_matches_statsmodels(ps: list[float]) -> None:
    ref = multipletests(ps, method="holm")[1]
    assert stats.holm(ps) == [pytest.approx(r, rel=1e-12) for r in ref]


def test_holm_leaves_untested_entries_out_of_the_family() -> None:
    ref = multipletests([0.01, 0.04, 0.5], method="holm")[1]
    adjusted = stats.holm([0.01, None, 0.04, None, 0.5])
    assert adjusted[1] is None and adjusted[3] is None
    assert [adjusted[0], adjusted[2], adjusted[4]] == [pytest.approx(r) for r in ref]


def test_cohens_d_and_ranks() -> None:
    a, b = [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]
    assert stats.cohens_d(a, b) == pytest.approx(-1.0)
    assert stats.cohens_d([1.0, 1.0], [2.0, 2.0]) is None  # undefined, not infinite
    assert stats.cohens_d([1.0, 1.0], [1.0, 1.0]) is None  # no spread: no scale either
    assert stats.cohens_d([1.0], [2.0, 3.0]) is None
    scores = [0.9, 0.95, 0.9, 0.8]
    assert stats.average_ranks(scores, higher_is_better=True) == \
        list(sp.rankdata([-s for s in scores]))
    assert stats.average_ranks([3.0, 1.0, 2.0], higher_is_better=False) == [3.0, 1.0, 2.0]
    assert stats.average_ranks([], higher_is_better=True) == []


@pytest.mark.parametrize("value", [0.1, 0.7, 1 / 3, 0.9876543, 1e-9, 123.456])
@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_equal_values_have_std_exactly_zero_and_no_effect_size(value: float, n: int) -> None:
    # numpy's mean of [0.1] * 3 is 0.10000000000000002 and its variance 1.7e-17, which made
    # Cohen's d about 6.7e16
    described = stats.describe([value] * n)
    assert described.std == 0.0 and described.sem == 0.0 and described.mean == value
    assert described.ci95_low == described.ci95_high == value
    assert stats.cohens_d([value] * n, [value] * n) is None
    assert stats.cohens_d([value] * n, [value + 0.01] * n) is None
    assert stats.cohens_d([value] * n, [value, value + 0.01] * n) is not None


@pytest.mark.parametrize(("a", "b"), SAMPLES[:8])
@pytest.mark.parametrize("margin", [0.01, 0.5, 2.0])
def test_tost_equals_statsmodels(a: list[float], b: list[float], margin: float) -> None:
    from statsmodels.stats.weightstats import ttost_ind

    ours = stats.tost(a, b, margin)
    reference = ttost_ind(np.array(a), np.array(b), -margin, margin, usevar="unequal")[0]
    _same(ours, float(reference))


def test_tost_needs_two_values_a_side() -> None:
    assert stats.tost([0.9], [0.9, 0.91], 0.1) is None


def _u_statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return sp.mannwhitneyu(x, y, axis=axis, method="asymptotic").statistic


@pytest.mark.parametrize(("a", "b"), [
    ([0.91, 0.93, 0.92], [0.89, 0.90, 0.88]),  # 3 vs 3, apart: the smallest p, 0.1
    ([0.5, 0.5, 0.6, 0.7], [0.5, 0.6, 0.6, 0.9]),  # ties
    ([0.9, -math.inf, 0.8, 0.85], [0.7, 0.75, 0.8]),  # a diverged seed ranked worst
    ([0.9, 0.91, 0.92, 0.93, 0.9], [-math.inf, -math.inf, 0.91, 0.9, 0.88]),
    (list(RNG.normal(0, 1, 9)), list(RNG.normal(0.5, 1, 8))),  # 24,310: drawn
])
def test_exact_mann_whitney_equals_scipys_permutation_test(a: list[float],
                                                           b: list[float]) -> None:
    ours = stats.mann_whitney_exact(a, b)
    assert ours is not None and ours.p_value is not None
    finite = [x if math.isfinite(x) else -1e9 for x in a], \
        [x if math.isfinite(x) else -1e9 for x in b]
    reference = sp.permutation_test(finite, _u_statistic, permutation_type="independent",
                                    alternative="two-sided", n_resamples=20_000,
                                    random_state=np.random.default_rng(1), vectorized=True)
    assert ours.statistic == pytest.approx(float(reference.statistic))
    drawn = math.comb(len(a) + len(b), len(a)) > stats.PERMUTATIONS
    assert ours.p_value == pytest.approx(float(reference.pvalue), abs=0.01 if drawn else 1e-9)
    if len(a) == len(b) == 3:
        assert ours.p_value == pytest.approx(0.1)
        assert sp.mannwhitneyu(a, b).pvalue == pytest.approx(0.1)  # scipy's exact agrees
