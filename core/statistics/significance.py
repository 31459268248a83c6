"""Statistics for seeds-as-replicates, computed by scipy.stats.

The tests (Welch's and the paired t-test, Mann-Whitney U with scipy's own choice of exact or
asymptotic method, and TOST's two one-sided Welch tests) and the t intervals are scipy's;
what this module adds is the rule for samples too small to test (None, never a made-up
number) and Holm's step-down correction, which scipy does not ship (tests/core/test_significance.py
holds it, and TOST, to statsmodels'). Variances are two-pass (numpy), and seeds that agree
give a std of exactly 0 (and no effect size).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def _constant(xs: Sequence[float]) -> bool:
    return len(xs) > 0 and min(xs) == max(xs)


def mean(xs: Sequence[float]) -> float:
    # Equal values are their own mean: numpy's sum of [0.1] * 3 over 3 is 0.10000000000000002.
    return float(xs[0]) if _constant(xs) else float(np.mean(xs))


def variance(xs: Sequence[float]) -> float:
    """Sample variance (n - 1); 0 for fewer than two values, and exactly 0 for equal ones
    (two-pass alone leaves 1.7e-17 of rounding for [0.1] * 3)."""
    if len(xs) < 2 or _constant(xs):
        return 0.0
    return float(np.var(xs, ddof=1))


def median(xs: Sequence[float]) -> float:
    return float(np.median(xs))


@dataclass(frozen=True)
class Describe:
    n: int
    mean: float | None
    std: float | None
    sem: float | None
    ci95_low: float | None
    ci95_high: float | None
    median: float | None
    min: float | None
    max: float | None


def describe(xs: Sequence[float]) -> Describe:
    """Mean, std, standard error and a 95 % t interval; None where n is too small."""
    n = len(xs)
    if n == 0:
        return Describe(0, None, None, None, None, None, None, None, None)
    m = mean(xs)
    if n == 1:
        return Describe(1, m, None, None, None, None, m, m, m)
    sd = math.sqrt(variance(xs))
    sem = sd / math.sqrt(n)
    if sem == 0:
        low = high = m
    else:
        low, high = (float(v) for v in stats.t.interval(0.95, n - 1, loc=m, scale=sem))
    return Describe(n, m, sd, sem, low, high, median(xs), float(min(xs)), float(max(xs)))


@dataclass(frozen=True)
class TestResult:
    # None where scipy's is NaN (both samples constant and equal) or infinite (both constant,
    # means apart: p is then 0); JSON holds neither.
    statistic: float | None
    p_value: float | None  # None: the test is undefined on these numbers


def _result(res: object) -> TestResult:
    statistic = float(res.statistic)  # type: ignore[attr-defined]
    p = float(res.pvalue)  # type: ignore[attr-defined]
    return TestResult(statistic if math.isfinite(statistic) else None,
                      None if math.isnan(p) else p)


def welch(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """Welch's two-sided t-test (unequal variances); None below two values per sample."""
    if len(a) < 2 or len(b) < 2:
        return None
    return _result(stats.ttest_ind(a, b, equal_var=False))


def paired(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """Paired two-sided t-test on matched samples (by seed); None below two pairs."""
    if len(a) != len(b) or len(a) < 2:
        return None
    return _result(stats.ttest_rel(a, b))


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """Two-sided Mann-Whitney U (statistic U of sample a), scipy's method choice (exact for
    small samples without ties, else the normal approximation with corrections)."""
    if len(a) == 0 or len(b) == 0:
        return None
    return _result(stats.mannwhitneyu(a, b, alternative="two-sided"))


# Exact permutation tests enumerate every relabelling up to this many, else draw this many.
PERMUTATIONS = 20_000


def mann_whitney_exact(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """Two-sided Mann-Whitney U by permutation (U of sample a, midranks for ties): every
    relabelling of the pooled values (or PERMUTATIONS drawn with a fixed seed), so it stays
    exact with ties and with infinite values (a diverged seed ranked worst), where scipy's
    default falls back to the normal approximation. None with an empty sample."""
    if len(a) == 0 or len(b) == 0:
        return None
    pooled = np.array([*a, *b], dtype=float)
    ranks = stats.rankdata(pooled)  # inf ranks like any value: last (or first for -inf)
    n, k = len(pooled), len(a)
    labels = relabellings(n, k)
    # U of the first sample for each labelling: its rank sum less k(k + 1)/2
    u = labels @ ranks - k * (k + 1) / 2
    observed = float(ranks[:k].sum()) - k * (k + 1) / 2
    below = share(int((u <= observed + 1e-9).sum()), n, k)
    above = share(int((u >= observed - 1e-9).sum()), n, k)
    # two-sided as scipy's permutation_test and exact mannwhitneyu: twice the smaller tail
    return TestResult(observed, min(1.0, 2 * min(below, above)))


def share(hits: int, n: int, k: int) -> float:
    """The share of `relabellings(n, k)` at least as extreme as the observed one, `hits` of
    them: where they were drawn, the observed labelling counts once more (enumerated, it is
    among them)."""
    count = math.comb(n, k)
    drawn = int(count > PERMUTATIONS)
    return (hits + drawn) / (min(count, PERMUTATIONS) + drawn)


def relabellings(n: int, k: int) -> np.ndarray:
    """Rows of 0/1 labels with k ones among n: all of them, or PERMUTATIONS drawn."""
    count = math.comb(n, k)
    if count <= PERMUTATIONS:
        rows = np.zeros((count, n))
        for i, chosen in enumerate(itertools.combinations(range(n), k)):
            rows[i, list(chosen)] = 1.0
        return rows
    rng = np.random.default_rng(0)
    order = np.argsort(rng.random((PERMUTATIONS, n)), axis=1)
    rows = np.zeros((PERMUTATIONS, n))
    np.put_along_axis(rows, order[:, :k], 1.0, axis=1)
    return rows


def tost(a: Sequence[float], b: Sequence[float], margin: float) -> float | None:
    """Two one-sided Welch t-tests of equivalence (Schuirmann's TOST): the p-value of "the
    means differ by at least `margin`" (the larger of the two one-sided p's); below alpha,
    the difference is within +-margin. None below two values per sample, or where a test is
    undefined (no variance in either sample). Held to statsmodels' ttost_ind."""
    if len(a) < 2 or len(b) < 2:
        return None
    shifted_up = [x + margin for x in a]
    shifted_down = [x - margin for x in a]
    above = stats.ttest_ind(shifted_up, b, equal_var=False, alternative="greater").pvalue
    below = stats.ttest_ind(shifted_down, b, equal_var=False, alternative="less").pvalue
    p = max(float(above), float(below))
    return None if math.isnan(p) else p


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None entries are not in the family and stay None)."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(present)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean a - mean b) / pooled standard deviation; None where undefined."""
    if len(a) < 2 or len(b) < 2:
        return None
    pooled = ((len(a) - 1) * variance(a) + (len(b) - 1) * variance(b)) / (len(a) + len(b) - 2)
    if pooled == 0:  # no spread in either sample: no scale to measure a difference by
        return None
    return (mean(a) - mean(b)) / math.sqrt(pooled)


def average_ranks(scores: Sequence[float], higher_is_better: bool) -> list[float]:
    """Rank 1 = best; ties get the average of their ranks."""
    if not scores:
        return []
    keyed = [-s if higher_is_better else s for s in scores]
    return [float(r) for r in stats.rankdata(keyed, method="average")]
