"""Time to a target ("ReLU reaches 25 % training error six times sooner than tanh"): per run,
the first epoch (and the seconds until it) at which a metric crosses a threshold, from the
per-epoch rows. A run that never gets there is censored at its last epoch, not dropped, so
entries are compared as survival data: the Kaplan-Meier median with its 95 % interval, and a
log-rank test against the baseline (scipy.stats; tests/api/test_time_to_target.py checks both
against lifelines on the same numbers).
"""

from __future__ import annotations

import math
import re
import uuid
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.metrics import METRICS
from core.models import EpochMetric, metric_column

# *_error is 1 - *_accuracy, the form of the classic claim.
ERRORS = {"train_error": "train_accuracy", "val_error": "val_accuracy",
          "test_error": "test_accuracy"}
TARGET_METRICS = tuple(m for m in METRICS if m not in ("lr", "epoch_seconds",
                                                       "samples_per_second")) + tuple(ERRORS)
_FORM = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Target:
    metric: str
    op: str  # <= or >=
    value: float

    @classmethod
    def parse(cls, text: str) -> Target:
        """`train_error<=0.25`, `val_accuracy>=0.9`; ValueError naming what is wrong."""
        match = _FORM.match(text)
        if match is None:
            raise ValueError(f"target {text!r} is not METRIC<=VALUE or METRIC>=VALUE, for "
                             "example train_error<=0.25")
        metric, op, value = match.group(1), match.group(2), float(match.group(3))
        if metric not in TARGET_METRICS:
            raise ValueError(f"unknown target metric {metric!r}; valid: "
                             f"{', '.join(TARGET_METRICS)}")
        return cls(metric, op, value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    def reached(self, row: Any) -> bool:
        column = ERRORS.get(self.metric, self.metric)
        value = getattr(row, column)
        if value is None:
            return False
        if self.metric in ERRORS:
            value = 1.0 - value
        return bool(value <= self.value if self.op == "<=" else value >= self.value)


@dataclass(frozen=True)
class Time:
    epochs: int  # when reached; else the last epoch (censored)
    seconds: float
    reached: bool


def times(session: Session, run_ids: list[uuid.UUID], target: Target) -> dict[uuid.UUID, Time]:
    """Each run's time to `target` from its per-epoch rows."""
    column = ERRORS.get(target.metric, target.metric)
    rows = session.execute(
        select(EpochMetric.run_id, EpochMetric.epoch, metric_column("epoch_seconds"),
               getattr(EpochMetric, column).label(column))
        .where(EpochMetric.run_id.in_(run_ids))
        .order_by(EpochMetric.run_id, EpochMetric.epoch)).all()
    by_run: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        by_run[row.run_id].append(row)
    out = {}
    for run_id, epochs in by_run.items():
        seconds = 0.0
        for row in epochs:
            seconds += row.epoch_seconds or 0.0
            if target.reached(row):
                out[run_id] = Time(row.epoch, seconds, True)
                break
        else:
            out[run_id] = Time(epochs[-1].epoch, seconds, False)
    return out


def _censored(durations: list[float], reached: list[bool]) -> stats.CensoredData:
    return stats.CensoredData(
        uncensored=[d for d, r in zip(durations, reached, strict=True) if r],
        right=[d for d, r in zip(durations, reached, strict=True) if not r])


def _median_of(xs: Any, sf: Any) -> float | None:
    """The first time the survival curve is below one half (None: never); lifelines'
    convention: where the curve sits exactly at one half, the next time it drops."""
    for x, p in zip(xs, sf, strict=True):
        if p < 0.5 - 1e-12:
            return float(x)
    return None


@dataclass(frozen=True)
class Median:
    value: float | None  # None: fewer than half the runs reached the target
    low: float | None
    high: float | None  # None: unbounded


def km_median(durations: list[float], reached: list[bool]) -> Median:
    """Kaplan-Meier median and its 95 % interval (the medians of the curve's log-log
    pointwise bounds, as lifelines computes them)."""
    if not any(reached):
        return Median(None, None, None)
    curve = stats.ecdf(_censored(durations, reached)).sf
    xs, estimate = curve.quantiles, curve.probabilities
    with warnings.catch_warnings():  # undefined where the curve is 0 or 1: see below
        warnings.simplefilter("ignore", RuntimeWarning)
        bounds = curve.confidence_interval(0.95, method="log-log")
        low, high = bounds.low.evaluate(xs), bounds.high.evaluate(xs)
    # Where the log-log bounds are undefined (the curve at 0), they close on the estimate.
    low, high = np.where(np.isnan(low), estimate, low), np.where(np.isnan(high), estimate, high)
    return Median(_median_of(xs, estimate), _median_of(xs, low), _median_of(xs, high))


def logrank(a: tuple[list[float], list[bool]],
            b: tuple[list[float], list[bool]]) -> tuple[float, float] | None:
    """Log-rank test of two samples of (durations, reached): (statistic, two-sided p);
    None when it is undefined (a sample empty, or no run in either reached the target)."""
    if not a[0] or not b[0] or not (any(a[1]) or any(b[1])):
        return None
    result = stats.logrank(_censored(*a), _censored(*b))
    p = float(result.pvalue)
    return (float(result.statistic), p) if math.isfinite(p) else None
