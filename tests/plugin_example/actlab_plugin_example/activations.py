"""scaled_tanh: f(x) = a tanh(b x), a and b learnable (LeCun's scaled tanh, made learnable).

Importing this module registers the activation; actlab imports it through the entry point
`actlab.activations`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from activations.base import Activation, bcast, make_param
from activations.registry import ActivationInfo, register
from core.domain.params import ParamInfo


class ScaledTanh(Activation):
    def __init__(self, num_channels: int | None, a: float = 1.7159, b: float = 0.6667,
                 per_channel: bool = True) -> None:
        super().__init__()
        self.a = make_param(a, num_channels, per_channel)
        self.b = make_param(b, num_channels, per_channel)

    def forward(self, x: Tensor) -> Tensor:
        return bcast(self.a, x) * torch.tanh(bcast(self.b, x) * x)


register(ActivationInfo(
    name="scaled_tanh", builder=ScaledTanh, family="plugin", per_channel_capable=True,
    formula=r"f(x) = a \tanh(b x)",
    reference="LeCun et al. 1998, Efficient BackProp (a = 1.7159, b = 2/3), made learnable",
    params=(ParamInfo("a", 1.7159, learnable=True, doc="output scale"),
            ParamInfo("b", 0.6667, learnable=True, doc="input scale"),
            ParamInfo("per_channel", True, kind="bool",
                      doc="one learnable value per channel (dim 1) instead of one scalar")),
))
