"""Every activation written out for one float with the math module: the hand-computed
references of test_values.py, independent of the torch code under test."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

PAU_P = (0.029665, 0.621363, 2.346395, 3.091337, 1.507275, 0.255036)
PAU_Q = (1.174197, 4.421902, 0.89808, 0.350314)


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def softplus(x: float, beta: float = 1.0, threshold: float = 20.0) -> float:
    return x if beta * x > threshold else math.log1p(math.exp(beta * x)) / beta


def elu(x: float, alpha: float = 1.0) -> float:
    return x if x > 0 else alpha * (math.exp(x) - 1)


def leaky(x: float, s: float) -> float:
    return x if x >= 0 else s * x


def gaaf(x: float, base: str, k: float, shift: float, variant: str) -> float:
    t = x * k
    g = (t - math.floor(t) - 0.5) / k if variant == "floor" else \
        (abs(t - math.floor(t + 0.5)) - 0.5) / k
    if base == "relu":
        return max(0.0, x) + g * sig(x + shift)
    return math.tanh(x) + g * math.exp(-x * x / 3)


def soft_exp(x: float, a: float) -> float:
    if a == 0:
        return x
    if a < 0:
        return -math.log(max(1 - a * (x + a), 1e-6)) / a  # the module clamps the log argument
    return (math.exp(a * x) - 1) / a + a


def srelu(x: float, tl: float, al: float, tr: float, ar: float) -> float:
    if x >= tr:
        return tr + ar * (x - tr)
    if x <= tl:
        return tl + al * (x - tl)
    return x


def pau(x: float) -> float:
    num = sum(p * x**k for k, p in enumerate(PAU_P))
    den = 1 + sum(abs(q) * abs(x) ** k for k, q in enumerate(PAU_Q, start=1))
    return num / den


def sqnl(x: float) -> float:
    if x > 2:
        return 1.0
    if x < -2:
        return -1.0
    return x - x * x / 4 if x >= 0 else x + x * x / 4


F = Callable[[float], float]
# name -> list of (params for create(), scalar function)
CASES: dict[str, list[tuple[dict[str, Any], F]]] = {
    "identity": [({}, lambda x: x)],
    "relu": [({}, lambda x: max(0.0, x))],
    "squared_relu": [({}, lambda x: max(0.0, x) ** 2)],
    "leaky_relu": [({}, lambda x: leaky(x, 0.01)),
                   ({"negative_slope": 0.2}, lambda x: leaky(x, 0.2))],
    "relu6": [({}, lambda x: min(max(0.0, x), 6.0))],
    "elu": [({}, elu), ({"alpha": 0.5}, lambda x: elu(x, 0.5))],
    "celu": [({}, lambda x: max(0.0, x) + min(0.0, math.exp(x) - 1)),
             ({"alpha": 2.0}, lambda x: max(0.0, x) + min(0.0, 2 * (math.exp(x / 2) - 1)))],
    "selu": [({}, lambda x: 1.0507009873554805 * (x if x > 0 else
                                                    1.6732632423543772 * (math.exp(x) - 1)))],
    "gelu": [({}, lambda x: x * 0.5 * (1 + math.erf(x / math.sqrt(2)))),
             ({"approximate": "tanh"}, lambda x: 0.5 * x * (1 + math.tanh(
                 math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))))],
    "silu": [({}, lambda x: x * sig(x))],
    "mish": [({}, lambda x: x * math.tanh(softplus(x)))],
    "softplus": [({}, softplus), ({"beta": 2.0, "threshold": 5.0},
                                  lambda x: softplus(x, 2.0, 5.0))],
    "softsign": [({}, lambda x: x / (1 + abs(x)))],
    "tanh": [({}, math.tanh)],
    "sigmoid": [({}, sig)],
    "hardtanh": [({}, lambda x: min(max(x, -1.0), 1.0)),
                 ({"min_val": -2.0, "max_val": 0.5}, lambda x: min(max(x, -2.0), 0.5))],
    "hardsigmoid": [({}, lambda x: min(max(0.0, x / 6 + 0.5), 1.0))],
    "hardswish": [({}, lambda x: x * min(max(0.0, x + 3), 6.0) / 6)],
    "logsigmoid": [({}, lambda x: math.log(sig(x)))],
    "tanhshrink": [({}, lambda x: x - math.tanh(x))],
    "softshrink": [({}, lambda x: x - 0.5 if x > 0.5 else (x + 0.5 if x < -0.5 else 0.0)),
                   ({"lambd": 1.0}, lambda x: x - 1 if x > 1 else (x + 1 if x < -1 else 0.0))],
    "hardshrink": [({}, lambda x: x if abs(x) > 0.5 else 0.0),
                   ({"lambd": 1.0}, lambda x: x if abs(x) > 1.0 else 0.0)],
    "rrelu": [({}, lambda x: leaky(x, (1 / 8 + 1 / 3) / 2)),  # evaluation mode: mean slope
              ({"lower": 0.1, "upper": 0.3}, lambda x: leaky(x, 0.2))],
    "prelu": [({}, lambda x: leaky(x, 0.25)), ({"init": 0.1}, lambda x: leaky(x, 0.1))],
    "dp_relu": [({}, lambda x: x if x >= 0 else 0.01 * x),
                ({"a": 2.0, "b": 0.5}, lambda x: 2 * x if x >= 0 else 0.5 * x)],
    "dual_line": [({}, lambda x: (x if x >= 0 else 0.01 * x) - 0.22),
                  ({"a": 1.5, "b": 0.1, "m": 0.3},
                   lambda x: (1.5 * x if x >= 0 else 0.1 * x) + 0.3)],
    "trelu": [({}, lambda x: max(0.0, x) - 0.22),
              ({"threshold": -0.5, "mean_shift": 0.0}, lambda x: max(0.0, x) - 0.5)],
    "general_relu": [({}, lambda x: min(leaky(x, 0.1) - 0.4, 6.0)),
                     ({"leak": 0.0, "sub": 0.0, "maxv": 1.0}, lambda x: min(max(0.0, x), 1.0))],
    "aria2": [({}, lambda x: x * (1 + math.exp(-2 * x)) ** -1.5),
              ({"a": 1.0, "b": 1.0}, lambda x: x * sig(x))],
    "isru": [({}, lambda x: x / math.sqrt(1 + x * x)),
             ({"alpha": 3.0}, lambda x: x / math.sqrt(1 + 3 * x * x))],
    "isrlu": [({}, lambda x: x if x >= 0 else x / math.sqrt(1 + x * x)),
              ({"alpha": 3.0}, lambda x: x if x >= 0 else x / math.sqrt(1 + 3 * x * x))],
    "sqnl": [({}, sqnl)],
    "bent_identity": [({}, lambda x: (math.sqrt(x * x + 1) - 1) / 2 + x)],
    "e_swish": [({}, lambda x: 1.375 * x * sig(x)), ({"beta": 2.0}, lambda x: 2 * x * sig(x))],
    "ftswish": [({}, lambda x: x * sig(x) - 0.2 if x >= 0 else -0.2),
                ({"t": 0.0}, lambda x: x * sig(x) if x >= 0 else 0.0)],
    "elish": [({}, lambda x: (x if x >= 0 else math.exp(x) - 1) * sig(x))],
    "hard_elish": [({}, lambda x: (x if x >= 0 else math.exp(x) - 1)
                    * max(0.0, min(1.0, (x + 1) / 2)))],
    "lisht": [({}, lambda x: x * math.tanh(x))],
    "mila": [({}, lambda x: x * math.tanh(softplus(x - 0.25))),
             ({"beta": 1.0}, lambda x: x * math.tanh(softplus(x + 1)))],
    "beta_mish": [({}, lambda x: x * math.tanh(math.log((1 + math.exp(x)) ** 1.5))),
                  ({"beta": 1.0}, lambda x: x * math.tanh(softplus(x)))],
    "soft_clipping": [({}, lambda x: math.log((1 + math.exp(0.5 * x))
                                              / (1 + math.exp(0.5 * (x - 1)))) / 0.5),
                      ({"alpha": 2.0}, lambda x: math.log((1 + math.exp(2 * x))
                                                          / (1 + math.exp(2 * (x - 1)))) / 2)],
    "lecun_tanh": [({}, lambda x: 1.7159 * math.tanh(2 * x / 3))],
    "sine_relu": [({}, lambda x: x if x > 0 else 0.0025 * (math.sin(x) - math.cos(x))),
                  ({"epsilon": 0.5}, lambda x: x if x > 0 else 0.5 * (math.sin(x) - math.cos(x)))],
    "pelu": [({}, lambda x: x if x >= 0 else math.exp(x) - 1),
             ({"a": 2.0, "b": 0.5}, lambda x: 4 * x if x >= 0 else 2 * (math.exp(2 * x) - 1))],
    "flexible_relu": [({}, lambda x: max(0.0, x)), ({"b": -0.3}, lambda x: max(0.0, x) - 0.3)],
    "swish": [({}, lambda x: x * sig(x)), ({"beta": 2.0}, lambda x: x * sig(2 * x))],
    "formula": [
        ({}, lambda x: x),
        ({"expression": "x * sigmoid(beta * x)", "parameters": {"beta": 1.5}},
         lambda x: x * sig(1.5 * x)),
        ({"expression": "where(x > 0, x, a * x)", "parameters": {"a": 0.25}},
         lambda x: x if x > 0 else 0.25 * x),
        ({"expression": "clamp(x, -1, 1) + 0.5 * log1p(abs(x)) - x ** 2 / 4"},
         lambda x: min(max(x, -1.0), 1.0) + 0.5 * math.log1p(abs(x)) - x * x / 4),
    ],
    "soft_exponential": [({}, lambda x: soft_exp(x, 0.01)),
                         ({"alpha": -0.2}, lambda x: soft_exp(x, -0.2)),
                         ({"alpha": 0.5}, lambda x: soft_exp(x, 0.5))],
    "srelu": [({}, lambda x: srelu(x, 0.0, 0.2, 1.0, 1.0)),
              ({"t_l": -1.0, "a_l": 0.1, "t_r": 2.0, "a_r": 0.5},
               lambda x: srelu(x, -1.0, 0.1, 2.0, 0.5))],
    "apl": [({}, lambda x: max(0.0, x)), ({"hinges": 3}, lambda x: max(0.0, x))],
    "pau": [({}, pau)],
    # its coefficients start at 0: SiLU at any grid (assigned ones: test_values.py)
    "bspline": [({}, lambda x: x * sig(x)),
                ({"grid": 2, "order": 1, "low": 0.0, "high": 2.0}, lambda x: x * sig(x))],
    "slaf": [({}, lambda x: x), ({"degree": 5}, lambda x: x)],
    "gaaf_relu": [({}, lambda x: gaaf(x, "relu", 1e4, 4.0, "floor")),
                  ({"k": 7.0, "shift": -1.0, "variant": "round"},
                   lambda x: gaaf(x, "relu", 7.0, -1.0, "round"))],
    "gaaf_tanh": [({}, lambda x: gaaf(x, "tanh", 1e4, 0.0, "floor")),
                  ({"k": 3.0, "variant": "round"}, lambda x: gaaf(x, "tanh", 3.0, 0.0, "round"))],
    "slope_shift": [({}, lambda x: (x if x > 0 else math.exp(x) - 1) - 0.22),
                    ({"base": "tanh", "a": 2.0, "m": 0.1},
                     lambda x: (2 * x if x > 0 else math.tanh(x)) + 0.1)],
}
