"""The model zoo. Every activation slot is built through the activation factory and labelled
with its block and position (1-based, as the seed paper reads "block 3, first activation")."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

import activations
from activations import ParamInfo
from activations.registry import resolve_against

WIDTH_POLICY = ParamInfo(
    "width_policy", "keep_filters", kind="choice", choices=("keep_filters", "keep_width"),
    doc="for channel-multiplying activations (inverse): keep the filter count (the next layer "
        "gets wider) or keep the output width (half the filters, fewer MACs)",
)


class ActFactory:
    """Builds labelled activation modules for one model from a (name, params) choice."""

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        self.name = name
        self.params = activations.resolve_params(name, params or {})
        self.multiplier = activations.get_info(name).channel_multiplier

    def __call__(self, channels: int, block: int, position: int) -> activations.Activation:
        module = activations.create(self.name, num_channels=channels, **self.params)
        assert isinstance(module, activations.Activation)
        module.block, module.position = block, position
        return module

    def filters(self, wanted: int, policy: str) -> int:
        """How many filters a layer should have so that, after this activation, the width is
        `wanted` (keep_width) or `wanted * multiplier` (keep_filters)."""
        if policy == "keep_width" and self.multiplier > 1:
            return max(1, wanted // self.multiplier)
        return wanted


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., nn.Module]  # (input_shape, num_classes, act, **params)
    description: str
    reference: str
    input_kinds: tuple[str, ...]  # which dataset kinds it accepts: vector, image, sequence
    params: tuple[ParamInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "reference": self.reference,
                "input_kinds": list(self.input_kinds),
                "params": [p.to_dict() for p in self.params]}


class MLP(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 hidden: int = 256, depth: int = 2, width_policy: str = "keep_filters") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for block in range(1, depth + 1):
            units = act.filters(hidden, width_policy)
            layers += [nn.Linear(width, units), act(units, block, 1)]
            width = units * act.multiplier
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class LeNet5(nn.Module):
    """LeCun et al. 1998: conv 6@5x5, pool, conv 16@5x5, pool, fc 120, fc 84, fc classes.

    For inputs smaller than 28x28 (digits is 8x8) the second convolution is padded so the
    feature map never shrinks below its kernel."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 width_policy: str = "keep_filters") -> None:
        super().__init__()
        in_ch, height, width = input_shape
        c1 = act.filters(6, width_policy)
        c2 = act.filters(16, width_policy)
        side = min(height, width)
        pad1 = 2
        side = (side + 2 * pad1 - 4) // 2
        pad2 = 0 if side >= 10 else 2
        self.features = nn.Sequential(
            nn.Conv2d(in_ch, c1, 5, padding=pad1), act(c1, 1, 1), nn.MaxPool2d(2),
            nn.Conv2d(c1 * act.multiplier, c2, 5, padding=pad2), act(c2, 2, 1), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        h = (height + 2 * pad1 - 4) // 2
        w = (width + 2 * pad1 - 4) // 2
        h = (h + 2 * pad2 - 4) // 2
        w = (w + 2 * pad2 - 4) // 2
        flat = c2 * act.multiplier * h * w
        f1 = act.filters(120, width_policy)
        f2 = act.filters(84, width_policy)
        self.classifier = nn.Sequential(
            nn.Linear(flat, f1), act(f1, 3, 1),
            nn.Linear(f1 * act.multiplier, f2), act(f2, 4, 1),
            nn.Linear(f2 * act.multiplier, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


_MODELS: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> None:
    _MODELS[info.name] = info


register_model(ModelInfo(
    name="mlp", builder=MLP, input_kinds=("vector", "image", "sequence"),
    description="Multi-layer perceptron on the flattened input",
    reference="Rumelhart et al. 1986",
    params=(ParamInfo("hidden", 256, kind="int", min=1, max=65536, doc="units per hidden layer"),
            ParamInfo("depth", 2, kind="int", min=1, max=64, doc="hidden layers"),
            WIDTH_POLICY),
))
register_model(ModelInfo(
    name="lenet5", builder=LeNet5, input_kinds=("image",),
    description="LeNet-5: two 5x5 convolutions with max pooling, three linear layers",
    reference="LeCun et al. 1998, Gradient-based learning applied to document recognition",
    params=(WIDTH_POLICY,),
))


def model_names() -> list[str]:
    return sorted(_MODELS)


def get_model_info(name: str) -> ModelInfo:
    try:
        return _MODELS[name]
    except KeyError:
        valid = ", ".join(model_names())
        raise ValueError(f"unknown model {name!r}; valid names: {valid}") from None


def resolve_model_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return resolve_against(f"model {name!r}", get_model_info(name).params, params)


def build_model(name: str, params: dict[str, Any], input_shape: tuple[int, ...],
                num_classes: int, act: ActFactory) -> nn.Module:
    info = get_model_info(name)
    return info.builder(input_shape, num_classes, act, **resolve_model_params(name, params))


def model_catalog() -> list[dict[str, Any]]:
    return [_MODELS[n].to_dict() for n in model_names()]
