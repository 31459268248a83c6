"""GAAF, gradient acceleration in activation functions (seed 004, Hahn & Choi).

y = phi(x) + g(x) s(x), with the sawtooth g(x) = (xK - floor(xK) - 1/2) / K: |g| < 1/K, so the
output barely moves, but g'(x) = 1 almost everywhere, so the gradient gains s(x) where phi
saturates. GAAF-ReLU: s(x) = sigmoid(x + shift); GAAF-tanh: s(x) = exp(-x^2 / 3). The round
variant uses g(x) = (|xK - round(xK)| - 1/2) / K (gradient +-1). g is computed in float32 even
under mixed precision: in bfloat16 xK would lose every digit that g is made of.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

from activations import native
from activations.base import Activation, under_transforms
from activations.registry import ActivationInfo, register
from core.domain.params import ParamInfo

_BASES = ("relu", "tanh")


def gaaf_reference(x: Tensor, base: str, k: float, shift: float, variant: str) -> Tensor:
    """The formula in PyTorch ops, in float32 or wider; autograd differentiates floor/round
    as 0, which gives exactly the sawtooth's gradient."""
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    t = xf * k
    # round(t) as floor(t + 1/2), the kernels' tie rule (|r| has a kink at the ties)
    g = (t - torch.floor(t) - 0.5) / k if variant == "floor" else \
        ((t - torch.floor(t + 0.5)).abs() - 0.5) / k
    if base == "relu":
        y = torch.relu(xf) + g * torch.sigmoid(xf + shift)
    else:
        y = torch.tanh(xf) + g * torch.exp(-xf * xf / 3)
    return y.to(x.dtype)


def _kernel(kind: str, x: Tensor) -> str:
    # float32 has an explicitly vectorised version; float64 (gradcheck) uses libm.
    return f"gaaf_vec_{kind}_f32" if x.dtype == torch.float32 else f"gaaf_{kind}_f64"


class _GAAF(torch.autograd.Function):
    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx: FunctionCtx, x: Tensor, base: str, k: float, shift: float,
                variant: str) -> Tensor:
        ctx.save_for_backward(x)
        ctx.args = (base, k, shift, variant)  # type: ignore[attr-defined]
        if native.usable(x):
            y = torch.empty_like(x)
            getattr(native.library(), _kernel("fwd", x))(
                x.data_ptr(), y.data_ptr(), x.numel(), k, shift, _BASES.index(base),
                variant == "round", native.threads())
            return y
        with torch.no_grad():
            return gaaf_reference(x, base, k, shift, variant)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        base, k, shift, variant = ctx.args
        grad = grad.contiguous()
        if native.usable(x, grad):
            gx = torch.empty_like(x)
            getattr(native.library(), _kernel("bwd", x))(
                grad.data_ptr(), x.data_ptr(), gx.data_ptr(), x.numel(), k, shift,
                _BASES.index(base), variant == "round", native.threads())
            return gx, None, None, None, None
        with torch.enable_grad():
            xd = x.detach().requires_grad_(True)
            (gx,) = torch.autograd.grad(gaaf_reference(xd, base, k, shift, variant), xd, grad)
        return gx, None, None, None, None


def gaaf(x: Tensor, base: str = "relu", k: float = 10000.0, shift: float = 4.0,
         variant: str = "floor") -> Tensor:
    if under_transforms():
        return gaaf_reference(x, base, k, shift, variant)
    return _GAAF.apply(x, base, k, shift, variant)


class GAAF(Activation):
    def __init__(self, base: str, k: float, shift: float, variant: str) -> None:
        super().__init__()
        self.base, self.k, self.shift, self.variant = base, k, shift, variant

    def forward(self, x: Tensor) -> Tensor:
        return gaaf(x, self.base, self.k, self.shift, self.variant)

    def extra_repr(self) -> str:
        return f"base={self.base}, K={self.k}, shift={self.shift}, variant={self.variant}"


_K = ParamInfo("k", 10000.0, min=0.0, min_exclusive=True, doc="sawtooth frequency K")
_VARIANT = ParamInfo("variant", "floor", kind="choice", choices=("floor", "round"),
                     doc="floor: (xK - floor(xK) - 1/2)/K; round: (|xK - round(xK)| - 1/2)/K")
_SEED_004 = ("Hahn & Choi 2018, Gradient acceleration in activation functions "
             "(arXiv:1806.09783); Keras code: GAAF README (seed 004)")


def _gaaf_relu(num_channels: int | None, k: float, shift: float, variant: str) -> GAAF:
    return GAAF("relu", k, shift, variant)


def _gaaf_tanh(num_channels: int | None, k: float, variant: str) -> GAAF:
    return GAAF("tanh", k, 0.0, variant)


register(ActivationInfo(
    name="gaaf_relu", builder=_gaaf_relu, family="seed", reference=_SEED_004,
    formula=r"f(x) = \max(0, x) + \frac{xK - \lfloor xK \rfloor - 1/2}{K} \sigma(x + c)",
    params=(_K, ParamInfo("shift", 4.0, doc="c in sigmoid(x + c); the README sweeps -4..5"),
            _VARIANT),
    functional=lambda x, k=10000.0, shift=4.0, variant="floor": gaaf(x, "relu", k, shift,
                                                                     variant)))
register(ActivationInfo(
    name="gaaf_tanh", builder=_gaaf_tanh, family="seed", reference=_SEED_004,
    formula=r"f(x) = \tanh(x) + \frac{xK - \lfloor xK \rfloor - 1/2}{K} e^{-x^2/3}",
    params=(_K, _VARIANT),
    functional=lambda x, k=10000.0, variant="floor": gaaf(x, "tanh", k, 0.0, variant)))
