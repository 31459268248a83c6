"""What an activation costs per element: the tensor operations its formula performs.

Layer MACs (convolutions, linear layers) are counted by PyTorch's FlopCounterMode, which sees
no element-wise work, so a GAAF or a Padé unit would look as cheap as ReLU. Here every aten
operation an activation runs (on its plain PyTorch path, so the fused kernels hide nothing)
counts its output elements; views, copies and tensor creation count nothing. One operation
counts as one MAC in "metric per MMAC".
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from activations import native
from activations.base import Activation

_aten = torch.ops.aten
# Data movement and allocation: no arithmetic per element.
_FREE = {
    _aten.view, _aten._unsafe_view, _aten.reshape, _aten.expand, _aten.t, _aten.transpose,
    _aten.permute, _aten.unsqueeze, _aten.squeeze, _aten.detach, _aten.alias, _aten.slice,
    _aten.select, _aten.as_strided, _aten.clone, _aten.copy_, _aten._to_copy, _aten.cat,
    _aten.empty, _aten.empty_like, _aten.zeros_like, _aten.ones_like, _aten.full_like,
    _aten.new_zeros, _aten.new_ones, _aten.new_empty, _aten.new_full, _aten.full,
    _aten.zeros, _aten.ones, _aten.scalar_tensor, _aten.lift_fresh, _aten.contiguous,
    _aten.split, _aten.chunk, _aten.split_with_sizes, _aten.unbind, _aten.stack,
}


class _Counter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func: Any, _types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket not in _FREE:
            self.elements += sum(t.numel() for t in tree_leaves(out) if isinstance(t, Tensor))
        return out


@torch.no_grad()
def elementwise_ops(module: nn.Module, x: Tensor) -> int:
    """Operations (output elements of every arithmetic aten op) of one forward of `module`."""
    counter = _Counter()
    with native.disabled(), counter:
        module(x)
    return counter.elements


@torch.no_grad()
def ops_per_element(module: nn.Module, channels: int = 4, batch: int = 64) -> float:
    """elementwise_ops per input element, on a (batch, channels) input."""
    x = torch.randn(batch, channels)
    return elementwise_ops(module, x) / x.numel()


@torch.no_grad()
def activation_macs(model: nn.Module, sample: Tensor) -> int:
    """The activations' own work in one forward pass of `model` on `sample` (one example):
    each outermost activation slot's operations on the input it actually receives."""
    inputs: list[tuple[nn.Module, Tensor]] = []
    hooks = []
    seen: set[int] = set()
    for module in model.modules():
        # a module that declares `elementwise_work` (a KAN layer's B-spline basis, taken
        # once per input for all its edges) is element-wise work of an activation too
        counted = isinstance(module, Activation) or getattr(module, "elementwise_work", False)
        if counted and id(module) not in seen:
            for inner in module.modules():
                seen.add(id(inner))  # a wrapper's inner activation is counted by the wrapper

            def hook(mod: nn.Module, args: tuple[Any, ...]) -> None:
                inputs.append((mod, args[0].detach().clone()))
            hooks.append(module.register_forward_pre_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(sample)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return sum(elementwise_ops(mod, x) for mod, x in inputs)
