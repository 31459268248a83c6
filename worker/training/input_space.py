"""Pictures of the input space for 2-D datasets: what the network predicts over the input
plane, and how each hidden layer bends a grid of lines drawn on it.

Computed by the worker at a few epochs of the run (`picture_epochs`) and stored with the
run (GET /runs/{id}/input-space), so a request never runs a model. A layer wider than two
is projected to the plane of its two principal components over the grid's image (PCA,
named in the picture with the share of variance it keeps).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from activations import activation_modules
from worker.training.datasets import DataSplits

GRID_CELLS = 64  # decision regions: cells per side
GRID_LINES = 11  # lines per direction of the bent grid
LINE_POINTS = 41  # points per line
MAX_POINTS = 400  # training points shown with the regions
MARGIN = 0.1  # of the data's extent, around it


def applies(data: DataSplits) -> bool:
    """A 2-D classification dataset (labels per example)."""
    return data.input_shape == (2,) and data.train_y.dim() == 1 \
        and data.task in (None, "classification")


def picture_epochs(epochs: int) -> list[int]:
    """Epochs 1, 2, 4, 8, ... and the last: the early epochs, where the bending happens
    fastest, and the end."""
    out, e = [], 1
    while e < epochs:
        out.append(e)
        e *= 2
    return [*out, epochs]


def _round(t: Tensor, digits: int = 4) -> list[Any]:
    out: list[Any] = torch.round(t.double() * 10 ** digits).div(10 ** digits).tolist()
    return out


class InputSpace:
    """The fixed parts of one run's pictures (the plane's bounds, the grid, a sample of the
    training points), and `at(model)` for one epoch's picture."""

    def __init__(self, data: DataSplits, device: torch.device) -> None:
        x = data.train_x.float().cpu()
        lo, hi = x.min(0).values, x.max(0).values
        pad = (hi - lo) * MARGIN
        self.lo, self.hi = lo - pad, hi + pad
        self.device = device
        # Cell centres, row-major from the bottom row (y = lo) up.
        xs = self._ticks(0, GRID_CELLS, centres=True)
        ys = self._ticks(1, GRID_CELLS, centres=True)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        self.cells = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
        # Vertical lines (x fixed) then horizontal ones (y fixed), LINE_POINTS each.
        along_x, along_y = self._ticks(0, LINE_POINTS), self._ticks(1, LINE_POINTS)
        vertical = [torch.stack([torch.full_like(along_y, float(v)), along_y], 1)
                    for v in self._ticks(0, GRID_LINES)]
        horizontal = [torch.stack([along_x, torch.full_like(along_x, float(v))], 1)
                      for v in self._ticks(1, GRID_LINES)]
        self.lines = torch.stack(vertical + horizontal)  # L x P x 2
        step = max(1, len(x) // MAX_POINTS)
        self.points = {"x": _round(x[::step, 0], 3), "y": _round(x[::step, 1], 3),
                       "label": data.train_y[::step].tolist()}

    def _ticks(self, axis: int, n: int, centres: bool = False) -> Tensor:
        lo, hi = float(self.lo[axis]), float(self.hi[axis])
        if centres:
            step = (hi - lo) / n
            return torch.linspace(lo + step / 2, hi - step / 2, n)
        return torch.linspace(lo, hi, n)

    def header(self) -> dict[str, Any]:
        return {"bounds": {"x": [float(self.lo[0]), float(self.hi[0])],
                           "y": [float(self.lo[1]), float(self.hi[1])]},
                "grid_cells": GRID_CELLS, "points": self.points}

    @torch.no_grad()
    def at(self, model: nn.Module, epoch: int) -> dict[str, Any]:
        """The predicted class per cell (rows from the bottom) and each activation slot's
        image of the grid lines, projected to 2-D where wider."""
        was_training = model.training
        model.eval()
        outputs: dict[str, Tensor] = {}
        hooks = [module.register_forward_hook(
            lambda _m, _i, out, path=path: outputs.__setitem__(path, out.detach()))
            for path, module in activation_modules(model)]
        try:
            classes = model(self.cells.to(self.device)).argmax(1).cpu()
            outputs.clear()
            flat = self.lines.reshape(-1, 2)
            model(flat.to(self.device))
        finally:
            for hook in hooks:
                hook.remove()
            model.train(was_training)
        layers = [{"layer": "input", "activation": None, "width": 2, "projection": "identity",
                   "explained": 1.0, "lines": _round(self.lines, 3)}]
        for path, module in activation_modules(model):
            if path in outputs:
                layers.append(self._layer(path, module.activation_name or type(module).__name__,
                                          outputs[path].float().cpu().reshape(len(flat), -1)))
        return {"epoch": epoch,
                "classes": classes.reshape(GRID_CELLS, GRID_CELLS).tolist(), "layers": layers}

    def _layer(self, path: str, activation: str, image: Tensor) -> dict[str, Any]:
        width = image.shape[1]
        if width <= 2:
            plane = torch.cat([image, torch.zeros(len(image), 2 - width)], 1)
            projection, explained = "identity", 1.0
        else:
            centred = image - image.mean(0)
            # Principal axes of this layer's image of the grid; signs fixed so that the
            # largest loading is positive (the same picture from run to run).
            _, s, vh = torch.linalg.svd(centred.double(), full_matrices=False)
            axes = vh[:2]
            axes = axes * torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))
            plane = (centred.double() @ axes.T).float()
            total = float((s ** 2).sum())
            projection = "pca"
            explained = float((s[:2] ** 2).sum()) / total if total > 0 else 1.0
        lines = plane.reshape(len(self.lines), LINE_POINTS, 2)
        return {"layer": path, "activation": activation, "width": width,
                "projection": projection, "explained": round(explained, 4),
                "lines": _round(lines, 3)}
