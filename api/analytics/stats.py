"""Statistics for seeds-as-replicates, written out so the API needs no scientific stack:
Student t (CDF and quantile via the regularised incomplete beta), Welch's and the paired
t-test, Mann-Whitney U (exact for small samples without ties, else normal approximation
with tie and continuity corrections, as scipy's defaults), Holm's correction, Cohen's d.
tests/api/test_stats.py checks each against scipy on the same numbers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    ln = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) \
        + b * math.log1p(-x)
    front = math.exp(ln)
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom."""
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2))
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return tail if t > 0 else 1 - tail


@lru_cache(maxsize=1024)
def t_ppf(q: float, df: float) -> float:
    """The q-quantile of Student's t: bisection on the upper tail, using symmetry. Cached:
    dashboards ask for the same (0.975, n - 1) many times."""
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1 - q, df)
    lo, hi = 0.0, 1e6
    for _ in range(64):  # 1e6 / 2^64: far below float resolution of the answer
        mid = (lo + hi) / 2
        if t_sf(mid, df) > 1 - q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def variance(xs: Sequence[float]) -> float:
    """Sample variance (n - 1)."""
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


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
    half = t_ppf(0.975, n - 1) * sem
    return Describe(n, m, sd, sem, m - half, m + half, median(xs), min(xs), max(xs))


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float


def welch(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """Welch's two-sided t-test (unequal variances)."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = variance(a) / len(a), variance(b) / len(b)
    if va + vb == 0:
        return TestResult(0.0, 1.0) if mean(a) == mean(b) else TestResult(math.inf, 0.0)
    t = (mean(a) - mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return TestResult(t, min(1.0, 2 * t_sf(abs(t), df)))


def paired(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """Paired two-sided t-test on equal-length, matched samples (by seed)."""
    if len(a) != len(b) or len(a) < 2:
        return None
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    sd = math.sqrt(variance(diffs))
    if sd == 0:
        return TestResult(0.0, 1.0) if mean(diffs) == 0 else TestResult(math.inf, 0.0)
    t = mean(diffs) / (sd / math.sqrt(len(diffs)))
    return TestResult(t, min(1.0, 2 * t_sf(abs(t), len(diffs) - 1)))


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (1-based), ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


@lru_cache(maxsize=256)
def _exact_u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """Number of arrangements giving each U = 0..n1*n2 (no ties)."""
    counts = [0] * (n1 * n2 + 1)
    for combo in itertools.combinations(range(n1 + n2), n1):
        u = sum(combo) - n1 * (n1 - 1) // 2
        counts[u] += 1
    return tuple(counts)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """Two-sided Mann-Whitney U (statistic U of sample a), as scipy.stats.mannwhitneyu."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return None
    ranks = _ranks([*a, *b])
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    ties = len(set([*a, *b])) < n1 + n2
    if not ties and n1 <= 8 and n2 <= 8:
        counts = _exact_u_counts(n1, n2)
        total = sum(counts)
        u = max(u1, n1 * n2 - u1)
        p = 2 * sum(counts[int(u):]) / total
        return TestResult(u1, min(1.0, p))
    mu = n1 * n2 / 2
    n = n1 + n2
    tie_sum = 0.0
    for value in set([*a, *b]):
        t = [*a, *b].count(value)
        tie_sum += t**3 - t
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_sum / (n * (n - 1))))
    if sigma == 0:
        return TestResult(u1, 1.0)
    u = max(u1, n1 * n2 - u1)
    z = (u - mu - 0.5) / sigma  # continuity correction
    return TestResult(u1, min(1.0, 2 * norm_sf(z)))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None entries are skipped and stay None)."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(present)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean a - mean b) / pooled standard deviation."""
    if len(a) < 2 or len(b) < 2:
        return None
    pooled = ((len(a) - 1) * variance(a) + (len(b) - 1) * variance(b)) / (len(a) + len(b) - 2)
    if pooled == 0:  # no spread in either sample: d is 0 or undefined (not infinite in JSON)
        return 0.0 if mean(a) == mean(b) else None
    return (mean(a) - mean(b)) / math.sqrt(pooled)


def average_ranks(scores: Sequence[float], higher_is_better: bool) -> list[float]:
    """Rank 1 = best; ties get the average of their ranks."""
    keyed = [-s if higher_is_better else s for s in scores]
    return _ranks(keyed)
