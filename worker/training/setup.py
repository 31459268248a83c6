"""What `train` and the LR range test share: the device, the seeded RNGs, the data on the
device, the model with its activation slots, and the optimizer."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from worker.training.config import TrainConfig
from worker.training.datasets import DataSplits, load_dataset
from worker.training.models import ActFactory, build_model
from worker.training.optim import make_optimizer
from worker.training.placement import place as place_activations

DATA_ROOT = Path("./actlab-data/datasets")


def pick_device(requested: str = "auto") -> torch.device:
    # Called inside the task, never in a Celery parent (CUDA does not survive fork).
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


_CUDA_DETERMINISTIC = False


def set_cuda_determinism(on: bool) -> None:
    """Deterministic CUDA kernels for every later run in this process (ACTLAB_CUDA_DETERMINISTIC;
    torch's switch is process-wide). Off by default: the deterministic convolution and scatter
    kernels are slower, and bf16 autocast already moves numbers between devices. cuBLAS reads
    its workspace setting when its handle is created, so call this before the first CUDA
    matmul (the runner does, before training)."""
    global _CUDA_DETERMINISTIC
    _CUDA_DETERMINISTIC = on
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def cuda_deterministic() -> bool:
    return _CUDA_DETERMINISTIC


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class Prepared:
    device: torch.device
    data: DataSplits
    # The splits on the device (image batches channels_last on CUDA).
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    model: nn.Module
    slots: dict[str, str]  # slot -> the activation in it
    optimizer: torch.optim.Optimizer
    shuffle: torch.Generator  # batch order
    augment: torch.Generator  # data augmentation draws

    precision: str = "fp32"  # the spec's: fp32 | bf16

    @property
    def autocast(self) -> torch.autocast:
        """bf16 autocast when the spec asks for it (on CUDA or the CPU), a no-op for fp32."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16")


def prepare(config: TrainConfig, device: str | torch.device = "cpu",
            data_root: Path = DATA_ROOT, data: DataSplits | None = None) -> Prepared:
    """Seed, load, build: the same spec and seed give the same model, data and batch order."""
    device = pick_device(device) if isinstance(device, str) else device
    seed_everything(config.seed)
    if device.type == "cpu":
        # Same spec and seed give identical metrics run to run.
        torch.use_deterministic_algorithms(True, warn_only=True)
    elif device.type == "cuda":
        torch.use_deterministic_algorithms(_CUDA_DETERMINISTIC, warn_only=True)
        torch.backends.cudnn.benchmark = not _CUDA_DETERMINISTIC
    data = data or load_dataset(config.dataset, config.dataset_params, data_root,
                                checked=config.checked)
    channels_last = device.type == "cuda" and data.train_x.dim() == 4
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def place(x: Tensor) -> Tensor:
        return x.to(device).contiguous(memory_format=fmt)

    act = ActFactory(config.activation, config.activation_params, checked=config.checked,
                     gated=config.gated, match_params=config.match_params)
    model = build_model(config.model, config.model_params, data.input_shape, data.num_classes,
                        act, checked=config.checked)
    # Every slot's activation; a placement puts others in some (before the model moves).
    slots = place_activations(model, act, config.activation_slots, checked=config.checked)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=fmt)  # type: ignore[call-overload]
    return Prepared(
        device=device, data=data, train_x=place(data.train_x), train_y=data.train_y.to(device),
        val_x=place(data.val_x), val_y=data.val_y.to(device), test_x=place(data.test_x),
        test_y=data.test_y.to(device), model=model, slots=slots,
        optimizer=make_optimizer(model, config.training),
        shuffle=torch.Generator().manual_seed(config.seed),
        augment=torch.Generator(device=device).manual_seed(config.seed + 1),
        precision=config.training.precision)


def ungated_param_count(config: TrainConfig, data: DataSplits) -> int:
    """The parameter count of the same model with its activation ungated (built on the meta
    device: shapes only), which a gated run records beside its own."""
    act = ActFactory(config.activation, config.activation_params, checked=config.checked)
    with torch.device("meta"):
        model = build_model(config.model, config.model_params, data.input_shape,
                            data.num_classes, act, checked=config.checked)
        place_activations(model, act, config.activation_slots, checked=config.checked)
    return sum(p.numel() for p in model.parameters())
