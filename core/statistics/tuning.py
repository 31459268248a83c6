"""Equal tuning budgets, the arithmetic: AlgoPerf's external tuning ruleset (Dahl et al. 2023)
gives every submission the same quasi-random trials from one declared search space, and
DeepOBS (Schneider et al. 2019) picks each optimizer's best validation result and re-runs it
on fresh seeds. Here every entry of a sweep (the baseline too) gets the same points, so
entries differ only by activation; the chosen point is the best validation result of the
entry's trials, a trial that diverged or failed ranking worst.

The points are a scrambled Halton sequence (scipy.stats.qmc), seeded per sweep so a replay
draws the same ones; a log dimension is spread evenly in log space (learning rates, weight
decay). A choice in the outer EDGE of a dimension's range (in log space where it is log) is
flagged: the best setting may lie outside the space, so widen it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import qmc

EDGE = 0.1  # the outer share of a dimension's range where a choice is flagged


@dataclass(frozen=True)
class Dimension:
    low: float
    high: float
    log: bool = False

    def scale(self, unit: float) -> float:
        """The value at `unit` in [0, 1] of the range."""
        if self.log:
            return math.exp(math.log(self.low) + unit * (math.log(self.high) - math.log(self.low)))
        return self.low + unit * (self.high - self.low)

    def position(self, value: float) -> float:
        """Where `value` lies in the range, 0 at low and 1 at high."""
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high)
                                                             - math.log(self.low))
        return (value - self.low) / (self.high - self.low)


def points(space: Mapping[str, Dimension], trials: int, seed: int) -> list[dict[str, float]]:
    """`trials` quasi-random points of the space (the same for the same seed), each a
    {setting: value}; the settings in sorted order make the sequence's dimensions."""
    names = sorted(space)
    units = qmc.Halton(d=len(names), scramble=True, seed=seed).random(trials)
    return [{name: space[name].scale(float(u)) for name, u in zip(names, row, strict=True)}
            for row in units]


@dataclass(frozen=True)
class Trial:
    params: dict[str, float]
    value: float | None  # the selection metric's best validation value; None: diverged/failed


def choose(trials: Sequence[Trial], higher_is_better: bool) -> int | None:
    """The index of the best trial (the earliest on ties); a trial without a value ranks
    worst; None when no trial has one."""
    scored = [(t.value if higher_is_better else -t.value, -i) for i, t in enumerate(trials)
              if t.value is not None and math.isfinite(t.value)]
    return -max(scored)[1] if scored else None


def on_edge(space: Mapping[str, Dimension], chosen: Mapping[str, float]) -> list[str]:
    """The settings whose chosen value lies in the outer EDGE of their range."""
    return sorted(name for name, dim in space.items()
                  if name in chosen and not EDGE <= dim.position(chosen[name]) <= 1 - EDGE)
