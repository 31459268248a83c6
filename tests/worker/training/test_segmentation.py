"""Segmentation: pixel accuracy and mean IoU against hand-counted answers, and a U-Net
trained on the generated shapes reporting both."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from core.domain.spec import TrainingSettings
from worker.training import TrainConfig, train
from worker.training.objectives import class_confusion, evaluate, mean_iou


def test_mean_iou_counts_by_hand() -> None:
    target = torch.tensor([[0, 0, 1, 1], [0, 2, 2, 1]])
    predicted = torch.tensor([[0, 1, 1, 1], [0, 2, 0, 1]])
    confusion = class_confusion(predicted, target, 3)
    # class 0: hits 2, |true| 3, |pred| 3 -> 2/4; class 1: 3 of |true| 3, |pred| 4 -> 3/4;
    # class 2: 1 of |true| 2, |pred| 1 -> 1/2
    assert mean_iou(confusion) == pytest.approx((2 / 4 + 3 / 4 + 1 / 2) / 3)
    # A class in neither the labels nor the predictions has no IoU; none at all is nan.
    assert mean_iou(class_confusion(predicted, target, 5)) == pytest.approx(
        (2 / 4 + 3 / 4 + 1 / 2) / 3)
    assert math.isnan(mean_iou(torch.zeros(3, 3, dtype=torch.long)))


class _Fixed(nn.Module):
    """Per-pixel logits that predict the given map of each example; an input holds its
    example's index (batches of one see the right example)."""

    def __init__(self, predicted: Tensor, classes: int) -> None:
        super().__init__()
        self.logits = nn.functional.one_hot(predicted, classes).permute(0, 3, 1, 2).float()

    def forward(self, x: Tensor) -> Tensor:
        return self.logits[x[:, 0, 0, 0].long()] * 10


def test_evaluate_counts_pixels_on_masks() -> None:
    target = torch.tensor([[[0, 0], [1, 1]], [[2, 2], [2, 0]]])
    predicted = torch.tensor([[[0, 1], [1, 1]], [[2, 2], [0, 0]]])
    out = evaluate(_Fixed(predicted, 3), torch.arange(2.0).reshape(2, 1, 1, 1).expand(2, 1, 2, 2),
                   target, batch_size=1)
    assert out["val_accuracy"] == pytest.approx(6 / 8)
    assert out["val_top5"] == 1.0  # 3 classes: the top 3 always hold the answer
    # class 0: 2 hits of union 4; class 1: 2 of 3; class 2: 2 of 3
    assert out["val_miou"] == pytest.approx((2 / 4 + 2 / 3 + 2 / 3) / 3)
    assert out["val_loss"] < 10  # per pixel, not per image


def test_unet_learns_the_shapes(tmp_path: Path) -> None:
    config = TrainConfig(activation="relu", model="unet", model_params={"width": 4},
                         dataset="shapes", dataset_params={"samples": 200, "size": 16},
                         activation_slots={"up*.post": {"name": "identity", "params": {}}},
                         training=TrainingSettings(epochs=3, batch_size=32, lr=0.01))
    result = train(config, device="cpu", data_root=tmp_path)
    assert result.status == "completed"
    first, last = result.history[0], result.history[-1]
    for metrics in result.history:
        assert 0.0 <= metrics["train_accuracy"] <= 1.0 and 0.0 <= metrics["val_miou"] <= 1.0
        assert 0.0 <= metrics["test_miou"] <= 1.0
    assert last["train_loss"] < first["train_loss"]
