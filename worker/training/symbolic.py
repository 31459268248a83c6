"""The `symbolic` regression dataset: samples of a named formula (core/domain/symbolic_formulas.py),
generated offline from a fixed seed, so every run of a formula sees the same points."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.special import j0

from core.domain.params import ParamInfo
from core.domain.symbolic_formulas import BY_NAME, FORMULAS
from worker.training.datasets import (
    SPLIT_SEED,
    TEST_FRACTION,
    TEST_SEED,
    DatasetInfo,
    DataSplits,
    holdout,
    register_dataset,
)

Columns = list[np.ndarray]

# Each formula of the catalog's list, on its inputs in their own ranges (float64 columns).
EVALUATE: dict[str, Callable[[Columns], np.ndarray]] = {
    "exp_sin": lambda v: np.exp(np.sin(np.pi * v[0]) + v[1] ** 2),
    "product": lambda v: v[0] * v[1],
    "bessel": lambda v: j0(20 * v[0]),
    "exp_sin_sum": lambda v: np.exp((np.sin(np.pi * (v[0] ** 2 + v[1] ** 2))
                                     + np.sin(np.pi * (v[2] ** 2 + v[3] ** 2))) / 2),
    "feynman_i_6_2": lambda v: np.exp(-v[0] ** 2 / (2 * v[1] ** 2)) / np.sqrt(2 * np.pi
                                                                               * v[1] ** 2),
    "feynman_i_29_16": lambda v: np.sqrt(np.maximum(
        v[0] ** 2 + v[1] ** 2 - 2 * v[0] * v[1] * np.cos(v[2] - v[3]), 0.0)),
    "feynman_i_37_4": lambda v: v[0] + v[1] + 2 * np.sqrt(v[0] * v[1]) * np.cos(v[2]),
}


def sample(name: str, n: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """n points of formula `name`: inputs scaled to [-1, 1] (n x inputs) and its values."""
    formula = BY_NAME[name]
    rng = np.random.default_rng([seed, FORMULAS.index(formula)])
    columns = [rng.uniform(low, high, n) for low, high in formula.ranges]
    values = EVALUATE[name](columns)
    scaled = [2 * (c - low) / (high - low) - 1 for c, (low, high) in zip(columns, formula.ranges,
                                                                         strict=True)]
    return np.stack(scaled, 1).astype(np.float32), values.astype(np.float32)


def load_symbolic(root: Path, formula: str = FORMULAS[0].name, n: int = 2000,
                  noise: float = 0.0, val_fraction: float = 0.2) -> DataSplits:
    """TEST_FRACTION of the points held out as the test split, then `val_fraction` of the rest
    for validation. Gaussian noise of std `noise` is added to the training and validation
    targets only: the test split measures the formula itself."""
    x, y = sample(formula, n)
    rest_x, rest_y, test_x, test_y = holdout(torch.from_numpy(x), torch.from_numpy(y),
                                              TEST_FRACTION, TEST_SEED)
    if noise > 0:
        rng = np.random.default_rng([SPLIT_SEED, 1])
        rest_y = rest_y + torch.from_numpy(rng.normal(0.0, noise, len(rest_y)).astype(np.float32))
    tx, ty, vx, vy = holdout(rest_x, rest_y, val_fraction)
    entry = BY_NAME[formula]
    return DataSplits(tx, ty, vx, vy, test_x, test_y, 1, task="regression",
                      source={"formula": entry.name, "expression": entry.expression,
                              "inputs": list(entry.inputs),
                              "ranges": [list(r) for r in entry.ranges]})


register_dataset(DatasetInfo(
    name="symbolic", loader=load_symbolic, input_kind="vector",
    input_shape=(len(FORMULAS[0].inputs),), num_classes=1, task="regression",
    test_split="held out",
    description="Regression on a named formula (KAN's toy functions, a Bessel function, "
                "dimensionless Feynman equations), sampled uniformly in each input's range and "
                "scaled to [-1, 1]; the input size is the formula's variable count",
    reference="Liu et al. 2024 (KAN), sections 3.1-3.3; Yu et al. 2024, KAN or MLP: A "
              "Fairer Comparison",
    params=(ParamInfo("formula", FORMULAS[0].name, kind="choice",
                      choices=tuple(f.name for f in FORMULAS),
                      doc="; ".join(f"{f.name}: {f.expression}" for f in FORMULAS)),
            ParamInfo("n", 2000, kind="int", min=20, max=1_000_000,
                      doc="points generated, before the test and validation splits"),
            ParamInfo("noise", 0.0, min=0.0, max=100.0,
                      doc="std of Gaussian noise added to the training and validation "
                          "targets (the test targets stay exact)"),
            ParamInfo("val_fraction", 0.2, min=0.01, max=0.5,
                      doc="share of the training data held out as the validation split")),
))
