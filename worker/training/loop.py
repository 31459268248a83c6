"""train(config, *, device, on_epoch) -> TrainResult: the one loop the worker, CLI and tests use.

Data stays resident on the device and is batched by indexing (no DataLoader: the sets are
small). Every epoch the caller gets the metrics and the activation parameters; checkpoints
are written on the cadence of worker/training/checkpoint.py::Checkpointer. The weights of the
best-validation epoch (the epoch whose numbers the run reports) come back with the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from activations import ParameterSnapshot, activation_parameters
from core.artifacts import LocalStore
from worker.training import batched
from worker.training.checkpoint import SOLO, Checkpointer, load, snapshot
from worker.training.config import TrainConfig
from worker.training.datasets import DataSplits
from worker.training.input_space import InputSpace, applies, picture_epochs
from worker.training.measure import (
    ResponseSample,
    best_epoch,
    count_macs,
    evaluate,
    final_metrics,
    learned_responses,
    peak_memory,
)
from worker.training.optim import make_schedule
from worker.training.setup import DATA_ROOT, Prepared, prepare


class StopRequested(Exception):
    """Raised by a caller's callback (or should_stop) to end training early, e.g. on cancel."""


class Diverged(Exception):
    """The loss stopped being finite; the message says where."""


@dataclass
class EpochReport:
    epoch: int  # 1-based
    epochs: int
    metrics: dict[str, float]
    parameters: list[ParameterSnapshot]
    # 2-D datasets at picture epochs: {"epoch": ..., "classes": ..., "layers": ...}, and on
    # the first one the run's fixed "header" (bounds, training points); input_space.py.
    input_space: dict[str, Any] | None = None


@dataclass
class TrainResult:
    status: str  # completed | diverged
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


def _train_epoch(prep: Prepared, config: TrainConfig, epoch: int,
                 schedule: torch.optim.lr_scheduler.LRScheduler,
                 should_stop: Callable[[], bool] | None) -> dict[str, float]:
    """One pass over the training split; returns the epoch's train_loss and train_accuracy.
    Raises Diverged when the loss stops being finite."""
    settings, model, optimizer = config.training, prep.model, prep.optimizer
    device, n = prep.device, len(prep.train_x)
    steps = math.ceil(n / settings.batch_size)
    # A finiteness check reads the loss back; on CUDA that syncs, so do it every few steps.
    check_every = 25 if device.type == "cuda" else 1
    order = torch.randperm(n, generator=prep.shuffle).to(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise StopRequested(f"stop requested during epoch {epoch}")
        idx = order[step * settings.batch_size:(step + 1) * settings.batch_size]
        xb, yb = prep.train_x[idx], prep.train_y[idx]
        if prep.data.augment is not None:
            xb = prep.data.augment(xb, prep.augment)
        with prep.autocast:
            logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb)
        if (step + 1) % check_every == 0 or step + 1 == steps:
            if not torch.isfinite(loss_sum + loss.detach()):
                raise Diverged(f"training loss became {(loss_sum + loss.detach()).item()} at "
                               f"epoch {epoch}, step {step + 1} of {steps}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        schedule.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(1) == yb).sum()
    # Per example, or per pixel where the labels are masks (segmentation).
    pixels = n * prep.train_y[0].numel()
    return {"train_loss": loss_sum.item() / n, "train_accuracy": correct.item() / pixels}


class SeedTrainer:
    """One seed's training, advanced an epoch at a time, so that the seeds of an experiment
    can train together in one process (`train_group`) while each keeps its own model,
    optimizer, data order and RNG: every seed's numbers equal those of the seed trained
    alone, bit for bit."""

    def __init__(self, config: TrainConfig, device: str | torch.device, data_root: Path,
                 data: DataSplits | None, member: str = SOLO,
                 checkpoint: Checkpointer | None = None) -> None:
        self.config, self.member = config, member
        self.prep = prepare(config, device, data_root, data)
        self.epochs, self.n = config.training.epochs, len(self.prep.train_x)
        self.num_params = sum(p.numel() for p in self.prep.model.parameters())
        self.macs, self.act_macs = count_macs(self.prep.model, self.prep.val_x)
        self.schedule = make_schedule(self.prep.optimizer, config.training,
                                      math.ceil(self.n / config.training.batch_size) * self.epochs)
        resumed = load(self.prep, self.schedule,
                       checkpoint.part(member, self.prep.device) if checkpoint else None)
        self.epoch, self.history, self.best = resumed.epoch, resumed.history, resumed.best
        self.space = InputSpace(self.prep.data, self.prep.device) \
            if applies(self.prep.data) else None
        self.picture_at = set(picture_epochs(self.epochs))
        self.status: str | None = None  # completed | diverged | stopped, once it ends
        self.error: str | None = None
        # The global torch RNG (dropout) is this seed's only while it trains.
        self._rng = _global_rng(self.prep.device)
        self.prep.model.train()

    @property
    def active(self) -> bool:
        return self.status is None

    def next_epoch(self, should_stop: Callable[[], bool] | None) -> EpochReport | None:
        """Train and evaluate one epoch; None when the seed ended instead (`status` says
        how: diverged, or stopped by `should_stop`)."""
        epoch = self.epoch + 1
        _set_global_rng(self.prep.device, self._rng)
        try:
            started = time.perf_counter()
            try:
                metrics = _train_epoch(self.prep, self.config, epoch, self.schedule, should_stop)
            except Diverged as exc:
                return self._end("diverged", str(exc))
            except StopRequested as exc:
                return self._end("stopped", str(exc))
            return self.end_epoch(metrics, time.perf_counter() - started)
        finally:
            self._rng = _global_rng(self.prep.device)

    def end_epoch(self, metrics: dict[str, float], train_seconds: float) -> EpochReport | None:
        """Evaluate the epoch just trained (its training `metrics` and seconds) and record
        it; None when the validation loss shows the seed diverged."""
        prep, epoch = self.prep, self.epoch + 1
        started = time.perf_counter()
        with prep.autocast:
            metrics |= evaluate(prep.model, prep.val_x, prep.val_y)
            metrics |= evaluate(prep.model, prep.test_x, prep.test_y, prefix="test")
        metrics["lr"] = prep.optimizer.param_groups[0]["lr"]
        metrics["epoch_seconds"] = train_seconds + time.perf_counter() - started
        metrics["samples_per_second"] = self.n / train_seconds
        if not math.isfinite(metrics["val_loss"]):
            return self._end("diverged", f"validation loss became {metrics['val_loss']} at "
                                         f"epoch {epoch}")
        self.epoch = epoch
        self.history.append(metrics)
        if best_epoch(self.history) == epoch:
            self.best = {k: v.detach().to("cpu", copy=True) for k, v in
                         prep.model.state_dict().items()}
        if epoch == self.epochs:
            self.status = "completed"
        return EpochReport(epoch, self.epochs, metrics, activation_parameters(prep.model),
                           self._picture(epoch))

    def _picture(self, epoch: int) -> dict[str, Any] | None:
        if self.space is None or epoch not in self.picture_at:
            return None
        picture = self.space.at(self.prep.model, epoch)
        if epoch == min(self.picture_at):
            picture["header"] = self.space.header()
        return picture

    def _end(self, status: str, error: str) -> EpochReport | None:
        self.status, self.error = status, error
        return None

    def part(self) -> dict[str, Any]:
        """This seed's part of a checkpoint."""
        return snapshot(self.prep, self.schedule, self.epoch, self.history, self.best,
                        self.config.to_dict(), self._rng[0])

    def result(self) -> TrainResult:
        history = self.history
        out = TrainResult(
            status="diverged" if self.status == "diverged" else "completed",
            epochs_done=len(history), final_metrics=final_metrics(history),
            best_epoch=best_epoch(history), num_params=self.num_params, macs=self.macs,
            activation_macs=self.act_macs, peak_memory_bytes=peak_memory(self.prep.device),
            device=str(self.prep.device), error=self.error if self.status == "diverged"
            else None, history=history, best_weights=self.best)
        if self.status == "completed":
            out.responses = learned_responses(self.prep.model)
        return out


def _global_rng(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (torch.get_rng_state(),
            torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def _set_global_rng(device: torch.device, state: tuple[torch.Tensor, torch.Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def train_group(
    trainers: list[SeedTrainer],
    *,
    on_epochs: Callable[[list[tuple[SeedTrainer, EpochReport]]], None] | None = None,
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
    seed by setting its status to "stopped". `should_stop(trainer)` is asked between steps.
    One seed that diverges or stops ends alone; the others go on. `on_end(trainer)` is
    called once for each seed, after the round in which it ended. `before_checkpoint()` is
    called before the parts of a checkpoint are chosen, and may end seeds: the runner waits
    there for the epochs it is still writing to the database, which a checkpoint must not
    get ahead of."""
    together = batched.VmappedSeeds() if vmapped else None
    while any(t.active for t in trainers):
        reports = []
        active = [t for t in trainers if t.active]
        if together is not None and len(active) > 1:
            reports = _vmapped_round(together, active, should_stop)
        else:
            if together is not None:
                together.release()
            for trainer in active:
                stop = (lambda t=trainer: should_stop(t)) if should_stop is not None else None
                report = trainer.next_epoch(stop)
                if report is not None:
                    reports.append((trainer, report))
        if on_epochs is not None and reports:
            on_epochs(reports)
        saving = checkpoint is not None and checkpoint.due()
        if saving and before_checkpoint is not None:
            before_checkpoint()
        if on_end is not None:
            for trainer in active:
                if not trainer.active:
                    on_end(trainer)
        running = [t for t in trainers if t.active]
        if saving and checkpoint is not None and running:
            if together is not None:
                together.settle()
            checkpoint.save_parts({t.member: t.part() for t in running})


def _vmapped_round(together: batched.VmappedSeeds, active: list[SeedTrainer],
                   should_stop: Callable[[SeedTrainer], bool] | None
                   ) -> list[tuple[SeedTrainer, EpochReport]]:
    """One epoch of the active seeds as one vmapped model, then each seed's bookkeeping."""
    metrics, seconds = together.train_epoch(active, active[0].epoch + 1, should_stop)
    reports = []
    for trainer, trained in zip(active, metrics, strict=True):
        if trained is None:
            continue
        # Each seed's share of the epoch the seeds trained together.
        report = trainer.end_epoch(trained, seconds / len(active))
        if report is not None:
            reports.append((trainer, report))
    return reports


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
    if trainer.status == "stopped":
        raise StopRequested(trainer.error or "stop requested")
    return trainer.result()
