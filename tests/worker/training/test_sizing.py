"""core/domain/sizing.py's estimates (made without torch, at submit) against the models the worker
really builds: parameters within a factor of 2, and the elements of every layer output
per sample within a factor of 2 of a forward pass that counts them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from core.domain import catalog
from core.domain.sizing import ESTIMATORS, INPUT_LENGTHS, estimate, input_shape
from worker.training.datasets import load_dataset
from worker.training.models import ActFactory, build_model, model_names, resolve_model_params

CASES: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("mlp", {}, (1, 8, 8)), ("mlp", {"hidden": 512, "depth": 4}, (3, 32, 32)),
    ("mnist1d_mlp", {}, (1, 40)), ("mnist1d_cnn", {}, (1, 40)),
    ("mnist1d_cnn", {"channels": 64}, (1, 40)),
    ("lenet5", {}, (1, 28, 28)), ("lenet5", {}, (1, 8, 8)), ("lenet4", {}, (3, 32, 32)),
    ("resnet_v1", {}, (3, 32, 32)), ("resnet_v1", {"depth": 56}, (3, 32, 32)),
    ("resnet_v2", {"depth": 32}, (3, 32, 32)),
    ("wide_resnet", {}, (3, 32, 32)), ("wide_resnet", {"depth": 22, "widen": 2}, (3, 32, 32)),
    ("unet", {}, (1, 32, 32)), ("unet", {"levels": 4, "width": 32}, (3, 64, 64)),
    ("gpt", {}, (4,)), ("gpt", {"n_layer": 4, "d_model": 256, "d_ff": 1024, "context": 128},
                        (128,)),
    ("vit", {}, (3, 32, 32)), ("vit", {"patch": 2, "d_model": 64, "d_ff": 256}, (1, 8, 8)),
    ("kan", {}, (64,)), ("kan", {"widths": [32, 16], "grid": 8, "order": 2}, (1, 8, 8)),
]
# Models built only with some activations: their first one (a KAN's edge function).
ACTIVATION = {"kan": "bspline"}
# Models whose inputs are token ids, not values.
TOKENS = {"gpt"}


def test_every_zoo_model_has_an_estimate() -> None:
    assert set(ESTIMATORS) == set(model_names())
    assert {name for name, _, _ in CASES} == set(model_names())


def _output_elements(model: torch.nn.Module, shape: tuple[int, ...],
                     dtype: torch.dtype = torch.float32) -> int:
    total = 0

    def count(_m: torch.nn.Module, _i: object, out: object) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out[0].numel()

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape, dtype=dtype))
    for hook in hooks:
        hook.remove()
    return total


@pytest.mark.parametrize("name,params,shape", CASES)
def test_estimate_is_within_a_factor_of_two(name: str, params: dict[str, Any],
                                            shape: tuple[int, ...]) -> None:
    model = build_model(name, params, shape, 10, ActFactory(ACTIVATION.get(name, "relu")))
    # the API sees the spec's params with every default filled in
    size = estimate(name, resolve_model_params(name, params), shape, 10)
    assert size is not None
    real = sum(p.numel() for p in model.parameters())
    assert 0.5 <= size.params / real <= 2.0, (size.params, real)
    elements = _output_elements(model, shape, torch.long if name in TOKENS else torch.float32)
    assert 0.5 <= size.elements_per_sample / elements <= 2.0, (size.elements_per_sample,
                                                                 elements)


@pytest.mark.parametrize("name,params", [
    ("chars", {"context": 24, "max_chars": 2000}), ("recall", {"pairs": 5, "samples": 60}),
    ("modular", {"p": 11}), ("symbolic", {"formula": "bessel", "n": 50}),
    ("symbolic", {"formula": "feynman_i_29_16", "n": 50}), ("symbolic", {"n": 50})])
def test_input_lengths_at_submit_are_the_loaders(name: str, params: dict[str, Any],
                                                    tmp_path: Path) -> None:
    assert set(INPUT_LENGTHS) == {d for d, e in catalog.entries("datasets").items()
                                     if e["input_kind"] == "tokens"} | {"symbolic"}
    data = load_dataset(name, params, tmp_path)
    assert input_shape(catalog.entries("datasets")[name], params) == data.input_shape
