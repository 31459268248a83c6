"""core/statistics/power.py against statsmodels: Welch's power where the variances differ (its
ttest_ind power with usevar="unequal" has no solver, so the power itself is compared), and
the seeds needed where they are equal (TTestIndPower.solve_power)."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import TTestIndPower

from core.statistics.power import seeds_needed, welch_power


@pytest.mark.parametrize("n,difference,sd,alpha", [
    (5, 0.01, 0.01, 0.05), (10, 0.005, 0.01, 0.05), (30, 0.2, 1.0, 0.01), (3, 2.0, 1.0, 0.05)])
def test_equal_variances_give_student_s_power(n: int, difference: float, sd: float,
                                             alpha: float) -> None:
    expected = TTestIndPower().power(effect_size=difference / sd, nobs1=n, alpha=alpha)
    assert welch_power(n, difference, sd, sd, alpha) == pytest.approx(expected, abs=2e-3)


@pytest.mark.parametrize("effect,alpha,power", [(1.0, 0.05, 0.8), (0.5, 0.05, 0.9),
                                                (0.3, 0.01, 0.8), (2.0, 0.0125, 0.8)])
def test_seeds_needed_is_statsmodels_rounded_up(effect: float, alpha: float,
                                                power: float) -> None:
    n = TTestIndPower().solve_power(effect_size=effect, alpha=alpha, power=power)
    assert seeds_needed(effect * 0.02, 0.02, 0.02, alpha, power) in (math.ceil(n),
                                                                     math.ceil(n) + 1)


def test_unequal_variances_need_more_seeds_and_nothing_is_out_of_reach_silently() -> None:
    equal = seeds_needed(1.0, 1.0, 1.0, 0.05)
    assert equal is not None and seeds_needed(1.0, 1.0, 3.0, 0.05) > equal  # type: ignore[operator]
    assert welch_power(8, 1.0, 1.0, 3.0, 0.05) < welch_power(8, 1.0, 1.0, 1.0, 0.05)
    assert seeds_needed(0.0, 1.0, 1.0, 0.05) is None
    assert seeds_needed(1e-6, 1.0, 1.0, 0.05) is None  # beyond MAX_PLANNED_SEEDS
