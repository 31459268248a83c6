"""Memory-lean autograd for learnable elementwise formulas.

`recompute(fn, x, *params)` evaluates fn without building a graph and saves only x and the
(C,)-sized parameters; backward re-runs fn with autograd on and differentiates it. Memory for
backward is the input's bytes plus O(C), whatever intermediates the formula has (timm's
"memory-efficient" pattern, generalised: one Function instead of a hand-written backward each).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from activations.base import Activation, make_param, under_transforms
from activations.fused import learnable


class _Recompute(torch.autograd.Function):
    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx: FunctionCtx, fn: Callable[..., Tensor], x: Tensor,
                *params: Tensor) -> Tensor:
        ctx.fn = fn  # type: ignore[attr-defined]
        ctx.save_for_backward(x, *params)
        with torch.no_grad():
            return fn(x, *params)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, *params = ctx.saved_tensors
        wanted = ctx.needs_input_grad[1:]
        inputs = [t.detach().requires_grad_(w) for t, w in zip([x, *params], wanted, strict=True)]
        with torch.enable_grad():
            y = ctx.fn(*inputs)
        targets = [t for t, w in zip(inputs, wanted, strict=True) if w]
        grads = iter(torch.autograd.grad(y, targets, grad, allow_unused=True)) if targets \
            else iter(())
        out: list[Tensor | None] = [None]  # fn
        for t, w in zip(inputs, wanted, strict=True):
            g = next(grads) if w else None
            out.append(torch.zeros_like(t) if w and g is None else g)
        return tuple(out)


def recompute(fn: Callable[..., Tensor], x: Tensor, *params: Tensor) -> Tensor:
    if under_transforms():
        return fn(x, *params)
    return _Recompute.apply(fn, x, *params)


class Elementwise(Activation):
    """A learnable activation defined by `formula(x, *params)`; params are (C,) or (1,) tensors
    (broadcast them with activations.base.bcast inside the formula). Subclasses set
    `param_names` and implement `formula`."""

    param_names: tuple[str, ...] = ()
    # its one-pass float32 CPU kernel (activations/fused.py KINDS_LEARNABLE), if it has one
    kernel: str | None = None
    # formula(x, *params) -> y, defined by each subclass with its own named parameters.
    formula: Callable[..., Tensor]

    def __init__(self, num_channels: int | None, per_channel: bool = True,
                 **initial: float) -> None:
        super().__init__()
        for name in self.param_names:
            setattr(self, name, make_param(initial[name], num_channels, per_channel))
        self.fixed = {k: v for k, v in initial.items() if k not in self.param_names}

    def params(self) -> list[nn.Parameter]:
        return [getattr(self, n) for n in self.param_names]

    def forward(self, x: Tensor) -> Tensor:
        if self.kernel is not None:
            y = learnable(self.kernel, x, self.params())
            if y is not None:
                return y
        return recompute(self.formula, x, *self.params())

    def reference(self, x: Tensor) -> Tensor:
        """The same formula through plain autograd (what the tests compare against)."""
        return self.formula(x, *self.params())

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.fixed.items())
