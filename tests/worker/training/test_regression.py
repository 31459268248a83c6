"""The regression objective (MSE; RMSE and R^2) and the `symbolic` dataset: metrics held to
numpy's, one seed's numbers equal in a stack of seeds, every named formula evaluated and
split the same way on every call, and a KAN and an MLP trained on one."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import j0
from torch import nn

from core.domain.metrics import headline_names, task_selection
from core.domain.symbolic_formulas import BY_NAME, FORMULAS
from worker.training.datasets import load_dataset
from worker.training.measure import final_metrics
from worker.training.objectives import Regression, objective_for
from worker.training.symbolic import EVALUATE, sample


class Fixed(nn.Module):
    """Predicts a fixed vector, whatever the input (batch by batch, as evaluation asks)."""

    def __init__(self, predictions: torch.Tensor) -> None:
        super().__init__()
        self.predictions = predictions
        self.at = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.predictions[self.at:self.at + len(x)].unsqueeze(1)
        self.at += len(x)
        return out


def test_evaluation_is_numpys_rmse_and_r2() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=300), rng.normal(size=300)
    got = Regression().evaluate(Fixed(torch.tensor(p, dtype=torch.float32)),
                                torch.zeros(300, 2), torch.tensor(y, dtype=torch.float32),
                                prefix="test", batch_size=64)
    mse = float(np.mean((p - y) ** 2))
    assert got["test_loss"] == pytest.approx(mse, rel=1e-5)
    assert got["test_rmse"] == pytest.approx(math.sqrt(mse), rel=1e-5)
    assert got["test_r2"] == pytest.approx(1 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2),
                                           rel=1e-5)


def test_a_constant_target_has_no_r2() -> None:
    got = Regression().evaluate(Fixed(torch.ones(4)), torch.zeros(4, 1), torch.full((4,), 2.0))
    assert got["val_rmse"] == pytest.approx(1.0) and math.isnan(got["val_r2"])


def test_seed_losses_of_a_stack_are_each_seeds_loss() -> None:
    objective = Regression()
    logits, y = torch.randn(3, 16, 1), torch.randn(3, 16)
    stacked = objective.seed_losses(logits, y)
    for i in range(3):
        assert stacked[i].item() == pytest.approx(objective.loss(logits[i], y[i]).item(), rel=1e-6)
    assert objective.correct(logits, y)[1].item() == pytest.approx(
        float(((logits[1, :, 0] - y[1]) ** 2).sum()), rel=1e-6)
    assert objective.train_metrics(0.5, 40.0, 10) == {"train_loss": 0.5, "train_rmse": 2.0}


def test_the_best_epoch_of_a_regression_is_its_lowest_validation_rmse() -> None:
    history = [{"val_rmse": 0.5, "test_rmse": 0.6}, {"val_rmse": 0.2, "test_rmse": 0.3},
               {"val_rmse": 0.4, "test_rmse": 0.1}]
    selection = task_selection("regression")
    final = final_metrics(history, selection)
    assert headline_names(selection) == ("best_val_rmse", "test_rmse_at_best")
    assert final["best_val_rmse"] == 0.2 and final["test_rmse_at_best"] == 0.3
    assert final["test_rmse"] == 0.1  # the last epoch's, beside the headline numbers


# Each formula by hand, on its inputs in their own ranges (the loader scales them to [-1, 1]).
BY_HAND = {
    "exp_sin": lambda v: math.exp(math.sin(math.pi * v[0]) + v[1] ** 2),
    "product": lambda v: v[0] * v[1],
    "bessel": lambda v: float(j0(20 * v[0])),
    "exp_sin_sum": lambda v: math.exp((math.sin(math.pi * (v[0] ** 2 + v[1] ** 2))
                                       + math.sin(math.pi * (v[2] ** 2 + v[3] ** 2))) / 2),
    "feynman_i_6_2": lambda v: math.exp(-v[0] ** 2 / (2 * v[1] ** 2))
    / math.sqrt(2 * math.pi * v[1] ** 2),
    "feynman_i_29_16": lambda v: math.sqrt(v[0] ** 2 + v[1] ** 2
                                           - 2 * v[0] * v[1] * math.cos(v[2] - v[3])),
    "feynman_i_37_4": lambda v: v[0] + v[1] + 2 * math.sqrt(v[0] * v[1]) * math.cos(v[2]),
}


@pytest.mark.parametrize("name", [f.name for f in FORMULAS])
def test_every_formula_is_what_its_catalog_entry_says(name: str) -> None:
    assert set(EVALUATE) == set(BY_NAME) == set(BY_HAND)
    x, y = sample(name, 40)
    formula = BY_NAME[name]
    assert x.shape == (40, len(formula.inputs)) and x.min() >= -1 and x.max() <= 1
    for row, value in zip(x, y, strict=True):
        inputs = [low + (s + 1) / 2 * (high - low)
                  for s, (low, high) in zip(row.tolist(), formula.ranges, strict=True)]
        assert value == pytest.approx(BY_HAND[name](inputs), rel=1e-4, abs=1e-5)


def test_the_splits_are_fixed_and_only_training_targets_are_noisy(tmp_path: Path) -> None:
    clean = load_dataset("symbolic", {"formula": "product", "n": 500}, tmp_path)
    again = load_dataset("symbolic", {"formula": "product", "n": 500}, tmp_path)
    noisy = load_dataset("symbolic", {"formula": "product", "n": 500, "noise": 0.1}, tmp_path)
    assert clean.task == "regression" and objective_for(clean).name == "regression"
    assert torch.equal(clean.train_x, again.train_x) and torch.equal(clean.test_y, again.test_y)
    assert len(clean.test_x) == 100 and len(clean.val_x) == 80 and len(clean.train_x) == 320
    assert torch.equal(noisy.test_y, clean.test_y)
    assert torch.equal(noisy.train_x, clean.train_x)
    assert 0.07 < float((noisy.train_y - clean.train_y).std()) < 0.13
    torch.testing.assert_close(clean.test_y, clean.test_x[:, 0] * clean.test_x[:, 1])
    assert clean.source is not None and clean.source["expression"] == "x*y"
