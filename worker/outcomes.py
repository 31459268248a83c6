"""A run's end, recorded: its final status and numbers (`finish_run`, under its claim), its
learned curves, and the weights of its best-validation epoch in the artifact store."""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core.domain.settings import Settings
from core.domain.status import RunStatus
from core.store.artifacts import get_store, weights_key
from core.store.db import in_transaction
from core.store.lifecycle import finish_run
from core.store.models import ResponseCurve, Run
from core.store.retention import prune_weights
from core.store.upsert import upsert
from worker.claims import Claimed

log = logging.getLogger("actlab.runner")


def finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: store those as null."""
    return value if value is None or math.isfinite(value) else None


@dataclass
class Outcome:
    status: RunStatus
    values: dict[str, Any] = field(default_factory=dict)  # columns finish_run writes
    responses: list[Any] = field(default_factory=list)  # learned curves (train only)
    weights: dict[str, Any] | None = None  # state at the best-validation epoch (train only)


def _keep_weights(run_id: uuid.UUID, outcome: Outcome, spec: dict[str, Any], seed: int,
                  settings: Settings) -> None:
    """Store the best-validation epoch's weights as safetensors, with what rebuilds the
    model in the file's metadata. A store that fails loses the weights, not the run."""
    if outcome.status != RunStatus.succeeded or outcome.weights is None or \
            settings.keep_weights == "none":
        return
    from worker.training.weights import to_safetensors

    data = to_safetensors(outcome.weights, spec, seed, outcome.values.get("best_epoch"),
                          str(run_id))
    try:
        get_store().put(weights_key(run_id), data)
    except Exception:
        log.warning("run %s: could not store its weights", run_id, exc_info=True)


def record_end(member: Claimed, outcome: Outcome, settings: Settings) -> str:
    run_id = member.run_id
    _keep_weights(run_id, outcome, member.spec, member.seed, settings)

    def finish(session: Session) -> bool:
        if not finish_run(session, run_id, member.token, outcome.status, **outcome.values):
            return False
        upsert(session, ResponseCurve.__table__, [
            {"run_id": run_id, "layer": r.layer, "block": r.block, "position": r.position,
             "xs": r.xs, "ys": r.ys} for r in outcome.responses], keys=("run_id", "layer"))
        if settings.keep_weights == "best" and outcome.status == RunStatus.succeeded:
            prune_weights(session, get_store(), session.get_one(Run, run_id).experiment_id)
        return True

    if not in_transaction(finish, patience=settings.db_retry_seconds,
                          what=f"end of run {run_id}"):
        log.warning("run %s: claim lost before the final write; result dropped", run_id)
        return "lost"
    log.info("run %s %s: attempt %d, worker %s%s", run_id, outcome.status.value,
             member.attempt, member.token,
             f" ({outcome.values['error']})" if outcome.values.get("error") else "")
    return outcome.status.value
