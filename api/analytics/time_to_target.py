"""Time to a target ("ReLU reaches 25 % training error six times sooner than tanh"): per run,
the first epoch (and the seconds until it) at which a metric crosses a threshold, from the
per-epoch rows. A run that never gets there is censored at its last epoch, not dropped, so
entries are compared as survival data: the Kaplan-Meier median with its 95 % interval, and a
log-rank test against the baseline (scipy.stats; tests/api/test_time_to_target.py checks both
against lifelines on the same numbers).

Small samples are told as they are. Below EXACT_BELOW runs in either arm the log-rank p is a
permutation p (every relabelling of the pooled runs, or stats.PERMUTATIONS drawn with a fixed
seed): the chi-square approximation rejects about twice as often as it should at 3 runs per arm. A
median's interval bound that the data cannot close is None (open), never the first or last
observation: the log-log band is degenerate before the first event (the curve is 1 with no
variance) and undefined where the curve reaches 0, so a bound set there is a property of the
band, not of the data (with 3 runs it made [min, max], which covers the median 75 % of the
time).
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

from core.domain.metrics import METRICS
from core.statistics.significance import relabellings, share
from core.store.models import EpochMetric, metric_column

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
    low: float | None  # None: open (the data cannot bound it from below)
    high: float | None  # None: open (unbounded)


def km_median_bands(durations: list[float], reached: list[bool]) -> Median:
    """Kaplan-Meier median and the medians of the curve's log-log pointwise 95 % bounds, as
    lifelines computes them (where the bounds are undefined, at a curve of 0, they close on
    the estimate). The board reports `km_median`, which opens the bounds the data cannot
    close."""
    if not any(reached):
        return Median(None, None, None)
    xs, estimate, low, high = _bands(durations, reached)
    low, high = np.where(np.isnan(low), estimate, low), np.where(np.isnan(high), estimate, high)
    return Median(_median_of(xs, estimate), _median_of(xs, low), _median_of(xs, high))


def _bands(durations: list[float], reached: list[bool]) -> tuple[Any, Any, Any, Any]:
    curve = stats.ecdf(_censored(durations, reached)).sf
    xs, estimate = curve.quantiles, curve.probabilities
    with warnings.catch_warnings():  # undefined where the curve is 0 or 1: see the callers
        warnings.simplefilter("ignore", RuntimeWarning)
        bounds = curve.confidence_interval(0.95, method="log-log")
        low, high = bounds.low.evaluate(xs), bounds.high.evaluate(xs)
    return xs, estimate, low, high


def km_median(durations: list[float], reached: list[bool]) -> Median:
    """Kaplan-Meier median and its 95 % interval (the medians of the log-log bands, as
    lifelines), with each bound the data cannot close open (None): the lower one where the
    lower band is already below one half at the first event time (nothing before it says
    how early the median may be), the upper one where only the curve's fall to 0 (where
    the band is undefined) would close it."""
    if not any(reached):
        return Median(None, None, None)
    xs, estimate, low, high = _bands(durations, reached)
    lower = _median_of(xs, np.where(np.isnan(low), estimate, low))
    if lower is not None and lower <= min(d for d, r in zip(durations, reached, strict=True)
                                          if r):
        lower = None
    upper = _median_of(xs, np.where(np.isnan(high), 1.0, high))
    return Median(_median_of(xs, estimate), lower, upper)


# Below this many runs in either arm the log-rank p is exact (permutations).
EXACT_BELOW = 10


@dataclass(frozen=True)
class LogRank:
    statistic: float  # z: (observed - expected events of the first sample) / sd
    p_value: float  # two-sided
    exact: bool  # a permutation p (small samples), or the chi-square approximation


def _z_scores(times_: Any, events: Any, labels: Any) -> Any:
    """The log-rank z of the first sample for each row of `labels` (1: first sample) over
    the pooled runs, vectorised: at each event time, observed minus expected events of the
    first sample and the hypergeometric variance."""
    event_times = np.unique(times_[events])
    at_risk = (times_[None, :] >= event_times[:, None]).astype(float)  # T x N
    dying = ((times_[None, :] == event_times[:, None]) & events[None, :]).astype(float)
    n, d = at_risk.sum(axis=1), dying.sum(axis=1)
    n_a, d_a = labels @ at_risk.T, labels @ dying.T  # P x T
    expected = d * n_a / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n > 1, d * (n_a / n) * (1 - n_a / n) * (n - d) / np.maximum(n - 1, 1),
                       0.0)
        return (d_a - expected).sum(axis=1) / np.sqrt(var.sum(axis=1))


def logrank(a: tuple[list[float], list[bool]],
            b: tuple[list[float], list[bool]]) -> LogRank | None:
    """Log-rank test of two samples of (durations, reached); None when it is undefined (a
    sample empty, or no run in either reached the target). The statistic is scipy's; the p
    is scipy's (chi-square) from EXACT_BELOW runs per arm and a permutation p below."""
    if not a[0] or not b[0] or not (any(a[1]) or any(b[1])):
        return None
    result = stats.logrank(_censored(*a), _censored(*b))
    statistic, p = float(result.statistic), float(result.pvalue)
    if not math.isfinite(p):
        return None
    if min(len(a[0]), len(b[0])) >= EXACT_BELOW:
        return LogRank(statistic, p, exact=False)
    times_ = np.array([*a[0], *b[0]], dtype=float)
    events = np.array([*a[1], *b[1]], dtype=bool)
    labels = relabellings(len(times_), len(a[0]))
    z = np.abs(np.nan_to_num(_z_scores(times_, events, labels), nan=0.0))
    hits = int((z >= abs(statistic) * (1 - 1e-9)).sum())
    return LogRank(statistic, share(hits, len(times_), len(a[0])), exact=True)
