"""The SQL side of the dashboards. Aggregation happens in the database: per-run final and
best values, per-epoch sums for the curves. Python only sees one row per run (or per epoch),
never every metric row of a leaderboard."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, select, text
from sqlalchemy.orm import Session

from core.models import ActivationParam, EpochMetric, Experiment, ResponseCurve, Run, RunStatus

METRICS = ("val_accuracy", "val_top5", "val_loss", "train_loss", "train_accuracy",
           "epoch_seconds", "samples_per_second", "lr")
HIGHER_IS_BETTER = {"val_accuracy": True, "val_top5": True, "train_accuracy": True,
                    "samples_per_second": True, "val_loss": False, "train_loss": False,
                    "epoch_seconds": False, "lr": False}
# "best" of a run: max for scores, min for losses; time metrics are averaged over epochs.
AVERAGED = {"epoch_seconds", "samples_per_second"}


def _col(name: str) -> Any:
    return getattr(EpochMetric, name)


def best_expression(metric: str) -> Any:
    if metric in AVERAGED:
        return func.avg(_col(metric))
    return func.max(_col(metric)) if HIGHER_IS_BETTER[metric] else func.min(_col(metric))


def final_rows(session: Session, where: Any) -> list[Any]:
    """One row per succeeded run matching `where`: the run's last epoch, its best values and
    its experiment's grouping fields."""
    # Aggregate only the runs asked about, not the whole metrics table.
    best = (select(EpochMetric.run_id,
                   *[best_expression(m).label(f"best_{m}") for m in METRICS])
            .join(Run, Run.id == EpochMetric.run_id)
            .join(Experiment, Experiment.id == Run.experiment_id)
            .where(Run.status == RunStatus.succeeded.value, Experiment.kind == "train", where)
            .group_by(EpochMetric.run_id).subquery("best"))
    stmt: Select[Any] = (
        select(Run.id.label("run_id"), Run.seed, Run.num_params, Run.macs,
               Experiment.id.label("experiment_id"), Experiment.spec_hash,
               Experiment.activation, Experiment.model, Experiment.dataset,
               *[_col(m).label(f"final_{m}") for m in METRICS],
               *[best.c[f"best_{m}"] for m in METRICS])
        .join(Experiment, Experiment.id == Run.experiment_id)
        .join(EpochMetric, and_(EpochMetric.run_id == Run.id,
                                EpochMetric.epoch == Run.epochs_done))
        .join(best, best.c.run_id == Run.id)
        .where(Run.status == RunStatus.succeeded.value, Experiment.kind == "train", where)
    )
    return list(session.execute(stmt).all())


@dataclass
class CurvePoint:
    epoch: int
    n: int
    sums: dict[str, tuple[float, float, int]]  # metric -> (sum, sum of squares, count)


def curves(session: Session, experiment_id: uuid.UUID) -> list[CurvePoint]:
    """Per epoch, across the experiment's runs: sums and sums of squares per metric (SQLite
    has no stddev; mean and std follow from these)."""
    cols = []
    for m in METRICS:
        c = _col(m)
        cols += [func.sum(c).label(f"s_{m}"), func.sum(c * c).label(f"q_{m}"),
                 func.count(c).label(f"n_{m}")]
    stmt = (select(EpochMetric.epoch, func.count().label("n"), *cols)
            .join(Run, Run.id == EpochMetric.run_id)
            .where(Run.experiment_id == experiment_id)
            .group_by(EpochMetric.epoch).order_by(EpochMetric.epoch))
    out = []
    for row in session.execute(stmt):
        sums = {m: (getattr(row, f"s_{m}") or 0.0, getattr(row, f"q_{m}") or 0.0,
                    getattr(row, f"n_{m}")) for m in METRICS}
        out.append(CurvePoint(row.epoch, row.n, sums))
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
            .where(Run.experiment_id == experiment_id, Run.status == RunStatus.succeeded.value)
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
            .where(Experiment.kind == "lr_range", Experiment.model == model,
                   Experiment.dataset == dataset, Run.status == RunStatus.succeeded.value))
    return list(session.execute(stmt).all())
