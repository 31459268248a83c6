"""Planning from a pilot: an experiment's seeds give the scatter of a metric across seeds,
and from it the seeds per entry a fixed design needs to detect a stated difference with
Welch's test at a stated power (core/statistics/power.py), so a user can choose between a fixed
design and an adaptive one (a race, core/store/race.py) before spending the compute."""

from __future__ import annotations

import math
import uuid
from typing import Any

from scipy import stats
from sqlalchemy.orm import Session

from core.statistics.power import seeds_needed, welch_power
from core.store.models import Run
from core.store.results import final_rows

# The seed counts the power curve is shown at.
CURVE_SEEDS = (2, 3, 5, 8, 10, 15, 20, 30, 50, 100)
# The scatter a pilot of few seeds may have underestimated: the upper bound of a one-sided
# 80 % interval of the standard deviation (chi-square), for the cautious count.
CAUTIOUS = 0.8


class PilotTooSmall(ValueError):
    """Fewer than two finished seeds: no scatter to plan from."""


def plan(session: Session, experiment_id: uuid.UUID, metric: str, stat: str,
         difference: float, power: float, alpha: float, comparisons: int) -> dict[str, Any]:
    column = f"{stat}_{metric}"
    values = [float(v) for r in final_rows(session, Run.experiment_id == experiment_id)
              if (v := getattr(r, column)) is not None and not math.isnan(v)]
    if len(values) < 2:
        raise PilotTooSmall(f"a pilot needs at least 2 finished seeds with {metric} "
                            f"({stat}); experiment {experiment_id} has {len(values)}")
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    cautious_sd = sd * math.sqrt((n - 1) / stats.chi2.ppf(1 - CAUTIOUS, n - 1))
    level = alpha / comparisons  # each of the comparisons at its Bonferroni share
    return {
        "experiment_id": experiment_id, "metric": metric, "stat": stat, "pilot_seeds": n,
        "mean": mean, "sd": sd, "sd_cautious": cautious_sd, "difference": difference,
        "power": power, "alpha": alpha, "comparisons": comparisons, "alpha_per_test": level,
        "seeds_per_entry": seeds_needed(difference, sd, sd, level, power),
        "seeds_per_entry_cautious": seeds_needed(difference, cautious_sd, cautious_sd, level,
                                                 power),
        "curve": [{"seeds": k, "power": welch_power(k, difference, sd, sd, level)}
                  for k in CURVE_SEEDS]}
