"""One claimed group of seeds trained and recorded, as an object with named phases:

    run = GroupRun(members, settings)
    run.build()    # the device, the group's checkpoint, one SeedTrainer per seed
    run.start()    # the plan (batching and provenance) recorded on every run
    run.train()    # epochs, each round written on a background thread; each seed's end
    run.finish()   # checkpoints no run counts on any more deleted

A seed that fails to build fails the group; one that diverges, is cancelled or loses its
claim ends alone while the others go on (its end is recorded as soon as it comes).
"""

from __future__ import annotations

import logging
import traceback
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core.domain.metrics import METRICS
from core.domain.settings import Settings
from core.domain.status import RunStatus, TrainStatus
from core.store.artifacts import checkpoint_key, get_store
from core.store.db import in_transaction
from core.store.lifecycle import group_in_use, hand_over, touch
from core.store.models import ActivationParam, EpochMetric, InputSpacePicture, SlotSparsity
from core.store.upsert import upsert
from worker import handover
from worker.background_writes import BackgroundWrites
from worker.claims import Claimed
from worker.heartbeat import Heartbeat
from worker.outcomes import Outcome, finite, record_end

if TYPE_CHECKING:
    import torch

    from worker.training import EpochReport
    from worker.training.checkpoint import Checkpointer
    from worker.training.loop import SeedTrainer

    Reports = list[tuple[SeedTrainer, EpochReport]]

log = logging.getLogger("actlab.runner")

LOST = "lost"  # what a seed's end reads when another worker took its claim over
HANDED_OVER = "handed over"  # queued again because this worker is stopping


@dataclass(frozen=True)
class Plan:
    """How a group trains, and the provenance each of its runs records."""

    vmapped: bool
    provenance: dict[str, Any]

    @property
    def described(self) -> str:
        reason = self.provenance.get("batching_reason")
        return str(self.provenance.get("batching", "alone")) + (f": {reason}" if reason else "")


def plan(members: list[Claimed], trainers: list[SeedTrainer], device: torch.device,
         settings: Settings, built: bool) -> Plan:
    """Batching and provenance, decided once: one seed trains alone; a group trains as one
    vmapped model where `ACTLAB_SEED_BATCHING=vmap` asks and the seeds allow
    (worker/training/batched.py says why not), else in lockstep."""
    from worker.training import TrainConfig, batched
    from worker.training.provenance import provenance
    from worker.training.setup import ungated_param_count

    leader = members[0]
    origin = provenance(device, TrainConfig.from_stored(leader.spec, leader.seed)
                        .training.precision)
    if trainers:  # which activation fills each slot (a spec's placement shows here)
        origin["slots"] = trainers[0].prep.slots
        if trainers[0].prep.data.source is not None:  # e.g. a text corpus's hash
            origin["data"] = trainers[0].prep.data.source
        if leader.spec.get("match"):  # a matched sweep's: both models' sizes as built
            from worker.training.matched import match_provenance

            origin["match"] = match_provenance(leader.spec["match"], trainers[0])
        if trainers[0].config.gated:  # both counts, so "parameter-matched" shows on the run
            origin["parameters"] = {"built": trainers[0].num_params,
                                    "ungated": ungated_param_count(trainers[0].config,
                                                                   trainers[0].prep.data)}
    if len(members) == 1:
        return Plan(False, origin)
    # "batched" as the contract names it: one process; "vmap", the seeds as one model,
    # or "lockstep", each seed its own model stepped in turn (numbers equal to alone).
    origin |= {"mode": "batched", "group": str(leader.run_id), "group_size": len(members)}
    wanted = settings.seed_batching == "vmap" and built
    reason = batched.unbatchable(trainers) if wanted else None
    vmapped = wanted and reason is None
    origin["batching"] = "vmap" if vmapped else "lockstep"
    if vmapped:  # under vmap every activation runs its formula, not a fused kernel
        origin["kernels"] = "batched"
    if reason is not None:  # why this group could not train as one model
        origin["batching_reason"] = reason
    return Plan(vmapped, origin)


def device_for(settings: Settings, spec: dict[str, Any]) -> torch.device:
    """The device a run trains on here (the CPU when its resources ask for one), with the
    CUDA determinism switch set from settings."""
    from worker.devices import device_for_run
    from worker.training import pick_device
    from worker.training.setup import set_cuda_determinism

    set_cuda_determinism(settings.cuda_deterministic)
    return pick_device(device_for_run(settings, spec))


def _group_key(member: Claimed) -> str | None:
    """The checkpoint a seed resumes from: its last group's, or (None) its own."""
    group = (member.origin or {}).get("group")
    return str(group) if group and member.epochs_done > 0 else None


class GroupRun:
    """The claimed seeds of one experiment, trained together (one seed: alone)."""

    def __init__(self, members: list[Claimed], settings: Settings) -> None:
        self.members, self.settings = members, settings
        self.leader = members[0]
        self.patience = settings.db_retry_seconds
        self.by_member = {str(m.run_id): m for m in members}
        self.trainers: list[SeedTrainer] = []
        self.error: str | None = None  # why the group failed, once it has
        self.statuses: dict[uuid.UUID, str] = {}  # each run's final status, or LOST
        self.handed_over: list[uuid.UUID] = []  # runs given back to the queue (SIGTERM)
        # A group's checkpoint is keyed by its leader: a seed that resumes reads its last
        # group's (or its own) and writes the new one.
        self.older = sorted({g for m in members if (g := _group_key(m)) is not None
                             and g != str(self.leader.run_id)})
        self.beat = Heartbeat({m.run_id: m.token for m in members}, settings.heartbeat_seconds)
        # The epochs are written on a thread of their own while training goes on
        # (worker/background_writes.py); a checkpoint and a seed's end wait for them.
        self.writes: BackgroundWrites[Reports] = BackgroundWrites(self._write_epochs)

    @property
    def _names(self) -> str:
        return ", ".join(self.by_member)

    # -- build ---------------------------------------------------------------------------

    def build(self) -> None:
        """The device, the checkpoint and a trainer per seed; a failure is the group's."""
        from worker.training import TrainConfig
        from worker.training.checkpoint import Checkpointer
        from worker.training.loop import SeedTrainer

        self.device = device_for(self.settings, self.leader.spec)
        self.checkpoint: Checkpointer = Checkpointer(
            get_store(), checkpoint_key(self.leader.run_id), self.settings.checkpoint_seconds,
            also=tuple(checkpoint_key(g) for g in self.older))
        if self.leader.epochs_done == 0:
            # left by an earlier generation of a retry
            self.checkpoint.store.delete(self.checkpoint.key)
        try:
            for m in self.members:
                if m.epochs_done > 0:
                    log.info("run %s resumes from its checkpoint (%d epoch(s) recorded)",
                             m.run_id, m.epochs_done)
                self.trainers.append(SeedTrainer(
                    TrainConfig.from_stored(m.spec, m.seed), self.device,
                    self.settings.datasets_dir,
                    self.trainers[0].prep.data if self.trainers else None,
                    member=str(m.run_id),
                    checkpoint=self.checkpoint if m.epochs_done > 0 else None))
        except Exception as exc:
            log.error("run(s) %s failed to start:\n%s", self._names, traceback.format_exc())
            self.error = f"{type(exc).__name__}: {exc}"
        self.checkpoint.forget()

    # -- start ---------------------------------------------------------------------------

    def start(self) -> None:
        """Record on every run where and how it trains."""
        from worker.training import TrainConfig

        self.plan = plan(self.members, self.trainers, self.device, self.settings,
                         built=self.error is None)
        total = TrainConfig.from_stored(self.leader.spec, self.leader.seed).training.epochs

        def start(session: Session) -> None:
            for m in self.members:
                touch(session, m.run_id, m.token, device=str(self.device), epochs_total=total,
                      provenance=self.plan.provenance)

        in_transaction(start, patience=self.patience, what=f"start of run(s) {self._names}")
        if len(self.members) > 1:
            log.info("runs %s train together (group of %d, %s)", self._names,
                     len(self.members), self.plan.described)

    # -- per epoch -----------------------------------------------------------------------

    def _write_epochs(self, reports: Reports) -> None:
        """For every seed that finished the epoch, one metrics row and the parameter
        snapshots, all in one transaction (retried with backoff while the database is away:
        every write is an upsert), each only while its claim is still ours. A lost claim or
        a requested cancel is marked on the heartbeat, which the training thread reads."""

        def write(session: Session) -> None:
            for trainer, report in reports:
                member = self.by_member[trainer.member]
                ours, cancel = touch(session, member.run_id, member.token,
                                     epochs_done=report.epoch)
                self.beat.mark(member.run_id, ours, cancel)
                if ours:
                    _upsert_epoch(session, member.run_id, report)

        in_transaction(write, patience=self.patience, what="epoch " + ", ".join(
            f"{r.epoch} of run {self.by_member[t.member].run_id}" for t, r in reports))

    def on_epochs(self, reports: Reports) -> None:
        self.writes.submit(reports)
        self._stop_requested([trainer for trainer, _ in reports])

    def before_checkpoint(self) -> None:
        self.writes.flush()
        self._stop_requested(self.trainers)

    def should_stop(self, trainer: SeedTrainer) -> bool:
        return handover.requested.is_set() or \
            self.beat.should_stop(self.by_member[trainer.member].run_id)

    def _stop_requested(self, among: list[SeedTrainer]) -> None:
        """End the seeds whose cancel was requested or whose claim was lost."""
        for trainer in among:
            if self.should_stop(trainer):
                trainer.stop("stop requested")

    # -- end of a seed -------------------------------------------------------------------

    def on_end(self, trainer: SeedTrainer) -> None:
        self.end(self.by_member[trainer.member], trainer, None)

    def end(self, member: Claimed, trainer: SeedTrainer | None, error: str | None) -> None:
        """Record one seed's end as soon as it comes: a diverged or cancelled seed does not
        show as running while the rest of its group trains."""
        try:
            self.writes.flush()  # its epochs first, and whether its claim is still ours
        except Exception as exc:
            log.error("run(s) %s: epoch write failed:\n%s", self._names,
                      traceback.format_exc())
            trainer, error = None, f"{type(exc).__name__}: {exc}"
        self.beat.release(member.run_id)
        if self._handing_over(member, trainer):
            return
        outcome = self._outcome(trainer, member.run_id, error)
        if outcome is None:
            log.warning("run %s was taken over; leaving it to its new owner", member.run_id)
            self.statuses[member.run_id] = LOST
        else:
            self.statuses[member.run_id] = record_end(member, outcome, self.settings)

    def _handing_over(self, member: Claimed, trainer: SeedTrainer | None) -> bool:
        """A seed stopped because this worker is stopping (not cancelled, not taken over):
        its run goes back to the queue now, to resume from its checkpoint elsewhere."""
        if not (handover.requested.is_set() and trainer is not None
                and trainer.status == TrainStatus.stopped
                and member.run_id not in self.beat.cancelled | self.beat.lost):
            return False
        given = in_transaction(lambda session: hand_over(session, member.run_id, member.token),
                               patience=self.patience, what=f"hand-over of run {member.run_id}")
        self.statuses[member.run_id] = HANDED_OVER if given else LOST
        if given:
            self.handed_over.append(member.run_id)
            log.warning("run %s handed over: queued again, to resume from its checkpoint",
                        member.run_id)
        return True

    def _outcome(self, trainer: SeedTrainer | None, run_id: uuid.UUID,
                 error: str | None) -> Outcome | None:
        """What to record for one seed; None when its claim was lost (its new owner
        records)."""
        if run_id in self.beat.lost:
            return None
        if trainer is None or (error is not None and trainer.active):
            return Outcome(RunStatus.failed, {"error": error})
        if trainer.status == TrainStatus.stopped:
            return Outcome(RunStatus.cancelled)
        result = trainer.result()
        return Outcome(
            RunStatus.succeeded if result.status == TrainStatus.completed
            else RunStatus.diverged,
            {"final_metrics": {k: finite(v) for k, v in result.final_metrics.items()},
             "best_epoch": result.best_epoch, "num_params": result.num_params,
             "macs": result.macs, "activation_macs": result.activation_macs,
             "peak_memory_bytes": result.peak_memory_bytes, "error": result.error,
             "epochs_done": result.epochs_done},
            result.responses, result.best_weights)

    # -- train ---------------------------------------------------------------------------

    def train(self) -> None:
        """Every seed's epochs to its end; then every seed not yet recorded ends with the
        group's error (or its own state)."""
        from worker.training.loop import train_group

        with self.beat, self.writes:
            if self.error is None:
                try:
                    train_group(self.trainers, on_epochs=self.on_epochs,
                                should_stop=self.should_stop, checkpoint=self.checkpoint,
                                before_checkpoint=self.before_checkpoint,
                                vmapped=self.plan.vmapped, on_end=self.on_end)
                except Exception as exc:
                    log.error("run(s) %s failed:\n%s", self._names, traceback.format_exc())
                    self.error = f"{type(exc).__name__}: {exc}"
            for i, m in enumerate(self.members):
                if m.run_id not in self.statuses:
                    self.end(m, self.trainers[i] if i < len(self.trainers) else None,
                             self.error)

    # -- finish --------------------------------------------------------------------------

    def finish(self) -> dict[uuid.UUID, str]:
        """Delete the checkpoints no queued or running run counts on any more (a seed taken
        over by another worker resumes from its group's); each run's final status."""
        if self.handed_over:  # they resume from these checkpoints; their next worker cleans
            return self.statuses
        keys = [self.checkpoint.key, *self.checkpoint.also]
        groups = [str(self.leader.run_id), *self.older]
        for key, group in zip(keys, groups, strict=True):
            def in_use(session: Session, g: str = group) -> bool:
                return group_in_use(session, self.leader.experiment_id, g)

            if not in_transaction(in_use, patience=self.patience, what="checkpoint clean-up"):
                get_store().delete(key)
        return self.statuses


def _upsert_epoch(session: Session, run_id: uuid.UUID, report: EpochReport) -> None:
    """One seed's epoch: its metrics row, its parameter snapshots, each slot's sparsity and,
    at picture epochs, its input-space picture (the run's fixed header at epoch 0)."""
    upsert(session, EpochMetric.__table__, [{
        "run_id": run_id, "epoch": report.epoch,
        **{k: finite(report.metrics.get(k)) for k in METRICS}}], keys=("run_id", "epoch"))
    upsert(session, ActivationParam.__table__, [
        {"run_id": run_id, "epoch": report.epoch, "layer": p.layer, "block": p.block,
         "position": p.position, "name": p.name, "values": p.values}
        for p in report.parameters], keys=("run_id", "epoch", "layer", "name"))
    upsert(session, SlotSparsity.__table__, [
        {"run_id": run_id, "epoch": report.epoch, "layer": slot.layer,
         "zero_fraction": slot.zero_fraction, "small_fraction": slot.small_fraction}
        for slot in report.sparsity], keys=("run_id", "epoch", "layer"))
    if report.input_space is not None:
        picture = dict(report.input_space)
        header = picture.pop("header", None)
        upsert(session, InputSpacePicture.__table__, [
            {"run_id": run_id, "epoch": epoch, "picture": part}
            for epoch, part in ((0, header), (report.epoch, picture)) if part is not None],
            keys=("run_id", "epoch"))


def train_group_of(members: list[Claimed], settings: Settings) -> dict[uuid.UUID, str]:
    """Train the claimed seeds of one experiment together and record each one's end: each
    run's final status, or LOST."""
    run = GroupRun(members, settings)
    run.build()
    run.start()
    run.train()
    statuses = run.finish()
    if run.handed_over:  # for a worker that is not stopping
        from core.store.queue import send_run_notices

        send_run_notices(run.handed_over, settings)
    return statuses
