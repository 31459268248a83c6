"""/api/v1/leaderboard: which activations win, and is it more than seed noise."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.analytics import queries
from api.analytics.export import leaderboard_latex, leaderboard_markdown, to_csv
from api.analytics.leaderboard import STATS, TESTS, cross_task_board, task_board
from api.analytics.stats import median
from api.deps import SessionDep
from api.errors import validation_error

router = APIRouter(prefix="/leaderboard", tags=["leaderboard"])


@router.get("", response_model=None)
def leaderboard(
    session: SessionDep,
    model: str | None = None, dataset: str | None = None,
    metric: str = "val_accuracy",
    stat: Annotated[str, Query(description="final (last epoch) or best epoch")] = "final",
    baseline: str = "relu",
    test: Annotated[str, Query(description="welch, mannwhitney or paired (by seed)")] = "welch",
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
    format: Literal["json", "csv", "markdown", "latex"] = "json",
) -> dict[str, Any] | PlainTextResponse:
    """With model and dataset: activations ranked for that task, each against the baseline
    (p-value, Holm-corrected p, Cohen's d, verdict), with parameters and MACs. Without: the
    average rank of each activation across tasks and win/tie/loss counts."""
    problems = []
    if metric not in queries.METRICS:
        problems.append((("metric",), f"metric must be one of {', '.join(queries.METRICS)}"))
    if stat not in STATS:
        problems.append((("stat",), f"stat must be one of {', '.join(STATS)}"))
    if test not in TESTS:
        problems.append((("test",), f"test must be one of {', '.join(TESTS)}"))
    if (model is None) != (dataset is None):
        problems.append((("model" if model is None else "dataset",),
                         "give both model and dataset for one task, or neither"))
    if problems:
        raise validation_error([{"loc": loc, "msg": msg, "type": "value_error"}
                                for loc, msg in problems], prefix=("query",))
    if model is None or dataset is None:
        board = cross_task_board(session, metric, stat, baseline, test, alpha)
        if format in ("markdown", "latex"):
            raise validation_error([{"loc": ("format",), "type": "value_error",
                                     "msg": "markdown and latex need a task (model and "
                                            "dataset)"}], prefix=("query",))
        return PlainTextResponse(to_csv(board["entries"]), media_type="text/csv") \
            if format == "csv" else board
    board = task_board(session, model, dataset, metric, stat, baseline, test, alpha)
    if format == "csv":
        return PlainTextResponse(to_csv(board["entries"]), media_type="text/csv")
    if format == "markdown":
        return PlainTextResponse(leaderboard_markdown(board), media_type="text/markdown")
    if format == "latex":
        return PlainTextResponse(leaderboard_latex(board), media_type="application/x-latex")
    return board


@router.get("/lr")
def learning_rates(session: SessionDep, model: str, dataset: str) -> dict[str, Any]:
    """Suggested learning rates per activation for a task, from its lr_range experiments
    (median over seeds), like the seed paper's table of preferred learning-rate ranges."""
    by_activation: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in queries.lr_range_rows(session, model, dataset):
        if row.result and row.result.get("suggested_lr") is not None:
            by_activation[row.activation].append(row.result)
    entries = []
    for activation, results in sorted(by_activation.items()):
        suggested = [r["suggested_lr"] for r in results]
        lowest = [r["min_loss_lr"] for r in results if r.get("min_loss_lr") is not None]
        entries.append({"activation": activation, "n": len(results),
                        "suggested_lr": median(suggested), "suggested_min": min(suggested),
                        "suggested_max": max(suggested),
                        "min_loss_lr": median(lowest) if lowest else None})
    return {"model": model, "dataset": dataset, "entries": entries}
