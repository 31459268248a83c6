"""What a run reports besides its epochs' metrics (worker/training/objectives.py): MACs, peak
memory, the best epoch, and the learned activation curves."""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from activations import activation_macs, activation_modules, response
from core.domain.metrics import (
    DEFAULT_SELECTION,
    HIGHER_IS_BETTER,
    SMALL_MAGNITUDE,
    headline_names,
    test_metric,
)

RESPONSE_GRID = torch.linspace(-5.0, 5.0, 101)


@dataclass
class ResponseSample:
    layer: str
    block: int | None
    position: int | None
    xs: list[float]
    ys: list[list[float]]


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


@dataclass(frozen=True)
class SlotSparsity:
    layer: str
    zero_fraction: float
    small_fraction: float  # |output| < core.domain.metrics.SMALL_MAGNITUDE


class SparsityProbe:
    """While entered, counts every activation slot's outputs that are exactly zero and
    below SMALL_MAGNITUDE (forward hooks; the counts stay on the device until read)."""

    def __init__(self, model: nn.Module) -> None:
        self.slots = activation_modules(model)
        self.counts: dict[str, list[Any]] = {path: [0, 0, 0] for path, _ in self.slots}
        self.hooks: list[Any] = []

    def __enter__(self) -> SparsityProbe:
        for path, module in self.slots:
            self.hooks.append(module.register_forward_hook(self._counter(path)))
        return self

    def __exit__(self, *exc: object) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks.clear()

    def _counter(self, path: str) -> Any:
        def count(_module: nn.Module, _inputs: object, out: object) -> None:
            if isinstance(out, Tensor):
                tally = self.counts[path]
                tally[0] = tally[0] + (out == 0).sum()
                tally[1] = tally[1] + (out.abs() < SMALL_MAGNITUDE).sum()
                tally[2] += out.numel()
        return count

    def result(self) -> list[SlotSparsity]:
        return [SlotSparsity(path, int(zero) / total, int(small) / total)
                for path, (zero, small, total) in self.counts.items() if total]


def mean_sparsity(slots: list[SlotSparsity]) -> float:
    """The epoch's val_sparsity: the zero fraction averaged over slots (NaN without slots)."""
    return sum(s.zero_fraction for s in slots) / len(slots) if slots else math.nan


def peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def best_epoch(history: list[dict[str, float]], select_by: str = DEFAULT_SELECTION) -> int | None:
    """The epoch (1-based) with the best `select_by` (a validation metric, never the test
    split), the earliest on ties; epochs without the metric are skipped. The same rule the
    dashboards rank by in SQL (core/store/results.py::best_epochs)."""
    sign = 1.0 if HIGHER_IS_BETTER[select_by] else -1.0
    scored = [(sign * h[select_by], -i) for i, h in enumerate(history)
              if h.get(select_by) is not None and not math.isnan(h[select_by])]
    return -max(scored)[1] + 1 if scored else None


def final_metrics(history: list[dict[str, float]], select_by: str = DEFAULT_SELECTION
                  ) -> dict[str, float]:
    """The last epoch's metrics, plus the numbers a paper reports (core/domain/metrics.py's
    headline_names): the best validation accuracy and the test accuracy at that epoch (for a
    regression, the best validation RMSE and the test RMSE there)."""
    final = dict(history[-1]) if history else {}
    best = best_epoch(history, select_by)
    if best is not None:
        best_name, test_name = headline_names(select_by)
        final[best_name] = history[best - 1][select_by]
        # .get: a checkpoint written before the test split existed has no test metrics.
        final[test_name] = history[best - 1].get(test_metric(select_by), math.nan)
    return final


def learned_responses(model: nn.Module) -> list[ResponseSample]:
    """Each activation slot's curve on RESPONSE_GRID (per channel where it has parameters)."""
    samples = []
    for path, module in activation_modules(model):
        ys = response(module, RESPONSE_GRID)
        samples.append(ResponseSample(path, module.block, module.position,
                                      RESPONSE_GRID.tolist(), ys.tolist()))
    return samples
