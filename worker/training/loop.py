"""train(config, *, device, on_epoch) -> TrainResult: the one loop the worker, CLI and tests use.

Data stays resident on the device and is batched by indexing (no DataLoader: the sets are
small). Every epoch the caller gets the metrics and the activation parameters, then a
checkpoint is written, so a re-claimed run resumes where it stopped with identical results.
"""

from __future__ import annotations

import math
import os
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from activations import (
    ParameterSnapshot,
    activation_macs,
    activation_modules,
    activation_parameters,
    response,
)
from worker.training.config import TrainConfig
from worker.training.datasets import DataSplits, load_dataset
from worker.training.models import ActFactory, build_model
from worker.training.optim import make_optimizer, make_schedule

RESPONSE_GRID = torch.linspace(-5.0, 5.0, 101)


class StopRequested(Exception):
    """Raised by a caller's callback (or should_stop) to end training early, e.g. on cancel."""


@dataclass
class EpochReport:
    epoch: int  # 1-based
    epochs: int
    metrics: dict[str, float]
    parameters: list[ParameterSnapshot]


@dataclass
class ResponseSample:
    layer: str
    block: int | None
    position: int | None
    xs: list[float]
    ys: list[list[float]]


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


def pick_device(requested: str = "auto") -> torch.device:
    # Called inside the task, never in a Celery parent (CUDA does not survive fork).
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def count_macs(model: nn.Module, sample: Tensor) -> tuple[int, int]:
    """Multiply-accumulates of one forward pass on one example: (total, the activations'
    share). Layers are FLOPs / 2 from PyTorch's counter, which sees no element-wise work;
    each activation slot adds its own operations (activations.cost), so a costly activation
    is not scored as cheap as ReLU in "metric per MMAC"."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(sample[:1])
    finally:
        model.train(was_training)
    act = activation_macs(model, sample[:1])
    return int(counter.get_total_flops() // 2) + act, act


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024,
             prefix: str = "val") -> dict[str, float]:
    model.eval()
    loss_sum, correct, top5, n = 0.0, 0, 0, len(x)
    for i in range(0, n, batch_size):
        logits = model(x[i:i + batch_size]).float()
        target = y[i:i + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(1) == target).sum().item()
        k = min(5, logits.shape[1])
        top5 += (logits.topk(k, dim=1).indices == target[:, None]).any(1).sum().item()
    model.train()
    return {f"{prefix}_loss": loss_sum / n, f"{prefix}_accuracy": correct / n,
            f"{prefix}_top5": top5 / n}


def _rng_state(gen: torch.Generator, aug: torch.Generator) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": gen.get_state(),
                             "augment": aug.get_state(),
                             "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(gen: torch.Generator, aug: torch.Generator, state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["shuffle"])
    aug.set_state(state["augment"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # atomic: a crash mid-write leaves the previous checkpoint intact


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def _best_epoch(history: list[dict[str, float]]) -> int | None:
    """The epoch (1-based) with the highest validation accuracy, the earliest on ties: chosen
    without looking at the test split."""
    if not history:
        return None
    return max(range(len(history)), key=lambda i: (history[i]["val_accuracy"], -i)) + 1


def train(
    config: TrainConfig,
    *,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_path: Path | None = None,
    data_root: Path = Path("./actlab-data/datasets"),
    data: DataSplits | None = None,
) -> TrainResult:
    device = pick_device(device) if isinstance(device, str) else device
    seed_everything(config.seed)
    if device.type == "cpu":
        # Same spec and seed give identical metrics run to run.
        torch.use_deterministic_algorithms(True, warn_only=True)

    data = data or load_dataset(config.dataset, config.dataset_params, data_root)
    cuda = device.type == "cuda"
    # On CUDA: image batches in channels_last and bf16 autocast (faster convolutions).
    channels_last = cuda and data.train_x.dim() == 4
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    train_x = data.train_x.to(device).contiguous(memory_format=fmt)
    train_y = data.train_y.to(device)
    val_x = data.val_x.to(device).contiguous(memory_format=fmt)
    val_y = data.val_y.to(device)
    test_x = data.test_x.to(device).contiguous(memory_format=fmt)
    test_y = data.test_y.to(device)

    act = ActFactory(config.activation, config.activation_params)
    model = build_model(config.model, config.model_params, data.input_shape,
                        data.num_classes, act).to(device)
    if channels_last:
        model = model.to(memory_format=fmt)  # type: ignore[call-overload]
    num_params = sum(p.numel() for p in model.parameters())
    macs, act_macs = count_macs(model, val_x)

    n = len(train_x)
    steps_per_epoch = math.ceil(n / config.batch_size)
    optimizer = make_optimizer(model, config)
    schedule = make_schedule(optimizer, config, steps_per_epoch * config.epochs)
    shuffle = torch.Generator().manual_seed(config.seed)
    augment_gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda)
    # A finiteness check reads the loss back; on CUDA that syncs, so do it every few steps.
    check_every = 25 if cuda else 1

    history: list[dict[str, float]] = []
    start_epoch = 1
    if checkpoint_path is not None and checkpoint_path.exists():
        ckpt = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["schedule"])
        _set_rng_state(shuffle, augment_gen, ckpt["rng"])
        history = ckpt["history"]
        start_epoch = ckpt["epoch"] + 1

    def result(status: str, error: str | None = None) -> TrainResult:
        final = dict(history[-1]) if history else {}
        best = _best_epoch(history)
        if best is not None:
            # The numbers a paper reports: the test split at the best-validation epoch.
            final["best_val_accuracy"] = history[best - 1]["val_accuracy"]
            # .get: a checkpoint written before the test split existed has no test metrics.
            final["test_accuracy_at_best"] = history[best - 1].get("test_accuracy", math.nan)
        return TrainResult(status=status, epochs_done=len(history), final_metrics=final,
                           best_epoch=best, num_params=num_params, macs=macs,
                           activation_macs=act_macs,
                           peak_memory_bytes=_peak_memory(device), device=str(device),
                           error=error, history=history)

    model.train()
    for epoch in range(start_epoch, config.epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(n, generator=shuffle).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for step in range(steps_per_epoch):
            if should_stop is not None and should_stop():
                raise StopRequested(f"stop requested during epoch {epoch}")
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            xb, yb = train_x[idx], train_y[idx]
            if data.augment is not None:
                xb = data.augment(xb, augment_gen)
            with autocast:
                logits = model(xb)
                loss = F.cross_entropy(logits.float(), yb)
            if (step + 1) % check_every == 0 or step + 1 == steps_per_epoch:
                if not torch.isfinite(loss_sum + loss.detach()):
                    return result("diverged", f"training loss became "
                                              f"{(loss_sum + loss.detach()).item()} at epoch "
                                              f"{epoch}, step {step + 1} of {steps_per_epoch}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
        train_seconds = time.perf_counter() - started
        with autocast:
            evaluation = evaluate(model, val_x, val_y)
            evaluation |= evaluate(model, test_x, test_y, prefix="test")
        metrics = {"train_loss": loss_sum.item() / n, "train_accuracy": correct.item() / n,
                   **evaluation, "lr": optimizer.param_groups[0]["lr"]}
        metrics["epoch_seconds"] = time.perf_counter() - started
        metrics["samples_per_second"] = n / train_seconds
        if not math.isfinite(metrics["val_loss"]):
            return result("diverged", f"validation loss became {metrics['val_loss']} "
                                      f"at epoch {epoch}")
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(EpochReport(epoch, config.epochs, metrics, activation_parameters(model)))
        if checkpoint_path is not None:
            _save_checkpoint(checkpoint_path, {
                "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "rng": _rng_state(shuffle, augment_gen),
                "history": history, "config": config.to_dict(),
            })

    out = result("completed")
    out.responses = learned_responses(model)
    return out


def learned_responses(model: nn.Module) -> list[ResponseSample]:
    """Each activation slot's curve on RESPONSE_GRID (per channel where it has parameters)."""
    samples = []
    for path, module in activation_modules(model):
        ys = response(module, RESPONSE_GRID)
        samples.append(ResponseSample(path, module.block, module.position,
                                      RESPONSE_GRID.tolist(), ys.tolist()))
    return samples
