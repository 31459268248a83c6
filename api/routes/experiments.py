"""/api/v1/experiments: create (one run per seed), list, inspect, cancel, add seeds."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from api import events, housekeeping
from api.auth import PrincipalDep, require_owner
from api.convert import run_public
from api.deps import ExperimentDep, SessionDep, SettingsDep
from api.dispatch import notify
from api.errors import WITH_BODY, not_found, responses, validation_error
from api.experiment_rows import EXPERIMENT_STATUSES, brief, brief_of, experiment_rows, has_tag
from api.quotas import enforce_quotas, hold_key
from api.schemas import (
    CancelResult,
    Deleted,
    ExperimentBrief,
    ExperimentCreated,
    ExperimentList,
    ExperimentPublic,
    RunBrief,
    SeedsAdd,
)
from core.domain.spec import ExperimentSpec
from core.domain.status import ExperimentStatus, RunStatus, count_statuses, experiment_status
from core.store import creation
from core.store.artifacts import get_store
from core.store.lifecycle import IllegalTransition, cancel_run
from core.store.models import Experiment, Run
from core.store.workers import live_devices

router = APIRouter(prefix="/experiments", tags=["experiments"])
log = logging.getLogger("actlab.api")
MAX_OFFSET = 2**31 - 1  # bounded before it reaches SQL (a BIGINT overflow is a 500)

EXAMPLE = {"name": "dual line vs relu", "activation": {"name": "dual_line", "params": {}},
           "model": {"name": "mlp", "params": {}}, "dataset": {"name": "digits", "params": {}},
           "seeds": [0, 1, 2], "training": {"epochs": 5, "batch_size": 128, "lr": 0.001}}


@router.post("", status_code=202, response_model=ExperimentCreated, responses=WITH_BODY)
def create_experiment(
    body: Annotated[ExperimentSpec, Body(examples=[EXAMPLE])],
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
    force: Annotated[bool, Query(description="train again even if this recipe and seed "
                                             "already succeeded")] = False,
) -> ExperimentCreated:
    """Validate the spec, store it and queue one run per seed (seeds whose recipe already
    succeeded reuse that result unless force=true)."""
    hold_key(session, principal)
    created = creation.create_experiment(session, body, settings, force=force,
                                         owner_key_id=principal.key_id)
    enforce_quotas(session, principal, settings)
    session.commit()
    notify(session, created.to_queue, settings)
    experiment = created.experiment
    return ExperimentCreated(id=experiment.id, status=_status(created),
                             runs=[RunBrief.model_validate(r) for r in experiment.runs])


def _status(created: creation.Created) -> ExperimentStatus:
    """The experiment's status as every reader derives it (reused runs count as succeeded)."""
    return experiment_status(count_statuses(r.status for r in created.experiment.runs))


@router.get("", response_model=ExperimentList)
def list_experiments(
    session: SessionDep, principal: PrincipalDep,
    status: Annotated[ExperimentStatus | None, Query(description="/".join(EXPERIMENT_STATUSES))]
    = None,
    activation: str | None = None, model: str | None = None, dataset: str | None = None,
    tag: str | None = None,
    owner: Annotated[str | None, Query(
        description="`me`: only experiments created with this request's key (with auth "
                    "off: those created without a key); or a key id",
        pattern=r"^(me|[0-9a-fA-F-]{32,36})$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ExperimentList:
    """Newest first; every filter optional."""
    stmt, _ = experiment_rows(session)
    if status is not None:
        stmt = stmt.where(stmt.selected_columns.status == status.value)
    for column, value in ((Experiment.activation, activation), (Experiment.model, model),
                          (Experiment.dataset, dataset)):
        if value is not None:
            stmt = stmt.where(column == value)
    if tag is not None:
        stmt = stmt.where(has_tag(session, tag))
    if owner is not None:  # `== None` renders IS NULL: "me" with auth off
        key = principal.key_id if owner == "me" else _key_id(owner)
        stmt = stmt.where(Experiment.owner_key_id == key)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(Experiment.created_at.desc(), Experiment.id)
                           .limit(limit).offset(offset)).all()
    return ExperimentList(items=[ExperimentBrief(**brief(r)) for r in rows], total=total,
                          limit=limit, offset=offset)


def _key_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise validation_error([{"loc": ("owner",), "type": "value_error",
                                 "msg": "owner must be 'me' or a key id"}],
                               prefix=("query",)) from None


@router.get("/{experiment_id}", response_model=ExperimentPublic, responses=responses(404))
def get_experiment(experiment: ExperimentDep, session: SessionDep,
                   settings: SettingsDep) -> ExperimentPublic:
    """The spec, every run with its progress (a queued run no live worker can serve says
    what it waits for), and counts by status."""
    # Status and counts from the very run rows this response lists: a run that finishes
    # between two queries must not leave "running" beside a list of finished runs.
    counts = count_statuses(r.status for r in experiment.runs)
    live = live_devices(session, settings.stale_after_seconds) \
        if counts.get(RunStatus.queued.value) else set()
    summary = brief_of(experiment, counts, experiment_status(counts).value)
    return ExperimentPublic(**summary, spec=experiment.spec, spec_hash=experiment.spec_hash,
                            recipe_version=experiment.recipe_version,
                            sweep_id=experiment.sweep_id,
                            runs=[run_public(r, live) for r in experiment.runs])


@router.get("/{experiment_id}/events", response_class=events.EventStream, responses={
    200: {"description": "`event: run` (id, seed, status, attempt, epoch of epochs, the latest "
                         "epoch's train_loss, val_loss and val_accuracy, error) whenever a run "
                         "changes; `event: experiment` (status, counts) whenever its status "
                         "changes; `event: end` once every run has finished, then the stream "
                         "closes"},
    **responses(404)})
async def experiment_events(experiment_id: uuid.UUID) -> events.EventStream:
    """Server-sent events: run state changes and epoch progress until every run has ended
    (read with fetch streaming where a header must be sent, e.g. the API key)."""
    if not await run_in_threadpool(events.experiment_exists, experiment_id):
        raise not_found("experiment", experiment_id)
    return events.EventStream(events.experiment_events(experiment_id),
                              headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{experiment_id}/cancel", response_model=CancelResult,
             responses=responses(404, 409, 413))
def cancel_experiment(experiment: ExperimentDep, session: SessionDep,
                      principal: PrincipalDep) -> CancelResult:
    """Cancel queued runs now and tell running ones to stop; 409 if nothing is left to cancel."""
    require_owner(principal, "experiment", experiment.id, experiment.owner_key_id)
    out = CancelResult(cancelled=[], stopping=[])
    for run in experiment.runs:
        try:
            cancel_run(session, run)
        except IllegalTransition:
            continue
        (out.cancelled if run.status == RunStatus.cancelled else out.stopping).append(run.id)
        log.info("run %s %s: attempt %d, worker %s", run.id,
                 "cancelled" if run.status == RunStatus.cancelled else "asked to stop",
                 run.attempt, run.claimed_by or "-")
    if not out.cancelled and not out.stopping:
        raise IllegalTransition(f"experiment {experiment.id} has no queued or running runs")
    session.commit()
    return out


@router.post("/{experiment_id}/seeds", status_code=202, response_model=ExperimentCreated,
             responses={**WITH_BODY, **responses(404, 409)})
def add_seeds(experiment: ExperimentDep, body: SeedsAdd, session: SessionDep,
              settings: SettingsDep, principal: PrincipalDep,
              force: bool = False) -> ExperimentCreated:
    """Top an experiment up with more seeds (one new queued run each); a seed it already has
    is a 409."""
    require_owner(principal, "experiment", experiment.id, experiment.owner_key_id)
    hold_key(session, principal)
    out = creation.add_seeds(session, experiment, body.seeds, settings, force=force,
                             before_commit=lambda: enforce_quotas(session, principal,
                                                                  settings))
    notify(session, out.to_queue, settings)
    new = sorted((session.get_one(Run, run_id) for run_id in [*out.to_queue, *out.reused]),
                 key=lambda r: r.seed)
    return ExperimentCreated(id=experiment.id, status=_status(out),
                             runs=[RunBrief.model_validate(r) for r in new])


@router.delete("/{experiment_id}", response_model=Deleted,
                responses=responses(404, 409, 413))
def delete_experiment(experiment: ExperimentDep, session: SessionDep,
                      principal: PrincipalDep) -> Deleted:
    """Remove the experiment, its runs, their metrics, parameters and curves, and their
    checkpoints and weights in the artifact store. 409 while a run is queued or running."""
    require_owner(principal, "experiment", experiment.id, experiment.owner_key_id)
    experiment_id = experiment.id
    runs = housekeeping.delete_experiment(session, experiment, get_store())
    return Deleted(id=experiment_id, runs=runs)
