"""How many seeds a fixed design needs: the power of Welch's two-sample t-test (two-sided)
from the noncentral t distribution (scipy.stats), and the smallest number of seeds per entry
that reaches a stated power. Used to plan from a pilot experiment and to set a race's seeds
beside those a fixed design of the same error rate would have spent.
tests/core/test_power.py holds it to statsmodels."""

from __future__ import annotations

import math

from scipy import stats

# Beyond this many seeds per entry a fixed design is reported as out of reach (None).
MAX_PLANNED_SEEDS = 10_000


def welch_power(n: int, difference: float, sd_a: float, sd_b: float, alpha: float) -> float:
    """The power of Welch's test with `n` seeds per entry to detect `difference` between two
    means whose seeds scatter with standard deviations `sd_a` and `sd_b`."""
    if n < 2:
        return 0.0
    var_a, var_b = sd_a ** 2 / n, sd_b ** 2 / n
    se = math.sqrt(var_a + var_b)
    if se == 0:
        return 1.0 if difference != 0 else 0.0
    df = (var_a + var_b) ** 2 / ((var_a ** 2 + var_b ** 2) / (n - 1))
    shift = abs(difference) / se
    critical = stats.t.ppf(1 - alpha / 2, df)
    power = float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))
    if math.isnan(power):  # scipy's nct fails far in the tail (shift ~ 100): normal there
        power = float(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift))
    return power


def seeds_needed(difference: float, sd_a: float, sd_b: float, alpha: float,
                 power: float = 0.8) -> int | None:
    """The fewest seeds per entry whose Welch test has `power` against `difference`; None
    when more than MAX_PLANNED_SEEDS would be needed (or the difference is 0)."""
    if difference == 0 or not 0 < power < 1:
        return None
    if welch_power(MAX_PLANNED_SEEDS, difference, sd_a, sd_b, alpha) < power:
        return None
    low, high = 2, MAX_PLANNED_SEEDS  # power rises with n: bisect for the first n that has it
    while low < high:
        middle = (low + high) // 2
        if welch_power(middle, difference, sd_a, sd_b, alpha) >= power:
            high = middle
        else:
            low = middle + 1
    return low
