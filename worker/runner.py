"""Execute one run: claim it, train it, write its rows, finish it. Usable without Celery.

Exactly-once effect from at-least-once delivery: the claim is a conditional UPDATE, every row
write is an upsert on its unique key, and every write after the claim checks that the claim
is still ours (the sweeper may have handed the run to another worker).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core.artifacts import checkpoint_key, get_store, prune_weights, weights_key
from core.db import in_transaction, session_scope
from core.lifecycle import claim_next, claim_run, finish_run, touch
from core.metrics import METRICS
from core.models import ActivationParam, EpochMetric, Experiment, ResponseCurve, Run
from core.settings import Settings, get_settings
from core.status import RunKind, RunStatus
from core.upsert import upsert

if TYPE_CHECKING:
    from worker.training import EpochReport, TrainConfig
    from worker.training.checkpoint import Checkpointer

log = logging.getLogger("actlab.runner")


class ClaimLost(Exception):
    """Another worker owns the run now; stop without writing anything more."""


class Heartbeat:
    """Background thread: keeps the claim alive and notices cancellation between epochs."""

    def __init__(self, run_id: uuid.UUID, token: str, interval: float) -> None:
        self.run_id, self.token, self.interval = run_id, token, interval
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="actlab-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with session_scope() as session:
                    ours, cancel = touch(session, self.run_id, self.token)
            except Exception:  # a missed beat is fine; the sweeper tolerates several
                log.warning("heartbeat for run %s failed", self.run_id, exc_info=True)
                continue
            if not ours:
                self.lost.set()
            if cancel:
                self.cancelled.set()

    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.lost.is_set()


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: store those as null."""
    return value if value is None or math.isfinite(value) else None


@dataclass
class Outcome:
    status: RunStatus
    values: dict[str, Any] = field(default_factory=dict)  # columns finish_run writes
    responses: list[Any] = field(default_factory=list)  # learned curves (train only)
    weights: dict[str, Any] | None = None  # state at the best-validation epoch (train only)


@dataclass
class Claimed:
    run_id: uuid.UUID
    spec: dict[str, Any]
    seed: int
    epochs_done: int
    attempt: int


def _claim(run_id: uuid.UUID, token: str, patience: float,
           by_priority: bool) -> Claimed | None:
    """Claim `run_id`, or with `by_priority` the queued run that should start next; returns
    its id, stored spec, seed, epochs already recorded and attempt."""
    if by_priority:
        claimed_id = in_transaction(lambda session: claim_next(session, token),
                                    patience=patience, what=f"claim (notice for run {run_id})")
        if claimed_id is None:
            return None
        run_id = claimed_id
    elif not in_transaction(lambda session: claim_run(session, run_id, token),
                            patience=patience, what=f"claim of run {run_id}"):
        return None

    def read(session: Session) -> Claimed:
        run = session.get_one(Run, run_id)
        return Claimed(run_id, session.get_one(Experiment, run.experiment_id).spec, run.seed,
                       run.epochs_done, run.attempt)

    return in_transaction(read, patience=patience, what=f"read of run {run_id}")


def _checkpoint(settings: Settings, run_id: uuid.UUID, epochs_done: int) -> Checkpointer:
    """The run's checkpoint in the artifact store, which every worker host sees."""
    from worker.training.checkpoint import Checkpointer

    slot = Checkpointer(get_store(), checkpoint_key(run_id), settings.checkpoint_seconds)
    if epochs_done == 0:
        slot.store.delete(slot.key)  # left by an earlier generation of a retried run
    elif slot.store.exists(slot.key):
        log.info("run %s resumes from its checkpoint (%d epoch(s) recorded)", run_id,
                 epochs_done)
    return slot


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


def _epoch_writer(run_id: uuid.UUID, token: str,
                  patience: float) -> Callable[[EpochReport], None]:
    """The per-epoch callback: one metrics row and the parameter snapshots, written only
    while the claim is still ours (again, with backoff, while the database is away: every
    write is an upsert); a cancel request stops training after the epoch."""
    from worker.training import StopRequested

    def on_epoch(report: EpochReport) -> None:
        def write(session: Session) -> bool:
            ours, cancel = touch(session, run_id, token, epochs_done=report.epoch)
            if not ours:
                raise ClaimLost(f"run {run_id} was taken over during epoch {report.epoch}")
            upsert(session, EpochMetric.__table__, [{
                "run_id": run_id, "epoch": report.epoch,
                **{k: _finite(report.metrics.get(k)) for k in METRICS}}],
                keys=("run_id", "epoch"))
            upsert(session, ActivationParam.__table__, [
                {"run_id": run_id, "epoch": report.epoch, "layer": p.layer, "block": p.block,
                 "position": p.position, "name": p.name, "values": p.values}
                for p in report.parameters], keys=("run_id", "epoch", "layer", "name"))
            return cancel

        if in_transaction(write, patience=patience, what=f"epoch {report.epoch} of run {run_id}"):
            raise StopRequested("cancel requested")

    return on_epoch


def _train(config: TrainConfig, device: Any, beat: Heartbeat, settings: Settings,
           checkpoint: Checkpointer, on_epoch: Callable[[EpochReport], None]) -> Outcome:
    from worker.training import lr_range_test, train

    if config.kind == RunKind.lr_range:
        curve = lr_range_test(config, device=device, should_stop=beat.should_stop,
                              data_root=settings.datasets_dir)
        return Outcome(RunStatus.succeeded, {"result": curve.to_dict(), "epochs_done": 1})
    result = train(config, device=device, on_epoch=on_epoch, should_stop=beat.should_stop,
                   checkpoint=checkpoint, data_root=settings.datasets_dir)
    return Outcome(
        RunStatus.succeeded if result.status == "completed" else RunStatus.diverged,
        {"final_metrics": {k: _finite(v) for k, v in result.final_metrics.items()},
         "best_epoch": result.best_epoch, "num_params": result.num_params,
         "macs": result.macs, "activation_macs": result.activation_macs,
         "peak_memory_bytes": result.peak_memory_bytes, "error": result.error,
         "epochs_done": result.epochs_done},
        result.responses, result.best_weights)


def execute_run(run_id: uuid.UUID, worker: str | None = None,
                settings: Settings | None = None, *, by_priority: bool = False) -> str:
    """Train run `run_id` if it can be claimed (with `by_priority`, as a broker notice does:
    whichever queued run should start next). Returns the final status, "duplicate" (nothing
    claimable) or "lost" (another worker took it over)."""
    # Imported here, not at module level: the Celery parent imports this module and must
    # not load torch (CUDA does not survive fork).
    from worker.training import StopRequested, TrainConfig, pick_device
    from worker.training.provenance import provenance

    settings = settings or get_settings()
    patience = settings.db_retry_seconds
    token = f"{worker or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    claimed = _claim(run_id, token, patience, by_priority)
    if claimed is None:
        log.info("run %s not claimable (duplicate delivery or not queued, and no other run "
                 "waiting): skipped by %s", run_id, token)
        return "duplicate"
    if claimed.run_id != run_id:
        log.info("notice for run %s: run %s comes first (priority, then age)", run_id,
                 claimed.run_id)
        run_id = claimed.run_id
    spec, seed, epochs_done = claimed.spec, claimed.seed, claimed.epochs_done
    log.info("run %s running: attempt %d, worker %s, from epoch %d", run_id, claimed.attempt,
             token, epochs_done)
    checkpoint = _checkpoint(settings, run_id, epochs_done)
    config = TrainConfig.from_stored(spec, seed)
    device = pick_device(settings.device)
    total = 1 if config.kind == RunKind.lr_range else config.training.epochs
    origin = provenance(device)
    in_transaction(lambda session: touch(session, run_id, token, device=str(device),
                                         epochs_total=total, provenance=origin),
                   patience=patience, what=f"start of run {run_id}")

    with Heartbeat(run_id, token, settings.heartbeat_seconds) as beat:
        try:
            outcome = _train(config, device, beat, settings, checkpoint,
                             _epoch_writer(run_id, token, patience))
        except ClaimLost as exc:
            log.warning("%s; leaving it to its new owner", exc)
            return "lost"
        except StopRequested:
            if beat.lost.is_set():
                log.warning("run %s was taken over; stopping", run_id)
                return "lost"
            outcome = Outcome(RunStatus.cancelled)
        except Exception as exc:
            log.error("run %s failed:\n%s", run_id, traceback.format_exc())
            outcome = Outcome(RunStatus.failed, {"error": f"{type(exc).__name__}: {exc}"})

    _keep_weights(run_id, outcome, spec, seed, settings)

    def finish(session: Session) -> bool:
        if not finish_run(session, run_id, token, outcome.status, **outcome.values):
            return False
        upsert(session, ResponseCurve.__table__, [
            {"run_id": run_id, "layer": r.layer, "block": r.block, "position": r.position,
             "xs": r.xs, "ys": r.ys} for r in outcome.responses], keys=("run_id", "layer"))
        if settings.keep_weights == "best" and outcome.status == RunStatus.succeeded:
            prune_weights(session, get_store(), session.get_one(Run, run_id).experiment_id)
        return True

    if not in_transaction(finish, patience=patience, what=f"end of run {run_id}"):
        log.warning("run %s: claim lost before the final write; result dropped", run_id)
        return "lost"
    checkpoint.store.delete(checkpoint.key)
    log.info("run %s %s: attempt %d, worker %s%s", run_id, outcome.status.value,
             claimed.attempt, token,
             f" ({outcome.values['error']})" if outcome.values.get("error") else "")
    return outcome.status.value
