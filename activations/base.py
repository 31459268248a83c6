"""The module base every built activation derives from, and per-channel broadcasting helpers."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Activation(nn.Module):
    """An activation slot. Models label it with `block` and `position` (seed paper: "block 3,
    first activation") so parameter snapshots and response curves can name where they came from."""

    activation_name: str = ""
    block: int | None = None
    position: int | None = None
    channels: int | None = None  # the width it was built for (a placement rebuilds to it)
    # Output channels per input channel (InverseActivation doubles them).
    channel_multiplier: int = 1

    def learnable_parameters(self) -> dict[str, nn.Parameter]:
        """This activation's own parameters, by name (nested activations included)."""
        return dict(self.named_parameters())


def make_param(value: float, num_channels: int | None, per_channel: bool) -> nn.Parameter:
    """A learnable parameter initialised to `value`: one per channel, or a single scalar."""
    if per_channel:
        if num_channels is None:
            raise ValueError("per_channel=True needs num_channels (the size of dim 1)")
        size = num_channels
    else:
        size = 1
    return nn.Parameter(torch.full((size,), float(value)))


def bcast(p: Tensor, x: Tensor) -> Tensor:
    """View a (C,) or (1,) parameter so it broadcasts over dim 1 of `x`."""
    if p.numel() == 1:
        return p.reshape((1,) * max(x.dim(), 1))
    if x.dim() < 2 or x.shape[1] != p.numel():
        got = x.shape[1] if x.dim() >= 2 else "no channel dim"
        raise ValueError(f"activation has {p.numel()} channels but the input has {got} on dim 1")
    return p.reshape((1, -1) + (1,) * (x.dim() - 2))


def reduce_to(grad: Tensor, p: Tensor) -> Tensor:
    """Sum a full-shape gradient down to the shape of parameter `p`."""
    if p.numel() == 1:
        return grad.sum().reshape(p.shape)
    dims = [d for d in range(grad.dim()) if d != 1]
    return grad.sum(dim=dims).reshape(p.shape)


def under_transforms() -> bool:
    """True inside torch.func transforms (vmap, grad: the per-sample gradients of an
    activation search's features). The fused autograd Functions have no vmap rule, so
    there each activation computes its plain formula instead."""
    return bool(torch._C._are_functorch_transforms_active())
