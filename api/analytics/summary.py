"""GET /experiments/{id}/summary: seeds as replicates."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from api.analytics import result_rows
from core.domain.metrics import AVERAGED, BY_NAME, DEFAULT_SELECTION, METRICS
from core.statistics.significance import describe
from core.store.models import Run
from core.store.results import final_rows


def experiment_summary(session: Session, experiment_id: uuid.UUID,
                       select_by: str = DEFAULT_SELECTION) -> dict[str, Any]:
    """Per metric: `final` (last epoch) and `best` (at each run's best-`select_by` epoch, a
    validation metric; time metrics: `mean_over_epochs`), each described over the seeds;
    mean and std curves per epoch."""
    counts = result_rows.status_counts(session, experiment_id)
    rows = final_rows(session, Run.experiment_id == experiment_id, select_by)
    metrics: dict[str, Any] = {}
    for m in METRICS:
        finals = [getattr(r, f"final_{m}") for r in rows if getattr(r, f"final_{m}") is not None]
        bests = [getattr(r, f"best_{m}") for r in rows if getattr(r, f"best_{m}") is not None]
        metrics[m] = {"final": asdict(describe(finals)),
                      "mean_over_epochs" if m in AVERAGED else "best": asdict(describe(bests)),
                      "higher_is_better": BY_NAME[m].higher_is_better,
                      "split": BY_NAME[m].split}
    best_epochs = [r.best_epoch for r in rows if r.best_epoch is not None]
    curves = []
    for point in result_rows.curves(session, experiment_id):
        entry: dict[str, Any] = {"epoch": point.epoch, "n": point.n}
        for m, (mean, std, _) in point.stats.items():
            entry[m] = {"mean": mean, "std": std}
        curves.append(entry)
    return {"experiment_id": experiment_id, "seeds_asked": sum(counts.values()),
            "seeds_finished": counts["succeeded"], "counts": counts, "select_by": select_by,
            "best_epochs": asdict(describe(best_epochs)),
            "metrics": metrics, "curves": curves}


def summary_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary as flat rows for CSV: one per metric and aggregate, then one per epoch and
    metric of the mean ± std curves."""
    rows: list[dict[str, Any]] = []
    for m, block in summary["metrics"].items():
        for aggregate, values in block.items():
            if isinstance(values, dict):
                rows.append({"table": "summary", "metric": m, "aggregate": aggregate,
                             "split": block["split"], **values})
    for point in summary["curves"]:
        for m in METRICS:
            rows.append({"table": "curve", "metric": m, "aggregate": "per_epoch",
                         "split": BY_NAME[m].split, "epoch": point["epoch"],
                         "n": point["n"], "mean": point[m]["mean"], "std": point[m]["std"]})
    return rows
