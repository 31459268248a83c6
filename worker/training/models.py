"""The model zoo. Every activation slot is built through the activation factory and labelled
with its block and position (1-based, as the seed paper reads "block 3, first activation")."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import activations
from core.domain import plugins
from core.domain.params import ParamInfo
from core.domain.registry import Registry

WIDTH_POLICY = ParamInfo(
    "width_policy", "keep_filters", kind="choice", choices=("keep_filters", "keep_width"),
    doc="for channel-multiplying activations (inverse): keep the filter count (the next layer "
        "gets wider) or keep the output width (half the filters, fewer MACs)",
)


class ActFactory:
    """Builds labelled activation modules for one model from a (name, params) choice; the
    params are checked once here, not once per slot."""

    def __init__(self, name: str, params: dict[str, Any] | None = None, *,
                 checked: bool = False, gated: bool = False, match_params: bool = True) -> None:
        info = activations.get_info(name)
        self.name = info.name
        # Read by FFN slots only (worker/training/transformers.py); the spec refuses a gate
        # for a model without them.
        self.gated, self.match_params = gated, match_params
        # checked: params from a validated spec, complete and canonical.
        self.params = dict(params or {}) if checked else \
            activations.resolve_params(name, params or {})
        self.multiplier = info.channel_multiplier

    def __call__(self, channels: int, block: int, position: int) -> activations.Activation:
        module = activations.build(self.name, channels, self.params)
        assert isinstance(module, activations.Activation)
        module.block, module.position = block, position
        module.channels = channels  # a placement builds its replacement to the same width
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
    # The datasets' tasks it solves (datasets.DatasetInfo.task): classification models end in
    # one logit vector per example, segmentation models in one per pixel.
    tasks: tuple[str, ...] = ("classification",)
    # The activations it can be built with (a KAN's edge functions); empty: any.
    activations: tuple[str, ...] = ()
    # The parameter that is its width: what a matched comparison solves
    # (core/domain/matching.py); None for a model without one.
    width_param: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "description": self.description, "reference": self.reference,
               "input_kinds": list(self.input_kinds), "tasks": list(self.tasks),
               "width_param": self.width_param,
               "params": [p.to_dict() for p in self.params]}
        return out | ({"activations": list(self.activations)} if self.activations else {})


# What a model ending in one linear layer solves: one class among its outputs, or a
# regression's real value (a single output).
VECTOR_TASKS = ("classification", "regression")


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


def _flat_size(features: nn.Module, input_shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        return int(features(torch.zeros(1, *input_shape)).numel())


class LeNet(nn.Module):
    """LeCun et al. 1998. LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, fc 120, fc 84.
    LeNet-4: conv 4@5x5, pool, conv 16@5x5, pool, fc 120. The first convolution is padded
    by 2 (28x28 in, 28x28 out, as for 32x32 inputs in the paper); inputs too small for the
    second 5x5 convolution (digits is 8x8) get it padded too."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 convs: tuple[int, int], fcs: tuple[int, ...],
                 width_policy: str = "keep_filters") -> None:
        super().__init__()
        in_ch, height, width = input_shape
        c1, c2 = (act.filters(c, width_policy) for c in convs)
        pad2 = 0 if (min(height, width) // 2) >= 9 else 2
        self.features = nn.Sequential(
            nn.Conv2d(in_ch, c1, 5, padding=2), act(c1, 1, 1), nn.MaxPool2d(2),
            nn.Conv2d(c1 * act.multiplier, c2, 5, padding=pad2), act(c2, 2, 1),
            nn.MaxPool2d(2), nn.Flatten(),
        )
        layers: list[nn.Module] = []
        width_in = _flat_size(self.features, input_shape)
        for block, units in enumerate(fcs, start=3):
            units = act.filters(units, width_policy)
            layers += [nn.Linear(width_in, units), act(units, block, 1)]
            width_in = units * act.multiplier
        layers.append(nn.Linear(width_in, num_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def lenet5(input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
           width_policy: str = "keep_filters") -> nn.Module:
    return LeNet(input_shape, num_classes, act, (6, 16), (120, 84), width_policy)


def lenet4(input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
           width_policy: str = "keep_filters") -> nn.Module:
    return LeNet(input_shape, num_classes, act, (4, 16), (120,), width_policy)


def _conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class PadShortcut(nn.Module):
    """He et al.'s option A: subsample and zero-pad the new channels (no parameters)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


def _shortcut(cin: int, cout: int, stride: int, kind: str, preact: bool) -> nn.Module:
    if cin == cout and stride == 1:
        return nn.Identity()
    if kind == "padding" and cout > cin:
        return PadShortcut(cin, cout, stride)
    conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
    return conv if preact else nn.Sequential(conv, nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """ResNet v1 block: act(bn(conv(act(bn(conv(x))))) + shortcut(x))."""

    def __init__(self, cin: int, filters: int, stride: int, act: ActFactory, block: int,
                 shortcut: str) -> None:
        super().__init__()
        m = act.multiplier
        self.conv1, self.bn1 = _conv3(cin, filters, stride), nn.BatchNorm2d(filters)
        self.act1 = act(filters, block, 1)
        self.conv2, self.bn2 = _conv3(filters * m, filters), nn.BatchNorm2d(filters)
        # A channel-multiplying activation widens the stream to filters * m after the add,
        # so the next block's shortcut needs a projection back to `filters`.
        self.shortcut = _shortcut(cin, filters, stride, shortcut, preact=False)
        self.act2 = act(filters, block, 2)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act2(out + self.shortcut(x))


class PreActBlock(nn.Module):
    """ResNet v2 / WideResNet block: x + conv(act(bn(conv(act(bn(x)))))). Activations feed
    convolutions only, so channel-multiplying ones just widen the conv inputs."""

    def __init__(self, cin: int, filters: int, stride: int, act: ActFactory, block: int,
                 shortcut: str, dropout: float = 0.0) -> None:
        super().__init__()
        m = act.multiplier
        self.bn1, self.act1 = nn.BatchNorm2d(cin), act(cin, block, 1)
        self.conv1 = _conv3(cin * m, filters, stride)
        self.bn2, self.act2 = nn.BatchNorm2d(filters), act(filters, block, 2)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = _conv3(filters * m, filters)
        self.project = not (cin == filters and stride == 1)
        # The projection sees the pre-activated input (He et al. 2016b), i.e. cin * m channels.
        self.shortcut = _shortcut(cin * m if self.project else cin, filters, stride,
                                  "projection", preact=True)

    def forward(self, x: Tensor) -> Tensor:
        pre = self.act1(self.bn1(x))
        out = self.conv2(self.drop(self.act2(self.bn2(self.conv1(pre)))))
        return out + self.shortcut(pre if self.project else x)


class CifarResNet(nn.Module):
    """CIFAR ResNets (He et al. 2016): a 3x3 stem, three stages of n blocks at widths
    w, 2w, 4w (strides 1, 2, 2), global average pooling, a linear classifier. Blocks are
    numbered 1..3n; the stem's activation is block 0."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 n: int, widths: tuple[int, int, int], stem: int, version: int,
                 shortcut: str, width_policy: str, dropout: float = 0.0) -> None:
        super().__init__()
        m = act.multiplier
        stem_filters = act.filters(stem, width_policy)
        self.stem = _conv3(input_shape[0], stem_filters)
        blocks: list[nn.Module] = []
        self.stem_post: nn.Module
        if version == 1:
            self.stem_post = nn.Sequential(nn.BatchNorm2d(stem_filters), act(stem_filters, 0, 1))
            cin = stem_filters * m
        else:
            self.stem_post = nn.Identity()
            cin = stem_filters
        number = 0
        for stage, width in enumerate(widths):
            filters = act.filters(width, width_policy)
            for i in range(n):
                number += 1
                stride = 2 if stage > 0 and i == 0 else 1
                if version == 1:
                    blocks.append(BasicBlock(cin, filters, stride, act, number, shortcut))
                    cin = filters * m
                else:
                    blocks.append(PreActBlock(cin, filters, stride, act, number, shortcut,
                                              dropout))
                    cin = filters
        self.blocks = nn.Sequential(*blocks)
        if version == 1:
            self.head_post: nn.Module = nn.Identity()
        else:  # pre-activation nets end with bn-act before pooling
            self.head_post = nn.Sequential(nn.BatchNorm2d(cin), act(cin, number + 1, 1))
            cin = cin * m
        self.fc = nn.Linear(cin, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.head_post(self.blocks(self.stem_post(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _depth_to_n(depth: int, name: str) -> int:
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"{name} depth must be 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...), "
                         f"got {depth}")
    return (depth - 2) // 6


def resnet_v1(input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
              depth: int = 20, shortcut: str = "padding",
              width_policy: str = "keep_filters") -> nn.Module:
    return CifarResNet(input_shape, num_classes, act, _depth_to_n(depth, "resnet_v1"),
                       (16, 32, 64), 16, 1, shortcut, width_policy)


def resnet_v2(input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
              depth: int = 20, width_policy: str = "keep_filters") -> nn.Module:
    return CifarResNet(input_shape, num_classes, act, _depth_to_n(depth, "resnet_v2"),
                       (16, 32, 64), 16, 2, "projection", width_policy)


def wide_resnet(input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                depth: int = 16, widen: int = 4, dropout: float = 0.0,
                width_policy: str = "keep_filters") -> nn.Module:
    """Zagoruyko & Komodakis 2016, WRN-depth-widen: n = (depth - 4) / 6 pre-activation
    blocks per stage at widths 16k, 32k, 64k."""
    if (depth - 4) % 6 or depth < 10:
        raise ValueError(f"wide_resnet depth must be 6n + 4 (10, 16, 22, 28, 40, ...), "
                         f"got {depth}")
    return CifarResNet(input_shape, num_classes, act, (depth - 4) // 6,
                       (16 * widen, 32 * widen, 64 * widen), 16, 2, "projection",
                       width_policy, dropout)


class Mnist1dCNN(nn.Module):
    """Greydanus 2020 (MNIST-1D): three Conv1d layers of 25 channels (kernel 5 stride 2
    pad 1, then kernel 3 stride 2 pad 1 twice) and a linear layer."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 channels: int = 25, width_policy: str = "keep_filters") -> None:
        super().__init__()
        c = act.filters(channels, width_policy)
        m = act.multiplier
        self.features = nn.Sequential(
            nn.Conv1d(input_shape[0], c, 5, stride=2, padding=1), act(c, 1, 1),
            nn.Conv1d(c * m, c, 3, stride=2, padding=1), act(c, 2, 1),
            nn.Conv1d(c * m, c, 3, stride=2, padding=1), act(c, 3, 1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(_flat_size(self.features, input_shape), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def mnist1d_mlp(input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                hidden: int = 100, width_policy: str = "keep_filters") -> nn.Module:
    """Greydanus 2020 (MNIST-1D): two hidden layers of 100 units."""
    return MLP(input_shape, num_classes, act, hidden=hidden, depth=2, width_policy=width_policy)


class _DoubleConv(nn.Module):
    """Two 3x3 convolutions, each followed by an activation slot (act1, act2)."""

    def __init__(self, cin: int, filters: int, act: ActFactory, block: int) -> None:
        super().__init__()
        m = act.multiplier
        self.conv1 = nn.Conv2d(cin, filters, 3, padding=1)
        self.act1 = act(filters, block, 1)
        self.conv2 = nn.Conv2d(filters * m, filters, 3, padding=1)
        self.act2 = act(filters, block, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.act2(self.conv2(self.act1(self.conv1(x))))


class _Up(nn.Module):
    """2x2 transposed convolution (halving the filters), its own slot `post`, concatenation
    with the skip connection, then two 3x3 convolutions with their slots (act1, act2)."""

    def __init__(self, cin: int, filters: int, act: ActFactory, block: int) -> None:
        super().__init__()
        m = act.multiplier
        self.upconv = nn.ConvTranspose2d(cin, filters, 2, stride=2)
        self.post = act(filters, block, 1)
        self.conv1 = nn.Conv2d(filters * m * 2, filters, 3, padding=1)
        self.act1 = act(filters, block, 2)
        self.conv2 = nn.Conv2d(filters * m, filters, 3, padding=1)
        self.act2 = act(filters, block, 3)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = torch.cat([self.post(self.upconv(x)), skip], 1)
        return self.act2(self.conv2(self.act1(self.conv1(x))))


class UNet(nn.Module):
    """Ronneberger et al. 2015 at `levels` levels: per level two 3x3 convolutions then 2x2
    max pooling down; a bottom pair; per level up a 2x2 transposed convolution, skip
    concatenation and two 3x3 convolutions; a 1x1 convolution to per-pixel logits. The
    convolutions are padded (the output map is the input's size, no cropping), as most
    re-implementations do. Slots: downK.act1/act2, bottom.act1/act2, upK.post (after the
    transposed convolution: the paper has none there, `{"up*.post": {"name": "identity"}}`),
    upK.act1/act2; up1 is the deepest."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 levels: int = 2, width: int = 16, width_policy: str = "keep_filters") -> None:
        super().__init__()
        in_ch, height, width_px = input_shape
        if height % 2 ** levels or width_px % 2 ** levels:
            raise ValueError(f"unet with {levels} levels needs image sides divisible by "
                             f"{2 ** levels}, got {height}x{width_px}")
        m = act.multiplier
        filters = [act.filters(width * 2 ** k, width_policy) for k in range(levels + 1)]
        cin = in_ch
        for k in range(levels):
            setattr(self, f"down{k + 1}", _DoubleConv(cin, filters[k], act, k + 1))
            cin = filters[k] * m
        self.bottom = _DoubleConv(cin, filters[levels], act, levels + 1)
        cin = filters[levels] * m
        for k in range(levels):
            level = levels - 1 - k
            setattr(self, f"up{k + 1}", _Up(cin, filters[level], act, levels + 2 + k))
            cin = filters[level] * m
        self.head = nn.Conv2d(cin, num_classes, 1)
        self.levels = levels

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for k in range(self.levels):
            x = getattr(self, f"down{k + 1}")(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for k in range(self.levels):
            x = getattr(self, f"up{k + 1}")(x, skips.pop())
        return self.head(x)


_MODELS: Registry[ModelInfo] = Registry("model")


def register_model(info: ModelInfo) -> ModelInfo:
    return _MODELS.register(info)


register_model(ModelInfo(
    name="mlp", builder=MLP, input_kinds=("vector", "image", "sequence"), tasks=VECTOR_TASKS,
    width_param="hidden",
    description="Multi-layer perceptron on the flattened input",
    reference="Rumelhart et al. 1986",
    params=(ParamInfo("hidden", 256, kind="int", min=1, max=65536, doc="units per hidden layer"),
            ParamInfo("depth", 2, kind="int", min=1, max=64, doc="hidden layers"),
            WIDTH_POLICY),
))
_SHORTCUT = ParamInfo("shortcut", "padding", kind="choice", choices=("padding", "projection"),
                      doc="downsampling shortcut: zero-padding (He et al. option A, 0.27M "
                          "parameters at depth 20) or 1x1 projection (option B, the Keras "
                          "code of seed 004)")
_CIFAR_DEPTH = ParamInfo("depth", 20, kind="int", min=8, max=1202, doc="6n + 2")
_HE_2016 = "He et al. 2016, Deep residual learning for image recognition (CIFAR ResNets)"

register_model(ModelInfo(
    name="lenet5", builder=lenet5, input_kinds=("image",),
    description="LeNet-5: two 5x5 convolutions with max pooling, three linear layers",
    reference="LeCun et al. 1998, Gradient-based learning applied to document recognition",
    params=(WIDTH_POLICY,),
))
register_model(ModelInfo(
    name="lenet4", builder=lenet4, input_kinds=("image",),
    description="LeNet-4: 4 and 16 5x5 filters with max pooling, one hidden linear layer (120)",
    reference="LeCun et al. 1998, Gradient-based learning applied to document recognition",
    params=(WIDTH_POLICY,),
))
register_model(ModelInfo(
    name="resnet_v1", builder=resnet_v1, input_kinds=("image",),
    description="CIFAR ResNet v1 (post-activation basic blocks), depth 6n + 2",
    reference=_HE_2016, params=(_CIFAR_DEPTH, _SHORTCUT, WIDTH_POLICY),
))
register_model(ModelInfo(
    name="resnet_v2", builder=resnet_v2, input_kinds=("image",),
    description="CIFAR ResNet v2 (pre-activation basic blocks), depth 6n + 2",
    reference="He et al. 2016, Identity mappings in deep residual networks",
    params=(_CIFAR_DEPTH, WIDTH_POLICY),
))
register_model(ModelInfo(
    name="wide_resnet", builder=wide_resnet, input_kinds=("image",), width_param="widen",
    description="Wide ResNet WRN-depth-widen (pre-activation), e.g. 16-4, 28-10",
    reference="Zagoruyko & Komodakis 2016, Wide residual networks",
    params=(ParamInfo("depth", 16, kind="int", min=10, max=1000, doc="6n + 4"),
            ParamInfo("widen", 4, kind="int", min=1, max=20, doc="widen factor k"),
            ParamInfo("dropout", 0.0, min=0.0, max=0.9, doc="dropout between convolutions"),
            WIDTH_POLICY),
))
register_model(ModelInfo(
    name="mnist1d_cnn", builder=Mnist1dCNN, input_kinds=("sequence",), width_param="channels",
    description="The MNIST-1D paper's CNN: three Conv1d layers (25 channels) and a linear layer",
    reference="Greydanus 2020, Scaling down deep learning (MNIST-1D)",
    params=(ParamInfo("channels", 25, kind="int", min=1, max=4096), WIDTH_POLICY),
))
register_model(ModelInfo(
    name="mnist1d_mlp", builder=mnist1d_mlp, input_kinds=("sequence", "vector"),
    tasks=VECTOR_TASKS, width_param="hidden",
    description="The MNIST-1D paper's MLP: two hidden layers of 100 units",
    reference="Greydanus 2020, Scaling down deep learning (MNIST-1D)",
    params=(ParamInfo("hidden", 100, kind="int", min=1, max=65536), WIDTH_POLICY),
))
register_model(ModelInfo(
    name="unet", builder=UNet, input_kinds=("image",), tasks=("segmentation",),
    width_param="width",
    description="A small U-Net: 3x3 convolution pairs, max pooling down, 2x2 transposed "
                "convolutions up with skip concatenation, per-pixel logits",
    reference="Ronneberger, Fischer & Brox 2015, U-Net: convolutional networks for "
              "biomedical image segmentation",
    params=(ParamInfo("levels", 2, kind="int", min=1, max=5, doc="poolings down (and up)"),
            ParamInfo("width", 16, kind="int", min=1, max=1024,
                      doc="filters at the first level, doubled per level down"),
            WIDTH_POLICY),
))


def model_names() -> list[str]:
    return _MODELS.names()


def get_model_info(name: str) -> ModelInfo:
    return _MODELS.get(name)


def resolve_model_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return _MODELS.resolve(name, params)


def build_model(name: str, params: dict[str, Any], input_shape: tuple[int, ...],
                num_classes: int, act: ActFactory, *, checked: bool = False) -> nn.Module:
    """`checked`: params come from a validated spec (complete and checked) and are used as
    they are."""
    info = get_model_info(name)
    return info.builder(input_shape, num_classes, act,
                        **(params if checked else resolve_model_params(name, params)))


def model_catalog(plugin: str | None = None) -> list[dict[str, Any]]:
    """The entries of actlab's own models, or of one plugin distribution's."""
    return [info.to_dict() for info in _MODELS if _MODELS.origin(info.name) == plugin]


# Models of installed plugin packages (entry point group `actlab.models`).
plugins.load("models")
