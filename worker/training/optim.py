"""Optimizers and per-step learning-rate schedules built from a spec's training settings."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from activations import activation_parameter_ids
from core.domain.spec import TrainingSettings

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "warmup_cosine")
WARMUP = 0.05  # warmup_cosine: the share of the steps the lr rises linearly


def _groups(model: nn.Module, settings: TrainingSettings) -> list[dict[str, Any]]:
    """The parameters with weight decay and those without. Weight decay pulls learnable
    activation parameters (slopes, shifts) towards 0, which changes the activation itself,
    so they get none; nor does what a model exempts (the transformers' recipe: norms,
    embeddings and biases) unless `decay_all`."""
    act_ids = set(activation_parameter_ids(model))
    exempt = getattr(model, "no_weight_decay", None)
    if callable(exempt) and not settings.decay_all:
        act_ids |= {id(p) for p in exempt()}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) not in act_ids],
         "weight_decay": settings.weight_decay},
        {"params": [p for p in params if id(p) in act_ids], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def make_optimizer(model: nn.Module, settings: TrainingSettings) -> torch.optim.Optimizer:
    groups = _groups(model, settings)
    betas = (float(settings.betas[0]), float(settings.betas[1]))
    if settings.optimizer == "adam":
        return torch.optim.Adam(groups, lr=settings.lr, betas=betas)
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=settings.lr, betas=betas)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum,
                               nesterov=settings.nesterov and settings.momentum > 0)
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")


def make_schedule(optimizer: torch.optim.Optimizer, settings: TrainingSettings,
                  total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per batch. `step` divides the lr by 10 at 50% and 75% of training;
    `warmup_steps` scales any schedule but onecycle by (step + 1) / warmup_steps until then."""
    total = max(1, total_steps)
    if settings.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=total)
    factor = _factor(settings.schedule, total)
    warmup = settings.warmup_steps
    if warmup:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: factor(step) * min(1.0, (step + 1) / warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _factor(schedule: str, total: int) -> Callable[[int], float]:
    """The lr's multiplier at a step under `schedule` (all but onecycle)."""
    if schedule == "constant":
        return lambda step: 1.0
    if schedule == "step":
        return lambda step: 0.1 ** ((step >= total // 2) + (step >= 3 * total // 4))
    if schedule == "cosine":
        return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    if schedule == "warmup_cosine":  # the transformer recipe (GPT-2, nanoGPT)
        warm = max(1, round(WARMUP * total))
        return lambda step: (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(
            math.pi * min(step - warm, total - warm) / max(1, total - warm)))
    raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
