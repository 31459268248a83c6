"""one_layer: a single hidden layer, for vectors and images (flattened). Importing this module
registers the model; actlab imports it through the entry point `actlab.models`."""

from __future__ import annotations

import math

from torch import Tensor, nn

from core.domain.params import ParamInfo
from worker.training.models import ActFactory, ModelInfo, register_model


class OneLayer(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden),
                                 act(hidden, 1, 1), nn.Linear(hidden, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out


register_model(ModelInfo(
    name="one_layer", builder=OneLayer, description="one hidden layer (flattened inputs)",
    reference="an example plugin model", input_kinds=("vector", "image"),
    params=(ParamInfo("hidden", 64, kind="int", min=1, max=65536, doc="hidden units"),),
))
