"""GET /experiments/{id}/summary: seeds as replicates."""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from api.analytics import queries
from api.analytics.stats import describe
from core.models import Run


def experiment_summary(session: Session, experiment_id: uuid.UUID) -> dict[str, Any]:
    counts = queries.status_counts(session, experiment_id)
    rows = queries.final_rows(session, Run.experiment_id == experiment_id)
    metrics: dict[str, Any] = {}
    for m in queries.METRICS:
        finals = [getattr(r, f"final_{m}") for r in rows if getattr(r, f"final_{m}") is not None]
        bests = [getattr(r, f"best_{m}") for r in rows if getattr(r, f"best_{m}") is not None]
        metrics[m] = {"final": asdict(describe(finals)),
                      "mean_over_epochs" if m in queries.AVERAGED else "best":
                          asdict(describe(bests)),
                      "higher_is_better": queries.HIGHER_IS_BETTER[m]}
    curves = []
    for point in queries.curves(session, experiment_id):
        entry: dict[str, Any] = {"epoch": point.epoch, "n": point.n}
        for m, (total, squares, n) in point.sums.items():
            mean = total / n if n else None
            std = None
            if n > 1 and mean is not None:
                std = math.sqrt(max(0.0, (squares - n * mean * mean) / (n - 1)))
            entry[m] = {"mean": mean, "std": std}
        curves.append(entry)
    return {"experiment_id": experiment_id, "seeds_asked": sum(counts.values()),
            "seeds_finished": counts["succeeded"], "counts": counts, "metrics": metrics,
            "curves": curves}
