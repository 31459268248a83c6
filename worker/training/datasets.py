"""Datasets as tensors. Small sets are loaded whole; the loop keeps them resident on the device.

Every dataset has three splits, none of which depends on the run's seed (seeds of one
experiment differ only in initialisation and batch order: they are replicates):
- train: what the optimiser sees;
- validation: held out from the training data (`val_fraction` of it); "best epoch" and any
  other choice made while training look only at this split;
- test: the official test split where the dataset has one (mnist1d, MNIST, CIFAR), otherwise
  a fixed TEST_FRACTION of the examples, set aside before the validation split is drawn.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from core.domain import plugins
from core.domain.params import ParamInfo
from core.domain.registry import Registry
from worker.training.files import FILES, DatasetFileError, ensure_file, read_cifar, read_idx

SPLIT_SEED = 20191222  # fixed: split membership never depends on the run's seed
TEST_SEED = 20260101  # a different stream for datasets without an official test split
TEST_FRACTION = 0.2  # digits and synthetic: share of all examples kept for testing


@dataclass
class DataSplits:
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    # Per-batch training augmentation, run on the batch's device: (batch, generator) -> batch.
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None
    # The dataset's declared task (DatasetInfo.task; worker/training/objectives.py). None, for
    # splits built by hand: told by the labels (per pixel: segmentation).
    task: str | None = None
    # What identifies data that is not fixed by the dataset's name and params (a text
    # corpus's hash): recorded in each run's provenance as `data`.
    source: dict[str, Any] | None = None

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
    test_split: str = "official"  # official | held out
    # classification: one label per example; segmentation: one label per pixel (H x W).
    task: str = "classification"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "reference": self.reference,
                "input_kind": self.input_kind, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "needs_files": self.needs_files,
                "test_split": self.test_split, "task": self.task,
                "params": [p.to_dict() for p in self.params]}


def _val_fraction(default: float) -> ParamInfo:
    return ParamInfo("val_fraction", default, min=0.01, max=0.5,
                     doc="share of the training data held out as the validation split "
                         "(fixed examples, the same for every seed)")


SUBSET = ParamInfo("subset", 0, kind="int", min=0,
                   doc="train on only this many examples (0 = all)")


def _standardise(train: Tensor, *others: Tensor) -> list[Tensor]:
    # One mean and std over all training values: the standard per-dataset normalisation.
    mean, std = train.mean(), train.std().clamp_min(1e-8)
    return [(t - mean) / std for t in (train, *others)]


def holdout(x: Tensor, y: Tensor, fraction: float, seed: int = SPLIT_SEED
             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(kept x, kept y, held-out x, held-out y): a fixed `fraction` of the examples held out."""
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    n_out = max(1, int(round(len(x) * fraction)))
    return x[order[n_out:]], y[order[n_out:]], x[order[:n_out]], y[order[:n_out]]


def _three_way(x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, val_fraction: float,
               num_classes: int, augment: Callable[[Tensor, torch.Generator], Tensor] | None
               = None) -> DataSplits:
    """Train and validation from the training data (x, y); test is (xt, yt)."""
    tx, ty, vx, vy = holdout(x, y, val_fraction)
    return DataSplits(tx, ty, vx, vy, xt, yt, num_classes, augment)


def _split_all(x: np.ndarray, y: np.ndarray, val_fraction: float, num_classes: int
               ) -> DataSplits:
    """No official test split: hold out TEST_FRACTION first, then validation from the rest;
    standardised with the training split's statistics."""
    rest_x, rest_y, test_x, test_y = holdout(torch.from_numpy(x), torch.from_numpy(y),
                                              TEST_FRACTION, TEST_SEED)
    tx, ty, vx, vy = holdout(rest_x, rest_y, val_fraction)
    tx, vx, test_x = _standardise(tx, vx, test_x)
    return DataSplits(tx, ty, vx, vy, test_x, test_y, num_classes)


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
    return _subset(_split_all(x, y, val_fraction, 10), subset)


def load_mnist1d(root: Path, val_fraction: float = 0.1, subset: int = 0) -> DataSplits:
    """Greydanus 2020: 4000 train / 1000 test sequences of length 40, generated locally and
    cached (generation takes a few seconds). Test is the paper's test split; validation is
    held out from its 4000 training sequences."""
    cache = root / "mnist1d" / "mnist1d_default.npz"
    if cache.exists():
        data = dict(np.load(cache))
    else:
        from mnist1d.data import get_dataset_args, make_dataset

        made = make_dataset(get_dataset_args())
        data = {k: np.asarray(made[k]) for k in ("x", "y", "x_test", "y_test")}
        cache.parent.mkdir(parents=True, exist_ok=True)
        # A unique temporary name: two workers may generate the set at the same time.
        with tempfile.NamedTemporaryFile(dir=cache.parent, suffix=".npz", delete=False) as tmp:
            np.savez(tmp, **data)
        Path(tmp.name).replace(cache)
    x = torch.from_numpy(data["x"].astype(np.float32)).unsqueeze(1)
    xt = torch.from_numpy(data["x_test"].astype(np.float32)).unsqueeze(1)
    # The paper feeds the generated values as they are (already roughly unit scale).
    splits = _three_way(x, torch.from_numpy(data["y"].astype(np.int64)),
                        xt, torch.from_numpy(data["y_test"].astype(np.int64)), val_fraction, 10)
    return _subset(splits, subset)


def _normalise(x: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """uint8 images (N, C, H, W) to float32, scaled to [0, 1] then standardised per channel
    with the dataset's published statistics."""
    t = torch.from_numpy(x.astype(np.float32) / 255.0)
    m = torch.tensor(mean).reshape(1, -1, 1, 1)
    s = torch.tensor(std).reshape(1, -1, 1, 1)
    return (t - m) / s


_IDX_STATS = {"mnist": ((0.1307,), (0.3081,)), "fashion_mnist": ((0.2860,), (0.3530,))}


def _load_idx_set(name: str, root: Path, val_fraction: float, subset: int) -> DataSplits:
    arrays = {key: read_idx(ensure_file(root, name, key)) for key in FILES[name]}
    mean, std = _IDX_STATS[name]
    x = _normalise(arrays["train_images"][:, None], mean, std)
    xt = _normalise(arrays["test_images"][:, None], mean, std)
    y = torch.from_numpy(arrays["train_labels"].astype(np.int64))
    yt = torch.from_numpy(arrays["test_labels"].astype(np.int64))
    if len(x) != len(y) or len(xt) != len(yt):
        raise DatasetFileError(f"{name}: image and label counts differ")
    return _subset(_three_way(x, y, xt, yt, val_fraction, 10), subset)


def load_mnist(root: Path, val_fraction: float = 0.1, subset: int = 0) -> DataSplits:
    return _load_idx_set("mnist", root, val_fraction, subset)


def load_fashion_mnist(root: Path, val_fraction: float = 0.1, subset: int = 0) -> DataSplits:
    return _load_idx_set("fashion_mnist", root, val_fraction, subset)


def crop_and_flip(batch: Tensor, gen: torch.Generator, pad: int = 4) -> Tensor:
    """CIFAR augmentation on the batch's own device: a random crop of the zero-padded
    image (padding 4) and a horizontal flip with probability 1/2, one draw per image."""
    n, _, h, w = batch.shape
    dev = batch.device
    padded = F.pad(batch, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(dev)
    flip = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(dev)
    rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    images = torch.arange(n, device=dev)[:, None, None, None]
    channels = torch.arange(batch.shape[1], device=dev)[None, :, None, None]
    return padded[images, channels, rows, cols]


_CIFAR_STATS = {"cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
                "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}


def _load_cifar(name: str, root: Path, val_fraction: float, subset: int,
                augment: bool) -> DataSplits:
    archive = ensure_file(root, name, "archive")
    if name == "cifar10":
        train = [f"data_batch_{i}" for i in range(1, 6)]
        x, y = read_cifar(archive, train, "labels")
        xt, yt = read_cifar(archive, ["test_batch"], "labels")
        classes = 10
    else:
        x, y = read_cifar(archive, ["train"], "fine_labels")
        xt, yt = read_cifar(archive, ["test"], "fine_labels")
        classes = 100
    mean, std = _CIFAR_STATS[name]
    splits = _three_way(_normalise(x, mean, std), torch.from_numpy(y),
                        _normalise(xt, mean, std), torch.from_numpy(yt), val_fraction, classes,
                        augment=crop_and_flip if augment else None)
    return _subset(splits, subset)


def load_cifar10(root: Path, val_fraction: float = 0.1, subset: int = 0,
                 augment: bool = True) -> DataSplits:
    return _load_cifar("cifar10", root, val_fraction, subset, augment)


def load_cifar100(root: Path, val_fraction: float = 0.1, subset: int = 0,
                  augment: bool = True) -> DataSplits:
    return _load_cifar("cifar100", root, val_fraction, subset, augment)


def load_synthetic(root: Path, samples: int = 3000, classes: int = 3, noise: float = 0.2,
                   turns: float = 1.5, val_fraction: float = 0.2) -> DataSplits:
    """Interleaved 2-D spirals, one arm per class: a small task where the activation's
    shape matters. Generated from a fixed seed, so every run sees the same points."""
    rng = np.random.default_rng(SPLIT_SEED)
    per = samples // classes
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, per)
        theta = r * turns * 2 * np.pi + 2 * np.pi * c / classes
        pts = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
        xs.append(pts + rng.normal(scale=noise * 0.1, size=pts.shape))
        ys.append(np.full(per, c))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.int64)
    return _split_all(x, y, val_fraction, classes)


SHAPE_CLASSES = ("background", "disc", "square", "triangle")


def load_shapes(root: Path, samples: int = 1200, size: int = 32, shapes: int = 3,
                noise: float = 0.5, val_fraction: float = 0.2) -> DataSplits:
    """Segmentation: up to `shapes` discs, squares and triangles of random size, place and
    brightness on Gaussian noise; the label of each pixel is the class of the shape on top
    (0 = background). Generated from a fixed seed, so every run sees the same images."""
    rng = np.random.default_rng(SPLIT_SEED)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    x = rng.normal(scale=noise, size=(samples, 1, size, size)).astype(np.float32)
    y = np.zeros((samples, size, size), dtype=np.int64)
    for i in range(samples):
        for _ in range(rng.integers(1, shapes + 1)):
            kind = int(rng.integers(1, len(SHAPE_CLASSES)))
            r = rng.uniform(size / 10, size / 4)
            cy, cx = rng.uniform(r, size - r, 2)
            if kind == 1:
                mask = (rows - cy) ** 2 + (cols - cx) ** 2 <= r ** 2
            elif kind == 2:
                mask = (np.abs(rows - cy) <= r * 0.8) & (np.abs(cols - cx) <= r * 0.8)
            else:  # apex up: inside while the half-width grows with the distance from the apex
                depth = rows - (cy - r)
                mask = (depth >= 0) & (depth <= 2 * r) & (np.abs(cols - cx) <= depth * 0.6)
            x[i, 0][mask] += rng.uniform(1.0, 2.0)
            y[i][mask] = kind
    return _split_all(x, y, val_fraction, len(SHAPE_CLASSES))


_DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    return _DATASETS.register(info)


register_dataset(DatasetInfo(
    name="digits", loader=load_digits, input_kind="image", input_shape=(1, 8, 8),
    num_classes=10, params=(_val_fraction(0.2), SUBSET), test_split="held out",
    description="scikit-learn's bundled 8x8 handwritten digits (1,797 images; 20 % fixed as "
                "the test split)",
    reference="Alpaydin & Kaynak 1998, UCI optical recognition of handwritten digits",
))
register_dataset(DatasetInfo(
    name="mnist1d", loader=load_mnist1d, input_kind="sequence", input_shape=(1, 40),
    num_classes=10, params=(_val_fraction(0.1), SUBSET),
    description="MNIST-1D: 4,000 train / 1,000 test 1-D sequences of length 40, made locally",
    reference="Greydanus 2020, Scaling down deep learning (MNIST-1D)",
))


_HOLDOUT = _val_fraction(0.1)
_AUGMENT = ParamInfo("augment", True, kind="bool",
                     doc="random crop (padding 4) and horizontal flip, on the device")
register_dataset(DatasetInfo(
    name="synthetic", loader=load_synthetic, input_kind="vector", input_shape=(2,),
    num_classes=3, description="2-D interleaved spirals, one arm per class (generated)",
    reference="Lang & Witbrock 1988, two-spirals benchmark (generalised to k arms)",
    params=(ParamInfo("samples", 3000, kind="int", min=30, max=1_000_000),
            ParamInfo("classes", 3, kind="int", min=2, max=100),
            ParamInfo("noise", 0.2, min=0.0, max=10.0),
            ParamInfo("turns", 1.5, min=0.1, max=10.0), _val_fraction(0.2)),
    test_split="held out",
))
register_dataset(DatasetInfo(
    name="shapes", loader=load_shapes, input_kind="image", input_shape=(1, 32, 32),
    num_classes=len(SHAPE_CLASSES), task="segmentation", test_split="held out",
    description="Segmentation: discs, squares and triangles on noise, a label per pixel "
                "(background, disc, square, triangle; generated)",
    reference="a generated stand-in for Ronneberger et al. 2015's per-pixel task",
    params=(ParamInfo("samples", 1200, kind="int", min=30, max=100_000),
            ParamInfo("size", 32, kind="int", min=8, max=256,
                      doc="image side in pixels (a U-Net needs a multiple of 2^levels)"),
            ParamInfo("shapes", 3, kind="int", min=1, max=20, doc="at most this many per image"),
            ParamInfo("noise", 0.5, min=0.0, max=10.0, doc="std of the background noise"),
            _val_fraction(0.2)),
))
register_dataset(DatasetInfo(
    name="mnist", loader=load_mnist, input_kind="image", input_shape=(1, 28, 28),
    num_classes=10, needs_files=True, params=(_HOLDOUT, SUBSET),
    description="MNIST handwritten digits, 60,000 train / 10,000 test (IDX files)",
    reference="LeCun et al. 1998",
))
register_dataset(DatasetInfo(
    name="fashion_mnist", loader=load_fashion_mnist, input_kind="image", input_shape=(1, 28, 28),
    num_classes=10, needs_files=True, params=(_HOLDOUT, SUBSET),
    description="Fashion-MNIST, 60,000 train / 10,000 test (IDX files)",
    reference="Xiao et al. 2017, Fashion-MNIST",
))
register_dataset(DatasetInfo(
    name="cifar10", loader=load_cifar10, input_kind="image", input_shape=(3, 32, 32),
    num_classes=10, needs_files=True, params=(_HOLDOUT, SUBSET, _AUGMENT),
    description="CIFAR-10, 50,000 train / 10,000 test (python batches)",
    reference="Krizhevsky 2009, Learning multiple layers of features from tiny images",
))
register_dataset(DatasetInfo(
    name="cifar100", loader=load_cifar100, input_kind="image", input_shape=(3, 32, 32),
    num_classes=100, needs_files=True, params=(_HOLDOUT, SUBSET, _AUGMENT),
    description="CIFAR-100 (fine labels), 50,000 train / 10,000 test (python batches)",
    reference="Krizhevsky 2009, Learning multiple layers of features from tiny images",
))


def dataset_names() -> list[str]:
    return _DATASETS.names()


def get_dataset_info(name: str) -> DatasetInfo:
    return _DATASETS.get(name)


def resolve_dataset_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return _DATASETS.resolve(name, params)


def load_dataset(name: str, params: dict[str, Any], root: Path, *,
                 checked: bool = False) -> DataSplits:
    """`checked`: params come from a validated spec (complete and checked) and are used as
    they are."""
    info = get_dataset_info(name)
    splits = info.loader(root, **(params if checked else resolve_dataset_params(name, params)))
    splits.task = info.task
    return splits


def dataset_catalog(plugin: str | None = None) -> list[dict[str, Any]]:
    """The entries of actlab's own datasets, or of one plugin distribution's."""
    return [info.to_dict() for info in _DATASETS if _DATASETS.origin(info.name) == plugin]


# Datasets of installed plugin packages (entry point group `actlab.datasets`).
plugins.load("datasets")
