"""SLAF, self-learnable activation functions (seed 003, Goyal et al.).

f(x) = sum_{k=0..K} c_k x^k per channel (c_0 is the bias), starting at the identity
(c_1 = 1, the rest 0). Raw powers make training unstable; the authors' later version
normalises each power per channel, batch-norm style without affine (`normalize`), and clips
gradients (set training.grad_clip, e.g. 5). The plain form runs as a fused polynomial
kernel on the CPU that saves only the input and the coefficients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

from activations import native
from activations.base import Activation, bcast, make_param, reduce_to, under_transforms
from activations.piecewise import PER_CHANNEL
from activations.registry import ActivationInfo, register
from core.domain.params import ParamInfo

MAX_DEGREE = 8  # the kernel supports 15; higher powers overflow float32 long before


def poly_reference(x: Tensor, coef: Tensor) -> Tensor:
    """sum_k coef[:, k] x^k by Horner, coef (P, K+1) with P = 1 or C."""
    y = bcast(coef[:, -1], x)
    for k in range(coef.shape[1] - 2, -1, -1):
        y = y * x + bcast(coef[:, k], x)
    return y


class _Poly(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, coef: Tensor) -> Tensor:
        ctx.save_for_backward(x, coef)
        coef = coef.contiguous()
        if native.usable(x, coef):
            xs, outer, c, inner = native.layout(x)
            stride = 0 if coef.shape[0] == 1 else 1
            if stride:
                bcast(coef[:, 0], x)  # channel check with a clear message
            y = torch.empty_like(xs)
            getattr(native.library(), f"poly_fwd_{native.suffix(x)}")(
                xs.data_ptr(), y.data_ptr(), coef.data_ptr(), outer, c, inner, stride,
                coef.shape[1] - 1, native.threads())
            return y
        with torch.no_grad():
            return poly_reference(x, coef)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, coef = ctx.saved_tensors
        degree = coef.shape[1] - 1
        grad = grad.contiguous()
        if native.usable(x, coef, grad):
            xs, outer, c, inner = native.layout(x)
            stride = 0 if coef.shape[0] == 1 else 1
            gx = torch.empty_like(xs)
            part = torch.empty(outer * c * (degree + 1), dtype=torch.float64)
            getattr(native.library(), f"poly_bwd_{native.suffix(x)}")(
                grad.data_ptr(), xs.data_ptr(), gx.data_ptr(), part.data_ptr(),
                coef.contiguous().data_ptr(), outer, c, inner, stride, degree,
                native.threads())
            sums = part.view(outer, c, degree + 1).sum(0)
            if stride == 0:
                sums = sums.sum(0, keepdim=True)
            return gx, sums.to(coef.dtype)
        # d/dx = sum_k k c_k x^(k-1); d/dc_k = sum g x^k, both by recurrence on x^k
        dcoef = coef[:, 1:] * torch.arange(1, degree + 1, dtype=coef.dtype, device=coef.device)
        gx = grad * poly_reference(x, dcoef) if degree else torch.zeros_like(x)
        power = torch.ones_like(x)
        grads = []
        for _ in range(degree + 1):
            grads.append(reduce_to(grad * power, coef[:, 0]))
            power = power * x
        return gx, torch.stack(grads, dim=1)


def polynomial(x: Tensor, coef: Tensor) -> Tensor:
    if under_transforms():
        return poly_reference(x, coef)
    return _Poly.apply(x, coef)


class SLAF(Activation):
    running_mean: Tensor  # (degree, C or 1), only with normalize
    running_var: Tensor

    def __init__(self, num_channels: int | None, degree: int = 3, normalize: bool = False,
                 per_channel: bool = True, momentum: float = 0.1) -> None:
        super().__init__()
        self.degree, self.normalize, self.momentum = degree, normalize, momentum
        for k in range(degree + 1):
            # c_1 = 1, others 0: the identity, so training starts from a linear response.
            setattr(self, f"c{k}", make_param(1.0 if k == 1 else 0.0, num_channels,
                                              per_channel))
        if normalize:
            size = num_channels if per_channel and num_channels else 1
            self.register_buffer("running_mean", torch.zeros(degree, size))
            self.register_buffer("running_var", torch.ones(degree, size))

    def coefficient(self, k: int) -> Tensor:
        """c_k: (C,) or (1,)."""
        param: Tensor = getattr(self, f"c{k}")
        return param

    def coefficients(self) -> Tensor:
        """(P, K+1): one row per channel (or one row), columns c_0..c_K."""
        return torch.stack([self.coefficient(k) for k in range(self.degree + 1)], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        if not self.normalize:
            return polynomial(x, self.coefficients())
        return self._normalized(x)

    def _normalized(self, x: Tensor) -> Tensor:
        # Each power x^k standardised per channel over the batch (and space), no affine.
        dims = [d for d in range(x.dim()) if d != 1] if x.dim() > 1 else [0]
        per_channel = self.running_mean.shape[1] > 1
        y = bcast(self.coefficient(0), x)
        power = x
        for k in range(1, self.degree + 1):
            if k > 1:
                power = power * x
            if self.training:
                mean = power.mean(dim=dims) if per_channel else power.mean().reshape(1)
                var = power.var(dim=dims, unbiased=False) if per_channel else \
                    power.var(unbiased=False).reshape(1)
                with torch.no_grad():
                    self.running_mean[k - 1].lerp_(mean.detach(), self.momentum)
                    self.running_var[k - 1].lerp_(var.detach(), self.momentum)
            else:
                mean, var = self.running_mean[k - 1], self.running_var[k - 1]
            normed = (power - bcast(mean, x)) * torch.rsqrt(bcast(var, x) + 1e-5)
            y = y + bcast(self.coefficient(k), x) * normed
        return y

    def extra_repr(self) -> str:
        return f"degree={self.degree}, normalize={self.normalize}"


def _build(num_channels: int | None, degree: int, normalize: bool, per_channel: bool) -> SLAF:
    return SLAF(num_channels, degree, normalize, per_channel)


register(ActivationInfo(
    name="slaf", builder=_build, family="seed", per_channel_capable=True,
    formula=r"f(x) = \sum_{k=0}^{K} c_k x^k",
    reference="Goyal et al. 2019, Learning activation functions: a new paradigm for "
              "understanding neural networks (arXiv:1906.09529)",
    notes="learnable c0..cK; starts at the identity (c1 = 1); clip gradients "
          "(training.grad_clip = 5) as the authors do; normalize=true standardises each "
          "power per channel",
    params=(ParamInfo("degree", 3, kind="int", min=1, max=MAX_DEGREE, doc="K, highest power"),
            ParamInfo("normalize", False, kind="bool",
                      doc="standardise each power per channel (batch statistics, no affine)"),
            PER_CHANNEL)))

