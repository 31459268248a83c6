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

import torch
import torch.nn.functional as F
from torch import nn

from activations import ParameterSnapshot, activation_parameters
from core.artifacts import LocalStore
from worker.training.checkpoint import Checkpointer
from worker.training.config import TrainConfig
from worker.training.datasets import DataSplits
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
    return {"train_loss": loss_sum.item() / n, "train_accuracy": correct.item() / n}


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
    """`checkpoint` (or `checkpoint_path`, a local file written every epoch): where to save
    and resume from."""
    if checkpoint is None and checkpoint_path is not None:
        checkpoint = Checkpointer(LocalStore(checkpoint_path.parent), checkpoint_path.name)
    prep = prepare(config, device, data_root, data)
    epochs, n = config.training.epochs, len(prep.train_x)
    num_params = sum(p.numel() for p in prep.model.parameters())
    macs, act_macs = count_macs(prep.model, prep.val_x)
    schedule = make_schedule(prep.optimizer, config.training,
                             math.ceil(n / config.training.batch_size) * epochs)
    resumed = checkpoint.restore(prep, schedule) if checkpoint is not None else None
    history = resumed.history if resumed is not None else []
    best = resumed.best if resumed is not None else None

    def result(status: str, error: str | None = None) -> TrainResult:
        return TrainResult(status=status, epochs_done=len(history),
                           final_metrics=final_metrics(history), best_epoch=best_epoch(history),
                           num_params=num_params, macs=macs, activation_macs=act_macs,
                           peak_memory_bytes=peak_memory(prep.device), device=str(prep.device),
                           error=error, history=history, best_weights=best)

    prep.model.train()
    for epoch in range(resumed.epoch + 1 if resumed is not None else 1, epochs + 1):
        started = time.perf_counter()
        try:
            metrics = _train_epoch(prep, config, epoch, schedule, should_stop)
        except Diverged as exc:
            return result("diverged", str(exc))
        train_seconds = time.perf_counter() - started
        with prep.autocast:
            metrics |= evaluate(prep.model, prep.val_x, prep.val_y)
            metrics |= evaluate(prep.model, prep.test_x, prep.test_y, prefix="test")
        metrics["lr"] = prep.optimizer.param_groups[0]["lr"]
        metrics["epoch_seconds"] = time.perf_counter() - started
        metrics["samples_per_second"] = n / train_seconds
        if not math.isfinite(metrics["val_loss"]):
            return result("diverged", f"validation loss became {metrics['val_loss']} "
                                      f"at epoch {epoch}")
        history.append(metrics)
        if best_epoch(history) == epoch:
            best = {k: v.detach().to("cpu", copy=True) for k, v in
                    prep.model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(EpochReport(epoch, epochs, metrics, activation_parameters(prep.model)))
        if checkpoint is not None and epoch < epochs and checkpoint.due():
            checkpoint.save(prep, schedule, epoch, history, best, config.to_dict())

    out = result("completed")
    out.responses = learned_responses(prep.model)
    return out
