"""Activations built from another registered activation: InverseActivation (seed 000) and
the learnable positive slope and mean shift on any activation (seed 001, section 4)."""

from __future__ import annotations

import torch
from torch import Tensor

from activations.base import Activation, bcast, make_param
from activations.fused import inverse_relu, learnable
from activations.piecewise import PER_CHANNEL, SEED_001
from activations.recompute import recompute
from activations.registry import ActivationInfo, create, register
from core.domain.params import ParamInfo


class Inverse(Activation):
    """concat(act(x), act(-x)) on dim 1: twice the channels from the same filters."""

    channel_multiplier = 2

    def __init__(self, num_channels: int | None, activation: str = "relu") -> None:
        super().__init__()
        # One inner module for both halves: a learnable inner activation shares its
        # parameters between x and -x, as the Keras layer reuses its activation.
        self.inner = create(activation, num_channels=num_channels)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise ValueError("inverse needs a channel dim (dim 1) to concatenate on")
        if getattr(self.inner, "activation_name", "") == "relu":
            y = inverse_relu(x)  # one pass, no negated copy or concatenation
            if y is not None:
                return y
        return torch.cat([self.inner(x), self.inner(-x)], dim=1)


class SlopeShift(Activation):
    """a*x + m for x > 0, base(x) + m elsewhere; a and m learnable, base any activation."""

    def __init__(self, num_channels: int | None, base: str = "elu", a: float = 1.0,
                 m: float = -0.22, per_channel: bool = True) -> None:
        super().__init__()
        self.base = create(base, num_channels=num_channels)
        self.a = make_param(a, num_channels, per_channel)
        self.m = make_param(m, num_channels, per_channel)
        self._elu = (getattr(self.base, "activation_name", "") == "elu"
                     and getattr(self.base, "params", None) == {"alpha": 1.0})

    def _formula(self, x: Tensor, a: Tensor, m: Tensor) -> Tensor:
        return torch.where(x > 0, bcast(a, x) * x, self.base(x)) + bcast(m, x)

    def forward(self, x: Tensor) -> Tensor:
        if self._elu:  # the default base (ELU, alpha 1) has a one-pass kernel
            y = learnable("slope_shift_elu", x, [self.a, self.m])
            if y is not None:
                return y
        if any(True for _ in self.base.parameters()):
            # A learnable base has its own autograd; keep the graph as it is.
            return self._formula(x, self.a, self.m)
        return recompute(self._formula, x, self.a, self.m)


register(ActivationInfo(
    name="inverse", builder=Inverse, family="seed", channel_multiplier=2,
    aliases=("inverse_activation",),
    formula=r"f(x) = [\,g(x), g(-x)\,] \text{ (concatenated on the channel dim)}",
    reference="Raukk, InverseActivation (github.com/Raukk/InverseActivation, seed 000)",
    notes="doubles channels; models take width_policy keep_filters (wider next layer) or "
          "keep_width (half the filters, fewer MACs)",
    params=(ParamInfo("activation", "relu", kind="activation", doc="inner activation g"),)))
register(ActivationInfo(
    name="slope_shift", builder=SlopeShift, family="seed", per_channel_capable=True,
    aliases=("learnable_slope_shift",),
    formula=r"f(x) = a x + m \text{ if } x > 0 \text{ else } G(x) + m",
    reference=SEED_001 + ", section 4",
    params=(ParamInfo("base", "elu", kind="activation", doc="the activation G to extend"),
            ParamInfo("a", 1.0, learnable=True, doc="positive slope"),
            ParamInfo("m", -0.22, learnable=True, doc="mean shift"), PER_CHANNEL)))
