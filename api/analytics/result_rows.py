"""The SQL side of the dashboards. Aggregation happens in the database: per-run final and
best values, per-epoch sums for the curves. Python only sees one row per run (or per epoch),
never every metric row of a leaderboard."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy.orm import Session, aliased

from core.metrics import AVERAGED, DEFAULT_SELECTION, HIGHER_IS_BETTER, METRICS
from core.models import ActivationParam, EpochMetric, Experiment, ResponseCurve, Run, metric_column
from core.status import RunKind, RunStatus


def _col(name: str) -> Any:
    return metric_column(name)


def best_epochs(select_by: str, where: Any) -> Any:
    """Per run matching `where`: the epoch with the best `select_by` (a validation metric),
    the earliest on ties. Runs without that metric (recorded before the validation split
    existed) have no best epoch."""
    column = _col(select_by)
    order = column.desc() if HIGHER_IS_BETTER[select_by] else column.asc()
    ranked = (select(EpochMetric.run_id, EpochMetric.epoch,
                     func.row_number().over(partition_by=EpochMetric.run_id,
                                            order_by=(order, EpochMetric.epoch)).label("rk"))
              .join(Run, Run.id == EpochMetric.run_id)
              .join(Experiment, Experiment.id == Run.experiment_id)
              .where(column.is_not(None), where)
              .subquery("ranked"))
    return (select(ranked.c.run_id, ranked.c.epoch).where(ranked.c.rk == 1)
            .subquery("best_epoch"))


def final_rows(session: Session, where: Any, select_by: str = DEFAULT_SELECTION) -> list[Any]:
    """One row per succeeded training run matching `where`: every metric at the run's last
    epoch (`final_*`) and at its best-validation epoch (`best_*`; time metrics: the mean over
    epochs), the best epoch itself, and the experiment's grouping fields."""
    where = and_(Run.status == RunStatus.succeeded, Experiment.kind == RunKind.train, where)
    best = best_epochs(select_by, where)
    at_best = aliased(EpochMetric, name="at_best")
    final = aliased(EpochMetric, name="final")
    averages = (select(EpochMetric.run_id,
                       *[func.avg(_col(m)).label(f"avg_{m}") for m in AVERAGED])
                .join(Run, Run.id == EpochMetric.run_id)
                .join(Experiment, Experiment.id == Run.experiment_id)
                .where(where).group_by(EpochMetric.run_id).subquery("averages"))
    best_columns = [averages.c[f"avg_{m}"].label(f"best_{m}") if m in AVERAGED
                    else getattr(at_best, m).label(f"best_{m}") for m in METRICS]
    stmt: Any = (
        select(Run.id.label("run_id"), Run.seed, Run.num_params, Run.macs, Run.activation_macs,
               Run.provenance,
               Experiment.id.label("experiment_id"), Experiment.spec_hash,
               Experiment.recipe_version, Experiment.activation, Experiment.model,
               Experiment.dataset, best.c.epoch.label("best_epoch"),
               *[getattr(final, m).label(f"final_{m}") for m in METRICS], *best_columns)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .join(final, and_(final.run_id == Run.id, final.epoch == Run.epochs_done))
        .outerjoin(best, best.c.run_id == Run.id)
        .outerjoin(at_best, and_(at_best.run_id == Run.id, at_best.epoch == best.c.epoch))
        .outerjoin(averages, averages.c.run_id == Run.id)
        .where(where)
    )
    return list(session.execute(stmt).all())


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
