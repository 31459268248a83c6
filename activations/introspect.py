"""What the service reads off a trained model: learnable activation parameters and curves."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from activations.base import Activation


@dataclass(frozen=True)
class ParameterSnapshot:
    layer: str  # module path in the model, e.g. "features.2.act"
    block: int | None
    position: int | None
    name: str  # parameter name inside the activation, e.g. "a" or "inner.b"
    values: list[float]


def activation_modules(model: nn.Module) -> list[tuple[str, Activation]]:
    """The outermost activation modules of `model`, with their paths (a wrapper's inner one is
    part of it, not a slot of its own)."""
    found: list[tuple[str, Activation]] = []
    for path, module in model.named_modules():
        if isinstance(module, Activation):
            if any(path.startswith(f"{outer}.") for outer, _ in found):
                continue
            found.append((path or "", module))
    return found


def activation_parameters(model: nn.Module) -> list[ParameterSnapshot]:
    """Every learnable activation parameter of `model`, labelled by layer path, block, position."""
    out: list[ParameterSnapshot] = []
    for path, module in activation_modules(model):
        for name, param in module.named_parameters():
            out.append(ParameterSnapshot(
                layer=path, block=module.block, position=module.position, name=name,
                values=param.detach().float().cpu().reshape(-1).tolist(),
            ))
    return out


def activation_parameter_ids(model: nn.Module) -> set[int]:
    """ids of the parameters that belong to activations (kept out of weight decay)."""
    return {id(p) for m in model.modules() if isinstance(m, Activation) for p in m.parameters()}


@torch.no_grad()
def response(module: nn.Module, xs: Tensor, num_channels: int | None = None) -> Tensor:
    """Sample the activation's curve at `xs` (1-D). Returns (channels, len(xs)) when the module
    has per-channel parameters (or `num_channels` is given), else (1, len(xs)). For
    channel-multiplying activations the output's channel dim is multiplied too."""
    xs = xs.reshape(-1)
    params = list(module.parameters())
    channels = num_channels or max((p.numel() for p in params), default=1)
    param = params[0] if params else None
    x = xs.to(param.device if param is not None else xs.device)
    # Lay the grid along the batch dim so each channel sees every x: input (len(xs), C).
    grid = x.reshape(-1, 1).expand(-1, channels).contiguous()
    was_training = module.training
    module.eval()
    try:
        y = module(grid)
    finally:
        module.train(was_training)
    out: Tensor = y.transpose(0, 1).float().cpu()
    return out
