"""The SQL side of the dashboards. Aggregation happens in the database: per-run final and
best values, per-epoch sums for the curves. Python only sees one row per run (or per epoch),
never every metric row of a leaderboard."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.domain.metrics import METRICS
from core.domain.status import RunKind, RunStatus
from core.store.models import (
    ActivationParam,
    EpochMetric,
    Experiment,
    ResponseCurve,
    Run,
    metric_column,
)


def _col(name: str) -> Any:
    return metric_column(name)


@dataclass
class CurvePoint:
    epoch: int
    n: int
    stats: dict[str, tuple[float | None, float | None, int]]  # metric -> (mean, std, count)


def curves(session: Session, experiment_id: uuid.UUID) -> list[CurvePoint]:
    """Per epoch, across the experiment's runs: mean, sample std and count per metric. Two
    passes in SQL (the mean first, then the squared deviations from it), so close values lose
    no digits, on SQLite (no stddev) too; seeds that agree have a std of exactly 0."""
    in_experiment = (select(EpochMetric).join(Run, Run.id == EpochMetric.run_id)
                     .where(Run.experiment_id == experiment_id).subquery("rows"))
    means = (select(in_experiment.c.epoch,
                    *[func.avg(in_experiment.c[m]).label(f"m_{m}") for m in METRICS])
             .group_by(in_experiment.c.epoch).subquery("means"))
    cols = []
    for m in METRICS:
        dev = in_experiment.c[m] - means.c[f"m_{m}"]
        cols += [func.max(means.c[f"m_{m}"]).label(f"m_{m}"),
                 func.sum(dev * dev).label(f"q_{m}"),
                 func.count(in_experiment.c[m]).label(f"n_{m}"),
                 func.min(in_experiment.c[m]).label(f"lo_{m}"),
                 func.max(in_experiment.c[m]).label(f"hi_{m}")]
    stmt = (select(in_experiment.c.epoch, func.count().label("n"), *cols)
            .join(means, means.c.epoch == in_experiment.c.epoch)
            .group_by(in_experiment.c.epoch).order_by(in_experiment.c.epoch))
    out = []
    for row in session.execute(stmt):
        values: dict[str, tuple[float | None, float | None, int]] = {}
        for m in METRICS:
            n = getattr(row, f"n_{m}")
            squares = getattr(row, f"q_{m}")
            std = math.sqrt(max(0.0, squares) / (n - 1)) if n > 1 and squares is not None \
                else None
            mean = getattr(row, f"m_{m}") if n else None
            if n > 1 and getattr(row, f"lo_{m}") == getattr(row, f"hi_{m}"):
                # equal values: the average can be off by an ulp ([0.1] * 3 averages to
                # 0.10000000000000002), and its deviations with it
                mean, std = getattr(row, f"lo_{m}"), 0.0
            values[m] = (mean, std, n)
        out.append(CurvePoint(row.epoch, row.n, values))
    return out


def parameter_rows(session: Session, experiment_id: uuid.UUID,
                   last_only: bool = False) -> list[Any]:
    """Snapshots of the experiment's runs, with each run's last snapshot epoch (its
    epochs_done: snapshots and progress are written in one transaction)."""
    stmt = (select(ActivationParam.run_id, ActivationParam.epoch, ActivationParam.layer,
                   ActivationParam.block, ActivationParam.position, ActivationParam.name,
                   ActivationParam.values, Run.epochs_done.label("last_epoch"))
            .join(Run, Run.id == ActivationParam.run_id)
            .where(Run.experiment_id == experiment_id))
    if last_only:
        stmt = stmt.where(ActivationParam.epoch == Run.epochs_done)
    return list(session.execute(stmt).all())


PG_PARAMETER_STATS = """
SELECT ap.block, ap.position, ap.name, ap.layer, {epoch} AS epoch, count(*) AS n,
       min(v) AS min, max(v) AS max, avg(v) AS mean,
       percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY v) AS quartiles
FROM activation_params ap
JOIN runs r ON r.id = ap.run_id
CROSS JOIN LATERAL unnest(ap."values") AS v
WHERE r.experiment_id = :experiment_id {last_only}
GROUP BY ap.block, ap.position, ap.name, ap.layer {group_epoch}
"""


def parameter_stats_sql(session: Session, experiment_id: uuid.UUID,
                        per_epoch: bool) -> list[Any]:
    """PostgreSQL only: min, quartiles, max, mean over channels and seeds, per
    block/position/name/layer (and epoch), computed in the database. percentile_cont
    interpolates linearly, as the Python path does."""
    if per_epoch:
        sql = PG_PARAMETER_STATS.format(epoch="ap.epoch", last_only="",
                                        group_epoch=", ap.epoch")
    else:
        sql = PG_PARAMETER_STATS.format(epoch="NULL", last_only="AND ap.epoch = r.epochs_done",
                                        group_epoch="")
    return list(session.execute(text(sql), {"experiment_id": experiment_id}).all())


def runs_with_parameters(session: Session, experiment_id: uuid.UUID) -> int:
    return session.scalar(select(func.count(func.distinct(ActivationParam.run_id)))
                          .join(Run, Run.id == ActivationParam.run_id)
                          .where(Run.experiment_id == experiment_id)) or 0


def response_rows(session: Session, experiment_id: uuid.UUID) -> list[Any]:
    stmt = (select(ResponseCurve.run_id, ResponseCurve.layer, ResponseCurve.block,
                   ResponseCurve.position, ResponseCurve.xs, ResponseCurve.ys)
            .join(Run, Run.id == ResponseCurve.run_id)
            .where(Run.experiment_id == experiment_id, Run.status == RunStatus.succeeded)
            .order_by(ResponseCurve.block, ResponseCurve.position, ResponseCurve.layer))
    return list(session.execute(stmt).all())


def status_counts(session: Session, experiment_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(select(Run.status, func.count()).where(
        Run.experiment_id == experiment_id).group_by(Run.status)).all()
    counts = {s.value: 0 for s in RunStatus}
    counts.update({status: n for status, n in rows})
    return counts


def lr_range_rows(session: Session, model: str, dataset: str) -> list[Any]:
    stmt = (select(Experiment.id, Experiment.activation, Experiment.spec, Run.seed, Run.result)
            .join(Run, Run.experiment_id == Experiment.id)
            .where(Experiment.kind == RunKind.lr_range, Experiment.model == model,
                   Experiment.dataset == dataset, Run.status == RunStatus.succeeded))
    return list(session.execute(stmt).all())
