"""Per-run results in SQL, for whatever ranks or decides by them (the dashboards, a race of
seeds): each succeeded run's metrics at its last epoch and at its best-validation epoch. The
database aggregates: Python sees one row per run, never every metric row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from core.domain.metrics import AVERAGED, DEFAULT_SELECTION, HIGHER_IS_BETTER, METRICS
from core.domain.status import RunKind, RunStatus
from core.store.models import EpochMetric, Experiment, Run, metric_column


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


def ended_rows(session: Session, where: Any) -> list[Any]:
    """One row per training run matching `where` that diverged or failed: what a board needs
    to count it (and to rank a diverged seed worst) instead of dropping it, with the
    experiment's grouping fields as in `final_rows`."""
    stmt = (
        select(Run.id.label("run_id"), Run.seed, Run.status, Run.epochs_done,
               Experiment.id.label("experiment_id"), Experiment.spec_hash,
               Experiment.recipe_version, Experiment.activation, Experiment.model,
               Experiment.dataset)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(Run.status.in_((RunStatus.diverged, RunStatus.failed)),
               Experiment.kind == RunKind.train, where))
    return list(session.execute(stmt).all())
