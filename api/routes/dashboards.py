"""/api/v1/experiments/{id}/summary, /parameters, /response: what the seeds say together."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.analytics import planning
from api.analytics.distributions import parameter_distributions, response_region
from api.analytics.export import to_csv
from api.analytics.summary import experiment_summary, summary_table
from api.deps import ExperimentDep, SessionDep
from api.errors import responses
from api.reports import ParameterDistributions, Plan, ResponseRegion, Summary
from core.domain import catalog
from core.domain.metrics import (
    DEFAULT_LEADERBOARD_METRIC,
    SELECTION_METRICS,
    task_selection,
)
from core.domain.sweep_spec import RACE_METRICS
from core.store.lifecycle import IllegalTransition

router = APIRouter(prefix="/experiments", tags=["dashboards"])
TableFormat = Annotated[Literal["json", "csv"], Query(description="json, or csv for tables")]
SelectBy = Annotated[Literal[SELECTION_METRICS], Query(  # type: ignore[valid-type]
    description="the validation metric that picks each run's best epoch")]
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}, **responses(404)}


def _csv(rows: list[dict[str, Any]]) -> PlainTextResponse:
    return PlainTextResponse(to_csv(rows), media_type="text/csv")


@router.get("/{experiment_id}/summary", response_model=Summary, responses=CSV)
def summary(experiment: ExperimentDep, session: SessionDep,
            select: Annotated[Literal[SELECTION_METRICS] | None, Query(  # type: ignore[valid-type]
                description="the validation metric that picks each run's best epoch; by "
                            "default val_accuracy, val_rmse on a regression dataset")] = None,
            format: TableFormat = "json") -> dict[str, Any] | PlainTextResponse:
    """Per metric, final and best (at each run's best-validation epoch; mean over epochs for
    time): mean, std, sem, 95% CI, median, min, max, n over finished seeds; mean and std
    curves per epoch. The CSV holds both tables (column `table`: summary or curve)."""
    task = catalog.entries("datasets").get(experiment.dataset, {}).get("task")
    data = experiment_summary(session, experiment.id, select or task_selection(task))
    if format == "csv":
        return _csv(summary_table(data))
    return data


@router.get("/{experiment_id}/plan", response_model=Plan, responses=responses(404, 409))
def plan(experiment: ExperimentDep, session: SessionDep,
         difference: Annotated[float, Query(gt=0, allow_inf_nan=False, description=(
             "the smallest difference of means worth detecting, in the metric's units"))],
         metric: Annotated[Literal[RACE_METRICS], Query()]  # type: ignore[valid-type]
         = DEFAULT_LEADERBOARD_METRIC,
         stat: Annotated[Literal["final", "best"], Query()] = "final",
         power: Annotated[float, Query(gt=0, lt=1)] = 0.8,
         alpha: Annotated[float, Query(gt=0, le=0.5)] = 0.05,
         comparisons: Annotated[int, Query(ge=1, le=1000, description=(
             "entries compared with the baseline: alpha is split between them"))] = 1,
         ) -> dict[str, Any]:
    """Planning from a pilot: from this experiment's finished seeds (the metric's scatter),
    the seeds per entry a fixed design needs to detect `difference` with Welch's test at
    `power`, and the power curve; 409 when fewer than 2 seeds have finished."""
    try:
        return planning.plan(session, experiment.id, metric, stat, difference, power, alpha,
                             comparisons)
    except planning.PilotTooSmall as exc:
        raise IllegalTransition(str(exc)) from None


@router.get("/{experiment_id}/parameters", response_model=ParameterDistributions,
            responses=CSV)
def parameters(experiment: ExperimentDep, session: SessionDep,
               per_epoch: bool = True,
               format: TableFormat = "json") -> dict[str, Any] | PlainTextResponse:
    """Learned activation parameters as distributions (min, quartiles, max, mean over channels
    and seeds) per block, position and name: at each run's final epoch and per epoch."""
    data = parameter_distributions(session, experiment.id, per_epoch=per_epoch)
    if format == "csv":
        return _csv([{"scope": "final", **r} for r in data["final"]] +
                    [{"scope": "epoch", **r} for r in data["per_epoch"]])
    return data


@router.get("/{experiment_id}/response", response_model=ResponseRegion,
            responses=responses(404))
def response(experiment: ExperimentDep, session: SessionDep) -> dict[str, Any]:
    """Each layer's learned curve on a grid (mean, min and max over channels and seeds) and
    the min/max envelope over the network: the response region."""
    return response_region(session, experiment.id)
