"""Performance profiles (Dolan & Moré 2002) across comparison groups, scored as AlgoPerf
scores submissions across workloads: how often is an activation within a factor tau of the
best activation of a group, on a positive lower-is-better cost?

A *problem* is one comparison group of the cross-task board (the entries of one task that
share a recipe but for the activation). Each activation's cost on it is its mean over seeds,
turned lower-is-better: error = 1 - accuracy (and 1 - value for any other metric bounded by
1 where higher is better), the value itself for losses and perplexity, 1 / value for a rate.
An activation absent from a problem, or whose every seed diverged there, counts as never
within any tau (the convention of both: a solver that did not solve a problem failed it), so
filter the board (`sweep=`, `tag=`) to the problems you mean. The score is the profile's
integral over [1, TAU_MAX] divided by TAU_MAX - 1: 1 for an activation that was best
everywhere, 0 for one never within TAU_MAX of the best.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from core.domain.metrics import HIGHER_IS_BETTER

TAU_MAX = 4.0
# Higher-is-better metrics that are rates, not fractions: their cost is the reciprocal.
RATES = frozenset({"samples_per_second"})


def cost_name(metric: str) -> str:
    """What the profile's cost is, in words a table can show."""
    if not HIGHER_IS_BETTER[metric]:
        return metric
    if metric in RATES:
        return f"1 / {metric}"
    return "error" if metric.endswith("accuracy") else f"1 - {metric}"


def cost(metric: str, value: float | None) -> float:
    """The lower-is-better cost of a mean `value` of `metric`; inf where there is none."""
    if value is None or math.isnan(value):
        return math.inf
    if not HIGHER_IS_BETTER[metric]:
        return value
    if metric in RATES:
        return 1.0 / value if value > 0 else math.inf
    return 1.0 - value


def _ratio(mine: float, best: float) -> float:
    if math.isinf(mine):
        return math.inf
    if best <= 0:  # a perfect score: only another perfect one is within any tau
        return 1.0 if mine <= best else math.inf
    return mine / best


def profiles(problems: Sequence[Mapping[str, float]], labels: Sequence[str],
             tau_max: float = TAU_MAX) -> list[dict[str, Any]]:
    """Per label: the profile as a step function (`tau`: the breakpoints from 1 to tau_max,
    `rho`: the fraction of problems within each tau, held until the next) and its score.
    `problems` maps each problem's labels to their costs."""
    ratios: dict[str, list[float]] = {label: [] for label in labels}
    for problem in problems:
        finite = [c for c in problem.values() if math.isfinite(c)]
        best = min(finite) if finite else math.inf
        for label in labels:
            own = problem.get(label, math.inf)
            ratios[label].append(math.inf if math.isinf(best) else _ratio(own, best))
    out: list[dict[str, Any]] = []
    for label in labels:
        theirs = ratios[label]
        tau = sorted({1.0, tau_max, *(r for r in theirs if 1.0 <= r <= tau_max)})
        rho = [sum(r <= t for r in theirs) / len(theirs) if theirs else 0.0 for t in tau]
        area = sum(rho[i] * (tau[i + 1] - tau[i]) for i in range(len(tau) - 1))
        out.append({"label": label, "tau": tau, "rho": rho,
                    "score": area / (tau_max - 1.0)})
    out.sort(key=lambda p: (-float(p["score"]), str(p["label"])))
    return out
