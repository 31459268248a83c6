"""Learnable activations from the literature. Each is a formula over broadcast (C,) or (1,)
parameters run through `recompute`, so backward keeps only the input and the parameters."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from activations.base import bcast
from activations.piecewise import PER_CHANNEL
from activations.recompute import Elementwise
from activations.registry import ActivationInfo, register
from core.domain.params import ParamInfo

_MIN_POSITIVE = 0.1  # PELU's a, b stay >= 0.1 (Trottier et al. clip them the same way)


class PELU(Elementwise):
    """Parametric ELU: (a/b) x for x >= 0, a (exp(x/b) - 1) below; a, b > 0."""

    kernel = "pelu"

    param_names = ("a", "b")

    def formula(self, x: Tensor, a: Tensor, b: Tensor) -> Tensor:
        a_ = bcast(a, x).clamp_min(_MIN_POSITIVE)
        b_ = bcast(b, x).clamp_min(_MIN_POSITIVE)
        return torch.where(x >= 0, a_ / b_ * x, a_ * torch.expm1(torch.clamp_max(x, 0) / b_))


class FlexibleReLU(Elementwise):
    """FReLU: relu(x) + b with a learnable shift b."""

    kernel = "flexible_relu"

    param_names = ("b",)

    def formula(self, x: Tensor, b: Tensor) -> Tensor:
        return F.relu(x) + bcast(b, x)


class Swish(Elementwise):
    """Swish with a learnable beta: x * sigmoid(beta x)."""

    kernel = "swish"

    param_names = ("beta",)

    def formula(self, x: Tensor, beta: Tensor) -> Tensor:
        return x * torch.sigmoid(bcast(beta, x) * x)


class SoftExponential(Elementwise):
    """Godfrey & Gashler 2015: interpolates log, identity and exp with one parameter alpha."""

    kernel = "soft_exponential"

    param_names = ("alpha",)

    def formula(self, x: Tensor, alpha: Tensor) -> Tensor:
        a = bcast(alpha, x)
        zero = a == 0
        safe = torch.where(zero, torch.ones_like(a), a)  # keeps unused branches finite
        # alpha < 0: -ln(1 - alpha (x + alpha)) / alpha (argument kept positive)
        neg = -torch.log(torch.clamp_min(1 - safe * (x + safe), 1e-6)) / safe
        # the exp branch sees x only where it is taken: elsewhere expm1 can overflow (x = 89
        # at alpha 0), and the unused branch's gradient 0 * inf is NaN
        taken = torch.where(a > 0, x, torch.zeros_like(x))
        pos = torch.expm1(safe * taken) / safe + safe
        return torch.where(zero, x, torch.where(a < 0, neg, pos))


class SReLU(Elementwise):
    """S-shaped ReLU: slope a_r beyond t_r, a_l below t_l, identity between."""

    kernel = "srelu"

    param_names = ("t_l", "a_l", "t_r", "a_r")

    def formula(self, x: Tensor, t_l: Tensor, a_l: Tensor, t_r: Tensor, a_r: Tensor) -> Tensor:
        tl, al, tr, ar = (bcast(p, x) for p in (t_l, a_l, t_r, a_r))
        return torch.where(x >= tr, tr + ar * (x - tr), torch.where(x <= tl, tl + al * (x - tl), x))


class APL(Elementwise):
    """Adaptive piecewise linear: relu(x) + sum_s a_s relu(-x + b_s), S hinges."""

    kernel = "apl"

    def __init__(self, num_channels: int | None, hinges: int = 2, per_channel: bool = True
                 ) -> None:
        self.param_names = tuple(f"{k}{s}" for s in range(1, hinges + 1) for k in "ab")
        # a_s = 0 starts the unit as ReLU; hinges b_s at 0, 1, 2, ... give a_s distinct roles.
        initial = {f"a{s}": 0.0 for s in range(1, hinges + 1)}
        initial |= {f"b{s}": float(s - 1) for s in range(1, hinges + 1)}
        super().__init__(num_channels, per_channel, **initial)

    def formula(self, x: Tensor, *params: Tensor) -> Tensor:
        y = F.relu(x)
        for a, b in zip(params[0::2], params[1::2], strict=True):
            y = y + bcast(a, x) * F.relu(-x + bcast(b, x))
        return y


# Fitted to leaky ReLU (0.01) on [-3, 3]: `python -m bench.fit_pau` reproduces them.
PAU_NUMERATOR = (0.029665, 0.621363, 2.346395, 3.091337, 1.507275, 0.255036)
PAU_DENOMINATOR = (1.174197, 4.421902, 0.89808, 0.350314)


class PAU(Elementwise):
    """Safe Padé activation unit: P5(x) / (1 + sum_k |q_k| |x|^k), k = 1..4 (no poles)."""

    kernel = "pau"

    param_names = tuple(f"p{k}" for k in range(6)) + tuple(f"q{k}" for k in range(1, 5))

    def __init__(self, num_channels: int | None, per_channel: bool = False) -> None:
        initial = {f"p{k}": v for k, v in enumerate(PAU_NUMERATOR)}
        initial |= {f"q{k}": v for k, v in enumerate(PAU_DENOMINATOR, start=1)}
        super().__init__(num_channels, per_channel, **initial)

    def formula(self, x: Tensor, *params: Tensor) -> Tensor:
        p, q = params[:6], params[6:]
        num = bcast(p[5], x)
        for k in range(4, -1, -1):
            num = num * x + bcast(p[k], x)
        ax = x.abs()
        den = torch.zeros_like(x)
        for k in range(3, -1, -1):
            den = (den + bcast(q[k], x).abs()) * ax
        return num / (1 + den)


def _builder(cls: type[Elementwise], **fixed: Any) -> Any:
    def build(num_channels: int | None, per_channel: bool = True, **initial: float
              ) -> Elementwise:
        return cls(num_channels, per_channel, **initial, **fixed)

    return build


def _learn(name: str, default: float, doc: str = "", **kw: Any) -> ParamInfo:
    return ParamInfo(name, default, learnable=True, doc=doc, **kw)


register(ActivationInfo(
    name="pelu", builder=_builder(PELU), family="learnable", per_channel_capable=True,
    formula=r"f(x) = \frac{a}{b} x \text{ if } x \ge 0 \text{ else } a (e^{x/b} - 1)",
    reference="Trottier et al. 2017, Parametric exponential linear unit for deep CNNs",
    params=(_learn("a", 1.0, min=_MIN_POSITIVE), _learn("b", 1.0, min=_MIN_POSITIVE),
            PER_CHANNEL)))
register(ActivationInfo(
    name="flexible_relu", builder=_builder(FlexibleReLU), family="learnable",
    per_channel_capable=True, aliases=("frelu",), formula=r"f(x) = \max(0, x) + b",
    reference="Qiu et al. 2017, FReLU: flexible rectified linear units (arXiv:1706.08098)",
    params=(_learn("b", 0.0, "learnable shift"), PER_CHANNEL)))
register(ActivationInfo(
    name="swish", builder=_builder(Swish), family="learnable", per_channel_capable=True,
    formula=r"f(x) = x \sigma(\beta x)",
    reference="Ramachandran et al. 2017, Searching for activation functions",
    params=(_learn("beta", 1.0), PER_CHANNEL)))
register(ActivationInfo(
    name="soft_exponential", builder=_builder(SoftExponential), family="learnable",
    per_channel_capable=True,
    formula=r"f(x) = -\frac{\ln(1 - \alpha(x + \alpha))}{\alpha} (\alpha < 0); x (\alpha = 0); "
            r"\frac{e^{\alpha x} - 1}{\alpha} + \alpha (\alpha > 0)",
    reference="Godfrey & Gashler 2015, A continuum among logarithmic, linear, and exponential "
              "functions",
    notes="alpha starts at 0.01, not 0: at exactly 0 its gradient vanishes and it never moves; "
          "for alpha < 0 the log's argument is clamped at 1e-6 (the formula is undefined "
          "below x = -1/|alpha| + |alpha|)",
    params=(_learn("alpha", 0.01, min=-1.0, max=1.0), PER_CHANNEL)))
register(ActivationInfo(
    name="srelu", builder=_builder(SReLU), family="learnable", per_channel_capable=True,
    formula=r"f(x) = t_r + a_r (x - t_r) (x \ge t_r); x (t_l < x < t_r); "
            r"t_l + a_l (x - t_l) (x \le t_l)",
    reference="Jin et al. 2016, Deep learning with S-shaped rectified linear activation units",
    params=(_learn("t_l", 0.0), _learn("a_l", 0.2), _learn("t_r", 1.0), _learn("a_r", 1.0),
            PER_CHANNEL)))
register(ActivationInfo(
    name="apl", builder=lambda num_channels, hinges, per_channel: APL(num_channels, hinges,
                                                                      per_channel),
    family="learnable", per_channel_capable=True,
    formula=r"f(x) = \max(0, x) + \sum_{s=1}^{S} a_s \max(0, -x + b_s)",
    reference="Agostinelli et al. 2015, Learning activation functions to improve deep neural "
              "networks",
    notes="learnable a1..aS (init 0: starts as ReLU) and b1..bS (init 0, 1, ...), one pair "
          "per hinge",
    params=(ParamInfo("hinges", 2, kind="int", min=1, max=8, doc="number of hinges S"),
            PER_CHANNEL)))
register(ActivationInfo(
    name="pau", builder=lambda num_channels, per_channel: PAU(num_channels, per_channel),
    family="learnable", per_channel_capable=True, aliases=("pade",),
    formula=r"f(x) = \frac{\sum_{k=0}^{5} p_k x^k}{1 + \sum_{k=1}^{4} |q_k| |x|^k}",
    reference="Molina et al. 2020, Padé activation units (safe PAU)",
    notes="p0..p5, q1..q4 learnable, initialised to a fit of leaky ReLU (bench/fit_pau.py)",
    params=(ParamInfo("per_channel", False, kind="bool",
                      doc="one set of coefficients per channel (the paper: one per layer)"),)))
