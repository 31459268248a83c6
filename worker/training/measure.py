"""What a run reports besides its loss: evaluation on a split, MACs, peak memory, the best
epoch, and the learned activation curves."""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from activations import activation_macs, activation_modules, response

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


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024,
             prefix: str = "val") -> dict[str, float]:
    """Loss, accuracy and top-5 on a split. Segmentation (labels with spatial dimensions,
    logits N x C x H x W): every pixel is a sample, and the mean IoU over the classes present
    in the split or the predictions is added as `{prefix}_miou`."""
    model.eval()
    loss_sum, correct, top5, pixels = 0.0, 0, 0, y.numel()
    confusion: Tensor | None = None
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size]).float()
        target = y[i:i + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        predicted = logits.argmax(1)
        correct += (predicted == target).sum().item()
        k = min(5, logits.shape[1])
        top5 += (logits.topk(k, dim=1).indices == target.unsqueeze(1)).any(1).sum().item()
        if target.dim() > 1:
            counts = class_confusion(predicted, target, logits.shape[1])
            confusion = counts if confusion is None else confusion + counts
    model.train()
    out = {f"{prefix}_loss": loss_sum / pixels, f"{prefix}_accuracy": correct / pixels,
           f"{prefix}_top5": top5 / pixels}
    if confusion is not None:
        out[f"{prefix}_miou"] = mean_iou(confusion)
    return out


def class_confusion(predicted: Tensor, target: Tensor, classes: int) -> Tensor:
    """classes x classes counts: row = true class, column = predicted class."""
    flat = target.reshape(-1) * classes + predicted.reshape(-1)
    return torch.bincount(flat, minlength=classes * classes).reshape(classes, classes).cpu()


def mean_iou(confusion: Tensor) -> float:
    """Mean over classes of |pred ∩ true| / |pred ∪ true|, over the classes that occur in
    the labels or the predictions (a class absent from both has no IoU)."""
    hits = confusion.diag().double()
    union = confusion.sum(0).double() + confusion.sum(1).double() - hits
    present = union > 0
    return float((hits[present] / union[present]).mean()) if bool(present.any()) else math.nan


def peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def best_epoch(history: list[dict[str, float]]) -> int | None:
    """The epoch (1-based) with the highest validation accuracy, the earliest on ties: chosen
    without looking at the test split."""
    if not history:
        return None
    return max(range(len(history)), key=lambda i: (history[i]["val_accuracy"], -i)) + 1


def final_metrics(history: list[dict[str, float]]) -> dict[str, float]:
    """The last epoch's metrics, plus the numbers a paper reports: the best validation
    accuracy and the test accuracy at that epoch."""
    final = dict(history[-1]) if history else {}
    best = best_epoch(history)
    if best is not None:
        final["best_val_accuracy"] = history[best - 1]["val_accuracy"]
        # .get: a checkpoint written before the test split existed has no test metrics.
        final["test_accuracy_at_best"] = history[best - 1].get("test_accuracy", math.nan)
    return final


def learned_responses(model: nn.Module) -> list[ResponseSample]:
    """Each activation slot's curve on RESPONSE_GRID (per channel where it has parameters)."""
    samples = []
    for path, module in activation_modules(model):
        ys = response(module, RESPONSE_GRID)
        samples.append(ResponseSample(path, module.block, module.position,
                                      RESPONSE_GRID.tolist(), ys.tolist()))
    return samples
