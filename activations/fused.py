"""One-pass float32 CPU kernels for the stateless activations PyTorch runs as several passes.

`fused(name, formula)` returns the activation's function: on a contiguous float32 CPU tensor
it calls kernels.c's `ew_fwd_f32` / `ew_bwd_f32` (one pass each, only the input saved for
backward); anywhere else (float64, CUDA, channels_last, inside torch.func transforms, no
compiler) it is `formula` itself. The tests hold the two equal within float32 rounding.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

from activations import native
from activations.base import under_transforms

# The order of kernels.c's EW_* enum.
KINDS = ("tanh", "softplus", "selu", "logsigmoid", "softsign", "tanhshrink", "mish",
         "beta_mish", "mila", "elish", "hard_elish", "sqnl", "sine_relu", "isru", "isrlu",
         "aria2", "soft_clipping", "ftswish", "bent_identity", "lisht", "lecun_tanh",
         "e_swish", "general_relu")


class _Fused(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, kind: int, a: float, b: float,
                c: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.args = (kind, a, b, c)  # type: ignore[attr-defined]
        y = torch.empty_like(x)
        lib = native.library()
        assert lib is not None  # checked by the caller (native.usable)
        lib.ew_fwd_f32(x.data_ptr(), y.data_ptr(), x.numel(), kind, a, b, c, native.threads())
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        grad = grad.contiguous()
        gx = torch.empty_like(x)
        lib = native.library()
        assert lib is not None
        lib.ew_bwd_f32(grad.data_ptr(), x.data_ptr(), gx.data_ptr(), x.numel(), *ctx.args,
                       native.threads())
        return gx, None, None, None, None


def fused(name: str, formula: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """`formula(x, **params)` with the kernel for `name` on the tensors it takes; the
    formula stays reachable as `.formula` (what the tests compare against)."""
    kind = KINDS.index(name)
    names = [p.name for p in list(inspect.signature(formula).parameters.values())[1:]]
    defaults = {p.name: p.default for p in inspect.signature(formula).parameters.values()}

    @functools.wraps(formula)
    def fn(x: Tensor, **params: Any) -> Tensor:
        if x.dtype != torch.float32 or under_transforms() or not native.usable(x):
            return formula(x, **params)
        values = [float(params.get(n, defaults[n])) for n in names]
        a, b, c = (values + [0.0, 0.0, 0.0])[:3]
        return _Fused.apply(x, kind, a, b, c)

    fn.formula = formula  # type: ignore[attr-defined]
    return fn
