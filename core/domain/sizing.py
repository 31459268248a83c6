"""A model's size estimated at submit, without torch: its parameter count and the memory of
the activations one training step keeps (per sample, times the batch size).

The API refuses a spec whose estimate is above ACTLAB_MAX_MODEL_PARAMS or
ACTLAB_MAX_ACTIVATION_BYTES, so a worker is never sent a model it would die building
(`mlp` with hidden 65536 and depth 64 is about 275e9 weights). The estimates count the weight
layers of worker/training/models.py and ignore biases, batch-norm and width multipliers of
activations; tests/worker/training/test_sizing.py holds them within a factor of 2 of the
built models. A plugin's model has no estimate and is not refused here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.domain import symbolic_formulas

# Tensors per layer output during a training step (the one autograd keeps for backward, and
# its gradient), in float32.
KEPT_PER_ELEMENT = 2
BYTES_PER_ELEMENT = 4


@dataclass(frozen=True)
class Size:
    params: int
    # Elements of every layer's output for one sample.
    elements_per_sample: int

    def activation_bytes(self, batch_size: int) -> int:
        return self.elements_per_sample * batch_size * KEPT_PER_ELEMENT * BYTES_PER_ELEMENT


Shape = tuple[int, ...]
Estimator = Callable[[Shape, int, Mapping[str, Any]], Size]


def _mlp(shape: Shape, classes: int, p: Mapping[str, Any], depth: int | None = None) -> Size:
    hidden, layers = int(p.get("hidden", 256)), int(depth or p.get("depth", 2))
    width = math.prod(shape)
    params = width * hidden + (layers - 1) * hidden * hidden + hidden * classes
    return Size(params, 2 * layers * hidden + classes)


def _lenet(shape: Shape, classes: int, p: Mapping[str, Any]) -> Size:
    channels, height, width = (shape + (1, 1))[:3]
    c1, c2 = 6, 16
    area = height * width
    flat = c2 * max(1, (height // 4) * (width // 4))
    params = channels * c1 * 25 + c1 * c2 * 25 + flat * 120 + 120 * 84 + 84 * classes
    return Size(params, 2 * (c1 * area + c2 * area // 4) + 2 * (120 + 84) + classes)


def _resnet(shape: Shape, classes: int, n: int, widths: tuple[int, ...], stem: int) -> Size:
    channels, height, width = (shape + (1, 1))[:3]
    params = channels * stem * 9 + widths[-1] * classes
    elements = 2 * stem * height * width
    cin = stem
    for stage, w in enumerate(widths):
        area = height * width // (4 ** stage)
        params += n * 2 * 9 * w * w + 9 * cin * w - 9 * w * w + (cin * w if cin != w else 0)
        # per block: two convolutions, their normalisation and activation outputs
        elements += n * 6 * w * area
        cin = w
    return Size(params, elements + classes)


def _resnet_depth(p: Mapping[str, Any], default: int) -> int:
    return max(1, (int(p.get("depth", default)) - 2) // 6)


def _wide(shape: Shape, classes: int, p: Mapping[str, Any]) -> Size:
    k = int(p.get("widen", 4))
    n = max(1, (int(p.get("depth", 16)) - 4) // 6)
    return _resnet(shape, classes, n, (16 * k, 32 * k, 64 * k), 16)


def _mnist1d_cnn(shape: Shape, classes: int, p: Mapping[str, Any]) -> Size:
    c = int(p.get("channels", 25))
    length = shape[-1]
    lengths = [length // 2, length // 4, length // 8]
    params = shape[0] * c * 5 + 2 * c * c * 3 + c * max(1, lengths[-1]) * classes
    return Size(params, 2 * c * sum(lengths) + classes)


def _unet(shape: Shape, classes: int, p: Mapping[str, Any]) -> Size:
    channels, height, width = (shape + (1, 1))[:3]
    levels, base = int(p.get("levels", 2)), int(p.get("width", 16))
    filters = [base * 2 ** k for k in range(levels + 1)]
    area = [height * width // 4 ** k for k in range(levels + 1)]
    params, elements, cin = filters[0] * classes, classes * area[0], channels
    for k in range(levels):  # down: two convolutions and their activations, then pooling
        params += 9 * cin * filters[k] + 9 * filters[k] ** 2
        elements += 4 * filters[k] * area[k] + filters[k] * area[k + 1]
        cin = filters[k]
    params += 9 * cin * filters[levels] + 9 * filters[levels] ** 2
    elements += 4 * filters[levels] * area[levels]
    for k in reversed(range(levels)):  # up: transposed convolution, post, two convolutions
        params += 4 * filters[k + 1] * filters[k] + 18 * filters[k] ** 2 + 9 * filters[k] ** 2
        elements += 6 * filters[k] * area[k]
    return Size(params, elements)


def _gpt(shape: Shape, vocab: int, p: Mapping[str, Any]) -> Size:
    """Embeddings (the output projection is tied to them), then per block the attention's
    4 d^2 and the FFN's 2 d d_ff weights; outputs per token: norms, q/k/v, the attention
    weights, the FFN's units before and after the activation, and the logits."""
    layers, heads = int(p.get("n_layer", 2)), int(p.get("n_head", 4))
    d, ff, context = int(p.get("d_model", 128)), int(p.get("d_ff", 512)), int(p.get("context", 256))
    tokens = shape[0] if shape else 1
    params = (vocab + context) * d + layers * (4 * d * d + 2 * d * ff)
    per_block = tokens * (7 * d + 2 * ff) + heads * tokens * tokens
    return Size(params, 2 * tokens * d + layers * per_block + tokens * vocab)


def _vit(shape: Shape, classes: int, p: Mapping[str, Any]) -> Size:
    """The patch embedding, class token and positions, the blocks as in `_gpt` over the
    patches and the class token, a linear head."""
    channels, height, width = (shape + (1, 1))[:3]
    patch, layers = int(p.get("patch", 4)), int(p.get("n_layer", 2))
    d, ff, heads = int(p.get("d_model", 128)), int(p.get("d_ff", 512)), int(p.get("n_head", 4))
    tokens = (height // patch) * (width // patch) + 1
    params = channels * patch * patch * d + tokens * d + layers * (4 * d * d + 2 * d * ff) \
        + d * classes
    per_block = tokens * (7 * d + 2 * ff) + heads * tokens * tokens
    return Size(params, tokens * d + layers * per_block + classes)


def _kan(shape: Shape, classes: int, p: Mapping[str, Any]) -> Size:
    """Every edge its own function: G + k + 2 parameters each with bspline edges (pau's 10
    are the same at the default grid); kept: each layer's B-spline basis (G + k per input)
    and its outputs. A rational KAN spreads each input over its edges instead, which this
    underestimates by about n_out / (G + k)."""
    functions = int(p.get("grid", 5)) + int(p.get("order", 3))
    sizes = [math.prod(shape), *[int(w) for w in p.get("widths", [16])], classes]
    edges = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    return Size(edges * (functions + 2), sizes[0] + functions * sum(sizes[:-1]) + sum(sizes[1:]))


ESTIMATORS: dict[str, Estimator] = {
    "kan": _kan,
    "gpt": _gpt,
    "vit": _vit,
    "mlp": _mlp,
    "mnist1d_mlp": lambda s, c, p: _mlp(s, c, p, depth=2),
    "lenet5": _lenet,
    "lenet4": _lenet,
    "resnet_v1": lambda s, c, p: _resnet(s, c, _resnet_depth(p, 20), (16, 32, 64), 16),
    "resnet_v2": lambda s, c, p: _resnet(s, c, _resnet_depth(p, 20), (16, 32, 64), 16),
    "wide_resnet": _wide,
    "mnist1d_cnn": _mnist1d_cnn,
    "unet": _unet,
}


# The datasets whose input length follows from their params (the catalog lists each dataset's
# shape at its default params): a token dataset's sequence length, a symbolic formula's
# variable count. tests/worker/training/test_sizing.py holds these to the loaders.
INPUT_LENGTHS: dict[str, Callable[[Mapping[str, Any]], int]] = {
    "chars": lambda p: int(p.get("context", 64)),
    "recall": lambda p: 2 * int(p.get("pairs", 8)) + 2,
    "modular": lambda p: 4,
    "symbolic": lambda p: len(symbolic_formulas.BY_NAME.get(
        str(p.get("formula", symbolic_formulas.FORMULAS[0].name)),
        symbolic_formulas.FORMULAS[0]).inputs),
}


def input_shape(dataset: Mapping[str, Any], params: Mapping[str, Any]) -> Shape:
    """The shape of one sample of a catalog dataset (`dataset`, its entry) with `params`."""
    length = INPUT_LENGTHS.get(dataset["name"])
    return tuple(dataset["input_shape"]) if length is None else (length(params),)


def estimate(model: str, params: Mapping[str, Any], input_shape: Shape,
             num_classes: int) -> Size | None:
    """The estimate for a zoo model, or None for a model without one (a plugin's)."""
    estimator = ESTIMATORS.get(model)
    return None if estimator is None else estimator(tuple(input_shape), num_classes, params)
