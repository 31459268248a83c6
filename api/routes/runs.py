"""/api/v1/runs: one run's state, per-epoch metrics, parameter snapshots, activation
sparsity, its learned functions and their symbolic fits, input-space pictures and weights;
cancel, retry."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import Field
from sqlalchemy import func, select

from api.analytics import learned_functions
from api.auth import PrincipalDep, require_owner
from api.convert import run_public
from api.deps import RunDep, SessionDep, SettingsDep
from api.dispatch import notify
from api.errors import ErrorBody, responses
from api.quotas import enforce_quotas, hold_key
from api.schemas import (
    InputSpacePublic,
    LearnedFunction,
    MetricRow,
    ParameterPage,
    ParameterRow,
    RunPublic,
    SparsityRow,
    SymbolicFit,
    SymbolicFits,
)
from core.domain import catalog
from core.domain.labels import activation_label
from core.domain.status import RunStatus
from core.statistics import symbolic
from core.store import creation
from core.store.artifacts import ArtifactMissing, get_store, weights_key
from core.store.lifecycle import cancel_run
from core.store.models import (
    ActivationParam,
    EpochMetric,
    InputSpacePicture,
    Run,
    SlotSparsity,
)

router = APIRouter(prefix="/runs", tags=["runs"])
log = logging.getLogger("actlab.api")


@router.get("/{run_id}", response_model=RunPublic, responses=responses(404))
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


@router.get("/{run_id}/metrics", response_model=list[MetricRow], responses=responses(404))
def get_metrics(run: RunDep, session: SessionDep) -> list[MetricRow]:
    """One row per finished epoch, in order."""
    rows = session.scalars(select(EpochMetric).where(EpochMetric.run_id == run.id)
                           .order_by(EpochMetric.epoch))
    return [MetricRow.model_validate(r) for r in rows]


@router.get("/{run_id}/sparsity", response_model=list[SparsityRow], responses=responses(404))
def get_sparsity(run: RunDep, session: SessionDep) -> list[SparsityRow]:
    """Per epoch and activation slot, the fraction of its outputs on the validation split that
    are exactly zero and below 1e-6 in magnitude (their mean over slots: `val_sparsity`)."""
    rows = session.scalars(select(SlotSparsity).where(SlotSparsity.run_id == run.id)
                           .order_by(SlotSparsity.epoch, SlotSparsity.layer))
    return [SparsityRow.model_validate(r) for r in rows]


@router.get("/{run_id}/parameters", response_model=ParameterPage, responses=responses(404))
def get_parameters(
    run: RunDep, session: SessionDep,
    epoch: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    layer: str | None = None, name: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
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


def _functions(session: SessionDep, run: Run, layer: str | None,
               epochs: list[int] | None = None) -> list[LearnedFunction]:
    if not epochs:
        return learned_functions.last_epoch(session, run, layer)
    return learned_functions.at_epochs(session, run, layer, epochs)


@router.get("/{run_id}/functions", response_model=list[LearnedFunction],
            responses=responses(404))
def get_functions(
    run: RunDep, session: SessionDep, layer: str | None = None,
    epoch: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None, Query(
        description="these recorded epochs (repeat the parameter), evaluated from each "
                    "epoch's parameter snapshot: bspline and pau slots (KAN edges) only; "
                    "without it, the last epoch's curves of every slot", max_length=64)]
    = None,
    limit: Annotated[int, Query(ge=1, le=4096)] = 256,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[LearnedFunction]:
    """The learned univariate functions: every channel of every activation slot (each KAN
    edge, each bspline channel) on the response grid ([-5, 5], 101 points), at the run's
    last epoch or at the recorded `epoch`s, epoch by epoch and slot by slot; `layer` keeps
    one slot, `limit`/`offset` page them (at most 4096 functions of 101 points a page)."""
    return _functions(session, run, layer, epoch)[offset:offset + limit]


@router.get("/{run_id}/symbolic", response_model=list[SymbolicFits], responses=responses(404))
def get_symbolic(
    run: RunDep, session: SessionDep, layer: str | None = None,
    index: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=16, description="functions fitted (about half "
                                                         "a second each)")] = 4,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    top: Annotated[int, Query(ge=1, le=len(symbolic.LIBRARY))] = 3,
) -> list[SymbolicFits]:
    """Per learned function (as /functions pages them; `index` picks one channel), the best
    `top` fits a f(b x + c) + d from the formula grammar with their R², as pykan's
    suggest_symbolic: each one a formula activation to test."""
    chosen = [f for f in _functions(session, run, layer) if index is None or f.index == index]
    return [SymbolicFits(layer=f.layer, index=f.index, fits=[
        SymbolicFit(**vars(fit)) for fit in symbolic.fit(f.x, f.y, top)])
        for f in chosen[offset:offset + limit]]


@router.get("/{run_id}/input-space", response_model=InputSpacePublic, responses={
    404: {"model": ErrorBody, "description": "no such run, or its dataset is not 2-D"}})
def get_input_space(
    run: RunDep, session: SessionDep,
    epoch: Annotated[list[int] | None, Query(
        description="only these epochs (repeat the parameter); every recorded one by "
                    "default")] = None,
) -> InputSpacePublic:
    """2-D datasets: at the recorded epochs (1, 2, 4, 8, ... and the last), the predicted
    class on a grid over the input plane, and each hidden layer's image of a grid of lines
    (projected to its two principal components where the layer is wider than two).
    Computed by the worker while training; a run still queued has none yet."""
    spec = run.experiment.spec
    dataset = spec["dataset"]["name"]
    entry = catalog.entries("datasets").get(dataset, {})
    if entry.get("input_shape") != [2] or entry.get("task", "classification") != "classification":
        two_d = ", ".join(e["name"] for e in catalog.load_catalog()["datasets"]
                          if e.get("input_shape") == [2]
                          and e.get("task", "classification") == "classification")
        raise HTTPException(404, f"run {run.id} has no input-space pictures: dataset "
                                 f"{dataset!r} is not a 2-D classification dataset ({two_d} are)")
    rows = {r.epoch: r.picture for r in session.scalars(
        select(InputSpacePicture).where(InputSpacePicture.run_id == run.id))}
    header = rows.pop(0, None) or {}
    recorded = sorted(rows)
    wanted = recorded if epoch is None else [e for e in recorded if e in set(epoch)]
    return InputSpacePublic(
        run_id=run.id, seed=run.seed, status=run.status,
        activation=activation_label(spec["activation"]["name"], spec), dataset=dataset,
        bounds=header.get("bounds"), grid_cells=header.get("grid_cells"),
        points=header.get("points"), recorded=recorded,
        epochs=[rows[e] for e in wanted])


@router.post("/{run_id}/cancel", response_model=RunPublic,
             responses=responses(404, 409, 413))
def cancel(run: RunDep, session: SessionDep, principal: PrincipalDep) -> RunPublic:
    """A queued run is cancelled at once; a running one stops within an epoch. 409 if finished."""
    require_owner(principal, "run", run.id, run.experiment.owner_key_id)
    cancel_run(session, run)
    session.commit()
    log.info("run %s %s: attempt %d, worker %s", run.id,
             "cancelled" if run.status == RunStatus.cancelled else "asked to stop", run.attempt,
             run.claimed_by or "-")
    return run_public(run)


@router.post("/{run_id}/retry", status_code=202, response_model=RunPublic,
             responses=responses(404, 409, 413))
def retry(run: RunDep, session: SessionDep, settings: SettingsDep,
          principal: PrincipalDep) -> RunPublic:
    """Start a failed, cancelled or diverged run again from scratch. 409 otherwise."""
    require_owner(principal, "run", run.id, run.experiment.owner_key_id)
    hold_key(session, principal)
    creation.retry(session, run, settings)
    enforce_quotas(session, principal, settings)
    session.commit()
    notify(session, [run.id], settings)
    return run_public(run)


@router.get("/{run_id}/weights", response_class=Response, responses={
    200: {"content": {"application/octet-stream": {}},
          "description": "safetensors; the metadata holds the spec, seed and epoch"},
    404: {"model": ErrorBody, "description": "no such run, or no weights, and why"}})
def get_weights(run: RunDep, settings: SettingsDep) -> Response:
    """The weights of the epoch whose numbers the run reports (its best-validation epoch),
    in safetensors format, with the spec that rebuilds the model in the file's metadata. A
    reused run serves the original's."""
    if run.status != RunStatus.succeeded:
        raise HTTPException(404, f"run {run.id} has no weights: it is {run.status.value}")
    source = run.reused_from or run.id
    try:
        data = get_store().get(weights_key(source))
    except ArtifactMissing:
        why = {"none": "they are not kept (ACTLAB_KEEP_WEIGHTS=none)",
               "best": "only the best run of each experiment keeps them "
                       "(ACTLAB_KEEP_WEIGHTS=best)"}.get(
            settings.keep_weights,
            "they were removed, or the run finished before weights were kept")
        raise HTTPException(404, f"no weights for run {run.id}: {why}") from None
    return Response(data, media_type="application/octet-stream", headers={
        "content-disposition": f'attachment; filename="run-{run.id}.safetensors"'})
