"""Datasets as tensors. Small sets are loaded whole; the loop keeps them resident on the device.

Every dataset returns a fixed train/validation split that does not depend on the run's seed, so
seeds of one experiment differ only in initialisation and batch order (they are replicates).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from activations import ParamInfo
from activations.registry import resolve_against

SPLIT_SEED = 20191222  # fixed: validation membership never depends on the run's seed


@dataclass
class DataSplits:
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Callable[..., DataSplits]  # (root: Path, **params)
    description: str
    reference: str
    input_kind: str  # vector | image | sequence
    input_shape: tuple[int, ...]
    num_classes: int
    params: tuple[ParamInfo, ...] = ()
    needs_files: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "reference": self.reference,
                "input_kind": self.input_kind, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "needs_files": self.needs_files,
                "params": [p.to_dict() for p in self.params]}


VAL_FRACTION = ParamInfo("val_fraction", 0.2, min=0.05, max=0.5,
                         doc="share of the labelled data held out for validation")
SUBSET = ParamInfo("subset", 0, kind="int", min=0,
                   doc="train on only this many examples (0 = all)")


def _standardise(train: Tensor, *others: Tensor) -> list[Tensor]:
    # One mean and std over all training values: the standard per-dataset normalisation.
    mean, std = train.mean(), train.std().clamp_min(1e-8)
    return [(t - mean) / std for t in (train, *others)]


def _split(x: np.ndarray, y: np.ndarray, val_fraction: float) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    val, tr = order[:n_val], order[n_val:]
    return x[tr], y[tr], x[val], y[val]


def _subset(splits: DataSplits, subset: int) -> DataSplits:
    if subset and subset < len(splits.train_x):
        splits.train_x = splits.train_x[:subset]
        splits.train_y = splits.train_y[:subset]
    return splits


def load_digits(root: Path, val_fraction: float = 0.2, subset: int = 0) -> DataSplits:
    from sklearn.datasets import load_digits as sk_load_digits  # bundled with scikit-learn

    bunch = sk_load_digits()
    x = bunch.data.astype(np.float32).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    xtr, ytr, xva, yva = _split(x, y, val_fraction)
    tx, vx = _standardise(torch.from_numpy(xtr), torch.from_numpy(xva))
    return _subset(DataSplits(tx, torch.from_numpy(ytr), vx, torch.from_numpy(yva), 10), subset)


def load_mnist1d(root: Path, subset: int = 0) -> DataSplits:
    """Greydanus 2020: 4000 train / 1000 test sequences of length 40, generated locally and
    cached (generation takes a few seconds). Validation is the paper's test split."""
    cache = root / "mnist1d" / "mnist1d_default.npz"
    if cache.exists():
        data = dict(np.load(cache))
    else:
        from mnist1d.data import get_dataset_args, make_dataset

        made = make_dataset(get_dataset_args())
        data = {k: np.asarray(made[k]) for k in ("x", "y", "x_test", "y_test")}
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{hashlib.sha1(str(cache).encode()).hexdigest()[:6]}.tmp.npz")
        np.savez(tmp, **data)
        tmp.replace(cache)
    x = torch.from_numpy(data["x"].astype(np.float32)).unsqueeze(1)
    xt = torch.from_numpy(data["x_test"].astype(np.float32)).unsqueeze(1)
    # The paper feeds the generated values as they are (already roughly unit scale).
    splits = DataSplits(x, torch.from_numpy(data["y"].astype(np.int64)),
                        xt, torch.from_numpy(data["y_test"].astype(np.int64)), 10)
    return _subset(splits, subset)


_DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> None:
    _DATASETS[info.name] = info


register_dataset(DatasetInfo(
    name="digits", loader=load_digits, input_kind="image", input_shape=(1, 8, 8),
    num_classes=10, params=(VAL_FRACTION, SUBSET),
    description="scikit-learn's bundled 8x8 handwritten digits (1,797 images)",
    reference="Alpaydin & Kaynak 1998, UCI optical recognition of handwritten digits",
))
register_dataset(DatasetInfo(
    name="mnist1d", loader=load_mnist1d, input_kind="sequence", input_shape=(1, 40),
    num_classes=10, params=(SUBSET,),
    description="MNIST-1D: 4,000 train / 1,000 test 1-D sequences of length 40, made locally",
    reference="Greydanus 2020, Scaling down deep learning (MNIST-1D)",
))


def dataset_names() -> list[str]:
    return sorted(_DATASETS)


def get_dataset_info(name: str) -> DatasetInfo:
    try:
        return _DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(dataset_names())}"
        ) from None


def resolve_dataset_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return resolve_against(f"dataset {name!r}", get_dataset_info(name).params, params)


def load_dataset(name: str, params: dict[str, Any], root: Path) -> DataSplits:
    return get_dataset_info(name).loader(root, **resolve_dataset_params(name, params))


def dataset_catalog() -> list[dict[str, Any]]:
    return [_DATASETS[n].to_dict() for n in dataset_names()]
