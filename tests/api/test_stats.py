"""Our statistics against scipy on the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp

from api.analytics import stats

SAMPLES = [
    ([0.91, 0.93, 0.92, 0.94, 0.90], [0.89, 0.90, 0.88, 0.91, 0.90]),
    ([1.0, 2.0, 3.0, 4.0], [2.5, 3.5, 4.5, 5.5, 6.5, 7.5]),
    ([0.5, 0.5, 0.6, 0.7], [0.5, 0.6, 0.6, 0.9]),  # ties
    (list(np.random.default_rng(0).normal(0, 1, 12)),
     list(np.random.default_rng(1).normal(0.8, 2, 15))),
]


@pytest.mark.parametrize(("a", "b"), SAMPLES)
def test_welch_matches_scipy(a: list[float], b: list[float]) -> None:
    ours = stats.welch(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False)
    assert ours is not None
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-7)


@pytest.mark.parametrize(("a", "b"), SAMPLES)
def test_mann_whitney_matches_scipy(a: list[float], b: list[float]) -> None:
    ours = stats.mann_whitney(a, b)
    ref = sp.mannwhitneyu(a, b, alternative="two-sided")
    assert ours is not None
    assert ours.statistic == pytest.approx(ref.statistic)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-7)


def test_paired_matches_scipy() -> None:
    a, b = [0.91, 0.93, 0.92, 0.94, 0.90], [0.89, 0.92, 0.88, 0.91, 0.90]
    ours, ref = stats.paired(a, b), sp.ttest_rel(a, b)
    assert ours is not None
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-7)


@pytest.mark.parametrize("df", [1, 2, 4, 9.5, 30, 200])
def test_t_distribution(df: float) -> None:
    for t in [-5.0, -1.3, 0.0, 0.7, 2.1, 8.0]:
        assert stats.t_sf(t, df) == pytest.approx(sp.t.sf(t, df), rel=1e-8, abs=1e-14)
    for q in [0.025, 0.5, 0.975, 0.999]:
        assert stats.t_ppf(q, df) == pytest.approx(sp.t.ppf(q, df), rel=1e-6, abs=1e-7)


def test_describe_and_confidence_interval() -> None:
    xs = [0.91, 0.93, 0.92, 0.94, 0.90]
    d = stats.describe(xs)
    lo, hi = sp.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=sp.sem(xs))
    assert (d.ci95_low, d.ci95_high) == (pytest.approx(lo), pytest.approx(hi))
    assert d.std == pytest.approx(np.std(xs, ddof=1)) and d.sem == pytest.approx(sp.sem(xs))
    assert d.median == 0.92 and d.min == 0.90 and d.max == 0.94 and d.n == 5
    one = stats.describe([0.5])
    assert one.std is None and one.ci95_low is None and one.mean == 0.5
    assert stats.describe([]).mean is None


def test_holm_matches_statsmodels_definition() -> None:
    ps = [0.01, 0.04, 0.03, 0.005, None, 0.5]
    adjusted = stats.holm(ps)
    # by hand: sorted 0.005, 0.01, 0.03, 0.04, 0.5 with m = 5
    assert adjusted == [pytest.approx(0.04), pytest.approx(0.09), pytest.approx(0.09),
                        pytest.approx(0.025), None, pytest.approx(0.5)]


def test_cohens_d_and_ranks() -> None:
    a, b = [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]
    assert stats.cohens_d(a, b) == pytest.approx(-1.0)
    assert stats.cohens_d([1.0, 1.0], [2.0, 2.0]) is None  # undefined, not infinite
    scores = [0.9, 0.95, 0.9, 0.8]
    assert stats.average_ranks(scores, higher_is_better=True) == [2.5, 1.0, 2.5, 4.0]
    assert stats.average_ranks([3.0, 1.0, 2.0], higher_is_better=False) == [3.0, 1.0, 2.0]
