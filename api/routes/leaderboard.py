"""/api/v1/leaderboard: which activations win, and is it more than seed noise."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.analytics import learning_rates as analytics_lr
from api.analytics.export import leaderboard_latex, leaderboard_markdown, to_csv
from api.analytics.leaderboard import Filters, cross_task_board, task_board
from api.analytics.leaderboard import Query as BoardQuery
from api.analytics.time_to_target import Target
from api.deps import SessionDep
from api.errors import validation_error
from api.reports import CrossTaskBoard, LearningRates, TaskBoard
from core.domain import catalog
from core.domain.metrics import (
    DEFAULT_BASELINE,
    METRICS,
    SELECTION_METRICS,
    task_defaults,
)

router = APIRouter(prefix="/leaderboard", tags=["leaderboard"])

MetricName = Literal[METRICS]  # type: ignore[valid-type]
SelectionName = Literal[SELECTION_METRICS]  # type: ignore[valid-type]


def _check_names(model: str | None, dataset: str | None, baseline: str | None) -> None:
    """Unknown names are a 422 listing the valid ones, never an empty 200."""
    problems = []
    for field, kind, value in (("model", "models", model), ("dataset", "datasets", dataset),
                               ("baseline", "activations", baseline)):
        if value is not None and value not in catalog.entries(kind):
            problems.append({"loc": (field,), "type": "unknown_name",
                             "msg": f"unknown {field if field != 'baseline' else 'activation'} "
                                    f"{value!r}; valid names: "
                                    f"{', '.join(catalog.canonical_names(kind))}"})
    if model is not None and dataset is None:
        problems.append({"loc": ("dataset",), "type": "value_error",
                         "msg": "give a dataset with the model (one task), a dataset alone "
                                "(every model on it), or neither (across tasks)"})
    if problems:
        raise validation_error(problems, prefix=("query",))


def _target(text: str | None) -> Target | None:
    if text is None:
        return None
    try:
        return Target.parse(text)
    except ValueError as exc:
        raise validation_error([{"loc": ("target",), "type": "value_error", "msg": str(exc)}],
                               prefix=("query",)) from None


@router.get("", response_model=TaskBoard | CrossTaskBoard, responses={200: {"content": {
    "text/csv": {}, "text/markdown": {}, "application/x-latex": {}}}})
def leaderboard(
    session: SessionDep,
    model: str | None = None, dataset: str | None = None,
    metric: Annotated[MetricName | None, Query(
        description="metric to rank by; test_* is the official test split. Default: "
                    "test_accuracy, or test_rmse on a regression dataset")] = None,
    stat: Annotated[Literal["final", "best"], Query(
        description="final: the last epoch; best: the epoch with the best `select` "
                    "(validation) metric, reporting `metric` at that epoch")] = "final",
    select: Annotated[SelectionName | None, Query(
        description="the validation metric that picks each run's best epoch. Default: "
                    "val_accuracy, or val_rmse on a regression dataset")] = None,
    baseline: Annotated[str, Query(description="activation every entry is tested against, "
                                               "trained with the same recipe")]
    = DEFAULT_BASELINE,
    test: Annotated[Literal["welch", "mannwhitney", "paired"],
                    Query(description="welch, mannwhitney or paired (by seed)")] = "welch",
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
    sweep: Annotated[uuid.UUID | None, Query(description="only this sweep's experiments")]
    = None,
    tag: Annotated[str | None, Query(description="only experiments with this tag")] = None,
    experiment: Annotated[list[uuid.UUID] | None, Query(
        description="only these experiments (repeat the parameter)")] = None,
    device: Annotated[str | None, Query(
        description="only runs trained on this device: cpu, cuda (any GPU) or cuda:N",
        pattern=r"^(cpu|cuda|cuda:[0-9]{1,3}|mps)$")] = None,
    target: Annotated[str | None, Query(
        description="rank by epochs (and seconds) to reach METRIC<=V or METRIC>=V, e.g. "
                    "train_error<=0.25 or val_accuracy>=0.9: runs that never reach it are "
                    "censored; the test is then a log-rank test. Across tasks: the "
                    "performance profiles' cost is the median epochs to it (never: "
                    "never within any tau)", max_length=100)] = None,
    margin: Annotated[float | None, Query(
        gt=0, description="equivalence margin in the metric's units: an entry within "
                          "+-margin of its baseline by TOST (two one-sided Welch tests, "
                          "Holm-corrected) is `equivalent`; without a margin nothing is")]
    = None,
    format: Literal["json", "csv", "markdown", "latex"] = "json",
) -> dict[str, Any] | PlainTextResponse:
    """With model and dataset: one entry per recipe, ranked; each tested against the
    baseline trained with the same recipe (p-value, Holm-corrected p, Cohen's d, verdict),
    with what differs between entries, parameters and MACs. With a dataset alone: the same
    over every model trained on it (each entry tested within its model, or, matched by a
    sweep's `match`, against the baseline of the budget it was matched to). Without: the
    average rank of each activation across tasks (within groups of equal recipes) and
    win/tie/loss counts."""
    _check_names(model, dataset, baseline)
    goal = _target(target)
    default_select, default_metric = _task_defaults(dataset)
    q = BoardQuery(metric=metric or default_metric, stat=stat,
                   select_by=select or default_select, baseline=baseline, test=test,
                   alpha=alpha, filters=Filters(sweep, tag, tuple(experiment or ()), device),
                   target=goal, margin=margin)
    if dataset is None:
        if format in ("markdown", "latex"):
            raise validation_error([{"loc": ("format",), "type": "value_error",
                                     "msg": "markdown and latex need a task (model and "
                                            "dataset)"}], prefix=("query",))
        board = cross_task_board(session, q)
        return PlainTextResponse(to_csv(board["entries"]), media_type="text/csv") \
            if format == "csv" else board
    board = task_board(session, model, dataset, q)
    if format == "csv":
        return PlainTextResponse(to_csv(board["entries"]), media_type="text/csv")
    if format == "markdown":
        return PlainTextResponse(leaderboard_markdown(board), media_type="text/markdown")
    if format == "latex":
        return PlainTextResponse(leaderboard_latex(board), media_type="application/x-latex")
    return board


def _task_defaults(dataset: str | None) -> tuple[str, str]:
    """(select, metric) when not told: by the dataset's task (a regression ranks by RMSE)."""
    return task_defaults(catalog.entries("datasets").get(dataset or "", {}).get("task"))


@router.get("/lr", response_model=LearningRates)
def learning_rates(session: SessionDep, model: str, dataset: str) -> LearningRates:
    """Suggested learning rates per activation for a task, from its lr_range experiments
    (median over seeds), like the seed paper's table of preferred learning-rate ranges."""
    _check_names(model, dataset, None)
    return analytics_lr.learning_rates(session, model, dataset)
