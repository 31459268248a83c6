"""Symbolic fits of a learned univariate function, as pykan's `suggest_symbolic` makes them:
for each candidate f of a library, the affine map a f(b x + c) + d that fits the sampled
curve best, ranked by R².

pykan's `fit_params` searches (b, c) on a grid, solves (a, d) by linear least squares at each
grid point and zooms in around the best twice; so does `fit`. The library is made of
actlab's own formula grammar (core/domain/formula.py), so every fit's `expression` is a
formula activation that can be submitted as it is: a learned function becomes a hypothesis
to test. Numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.domain import formula

Fn = Callable[[np.ndarray], np.ndarray]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1 + np.tanh(0.5 * z)))


# Grammar name -> its numpy form; `x`: the identity (a line), `x ** 3` written as a power.
LIBRARY: dict[str, Fn] = {
    "x": lambda z: z,
    "square": lambda z: z * z,
    "x ** 3": lambda z: z ** 3,
    "exp": np.exp,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "abs": np.abs,
    "relu": lambda z: np.maximum(z, 0.0),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "silu": lambda z: z * _sigmoid(z),
    "atan": np.arctan,
    "sqrt": lambda z: np.sqrt(np.abs(z)) * (z >= 0),
    "log": lambda z: np.log(np.maximum(z, 1e-12)),
}
GRID = 41  # points per axis of the (b, c) search, as pykan's grid_number (101) but coarser
ZOOMS = 2
RANGE = 10.0  # b and c start in [-RANGE, RANGE], as pykan's a_range, b_range


@dataclass(frozen=True)
class Fit:
    expression: str  # in actlab's formula grammar, numbers inline
    r2: float
    a: float
    b: float
    c: float
    d: float


def _best_on_grid(fn: Fn, x: np.ndarray, y: np.ndarray, bs: np.ndarray,
                  cs: np.ndarray) -> tuple[float, float, float, float, float]:
    """The (r2, a, b, c, d) of the best grid point, (a, d) solved by least squares."""
    with np.errstate(all="ignore"):
        f = fn(bs[:, None, None] * x[None, None, :] + cs[None, :, None])  # (B, C, N)
        f = np.where(np.isfinite(f), f, np.nan)
        fm = f.mean(axis=2, keepdims=True)
        ym = y.mean()
        cov = np.nanmean((f - fm) * (y - ym), axis=2)
        var = np.nanmean((f - fm) ** 2, axis=2)
        a = np.where(var > 1e-12, cov / var, 0.0)
        d = ym - a * fm[..., 0]
        residual = np.nanmean((y - (a[..., None] * f + d[..., None])) ** 2, axis=2)
    total = float(np.mean((y - ym) ** 2)) or 1e-30
    r2 = 1 - residual / total
    r2 = np.where(np.isfinite(r2) & (var > 1e-12), r2, -np.inf)
    i, j = np.unravel_index(int(np.argmax(r2)), r2.shape)
    return float(r2[i, j]), float(a[i, j]), float(bs[i]), float(cs[j]), float(d[i, j])


def _fit_one(name: str, fn: Fn, x: np.ndarray, y: np.ndarray) -> Fit | None:
    bs = np.linspace(-RANGE, RANGE, GRID)
    cs = np.linspace(-RANGE, RANGE, GRID)
    best = _best_on_grid(fn, x, y, bs, cs)
    for _ in range(ZOOMS):
        step_b, step_c = bs[1] - bs[0], cs[1] - cs[0]
        bs = np.linspace(best[2] - step_b, best[2] + step_b, GRID)
        cs = np.linspace(best[3] - step_c, best[3] + step_c, GRID)
        best = max(best, _best_on_grid(fn, x, y, bs, cs))
    r2, a, b, c, d = best
    if not math.isfinite(r2):
        return None
    try:
        return Fit(_expression(name, a, b, c, d), r2, a, b, c, d)
    except formula.FormulaError:  # a degenerate fit: numbers beyond what the grammar holds
        return None


def _expression(name: str, a: float, b: float, c: float, d: float) -> str:
    """a f(b x + c) + d in the grammar, each number to 6 significant digits; checked."""
    inner = f"{b:.6g} * x + {c:.6g}"
    applied = f"({inner}) ** 3" if name == "x ** 3" else \
        f"({inner})" if name == "x" else f"{name}({inner})"
    text = f"{a:.6g} * {applied} + {d:.6g}"
    formula.parse(text, {})  # FormulaError where the grammar could not read it back
    return text


def fit(xs: Sequence[float], ys: Sequence[float], top: int = 3,
        library: dict[str, Fn] | None = None) -> list[Fit]:
    """The `top` best fits of the curve (xs, ys), best R² first."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    fits = [f for name, fn in (library or LIBRARY).items()
            if (f := _fit_one(name, fn, x, y)) is not None]
    return sorted(fits, key=lambda f: -f.r2)[:top]
