"""What each learning task optimises and measures, once: the training loss of a batch (of one
seed or of stacked seeds), the correct predictions that make the training accuracy, and the
evaluation of a split. Every engine (worker/training/step.py) and the LR range test take them
from here, chosen by the dataset's declared task (`DataSplits.task`).

A new task is a subclass registered in OBJECTIVES under the name its datasets declare.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.domain.metrics import DEFAULT_SELECTION
from worker.training.datasets import DataSplits


class Classification:
    """One label per example; logits N x C. Loss: cross-entropy; accuracy and top-5."""

    name = "classification"
    # The validation metric that chooses a run's best epoch.
    selection = DEFAULT_SELECTION

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """The mean loss of one seed's batch (logits batch x classes x ...)."""
        return F.cross_entropy(logits.float(), y)

    def seed_losses(self, logits: Tensor, y: Tensor) -> Tensor:
        """Each seed's mean loss over its batch: logits seeds x batch x classes x ..., labels
        seeds x batch x .... One seed takes `loss` itself, so its numbers are those of the
        seed trained without a seed dimension, bit for bit."""
        if logits.shape[0] == 1:
            return self.loss(logits[0], y[0]).unsqueeze(0)
        seeds = logits.shape[0]
        return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(0, 1),
                               reduction="none").reshape(seeds, -1).mean(1)

    def correct(self, logits: Tensor, y: Tensor) -> Tensor:
        """Each seed's count of correct labels (seeds-first, as `seed_losses`)."""
        return (logits.argmax(2) == y).flatten(1).sum(1)

    def scored_labels(self, y: Tensor) -> int:
        """What a split's accuracy divides by: its labels (per pixel for segmentation)."""
        return int(y.numel())

    def train_metrics(self, mean_loss: float, tally: float, labels: int) -> dict[str, float]:
        """An epoch's training metrics from its mean batch loss and the sum of `correct`."""
        return {"train_loss": mean_loss, "train_accuracy": tally / labels}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, x: Tensor, y: Tensor, prefix: str = "val",
                 batch_size: int = 1024) -> dict[str, float]:
        """Loss, accuracy and top-5 on a split, per label."""
        model.eval()
        self._start()
        loss_sum, correct, top5, labels = 0.0, 0, 0, y.numel()
        for i in range(0, len(x), batch_size):
            logits = model(x[i:i + batch_size]).float()
            target = y[i:i + batch_size]
            loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
            predicted = logits.argmax(1)
            correct += (predicted == target).sum().item()
            k = min(5, logits.shape[1])
            top5 += (logits.topk(k, dim=1).indices == target.unsqueeze(1)).any(1).sum().item()
            self._count(predicted, target, logits.shape[1])
        model.train()
        out = {f"{prefix}_loss": loss_sum / labels, f"{prefix}_accuracy": correct / labels,
               f"{prefix}_top5": top5 / labels}
        return out | self._extra(prefix)

    def _start(self) -> None:
        """A subclass's tally, emptied before a split is evaluated."""

    def _count(self, predicted: Tensor, target: Tensor, classes: int) -> None:
        """A subclass's running tally of one evaluation batch."""

    def _extra(self, prefix: str) -> dict[str, float]:
        """A subclass's metrics from its tally, once a split is evaluated."""
        return {}


class Segmentation(Classification):
    """One label per pixel; logits N x C x H x W. Every pixel is a sample, and evaluation adds
    the mean IoU over the classes present in the split or the predictions (`{prefix}_miou`)."""

    name = "segmentation"

    def __init__(self) -> None:
        self._confusion: Tensor | None = None

    def _start(self) -> None:
        self._confusion = None

    def _count(self, predicted: Tensor, target: Tensor, classes: int) -> None:
        counts = class_confusion(predicted, target, classes)
        self._confusion = counts if self._confusion is None else self._confusion + counts

    def _extra(self, prefix: str) -> dict[str, float]:
        confusion = self._confusion
        return {f"{prefix}_miou": mean_iou(confusion)} if confusion is not None else {}


# Labels a language-model dataset scores no prediction at (F.cross_entropy's default).
IGNORE = -100


class LanguageModel(Classification):
    """Next-token prediction; logits N x T x V, labels N x T (IGNORE where nothing is
    scored, e.g. the prompt of a modular-arithmetic example). Loss: mean cross-entropy per
    scored token, in nats; accuracy and top-5 per scored token; perplexity = exp(loss)."""

    name = "language_model"

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits.float().flatten(0, -2), y.flatten(), ignore_index=IGNORE)

    def seed_losses(self, logits: Tensor, y: Tensor) -> Tensor:
        if logits.shape[0] == 1:
            return self.loss(logits[0], y[0]).unsqueeze(0)
        seeds = logits.shape[0]
        per_token = F.cross_entropy(logits.float().flatten(0, -2), y.flatten(),
                                    ignore_index=IGNORE, reduction="none").reshape(seeds, -1)
        scored = (y != IGNORE).reshape(seeds, -1)
        return per_token.sum(1) / scored.sum(1).clamp(min=1)

    def correct(self, logits: Tensor, y: Tensor) -> Tensor:
        return (logits.argmax(-1) == y).flatten(1).sum(1)

    def scored_labels(self, y: Tensor) -> int:
        return int((y != IGNORE).sum().item())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, x: Tensor, y: Tensor, prefix: str = "val",
                 batch_size: int = 1024) -> dict[str, float]:
        model.eval()
        loss_sum, correct, top5 = 0.0, 0, 0
        scored = int((y != IGNORE).sum().item())
        for i in range(0, len(x), batch_size):
            logits = model(x[i:i + batch_size]).float().flatten(0, -2)
            target = y[i:i + batch_size].flatten()
            keep = target != IGNORE
            logits, target = logits[keep], target[keep]
            loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
            k = min(5, logits.shape[1])
            top5 += (logits.topk(k, dim=1).indices == target.unsqueeze(1)).any(1).sum().item()
        model.train()
        loss = loss_sum / max(1, scored)
        return {f"{prefix}_loss": loss, f"{prefix}_accuracy": correct / max(1, scored),
                f"{prefix}_top5": top5 / max(1, scored),
                f"{prefix}_perplexity": math.exp(min(loss, 700.0))}


class Regression(Classification):
    """One real target per example; the model's output N x 1. Loss: mean squared error;
    metrics: RMSE (train, validation, test) and R^2 against the split's own mean."""

    name = "regression"
    selection = "val_rmse"

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(logits.float().reshape(y.shape), y.float())

    def seed_losses(self, logits: Tensor, y: Tensor) -> Tensor:
        if logits.shape[0] == 1:
            return self.loss(logits[0], y[0]).unsqueeze(0)
        return self.correct(logits, y) / y[0].numel()

    def correct(self, logits: Tensor, y: Tensor) -> Tensor:
        """Each seed's sum of squared errors (what the training RMSE is taken from)."""
        return (logits.float().reshape(y.shape) - y.float()).square().flatten(1).sum(1)

    def train_metrics(self, mean_loss: float, tally: float, labels: int) -> dict[str, float]:
        return {"train_loss": mean_loss, "train_rmse": math.sqrt(tally / labels)}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, x: Tensor, y: Tensor, prefix: str = "val",
                 batch_size: int = 1024) -> dict[str, float]:
        model.eval()
        sse = 0.0
        for i in range(0, len(x), batch_size):
            target = y[i:i + batch_size].float()
            predicted = model(x[i:i + batch_size]).float().reshape(target.shape)
            sse += (predicted - target).square().sum().item()
        model.train()
        n = max(1, y.numel())
        sst = (y.double() - y.double().mean()).square().sum().item()
        return {f"{prefix}_loss": sse / n, f"{prefix}_rmse": math.sqrt(sse / n),
                f"{prefix}_r2": 1.0 - sse / sst if sst > 0 else math.nan}


OBJECTIVES: dict[str, type[Classification]] = {
    Classification.name: Classification,
    Segmentation.name: Segmentation,
    LanguageModel.name: LanguageModel,
    Regression.name: Regression,
}


def objective_for(data: DataSplits) -> Classification:
    """The objective of a dataset's declared task (a fresh one: segmentation keeps a tally)."""
    task = data.task or (Segmentation.name if data.train_y.dim() > 1 else Classification.name)
    return OBJECTIVES[task]()


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024,
             prefix: str = "val") -> dict[str, float]:
    """A split's metrics for a model, the task told by the labels' shape (spatial labels:
    segmentation). For callers that hold a model and its data but no dataset record."""
    objective = Segmentation() if y.dim() > 1 else Classification()
    return objective.evaluate(model, x, y, prefix, batch_size)


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
