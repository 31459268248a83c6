"""GET /leaderboard/lr: suggested learning rates per activation, from lr_range experiments."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from api.analytics.result_rows import lr_range_rows
from api.reports import LearningRate, LearningRates
from core.statistics.significance import median


def learning_rates(session: Session, model: str, dataset: str) -> LearningRates:
    """Per activation: the median over seeds of the suggested learning rate (and its range)
    and of the lr with the lowest loss, like the seed paper's table of preferred ranges."""
    by_activation: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in lr_range_rows(session, model, dataset):
        if row.result and row.result.get("suggested_lr") is not None:
            by_activation[row.activation].append(row.result)
    entries = []
    for activation, results in sorted(by_activation.items()):
        suggested = [r["suggested_lr"] for r in results]
        lowest = [r["min_loss_lr"] for r in results if r.get("min_loss_lr") is not None]
        entries.append(LearningRate(
            activation=activation, n=len(results), suggested_lr=median(suggested),
            suggested_min=min(suggested), suggested_max=max(suggested),
            min_loss_lr=median(lowest) if lowest else None))
    return LearningRates(model=model, dataset=dataset, entries=entries)
