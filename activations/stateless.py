"""Activations without learnable state: one function each, wrapped in a module by the factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from activations.base import Activation
from activations.fused import KINDS, fused
from activations.registry import ActivationInfo, register
from core.domain.params import ParamInfo


class FunctionalActivation(Activation):
    """Applies a stateless function with fixed keyword parameters."""

    def __init__(self, fn: Callable[..., Tensor], train_aware: bool = False, **params: Any) -> None:
        super().__init__()
        self.fn = fn
        self.train_aware = train_aware
        self.params = params

    def forward(self, x: Tensor) -> Tensor:
        if self.train_aware:
            return self.fn(x, training=self.training, **self.params)
        return self.fn(x, **self.params)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params.items())


def register_stateless(
    name: str,
    fn: Callable[..., Tensor],
    formula: str,
    reference: str,
    params: tuple[ParamInfo, ...] = (),
    *,
    family: str = "builtin",
    aliases: tuple[str, ...] = (),
    notes: str = "",
    train_aware: bool = False,
) -> ActivationInfo:
    if name in KINDS:  # a one-pass kernel on float32 CPU tensors (activations/fused.py)
        fn = fused(name, fn)

    def build(num_channels: int | None, **kwargs: Any) -> Activation:
        return FunctionalActivation(fn, train_aware=train_aware, **kwargs)

    return register(ActivationInfo(
        name=name, builder=build, formula=formula, reference=reference, params=params,
        family=family, aliases=aliases, functional=fn, notes=notes,
    ))
