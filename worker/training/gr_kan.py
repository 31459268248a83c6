"""GR-KAN, the FFN of the Kolmogorov-Arnold Transformer (Yang & Wang, ICLR 2025, arXiv
2409.10594): each of the FFN's two linear maps is preceded by a learnable rational function
shared within `groups` of channels (one safe Padé unit per group, actlab's `pau`, degrees
5/4), so an FFN is  x -> phi_1(x) W_1 -> phi_2(.) W_2.

KAT starts the first rational at the identity and the second at a fit of the activation the
MLP would have used (GELU in the paper); here the second fits the spec's activation, so
`gpt` with `"ffn": "gr_kan"` and `gelu` is KAT's FFN, and the same spec with `relu` starts
from a rational ReLU. The fit is least squares of P5/Q4 on [-3, 3] (float64, L-BFGS from the
library's leaky-ReLU fit), computed once per activation and cached.

Both rationals are activation slots (block i, positions 1 and 2): their coefficients, one
row per group, are recorded like any per-channel activation's.
"""

from __future__ import annotations

import functools
import json

import torch
from torch import Tensor, nn

import activations
from activations.parametric import PAU
from worker.training.models import ActFactory

FIT_RANGE = 3.0
FIT_POINTS = 601
FIT_STEPS = 200


@functools.cache
def _fitted(name: str, params_json: str) -> tuple[float, ...]:
    """PAU coefficients (p0..p5, q1..q4) fitting activation `name` on [-3, 3]."""
    target = activations.create(name, num_channels=1, **json.loads(params_json)).double()
    x = torch.linspace(-FIT_RANGE, FIT_RANGE, FIT_POINTS, dtype=torch.float64).reshape(-1, 1)
    with torch.no_grad():
        y = target(x)
    rational = PAU(1, per_channel=False).double()
    optimiser = torch.optim.LBFGS(rational.parameters(), max_iter=FIT_STEPS,
                                  line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimiser.zero_grad()
        loss: Tensor = ((rational.reference(x) - y) ** 2).mean()
        loss.backward()
        return loss

    optimiser.step(closure)
    return tuple(float(p.detach().item()) for p in rational.params())


IDENTITY = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


class GroupRational(nn.Module):
    """A rational per group of channels: the last dimension split into `groups`, each group's
    channels through one safe Padé unit (the activation slot, of kind ffn)."""

    slot_kind = "ffn"

    def __init__(self, groups: int, coefficients: tuple[float, ...], block: int,
                 position: int) -> None:
        super().__init__()
        self.groups = groups
        self.act = PAU(groups, per_channel=True)
        with torch.no_grad():
            for p, value in zip(self.act.params(), coefficients, strict=True):
                p.fill_(value)
        self.act.block, self.act.position, self.act.channels = block, position, groups
        self.act.activation_name = "pau"

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, self.groups, x.shape[-1] // self.groups)
        out: Tensor = self.act(rows)
        return out.reshape(x.shape)


class GRKANFeedForward(nn.Module):
    """phi_1 (the identity at first) -> Linear d_model -> d_ff -> phi_2 (a fit of the spec's
    activation) -> Linear d_ff -> d_model; `down` is the last linear map, as in the MLP FFN
    (what CETT sparsity measures the input of)."""

    slot_kind = "ffn"

    def __init__(self, d_model: int, d_ff: int, act: ActFactory, block: int,
                 groups: int) -> None:
        super().__init__()
        fit = _fitted(act.name, json.dumps(act.params, sort_keys=True))
        self.rational_in = GroupRational(groups, IDENTITY, block, 1)
        self.up = nn.Linear(d_model, d_ff)
        self.act = GroupRational(groups, fit, block, 2)
        self.down = nn.Linear(d_ff, d_model)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.down(self.act(self.up(self.rational_in(x))))
        return out
