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

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.artifacts import checkpoint_key, get_store, prune_weights, weights_key
from core.db import in_transaction, session_scope
from core.lifecycle import claim_group, claim_next, claim_run, finish_run, group_in_use, touch
from core.metrics import METRICS
from core.models import (
    ActivationParam,
    EpochMetric,
    Experiment,
    InputSpacePicture,
    ResponseCurve,
    Run,
)
from core.settings import Settings, get_settings
from core.status import RunKind, RunStatus, TrainStatus
from core.upsert import upsert
from worker.background_writes import BackgroundWrites

if TYPE_CHECKING:
    import torch

    from worker.training import EpochReport
    from worker.training.loop import SeedTrainer

log = logging.getLogger("actlab.runner")


class Heartbeat:
    """Background thread: keeps each member's claim alive and notices, per member, a cancel
    request or a claim taken over, between steps."""

    def __init__(self, claims: dict[uuid.UUID, str], interval: float) -> None:
        self.claims, self.interval = dict(claims), interval
        self._claims_lock = threading.Lock()
        self.cancelled: set[uuid.UUID] = set()
        self.lost: set[uuid.UUID] = set()
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
            with self._claims_lock:
                live = {r: t for r, t in self.claims.items() if r not in self.lost}
            try:
                with session_scope() as session:
                    beats = {r: touch(session, r, t) for r, t in live.items()}
            except Exception:  # a missed beat is fine; the sweeper tolerates several
                log.warning("heartbeat for run(s) %s failed", ", ".join(map(str, live)),
                            exc_info=True)
                continue
            for run_id, (ours, cancel) in beats.items():
                self.mark(run_id, ours, cancel)

    def mark(self, run_id: uuid.UUID, ours: bool, cancel: bool) -> None:
        if not ours:
            self.lost.add(run_id)
        if cancel:
            self.cancelled.add(run_id)

    def release(self, run_id: uuid.UUID) -> None:
        """Stop beating for a run that has ended."""
        with self._claims_lock:
            self.claims.pop(run_id, None)

    def should_stop(self, run_id: uuid.UUID) -> bool:
        return run_id in self.cancelled or run_id in self.lost


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
    token: str
    experiment_id: uuid.UUID
    spec: dict[str, Any]
    seed: int
    epochs_done: int
    attempt: int
    origin: dict[str, Any] | None  # the provenance of its last attempt (None: never started)


def _read(run_ids: list[uuid.UUID], tokens: dict[uuid.UUID, str],
          patience: float) -> list[Claimed]:
    def read(session: Session) -> list[Claimed]:
        out = []
        for run_id in run_ids:
            run = session.get_one(Run, run_id)
            out.append(Claimed(run_id, tokens[run_id], run.experiment_id,
                               session.get_one(Experiment, run.experiment_id).spec, run.seed,
                               run.epochs_done, run.attempt, run.provenance))
        return out

    return in_transaction(read, patience=patience, what="read of run(s) " +
                          ", ".join(map(str, run_ids)))


def _claim(run_id: uuid.UUID, base: str, patience: float, by_priority: bool,
           group_seeds: int) -> list[Claimed]:
    """Claim `run_id`, or with `by_priority` the queued run that should start next, then the
    runs of the same experiment that train with it (at most `group_seeds` in all). The
    leader comes first; empty when nothing could be claimed."""
    tokens: dict[uuid.UUID, str] = {}

    def token_for(rid: uuid.UUID) -> str:
        return tokens.setdefault(rid, f"{base}:{uuid.uuid4().hex[:8]}")

    if by_priority:
        claimed_id = in_transaction(lambda session: claim_next(session, token_for(run_id)),
                                    patience=patience, what=f"claim (notice for run {run_id})")
        if claimed_id is None:
            return []
        tokens[claimed_id] = tokens.pop(run_id)
        run_id = claimed_id
    elif not in_transaction(lambda session: claim_run(session, run_id, token_for(run_id)),
                            patience=patience, what=f"claim of run {run_id}"):
        return []
    leader = _read([run_id], tokens, patience)[0]
    if _kind(leader.spec) != RunKind.train:
        return [leader]
    others = in_transaction(
        lambda session: claim_group(session, run_id, token_for, group_seeds - 1),
        patience=patience, what=f"claim of the seeds that train with run {run_id}")
    return [leader, *(_read(others, tokens, patience) if others else [])]


def _kind(spec: dict[str, Any]) -> RunKind:
    return RunKind(spec.get("kind", RunKind.train.value))


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


def _epoch_writer(members: dict[str, Claimed], beat: Heartbeat,
                  patience: float) -> Callable[[list[tuple[SeedTrainer, EpochReport]]], None]:
    """The per-epoch write: for every seed that finished the epoch, one metrics row and the
    parameter snapshots, all in one transaction (retried with backoff while the database is
    away: every write is an upsert), each only while its claim is still ours. A lost claim
    or a requested cancel is marked on the heartbeat, which the training thread reads."""

    def write_round(reports: list[tuple[SeedTrainer, EpochReport]]) -> None:
        def write(session: Session) -> None:
            for trainer, report in reports:
                run_id, token = members[trainer.member].run_id, members[trainer.member].token
                ours, cancel = touch(session, run_id, token, epochs_done=report.epoch)
                beat.mark(run_id, ours, cancel)
                if not ours:
                    continue
                upsert(session, EpochMetric.__table__, [{
                    "run_id": run_id, "epoch": report.epoch,
                    **{k: _finite(report.metrics.get(k)) for k in METRICS}}],
                    keys=("run_id", "epoch"))
                upsert(session, ActivationParam.__table__, [
                    {"run_id": run_id, "epoch": report.epoch, "layer": p.layer,
                     "block": p.block, "position": p.position, "name": p.name,
                     "values": p.values}
                    for p in report.parameters], keys=("run_id", "epoch", "layer", "name"))
                if report.input_space is not None:
                    picture = dict(report.input_space)
                    header = picture.pop("header", None)
                    upsert(session, InputSpacePicture.__table__, [
                        {"run_id": run_id, "epoch": epoch, "picture": part}
                        for epoch, part in ((0, header), (report.epoch, picture))
                        if part is not None], keys=("run_id", "epoch"))

        in_transaction(write, patience=patience, what="epoch " + ", ".join(
            f"{r.epoch} of run {members[t.member].run_id}" for t, r in reports))

    return write_round


def _outcome(trainer: SeedTrainer | None, beat: Heartbeat, run_id: uuid.UUID,
             error: str | None) -> Outcome | None:
    """What to record for one seed; None when its claim was lost (its new owner records)."""
    if run_id in beat.lost:
        return None
    if trainer is None or (error is not None and trainer.active):
        return Outcome(RunStatus.failed, {"error": error})
    if trainer.status == TrainStatus.stopped:
        return Outcome(RunStatus.cancelled)
    result = trainer.result()
    return Outcome(
        RunStatus.succeeded if result.status == TrainStatus.completed else RunStatus.diverged,
        {"final_metrics": {k: _finite(v) for k, v in result.final_metrics.items()},
         "best_epoch": result.best_epoch, "num_params": result.num_params,
         "macs": result.macs, "activation_macs": result.activation_macs,
         "peak_memory_bytes": result.peak_memory_bytes, "error": result.error,
         "epochs_done": result.epochs_done},
        result.responses, result.best_weights)


def _finish(member: Claimed, outcome: Outcome, settings: Settings) -> str:
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


def _device(settings: Settings) -> torch.device:
    """The device runs train on here, with the CUDA determinism switch set from settings."""
    from worker.training import pick_device
    from worker.training.setup import set_cuda_determinism

    set_cuda_determinism(settings.cuda_deterministic)
    return pick_device(settings.device)


def _lr_range(member: Claimed, settings: Settings) -> str:
    """The LR range test: one seed, one pass, no checkpoint."""
    from worker.training import StopRequested, TrainConfig, lr_range_test
    from worker.training.provenance import provenance

    run_id, token, patience = member.run_id, member.token, settings.db_retry_seconds
    device = _device(settings)
    config = TrainConfig.from_stored(member.spec, member.seed)
    origin = provenance(device, config.training.precision)
    in_transaction(lambda session: touch(session, run_id, token, device=str(device),
                                         epochs_total=1, provenance=origin),
                   patience=patience, what=f"start of run {run_id}")
    with Heartbeat({run_id: token}, settings.heartbeat_seconds) as beat:
        try:
            curve = lr_range_test(config, device=device,
                                  should_stop=lambda: beat.should_stop(run_id),
                                  data_root=settings.datasets_dir)
            outcome = Outcome(RunStatus.succeeded, {"result": curve.to_dict(), "epochs_done": 1})
        except StopRequested:
            outcome = Outcome(RunStatus.cancelled)
        except Exception as exc:
            log.error("run %s failed:\n%s", run_id, traceback.format_exc())
            outcome = Outcome(RunStatus.failed, {"error": f"{type(exc).__name__}: {exc}"})
    if run_id in beat.lost:
        log.warning("run %s was taken over; stopping", run_id)
        return "lost"
    return _finish(member, outcome, settings)


def _group_key(member: Claimed) -> str | None:
    """The checkpoint a seed resumes from: its last group's, or (None) its own."""
    group = (member.origin or {}).get("group")
    return str(group) if group and member.epochs_done > 0 else None


def _train_members(members: list[Claimed], settings: Settings) -> dict[uuid.UUID, str]:
    """Train the claimed seeds of one experiment together (one seed: alone) and record each
    one's end. Returns each run's final status, or "lost"."""
    from worker.training import TrainConfig, batched
    from worker.training.checkpoint import Checkpointer
    from worker.training.loop import SeedTrainer, train_group
    from worker.training.provenance import provenance

    patience = settings.db_retry_seconds
    leader = members[0]
    grouped = len(members) > 1
    device = _device(settings)
    # A group's checkpoint is keyed by its leader: a seed that resumes reads its last group's
    # (or its own) and writes the new one.
    older = {g for m in members if (g := _group_key(m)) is not None and g != str(leader.run_id)}
    checkpoint = Checkpointer(get_store(), checkpoint_key(leader.run_id),
                              settings.checkpoint_seconds,
                              also=tuple(checkpoint_key(g) for g in sorted(older)))
    if leader.epochs_done == 0:
        checkpoint.store.delete(checkpoint.key)  # left by an earlier generation of a retry
    by_member = {str(m.run_id): m for m in members}
    trainers: list[SeedTrainer] = []
    error: str | None = None
    try:
        for m in members:
            if m.epochs_done > 0:
                log.info("run %s resumes from its checkpoint (%d epoch(s) recorded)", m.run_id,
                         m.epochs_done)
            trainers.append(SeedTrainer(
                TrainConfig.from_stored(m.spec, m.seed), device, settings.datasets_dir,
                trainers[0].prep.data if trainers else None, member=str(m.run_id),
                checkpoint=checkpoint if m.epochs_done > 0 else None))
    except Exception as exc:
        log.error("run(s) %s failed to start:\n%s", ", ".join(by_member),
                  traceback.format_exc())
        error = f"{type(exc).__name__}: {exc}"
    checkpoint.forget()
    recipe = TrainConfig.from_stored(leader.spec, leader.seed).training
    origin = provenance(device, recipe.precision)
    if trainers:  # which activation fills each slot (a spec's placement shows here)
        origin["slots"] = trainers[0].prep.slots
    vmapped = False
    if grouped:
        # "batched" as the contract names it: one process; "vmap", the seeds as one model,
        # or "lockstep", each seed its own model stepped in turn (numbers equal to alone).
        origin |= {"mode": "batched", "group": str(leader.run_id), "group_size": len(members)}
        wanted = settings.seed_batching == "vmap" and error is None
        reason = batched.unbatchable(trainers) if wanted else None
        vmapped = wanted and reason is None
        origin["batching"] = "vmap" if vmapped else "lockstep"
        if vmapped:  # under vmap every activation runs its formula, not a fused kernel
            origin["kernels"] = "batched"
        if reason is not None:  # why this group could not train as one model
            origin["batching_reason"] = reason
    total = recipe.epochs

    def start(session: Session) -> None:
        for m in members:
            touch(session, m.run_id, m.token, device=str(device), epochs_total=total,
                  provenance=origin)

    in_transaction(start, patience=patience, what="start of run(s) " + ", ".join(by_member))
    if grouped:
        log.info("runs %s train together (group of %d, %s)", ", ".join(by_member), len(members),
                 origin["batching"] + (f": {origin['batching_reason']}"
                                       if "batching_reason" in origin else ""))

    statuses: dict[uuid.UUID, str] = {}
    # The epochs are written on a thread of their own while training goes on
    # (worker/background_writes.py); a checkpoint and a seed's end wait for them.
    beat = Heartbeat({m.run_id: m.token for m in members}, settings.heartbeat_seconds)
    writes = BackgroundWrites(_epoch_writer(by_member, beat, patience))

    def stop_requested(among: list[SeedTrainer]) -> None:
        """End the seeds whose cancel was requested or whose claim was lost."""
        for trainer in among:
            if trainer.active and beat.should_stop(by_member[trainer.member].run_id):
                trainer.stop("stop requested")

    def on_epochs(reports: list[tuple[SeedTrainer, EpochReport]]) -> None:
        writes.submit(reports)
        stop_requested([trainer for trainer, _ in reports])

    def before_checkpoint() -> None:
        writes.flush()
        stop_requested(trainers)

    def end(member: Claimed, trainer: SeedTrainer | None, error: str | None) -> None:
        """Record one seed's end as soon as it comes: a diverged or cancelled seed does not
        show as running while the rest of its group trains."""
        try:
            writes.flush()  # its epochs first, and whether its claim is still ours
        except Exception as exc:
            log.error("run(s) %s: epoch write failed:\n%s", ", ".join(by_member),
                      traceback.format_exc())
            trainer, error = None, f"{type(exc).__name__}: {exc}"
        beat.release(member.run_id)
        outcome = _outcome(trainer, beat, member.run_id, error)
        if outcome is None:
            log.warning("run %s was taken over; leaving it to its new owner", member.run_id)
            statuses[member.run_id] = "lost"
        else:
            statuses[member.run_id] = _finish(member, outcome, settings)

    with beat, writes:
        if error is None:
            try:
                train_group(trainers, on_epochs=on_epochs,
                            should_stop=lambda t: beat.should_stop(by_member[t.member].run_id),
                            checkpoint=checkpoint, before_checkpoint=before_checkpoint,
                            vmapped=vmapped,
                            on_end=lambda t: end(by_member[t.member], t, None))
            except Exception as exc:
                log.error("run(s) %s failed:\n%s", ", ".join(by_member), traceback.format_exc())
                error = f"{type(exc).__name__}: {exc}"
        for i, m in enumerate(members):
            if m.run_id not in statuses:
                end(m, trainers[i] if i < len(trainers) else None, error)
    _drop_checkpoints(leader.experiment_id, [checkpoint.key, *checkpoint.also],
                      [str(leader.run_id), *sorted(older)], patience)
    return statuses


def _drop_checkpoints(experiment_id: uuid.UUID, keys: list[str], groups: list[str],
                      patience: float) -> None:
    """Delete the checkpoints no queued or running run counts on any more (a seed taken over
    by another worker resumes from its group's)."""
    for key, group in zip(keys, groups, strict=True):
        def in_use(session: Session, g: str = group) -> bool:
            return group_in_use(session, experiment_id, g)

        if not in_transaction(in_use, patience=patience, what="checkpoint clean-up"):
            get_store().delete(key)


def execute_run(run_id: uuid.UUID, worker: str | None = None,
                settings: Settings | None = None, *, by_priority: bool = False) -> str:
    """Train run `run_id` if it can be claimed (with `by_priority`, as a broker notice does:
    whichever queued run should start next), together with the queued seeds of its
    experiment that can join it (`ACTLAB_GROUP_SEEDS`). Returns the claimed run's final
    status, "duplicate" (nothing claimable) or "lost" (another worker took it over)."""
    settings = settings or get_settings()
    base = f"{worker or socket.gethostname()}:{os.getpid()}"
    members = _claim(run_id, base, settings.db_retry_seconds, by_priority,
                     settings.group_seeds)
    if not members:
        log.info("run %s not claimable (duplicate delivery or not queued, and no other run "
                 "waiting): skipped by %s", run_id, base)
        return "duplicate"
    leader = members[0]
    if leader.run_id != run_id:
        log.info("notice for run %s: run %s comes first (priority, then age)", run_id,
                 leader.run_id)
    for m in members:
        log.info("run %s running: attempt %d, worker %s, from epoch %d", m.run_id, m.attempt,
                 m.token, m.epochs_done)
    if _kind(leader.spec) == RunKind.lr_range:
        return _lr_range(leader, settings)
    status = _train_members(members, settings)[leader.run_id]
    _step_search(leader.experiment_id, settings)
    return status


def _step_search(experiment_id: uuid.UUID, settings: Settings) -> None:
    """A search's run ended: let its driver take the next step now, in this process."""
    with session_scope() as session:
        search_id = session.scalar(select(Experiment.search_id)
                                   .where(Experiment.id == experiment_id))
    if search_id is None:
        return
    from worker.search.driver import advance

    try:
        advance(search_id, settings)
    except Exception:  # the sweeper steps it again later
        log.exception("search %s: step after run failed", search_id)
