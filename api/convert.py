"""ORM rows to HTTP schemas."""

from __future__ import annotations

from api.schemas import Progress, RunPublic
from core.domain.status import RunStatus
from core.store.models import Run
from core.store.workers import waiting_for


def run_public(run: Run, live: set[str] | None = None) -> RunPublic:
    """`live`: the devices live workers serve (core/store/workers.py), to say why a queued run
    waits; None leaves `waiting_for` out."""
    total = max(run.epochs_total, 0)
    duration = None
    if run.started_at and run.finished_at:
        duration = (run.finished_at - run.started_at).total_seconds()
    return RunPublic(
        id=run.id, experiment_id=run.experiment_id, seed=run.seed, status=run.status,
        attempt=run.attempt, cancel_requested=run.cancel_requested,
        progress=Progress(epoch=run.epochs_done, epochs=total,
                          fraction=run.epochs_done / total if total else 0.0),
        device=run.device, queued_at=run.queued_at, started_at=run.started_at,
        finished_at=run.finished_at, heartbeat_at=run.heartbeat_at, duration_seconds=duration,
        error=run.error, final_metrics=run.final_metrics, best_epoch=run.best_epoch,
        num_params=run.num_params, macs=run.macs, activation_macs=run.activation_macs,
        peak_memory_bytes=run.peak_memory_bytes, result=run.result, reused_from=run.reused_from,
        provenance=run.provenance,
        waiting_for=waiting_for(run.experiment.device, live)
        if live is not None and run.status == RunStatus.queued else None,
    )
