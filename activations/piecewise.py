"""Learnable piecewise-linear units: PReLU, DP ReLU and Dual Line (seed 001).

All three are `a*x + m` for x >= 0 and `b*x + m` below, with some of a, b, m fixed. One
autograd Function serves them: it saves only the input and the (C,)-sized parameters and
recomputes the branch mask in backward, so memory is the input's bytes plus O(C).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

from activations.base import Activation, bcast, make_param, reduce_to
from activations.registry import ActivationInfo, ParamInfo, register


class _TwoSlope(torch.autograd.Function):
    """y = where(x >= 0, a*x, b*x) + m; a = 1 and m = 0 when passed as None."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, a: Tensor | None, b: Tensor,
                m: Tensor | None) -> Tensor:
        b_ = bcast(b, x)
        if a is None:
            y = torch.where(x >= 0, x, x * b_)
        else:
            y = x * torch.where(x >= 0, bcast(a, x), b_)
        if m is not None:
            y = y + bcast(m, x)
        ctx.save_for_backward(x, a if a is not None else x.new_ones(1), b)
        ctx.has_a = a is not None  # type: ignore[attr-defined]
        ctx.has_m = m is not None  # type: ignore[attr-defined]
        ctx.m_shape = m.shape if m is not None else None  # type: ignore[attr-defined]
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, a, b = ctx.saved_tensors
        pos = x >= 0
        slope = torch.where(pos, bcast(a, x), bcast(b, x))
        grad_x = grad * slope if ctx.needs_input_grad[0] else None
        grad_a = grad_b = grad_m = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            gx = grad * x
            zero = gx.new_zeros(())
            if ctx.has_a and ctx.needs_input_grad[1]:
                grad_a = reduce_to(torch.where(pos, gx, zero), a)
            if ctx.needs_input_grad[2]:
                grad_b = reduce_to(torch.where(pos, zero, gx), b)
        if ctx.has_m and ctx.needs_input_grad[3]:
            grad_m = reduce_to(grad, torch.empty(ctx.m_shape))
        return grad_x, grad_a, grad_b, grad_m


def two_slope(x: Tensor, a: Tensor | None, b: Tensor, m: Tensor | None) -> Tensor:
    return _TwoSlope.apply(x, a, b, m)


def two_slope_reference(x: Tensor, a: Tensor | None, b: Tensor, m: Tensor | None) -> Tensor:
    """The plain formula, differentiated by autograd; the tests hold the Function to it."""
    a_ = bcast(a, x) if a is not None else 1.0
    y = torch.where(x >= 0, a_ * x, bcast(b, x) * x)
    return y + bcast(m, x) if m is not None else y


class PReLU(Activation):
    """He et al. 2015: x for x >= 0, b*x below, b learnable."""

    def __init__(self, num_channels: int | None, init: float = 0.25,
                 per_channel: bool = True) -> None:
        super().__init__()
        self.b = make_param(init, num_channels, per_channel)

    def forward(self, x: Tensor) -> Tensor:
        return two_slope(x, None, self.b, None)


class DPReLU(Activation):
    """Dual Parametric ReLU (seed 001): a*x for x >= 0, b*x below; a and b learnable."""

    def __init__(self, num_channels: int | None, a: float = 1.0, b: float = 0.01,
                 per_channel: bool = True) -> None:
        super().__init__()
        self.a = make_param(a, num_channels, per_channel)
        self.b = make_param(b, num_channels, per_channel)

    def forward(self, x: Tensor) -> Tensor:
        return two_slope(x, self.a, self.b, None)


class DualLine(Activation):
    """Dual Line (seed 001): DP ReLU plus a learnable mean shift m."""

    def __init__(self, num_channels: int | None, a: float = 1.0, b: float = 0.01,
                 m: float = -0.22, per_channel: bool = True) -> None:
        super().__init__()
        self.a = make_param(a, num_channels, per_channel)
        self.b = make_param(b, num_channels, per_channel)
        self.m = make_param(m, num_channels, per_channel)

    def forward(self, x: Tensor) -> Tensor:
        return two_slope(x, self.a, self.b, self.m)


PER_CHANNEL = ParamInfo("per_channel", True, kind="bool",
                        doc="one learnable value per channel (dim 1) instead of one scalar")
_SEED_001 = ("Balaji et al. 2019, Learn-able parameter guided activation functions "
             "(arXiv:1912.10752)")

register(ActivationInfo(
    name="prelu", builder=PReLU, family="learnable", per_channel_capable=True,
    formula=r"f(x) = x \text{ if } x \ge 0 \text{ else } b x",
    reference="He et al. 2015, Delving deep into rectifiers (PReLU)",
    params=(ParamInfo("init", 0.25, learnable=True, doc="initial negative slope b"), PER_CHANNEL),
))
register(ActivationInfo(
    name="dp_relu", builder=DPReLU, family="seed", per_channel_capable=True,
    aliases=("dual_parametric_relu",),
    formula=r"f(x) = a x \text{ if } x \ge 0 \text{ else } b x",
    reference=_SEED_001,
    params=(ParamInfo("a", 1.0, learnable=True, doc="positive slope"),
            ParamInfo("b", 0.01, learnable=True, doc="negative slope"), PER_CHANNEL),
))
register(ActivationInfo(
    name="dual_line", builder=DualLine, family="seed", per_channel_capable=True,
    formula=r"f(x) = a x + m \text{ if } x \ge 0 \text{ else } b x + m",
    reference=_SEED_001,
    params=(ParamInfo("a", 1.0, learnable=True, doc="positive slope"),
            ParamInfo("b", 0.01, learnable=True, doc="negative slope"),
            ParamInfo("m", -0.22, learnable=True, doc="mean shift"), PER_CHANNEL),
))
