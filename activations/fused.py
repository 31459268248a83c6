"""One-pass float32 CPU kernels for the activations PyTorch runs as several passes.

`fused(name, formula)` returns a stateless activation's function: on a contiguous float32 CPU
tensor it calls kernels.c's `ew_fwd_f32` / `ew_bwd_f32` (one pass each, only the input saved
for backward); anywhere else (float64, CUDA, channels_last, inside torch.func transforms, no
compiler) it is `formula` itself. `learnable(name, x, params)` does the same for the learnable
ones (`ewp_*`: per-channel parameters, their gradients summed per plane), or returns None
where the caller's own path applies. The tests hold each kernel equal to its formula within
float32 rounding.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
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


# The order of kernels.c's EWP_* enum.
KINDS_LEARNABLE = ("swish", "pelu", "soft_exponential", "srelu", "apl", "pau", "slope_shift_elu",
                   "flexible_relu")


def _kernels() -> Any:
    lib = native.library()
    assert lib is not None  # checked by the caller (native.usable)
    return lib


def _forward(kernel: str, ctx: FunctionCtx, x: Tensor, *args: Any) -> Tensor:
    """y = f(x) by `kernel`(x, y, n, *args, threads), keeping only x (and args) for backward."""
    ctx.save_for_backward(x)
    ctx.args = args  # type: ignore[attr-defined]
    y = torch.empty_like(x)
    getattr(_kernels(), kernel)(x.data_ptr(), y.data_ptr(), x.numel(), *args, native.threads())
    return y


def _backward(kernel: str, ctx: Any, grad: Tensor) -> Tensor:
    """gx = grad * f'(x) by `kernel`(grad, x, gx, n, *args, threads)."""
    (x,) = ctx.saved_tensors
    grad = grad.contiguous()
    gx = torch.empty_like(x)
    getattr(_kernels(), kernel)(grad.data_ptr(), x.data_ptr(), gx.data_ptr(), x.numel(),
                                *ctx.args, native.threads())
    return gx


class _Fused(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, kind: int, a: float, b: float,
                c: float) -> Tensor:
        return _forward("ew_fwd_f32", ctx, x, kind, a, b, c)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        return _backward("ew_bwd_f32", ctx, grad), None, None, None, None


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


def _layout(x: Tensor) -> tuple[int, int, int]:
    if x.dim() <= 1:
        return 1, 1, x.numel()
    n, c = x.shape[0], x.shape[1]
    return n, c, x.numel() // max(1, n * c)


class _FusedLearnable(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, kind: int, *params: Tensor) -> Tensor:
        outer, c, inner = _layout(x)
        # P rows of C: parameter k of every channel (a scalar one repeated)
        packed = torch.stack([p.detach().reshape(-1).expand(c) for p in params]).contiguous()
        ctx.save_for_backward(x, packed)
        ctx.kind = kind  # type: ignore[attr-defined]
        ctx.shapes = [p.shape for p in params]  # type: ignore[attr-defined]
        y = torch.empty_like(x)
        _kernels().ewp_fwd_f32(x.data_ptr(), y.data_ptr(), packed.data_ptr(), outer, c,
                               inner, kind, len(params), native.threads())
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, packed = ctx.saved_tensors
        outer, c, inner = _layout(x)
        count = packed.shape[0]
        grad = grad.contiguous()
        gx = torch.empty_like(x)
        part = torch.empty(outer, c, count, dtype=torch.float64)
        _kernels().ewp_bwd_f32(grad.data_ptr(), x.data_ptr(), gx.data_ptr(), part.data_ptr(),
                               packed.data_ptr(), outer, c, inner, ctx.kind, count,
                               native.threads())
        per_channel = part.sum(0)  # (C, P), summed in double
        grads = [(per_channel[:, k] if shape.numel() == c and c > 1 else
                  per_channel[:, k].sum()).reshape(shape).to(x.dtype)
                 for k, shape in enumerate(ctx.shapes)]
        return (gx, None, *grads)


def learnable(name: str, x: Tensor, params: Sequence[Tensor]) -> Tensor | None:
    """The kernel's output for a learnable activation, or None where it does not apply (not
    float32 on the CPU, not contiguous, in torch.func transforms, or no compiler)."""
    if (x.dtype != torch.float32 or under_transforms() or not native.usable(x, *params)
            or len(params) > 16 or any(p.numel() not in (1, _layout(x)[1]) for p in params)):
        return None  # (a wrong channel count gets the formula's error message)
    return _FusedLearnable.apply(x, KINDS_LEARNABLE.index(name), *params)


class _RReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, lower: float, upper: float, seed: int) -> Tensor:
        return _forward("rrelu_fwd_f32", ctx, x, lower, upper, seed)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        return _backward("rrelu_bwd_f32", ctx, grad), None, None, None


def rrelu_training(x: Tensor, lower: float, upper: float) -> Tensor | None:
    """RReLU with fresh random slopes, from a seed drawn from torch's generator (so a seeded
    run repeats them); backward recomputes the slopes, keeping only the input. None where
    the kernel does not apply."""
    if x.dtype != torch.float32 or under_transforms() or not native.usable(x):
        return None
    seed = int(torch.randint(0, 2**32, (1,), dtype=torch.int64).item())
    return _RReLU.apply(x, lower, upper, seed)


class _InverseReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        outer, c, inner = _layout(x)
        y = x.new_empty((x.shape[0], 2 * c, *x.shape[2:]))
        _kernels().inverse_relu_fwd_f32(x.data_ptr(), y.data_ptr(), outer, c, inner,
                                        native.threads())
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        outer, c, inner = _layout(x)
        grad = grad.contiguous()
        gx = torch.empty_like(x)
        _kernels().inverse_relu_bwd_f32(grad.data_ptr(), x.data_ptr(), gx.data_ptr(), outer,
                                        c, inner, native.threads())
        return (gx,)


def inverse_relu(x: Tensor) -> Tensor | None:
    """[relu(x), relu(-x)] on dim 1 in one pass, or None where the kernel does not apply."""
    if x.dim() < 2 or x.dtype != torch.float32 or under_transforms() or not native.usable(x):
        return None
    return _InverseReLU.apply(x)
