"""CETT sparsity (Zhang et al. 2024, "ReLU² Wins", arXiv 2402.03804): how sparse an FFN's
hidden layer is for any activation, not only one that outputs exact zeros.

An FFN's output is y = W_down h, with h the activation's output (the gated product for GLU
variants). Zeroing the units with |h_i| <= eps changes it by W_down (h masked); the
Cumulative Errors of Tail Truncation, CETT(eps), is that change's norm over ||y||, averaged
over the tokens. Per FFN layer, the largest eps whose CETT stays within the budget (0.2 in
the paper; the training setting `sparsity_cett`) is found by bisection, and the layer's
sparsity is the fraction of its units at or below it; `val_sparsity_cett` is the mean over
the model's FFN layers (none without any). The down projection's bias is no unit's and is
left out of y. Measured on at most MAX_TOKENS validation tokens per layer (the first
batches'), so an epoch's evaluation stays cheap on a CPU.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

MAX_TOKENS = 2048
STEPS = 30  # bisection steps: eps to 2^-30 of the largest |h|


def ffn_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The FFNs' down projections (modules whose slot kind is `ffn` with a `down` Linear)."""
    return [(path, module.down) for path, module in model.named_modules()
            if getattr(module, "slot_kind", None) == "ffn"
            and isinstance(getattr(module, "down", None), nn.Linear)]


def cett(h: Tensor, weight: Tensor, eps: float) -> float:
    """Mean over tokens (rows of h) of ||W (h * [|h| <= eps])|| / ||W h||; tokens whose
    output is 0 count as 0."""
    full = h @ weight.T
    tail = (h * (h.abs() <= eps)) @ weight.T
    norms = full.norm(dim=1)
    ratio = torch.where(norms > 0, tail.norm(dim=1) / norms.clamp_min(1e-30),
                        torch.zeros_like(norms))
    return float(ratio.mean())


def layer_sparsity(h: Tensor, weight: Tensor, budget: float) -> float:
    """The fraction of units at or below the largest threshold whose CETT is within
    `budget` (bisection on eps between 0 and max |h|)."""
    h = h.float()
    weight = weight.float()
    low, high = 0.0, float(h.abs().max())
    if high == 0 or cett(h, weight, high) <= budget:  # all of it can go
        return 1.0
    if cett(h, weight, low) > budget:  # even the exact zeros alone are too much (never)
        return 0.0
    for _ in range(STEPS):
        middle = (low + high) / 2
        if cett(h, weight, middle) <= budget:
            low = middle
        else:
            high = middle
    return float((h.abs() <= low).float().mean())


class CettProbe:
    """While entered, keeps the inputs of every FFN's down projection (up to MAX_TOKENS per
    layer, detached); `result` measures each layer's CETT sparsity at `budget`."""

    def __init__(self, model: nn.Module, budget: float) -> None:
        self.layers = ffn_layers(model)
        self.budget = budget
        self.kept: dict[str, list[Tensor]] = {path: [] for path, _ in self.layers}
        self.hooks: list[Any] = []

    def __enter__(self) -> CettProbe:
        for path, down in self.layers:
            self.hooks.append(down.register_forward_pre_hook(self._keeper(path)))
        return self

    def __exit__(self, *exc: object) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks.clear()

    def _keeper(self, path: str) -> Any:
        def keep(_module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
            kept = self.kept[path]
            have = sum(t.shape[0] for t in kept)
            if have < MAX_TOKENS and inputs and isinstance(inputs[0], Tensor):
                rows = inputs[0].detach().reshape(-1, inputs[0].shape[-1])
                kept.append(rows[:MAX_TOKENS - have])
        return keep

    def result(self) -> float | None:
        """The mean CETT sparsity over the FFN layers; None where the model has none (the
        epoch then has no such metric: null in the database)."""
        values = [layer_sparsity(torch.cat(self.kept[path]), down.weight.detach(), self.budget)
                  for path, down in self.layers if self.kept[path]]
        return sum(values) / len(values) if values else None
