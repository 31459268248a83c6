"""A learned edge function at any recorded epoch, from its parameter snapshot: KAN's B-spline
edge (w_b SiLU(x) + w_s sum_i c_i B_i(x)) and the safe Padé unit of a rational KAN, in numpy,
so the torch-free API can draw what each edge learned epoch by epoch. The same arithmetic as
activations/bspline.py and activations/parametric.py (tests/api/test_functions.py holds
these to the curves the worker computed with torch at the last epoch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# The worker's response grid (worker/training/measure.py::RESPONSE_GRID).
GRID = np.linspace(-5.0, 5.0, 101)

Snapshot = Mapping[str, Sequence[float]]


def knots(grid: int, order: int, low: float, high: float) -> np.ndarray:
    step = (high - low) / grid
    return low + step * np.arange(-order, grid + order + 1, dtype=np.float64)


def basis(x: np.ndarray, knot: np.ndarray, order: int) -> np.ndarray:
    """Cox-de Boor: B_i(x), x's shape plus a last axis of len(knot) - 1 - order."""
    u = x[..., None]
    b = ((u >= knot[:-1]) & (u < knot[1:])).astype(np.float64)
    for p in range(1, order + 1):
        left = (u - knot[:-(p + 1)]) / (knot[p:-1] - knot[:-(p + 1)]) * b[..., :-1]
        right = (knot[p + 1:] - u) / (knot[p + 1:] - knot[1:-p]) * b[..., 1:]
        b = left + right
    return b


def _bspline(snapshot: Snapshot, params: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    grid, order = int(params.get("grid", 5)), int(params.get("order", 3))
    coef = np.array([snapshot[f"c{i}"] for i in range(grid + order)], dtype=np.float64).T
    w_b = np.asarray(snapshot["w_b"], dtype=np.float64)[:, None]
    w_s = np.asarray(snapshot["w_s"], dtype=np.float64)[:, None]
    b = basis(x, knots(grid, order, float(params.get("low", -1.0)),
                       float(params.get("high", 1.0))), order)
    silu = x / (1 + np.exp(-x))
    result: np.ndarray = w_b * silu[None, :] + w_s * (coef @ b.T)
    return result


def _pau(snapshot: Snapshot, params: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    p = [np.asarray(snapshot[f"p{k}"], dtype=np.float64)[:, None] for k in range(6)]
    q = [np.abs(np.asarray(snapshot[f"q{k}"], dtype=np.float64))[:, None] for k in range(1, 5)]
    num = p[5] * np.ones_like(x)
    for k in range(4, -1, -1):
        num = num * x + p[k]
    ax = np.abs(x)
    den = np.zeros_like(num)
    for k in range(3, -1, -1):
        den = (den + q[k]) * ax
    result: np.ndarray = num / (1 + den)
    return result


EVALUATORS: dict[str, tuple[Callable[[Snapshot, Mapping[str, Any], np.ndarray], np.ndarray],
                            Callable[[Snapshot], bool]]] = {
    "bspline": (_bspline, lambda s: "w_b" in s and "w_s" in s and "c0" in s),
    "pau": (_pau, lambda s: all(f"p{k}" in s for k in range(6))
            and all(f"q{k}" in s for k in range(1, 5))),
}


def evaluate(activation: str, params: Mapping[str, Any], snapshot: Snapshot,
             x: np.ndarray = GRID) -> np.ndarray | None:
    """channels x len(x): each channel's function at x, or None when `activation` is not an
    edge function or the snapshot is not one of its slots."""
    found = EVALUATORS.get(activation)
    if found is None or not found[1](snapshot):
        return None
    return found[0](snapshot, params, x)
