"""/api/v1/runs: one run's state, per-epoch metrics and parameter snapshots; cancel, retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from api.convert import run_public
from api.deps import RunDep, SessionDep, SettingsDep
from api.dispatch import notify
from api.schemas import MetricRow, ParameterPage, ParameterRow, RunPublic
from core.lifecycle import cancel_run, retry_run
from core.models import ActivationParam, EpochMetric

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get("/{run_id}", response_model=RunPublic)
def get_run(run: RunDep, session: SessionDep) -> RunPublic:
    """Status, attempt, device, timings, error, final metrics (and the best-validation
    epoch), parameter count, MACs, where a reused result came from, and the learned
    activation parameters at the last recorded epoch."""
    out = run_public(run)
    last = session.scalar(select(func.max(ActivationParam.epoch))
                          .where(ActivationParam.run_id == run.id))
    rows: list[ActivationParam] = [] if last is None else list(session.scalars(
        select(ActivationParam).where(ActivationParam.run_id == run.id,
                                      ActivationParam.epoch == last)
        .order_by(ActivationParam.layer, ActivationParam.name)))
    out.parameters = [ParameterRow.model_validate(r) for r in rows]
    return out


@router.get("/{run_id}/metrics", response_model=list[MetricRow])
def get_metrics(run: RunDep, session: SessionDep) -> list[MetricRow]:
    """One row per finished epoch, in order."""
    rows = session.scalars(select(EpochMetric).where(EpochMetric.run_id == run.id)
                           .order_by(EpochMetric.epoch))
    return [MetricRow.model_validate(r) for r in rows]


@router.get("/{run_id}/parameters", response_model=ParameterPage)
def get_parameters(
    run: RunDep, session: SessionDep,
    epoch: int | None = None, layer: str | None = None, name: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ParameterPage:
    """Learnable activation parameters per epoch, labelled by layer path, block and position."""
    stmt = select(ActivationParam).where(ActivationParam.run_id == run.id)
    for column, value in ((ActivationParam.epoch, epoch), (ActivationParam.layer, layer),
                          (ActivationParam.name, name)):
        if value is not None:
            stmt = stmt.where(column == value)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(ActivationParam.epoch, ActivationParam.layer,
                                         ActivationParam.name).limit(limit).offset(offset))
    return ParameterPage(items=[ParameterRow.model_validate(r) for r in rows], total=total,
                         limit=limit, offset=offset)


@router.post("/{run_id}/cancel", response_model=RunPublic)
def cancel(run: RunDep, session: SessionDep) -> RunPublic:
    """A queued run is cancelled at once; a running one stops within an epoch. 409 if finished."""
    cancel_run(session, run)
    session.commit()
    return run_public(run)


@router.post("/{run_id}/retry", status_code=202, response_model=RunPublic)
def retry(run: RunDep, session: SessionDep, settings: SettingsDep) -> RunPublic:
    """Start a failed, cancelled or diverged run again from scratch. 409 otherwise."""
    retry_run(session, run)
    session.commit()
    notify(session, [run.id], settings)
    return run_public(run)
