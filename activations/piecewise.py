"""Learnable piecewise-linear units: PReLU, DP ReLU and Dual Line (seed 001).

All three are `a*x + m` for x >= 0 and `b*x + m` below, with some of a, b, m fixed. One
autograd Function serves them: it saves only the input and the (C,)-sized parameters and
recomputes the branch in backward, so memory is the input's bytes plus O(C). On the CPU a
fused kernel does forward and backward in one pass each (activations/kernels.c).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

from activations import native
from activations.base import Activation, bcast, make_param, reduce_to, under_transforms
from activations.registry import ActivationInfo, register
from core.domain.params import ParamInfo


def _channels_of(p: Tensor, x: Tensor, c: int) -> int:
    """Stride of the parameter over channels (0 = scalar), checking the channel count."""
    if p.numel() == 1:
        return 0
    bcast(p, x)  # raises the channel-mismatch error
    return 1


class _TwoSlope(torch.autograd.Function):
    """y = where(x >= 0, a*x, b*x) + m; a = 1 and m = 0 when passed as None."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, a: Tensor | None, b: Tensor,
                m: Tensor | None) -> Tensor:
        if native.usable(x, a, b, m):
            xs, outer, c, inner = native.layout(x)
            stride = _channels_of(b, x, c)
            y = torch.empty_like(xs)
            getattr(native.library(), f"two_slope_fwd_{native.suffix(x)}")(
                xs.data_ptr(), y.data_ptr(), native.ptr(a), b.data_ptr(), native.ptr(m),
                outer, c, inner, stride, a is not None, m is not None, native.threads())
        else:
            y = two_slope_reference(x, a, b, m)
        ctx.save_for_backward(x, a if a is not None else x.new_ones(1), b)
        ctx.has_a = a is not None  # type: ignore[attr-defined]
        ctx.m_shape = m.shape if m is not None else None  # type: ignore[attr-defined]
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, a, b = ctx.saved_tensors
        grad = grad.contiguous()
        if native.usable(x, a, b, grad):
            xs, outer, c, inner = native.layout(x)
            stride = _channels_of(b, x, c)
            grad_x = torch.empty_like(xs)
            part = torch.empty(outer * c * 3, dtype=torch.float64)
            getattr(native.library(), f"two_slope_bwd_{native.suffix(x)}")(
                grad.data_ptr(), xs.data_ptr(), grad_x.data_ptr(), part.data_ptr(),
                a.data_ptr(), b.data_ptr(), outer, c, inner, stride, ctx.has_a,
                native.threads())
            sums = part.view(outer, c, 3).sum(0)  # (C, 3): sum g*x [x>=0], g*x [x<0], g
            if stride == 0:
                sums = sums.sum(0, keepdim=True)
            sums = sums.to(x.dtype)
            grad_a = sums[:, 0].reshape(a.shape) if ctx.has_a else None
            grad_m = sums[:, 2].reshape(ctx.m_shape) if ctx.m_shape is not None else None
            return grad_x, grad_a, sums[:, 1].reshape(b.shape), grad_m
        pos = x >= 0
        grad_x = grad * torch.where(pos, bcast(a, x), bcast(b, x))
        gx = grad * x
        zero = gx.new_zeros(())
        grad_a = reduce_to(torch.where(pos, gx, zero), a) if ctx.has_a else None
        grad_b = reduce_to(torch.where(pos, zero, gx), b)
        grad_m = None
        if ctx.m_shape is not None:
            grad_m = reduce_to(grad, torch.empty(ctx.m_shape, device="meta"))
        return grad_x, grad_a, grad_b, grad_m


def two_slope(x: Tensor, a: Tensor | None, b: Tensor, m: Tensor | None) -> Tensor:
    if under_transforms():
        return two_slope_reference(x, a, b, m)
    return _TwoSlope.apply(x, a, b, m)


def two_slope_reference(x: Tensor, a: Tensor | None, b: Tensor, m: Tensor | None) -> Tensor:
    """The plain formula in PyTorch ops (autograd-differentiable); the tests hold the fused
    path to it, and it serves devices the kernels don't cover."""
    slope = torch.where(x >= 0, bcast(a, x) if a is not None else x.new_ones(()), bcast(b, x))
    y = x * slope
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
SEED_001 = ("Balaji et al. 2019, Learn-able parameter guided activation functions "
            "(arXiv:1912.10752)")

register(ActivationInfo(
    name="prelu", builder=PReLU, family="learnable", per_channel_capable=True,
    formula=r"f(x) = x \text{ if } x \ge 0 \text{ else } b x",
    reference="He et al. 2015, Delving deep into rectifiers (PReLU)",
    params=(ParamInfo("init", 0.25,
                      doc="initial value of the learnable negative slope, recorded as b"),
            PER_CHANNEL),
))
register(ActivationInfo(
    name="dp_relu", builder=DPReLU, family="seed", per_channel_capable=True,
    aliases=("dual_parametric_relu",),
    formula=r"f(x) = a x \text{ if } x \ge 0 \text{ else } b x",
    reference=SEED_001,
    params=(ParamInfo("a", 1.0, learnable=True, doc="positive slope"),
            ParamInfo("b", 0.01, learnable=True, doc="negative slope"), PER_CHANNEL),
))
register(ActivationInfo(
    name="dual_line", builder=DualLine, family="seed", per_channel_capable=True,
    formula=r"f(x) = a x + m \text{ if } x \ge 0 \text{ else } b x + m",
    reference=SEED_001,
    params=(ParamInfo("a", 1.0, learnable=True, doc="positive slope"),
            ParamInfo("b", 0.01, learnable=True, doc="negative slope"),
            ParamInfo("m", -0.22, learnable=True, doc="mean shift"), PER_CHANNEL),
))
