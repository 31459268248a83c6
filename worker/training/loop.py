"""train(config, *, device, on_epoch) -> TrainResult: the one loop the worker, CLI and tests use.

Data stays resident on the device and is batched by indexing (no DataLoader: the sets are
small). Every epoch the caller gets the metrics and the activation parameters; checkpoints
are written on the cadence of worker/training/checkpoint.py::Checkpointer. The weights of the
best-validation epoch (the epoch whose numbers the run reports) come back with the result.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from activations import ParameterSnapshot, activation_parameters
from core.domain.status import TrainStatus
from core.store.artifacts import LocalStore
from worker.training.batched import VmappedSeeds
from worker.training.cett import CettProbe
from worker.training.checkpoint import SOLO, Checkpointer, load, snapshot
from worker.training.config import TrainConfig
from worker.training.datasets import DataSplits
from worker.training.input_space import InputSpace, applies, picture_epochs
from worker.training.measure import (
    ResponseSample,
    SlotSparsity,
    SparsityProbe,
    best_epoch,
    count_macs,
    final_metrics,
    learned_responses,
    mean_sparsity,
    peak_memory,
)
from worker.training.objectives import objective_for
from worker.training.optim import make_schedule
from worker.training.setup import DATA_ROOT, prepare
from worker.training.step import Member, OneSeed, SeedEpoch, StopRequested, train_epoch


@dataclass
class EpochReport:
    epoch: int  # 1-based
    epochs: int
    metrics: dict[str, float]
    parameters: list[ParameterSnapshot]
    # 2-D datasets at picture epochs: {"epoch": ..., "classes": ..., "layers": ...}, and on
    # the first one the run's fixed "header" (bounds, training points); input_space.py.
    input_space: dict[str, Any] | None = None
    # Each activation slot's zero and near-zero fractions on the validation split.
    sparsity: list[SlotSparsity] = field(default_factory=list)


@dataclass
class TrainResult:
    status: TrainStatus  # completed | diverged (a stopped seed has no result)
    epochs_done: int
    final_metrics: dict[str, float]
    best_epoch: int | None
    num_params: int
    macs: int  # layers and activations together
    peak_memory_bytes: int
    device: str
    error: str | None = None
    activation_macs: int = 0  # the activations' share of macs
    responses: list[ResponseSample] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    # The model's state at best_epoch, on the CPU (None when no epoch finished).
    best_weights: dict[str, torch.Tensor] | None = None


class SeedTrainer:
    """One seed's training, advanced an epoch at a time, so that the seeds of an experiment
    can train together in one process (`train_group`) while each keeps its own model,
    optimizer, data order and RNG. The trainer owns its state: engines return each epoch's
    outcome (worker/training/step.py) and the trainer applies it. Trained alone or in
    lockstep, a seed's numbers equal those of `train` bit for bit; vmapped, within float
    tolerance (docs/explanation/reliability.md, "Seeds trained together")."""

    def __init__(self, config: TrainConfig, device: str | torch.device, data_root: Path,
                 data: DataSplits | None, member: str = SOLO,
                 checkpoint: Checkpointer | None = None) -> None:
        self.config, self.member = config, member
        self.prep = prepare(config, device, data_root, data)
        self.objective = objective_for(self.prep.data)
        self.epochs, self.n = config.training.epochs, len(self.prep.train_x)
        self.num_params = sum(p.numel() for p in self.prep.model.parameters())
        self.macs, self.act_macs = count_macs(self.prep.model, self.prep.val_x)
        self.schedule = make_schedule(self.prep.optimizer, config.training,
                                      math.ceil(self.n / config.training.batch_size) * self.epochs)
        self._schedule_stepped = False
        resumed = load(self.prep, self.schedule,
                       checkpoint.part(member, self.prep.device) if checkpoint else None)
        self.epoch, self.history, self.best = resumed.epoch, resumed.history, resumed.best
        self.space = InputSpace(self.prep.data, self.prep.device) \
            if applies(self.prep.data) else None
        self.picture_at = set(picture_epochs(self.epochs))
        self.status: TrainStatus | None = None  # once it ends
        self.error: str | None = None
        # The global torch RNG (dropout) is this seed's only while it trains.
        self._rng = _global_rng(self.prep.device)
        self.prep.model.train()

    @property
    def active(self) -> bool:
        return self.status is None

    def step_schedule(self) -> None:
        """Advance the learning-rate schedule one step. Under vmap the seed's own optimizer
        never steps (the stack's does), which torch warns of at a schedule's first step."""
        if self._schedule_stepped:
            self.schedule.step()
            return
        self._schedule_stepped = True
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=re.escape(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`"))
            self.schedule.step()

    def stop(self, why: str) -> None:
        """End this seed now (a cancel, or its claim lost), unless it has already ended."""
        if self.active:
            self._end(TrainStatus.stopped, why)

    def next_epoch(self, should_stop: Callable[[], bool] | None) -> EpochReport | None:
        """Train and evaluate one epoch on the seed's own model; None when the seed ended
        instead (`status` says how: diverged, or stopped by `should_stop`)."""
        _set_global_rng(self.prep.device, self._rng)
        try:
            started = time.perf_counter()
            outcome, = train_epoch(OneSeed(self.prep), [self], self.epoch + 1,
                                   (lambda _: should_stop()) if should_stop else None)
            return self.apply(outcome, time.perf_counter() - started)
        finally:
            self._rng = _global_rng(self.prep.device)

    def apply(self, outcome: SeedEpoch, train_seconds: float) -> EpochReport | None:
        """Record an epoch an engine trained: evaluate and report it, or end the seed as the
        engine found it ended."""
        if outcome.metrics is None:
            return self._end(outcome.ended or TrainStatus.stopped, outcome.error or "")
        return self.end_epoch(outcome.metrics, train_seconds)

    def end_epoch(self, metrics: dict[str, float], train_seconds: float) -> EpochReport | None:
        """Evaluate the epoch just trained (its training `metrics` and seconds) and record
        it; None when the validation loss shows the seed diverged."""
        prep, epoch = self.prep, self.epoch + 1
        started = time.perf_counter()
        with prep.autocast:
            with SparsityProbe(prep.model) as probe, \
                    CettProbe(prep.model, self.config.training.sparsity_cett) as cett_probe:
                metrics |= self.objective.evaluate(prep.model, prep.val_x, prep.val_y)
            metrics |= self.objective.evaluate(prep.model, prep.test_x, prep.test_y,
                                               prefix="test")
        sparsity = probe.result()
        metrics["val_sparsity"] = mean_sparsity(sparsity)
        if (cett := cett_probe.result()) is not None:  # models with FFN slots
            metrics["val_sparsity_cett"] = cett
        metrics["lr"] = prep.optimizer.param_groups[0]["lr"]
        metrics["epoch_seconds"] = train_seconds + time.perf_counter() - started
        metrics["samples_per_second"] = self.n / train_seconds
        if not math.isfinite(metrics["val_loss"]):
            return self._end(TrainStatus.diverged,
                             f"validation loss became {metrics['val_loss']} at epoch {epoch}")
        self.epoch = epoch
        self.history.append(metrics)
        if best_epoch(self.history, self.objective.selection) == epoch:
            self.best = {k: v.detach().to("cpu", copy=True) for k, v in
                         prep.model.state_dict().items()}
        if epoch == self.epochs:
            self.status = TrainStatus.completed
        return EpochReport(epoch, self.epochs, metrics, activation_parameters(prep.model),
                           self._picture(epoch), sparsity)

    def _picture(self, epoch: int) -> dict[str, Any] | None:
        if self.space is None or epoch not in self.picture_at:
            return None
        picture = self.space.at(self.prep.model, epoch)
        if epoch == min(self.picture_at):
            picture["header"] = self.space.header()
        return picture

    def _end(self, status: TrainStatus, error: str) -> EpochReport | None:
        self.status, self.error = status, error
        return None

    def part(self) -> dict[str, Any]:
        """This seed's part of a checkpoint."""
        return snapshot(self.prep, self.schedule, self.epoch, self.history, self.best,
                        self.config.to_dict(), self._rng[0])

    def result(self) -> TrainResult:
        history, diverged = self.history, self.status == TrainStatus.diverged
        out = TrainResult(
            status=TrainStatus.diverged if diverged else TrainStatus.completed,
            epochs_done=len(history),
            final_metrics=final_metrics(history, self.objective.selection),
            best_epoch=best_epoch(history, self.objective.selection),
            num_params=self.num_params, macs=self.macs,
            activation_macs=self.act_macs, peak_memory_bytes=peak_memory(self.prep.device),
            device=str(self.prep.device), error=self.error if diverged else None,
            history=history, best_weights=self.best)
        if self.status == TrainStatus.completed:
            out.responses = learned_responses(self.prep.model)
        return out


def _global_rng(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (torch.get_rng_state(),
            torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def _set_global_rng(device: torch.device, state: tuple[torch.Tensor, torch.Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


Reports = list[tuple[SeedTrainer, EpochReport]]


@dataclass(frozen=True)
class _Hooks:
    """What a caller of `train_group` is told, each a no-op unless given."""

    on_epochs: Callable[[Reports], None] | None = None
    should_stop: Callable[[SeedTrainer], bool] | None = None
    on_end: Callable[[SeedTrainer], None] | None = None
    before_checkpoint: Callable[[], None] | None = None

    def epochs(self, reports: Reports) -> None:
        if self.on_epochs is not None and reports:
            self.on_epochs(reports)

    def stop(self, trainer: Member) -> bool:
        return (self.should_stop is not None and isinstance(trainer, SeedTrainer)
                and self.should_stop(trainer))

    def ended(self, trainers: list[SeedTrainer]) -> None:
        for trainer in trainers:
            if not trainer.active and self.on_end is not None:
                self.on_end(trainer)

    def checkpointing(self) -> None:
        if self.before_checkpoint is not None:
            self.before_checkpoint()


def train_group(
    trainers: list[SeedTrainer],
    *,
    on_epochs: Callable[[Reports], None] | None = None,
    should_stop: Callable[[SeedTrainer], bool] | None = None,
    checkpoint: Checkpointer | None = None,
    on_end: Callable[[SeedTrainer], None] | None = None,
    before_checkpoint: Callable[[], None] | None = None,
    vmapped: bool = False,
) -> None:
    """Advance every seed an epoch at a time until each has ended (its `status`): in turn
    ("lockstep"), or with `vmapped` as one model (worker/training/batched.py; the caller
    checks `unbatchable` first).

    `on_epochs` gets each round's reports together (one write for all seeds); it may end a
    seed (`SeedTrainer.stop`). `should_stop(trainer)` is asked between steps. One seed that
    diverges or stops ends alone; the others go on. `on_end(trainer)` is called once for
    each seed, after the round in which it ended. `before_checkpoint()` is called before the
    parts of a checkpoint are chosen, and may end seeds: the runner waits there for the
    epochs it is still writing to the database, which a checkpoint must not get ahead of."""
    hooks = _Hooks(on_epochs, should_stop, on_end, before_checkpoint)
    together = VmappedSeeds() if vmapped else None
    while active := [t for t in trainers if t.active]:
        hooks.epochs(_round(together, active, hooks))
        saving = checkpoint is not None and checkpoint.due()
        if saving:
            hooks.checkpointing()
        hooks.ended(active)
        running = [t for t in trainers if t.active]
        if saving and checkpoint is not None and running:
            if together is not None:
                together.settle()
            checkpoint.save_parts({t.member: t.part() for t in running})


def _round(together: VmappedSeeds | None, active: list[SeedTrainer], hooks: _Hooks) -> Reports:
    """One epoch of the active seeds: as one vmapped model when there is one and more than
    one seed is left, otherwise each on its own model in turn."""
    if together is not None and len(active) > 1:
        outcomes, seconds = together.train_epoch(list(active), active[0].epoch + 1, hooks.stop)
        # Each seed's share of the epoch the seeds trained together.
        pairs = [(t, t.apply(o, seconds / len(active))) for t, o in zip(active, outcomes,
                                                                        strict=True)]
    else:
        if together is not None:
            together.release()
        pairs = [(t, t.next_epoch(partial(hooks.stop, t))) for t in active]
    return [(t, report) for t, report in pairs if report is not None]


def train(
    config: TrainConfig,
    *,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint: Checkpointer | None = None,
    checkpoint_path: Path | None = None,
    data_root: Path = DATA_ROOT,
    data: DataSplits | None = None,
) -> TrainResult:
    """One seed. `checkpoint` (or `checkpoint_path`, a local file written every epoch):
    where to save and resume from. A StopRequested from `on_epoch` or `should_stop` ends
    training and propagates."""
    if checkpoint is None and checkpoint_path is not None:
        checkpoint = Checkpointer(LocalStore(checkpoint_path.parent), checkpoint_path.name)
    trainer = SeedTrainer(config, device, data_root, data, checkpoint=checkpoint)

    def each(reports: list[tuple[SeedTrainer, EpochReport]]) -> None:
        if on_epoch is not None:
            for _, report in reports:
                on_epoch(report)

    train_group([trainer], on_epochs=each,
                should_stop=(lambda _: should_stop()) if should_stop is not None else None,
                checkpoint=checkpoint)
    if trainer.status == TrainStatus.stopped:
        raise StopRequested(trainer.error or "stop requested")
    return trainer.result()
