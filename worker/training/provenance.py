"""What produced a run's numbers, recorded with it: the same spec, seed, device, precision and
mode give the same numbers, so these say which numbers may be compared as equal."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch

from activations import native
from core import __version__
from core.domain.spec import RECORDED_PRECISION
from worker.training.setup import cuda_deterministic


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(device: torch.device, precision: str = "fp32") -> dict[str, Any]:
    """`precision`: the spec's (fp32 | bf16), recorded as core.domain.spec.RECORDED_PRECISION
    names it, which is what reuse compares."""
    cuda = device.type == "cuda"
    return {
        "actlab": __version__,
        "torch": torch.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else _cpu_name(),
        "precision": RECORDED_PRECISION[precision],
        "mode": "single",
        # the fused one-pass CPU kernels (activations/native.py), or PyTorch's operations
        "kernels": "native" if not cuda and native.library() is not None else "fallback",
        # CPU runs are always deterministic; CUDA runs when ACTLAB_CUDA_DETERMINISTIC is set
        "deterministic": cuda_deterministic() if cuda else True,
    }
