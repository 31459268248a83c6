"""The learning-rate range test (Smith 2017, "Cyclical learning rates", section 3.3):
train for a few hundred steps while the learning rate grows exponentially from lr_min to
lr_max, record the (smoothed) loss, stop once it explodes, and suggest the learning rate
where the smoothed loss falls fastest per decade of lr."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worker.training.config import TrainConfig
from worker.training.datasets import DataSplits
from worker.training.objectives import objective_for
from worker.training.setup import DATA_ROOT, prepare
from worker.training.step import OneSeed, StopRequested, forward, update

SMOOTHING = 0.9  # exponential moving average of the loss, bias-corrected
EXPLODE = 4.0  # stop once the smoothed loss exceeds 4x its minimum


@dataclass
class LrRangeResult:
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested_lr: float | None  # steepest descent of the smoothed loss
    min_loss_lr: float | None  # where the smoothed loss was lowest
    stopped_early: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lr_schedule(lr_min: float, lr_max: float, steps: int) -> list[float]:
    return [float(v) for v in np.geomspace(lr_min, lr_max, steps)]


def find_lr(step: Callable[[float], float], lrs: list[float]) -> LrRangeResult:
    """Run `step(lr) -> loss` for each lr in order and analyse the curve."""
    losses: list[float] = []
    smoothed: list[float] = []
    avg, best, stopped = 0.0, math.inf, False
    for i, lr in enumerate(lrs):
        loss = step(lr)
        if not math.isfinite(loss):
            stopped = True
            break
        avg = SMOOTHING * avg + (1 - SMOOTHING) * loss
        value = avg / (1 - SMOOTHING ** (i + 1))
        losses.append(loss)
        smoothed.append(value)
        best = min(best, value)
        if value > EXPLODE * best and i > 5:
            stopped = True
            break
    tried = lrs[:len(smoothed)]
    suggested = min_lr = None
    if len(smoothed) >= 5:
        lowest = int(np.argmin(smoothed))
        min_lr = tried[lowest]
        # Slope of the smoothed loss against log10(lr), up to the minimum only.
        upto = max(lowest, 2) + 1
        slopes = np.gradient(np.asarray(smoothed[:upto]), np.log10(tried[:upto]))
        suggested = tried[int(np.argmin(slopes))]
    return LrRangeResult(tried, losses, smoothed, suggested, min_lr, stopped)


def lr_range_test(config: TrainConfig, *, device: str | torch.device = "cpu",
                  should_stop: Callable[[], bool] | None = None,
                  data_root: Path = DATA_ROOT,
                  data: DataSplits | None = None) -> LrRangeResult:
    """The range test for one spec and seed, on the same model, data and optimizer as
    `train` (schedule and epochs are ignored; lr_min, lr_max, lr_range_steps are used)."""
    prep = prepare(config, device, data_root, data)
    settings, optimizer = config.training, prep.optimizer
    engine, objective = OneSeed(prep), objective_for(prep.data)
    x, y = prep.train_x, prep.train_y
    order = torch.randperm(len(x), generator=prep.shuffle).to(prep.device)
    position = 0
    prep.model.train()

    def step(lr: float) -> float:
        nonlocal order, position
        if should_stop is not None and should_stop():
            raise StopRequested("stop requested during the lr range test")
        if position + settings.batch_size > len(x):
            order, position = torch.randperm(len(x), generator=prep.shuffle).to(prep.device), 0
        idx = order[position:position + settings.batch_size]
        position += settings.batch_size
        for group in optimizer.param_groups:
            group["lr"] = lr
        # The training step's forward and update (worker/training/step.py), one seed.
        _, losses = forward(engine, objective, prep, x[idx].unsqueeze(0), y[idx].unsqueeze(0))
        update(engine, losses, settings.grad_clip, leader=None)
        return float(losses[0].item())

    return find_lr(step, lr_schedule(settings.lr_min, settings.lr_max, settings.lr_range_steps))
