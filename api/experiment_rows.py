"""Experiment rows as the routes list them: the status derived from run counts in SQL
(core.domain.status's rule), the tag filter, the brief dict."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, case, cast, exists, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from core.domain.status import FALLBACK, ExperimentStatus, RunStatus, experiment_status_rules
from core.store.models import Experiment, Run

STATUSES = [s.value for s in RunStatus]
EXPERIMENT_STATUSES = tuple(s.value for s in ExperimentStatus)


def run_counts() -> Any:
    """Subquery: per experiment, the number of runs in each status."""
    cols = [func.sum(case((Run.status == s, 1), else_=0)).label(s) for s in STATUSES]
    return (select(Run.experiment_id, func.count().label("n"), *cols)
            .group_by(Run.experiment_id).subquery("counts"))


def experiment_status(counts: Any) -> ColumnElement[str]:
    """core.domain.status's rule as a SQL CASE over the run counts (list filters need it in SQL)."""
    return case(*[(matched, literal(status.value))
                  for matched, status in experiment_status_rules(counts.c)],
                else_=literal(FALLBACK.value))


def experiment_rows(session: Session) -> tuple[Select[Any], Any]:
    counts = run_counts()
    status = experiment_status(counts).label("status")
    stmt = (select(Experiment, status, *[counts.c[s] for s in STATUSES])
            .join(counts, counts.c.experiment_id == Experiment.id))
    return stmt, counts


def has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(Experiment.tags, JSONB).contains([tag])
    each = func.json_each(Experiment.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def brief(row: Any) -> dict[str, Any]:
    """An experiment row of `experiment_rows` (status and counts computed in SQL)."""
    return brief_of(row[0], {s: int(getattr(row, s) or 0) for s in STATUSES}, row.status)


def brief_of(exp: Experiment, counts: dict[str, int], status: str) -> dict[str, Any]:
    return {"id": exp.id, "name": exp.name, "kind": exp.kind, "activation": exp.activation,
            "model": exp.model, "dataset": exp.dataset, "tags": exp.tags,
            "priority": exp.priority, "status": status, "created_at": exp.created_at,
            "counts": counts}
