"""core/domain/matching.py's counts, made without torch at submit, against the models the
worker builds: parameters exactly, for every catalog activation in an MLP and both edge
functions of a KAN; MACs within the 2 % a match allows. And the solver's width."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import activations
from core.domain import catalog
from core.domain.matching import Component, count, solve, with_width
from worker.training.measure import count_macs
from worker.training.models import ActFactory, build_model, resolve_model_params

ALL = sorted(catalog.entries("activations"))
# Params some activations need to be built at all.
NEEDS = {"formula": {"expression": "x * sigmoid(beta * x)", "parameters": {"beta": 1.0}}}


def _component(name: str, params: dict[str, Any] | None = None) -> Component:
    return Component(catalog.entries("activations")[name],
                     activations.resolve_params(name, {**NEEDS.get(name, {}), **(params or {})}))


def _built(model: str, params: dict[str, Any], act: Component, shape: tuple[int, ...],
           classes: int) -> torch.nn.Module:
    factory = ActFactory(act.entry["name"], dict(act.params))
    return build_model(model, params, shape, classes, factory)


@pytest.mark.parametrize("name", ALL)
def test_an_mlps_parameters_are_counted_exactly_with_every_activation(name: str) -> None:
    act = _component(name)
    if catalog.entries("activations")[name].get("family") == "gated":
        pytest.skip("gated activations fill FFN slots only")
    for params in ({"hidden": 7, "depth": 2}, {"hidden": 12, "depth": 3,
                                               "width_policy": "keep_width"}):
        resolved = resolve_model_params("mlp", params)
        try:
            model = _built("mlp", resolved, act, (1, 8, 8), 10)
        except ValueError:
            continue  # an activation this MLP cannot be built with
        real = sum(p.numel() for p in model.parameters())
        assert count("mlp", resolved, act, (1, 8, 8), 10, "params") == real, (name, params)


@pytest.mark.parametrize("edge,params", [("bspline", {}), ("bspline", {"grid": 8, "order": 2}),
                                         ("pau", {})])
def test_a_kans_parameters_and_macs_are_counted(edge: str, params: dict[str, Any]) -> None:
    act = _component(edge)
    resolved = resolve_model_params("kan", {"widths": [6, 5], **params})
    model = _built("kan", resolved, act, (4,), 3)
    real = sum(p.numel() for p in model.parameters())
    assert count("kan", resolved, act, (4,), 3, "params") == real
    macs, _ = count_macs(model, torch.randn(2, 4))
    assert count("kan", resolved, act, (4,), 3, "macs") == pytest.approx(macs, rel=0.02)


@pytest.mark.parametrize("name", ["relu", "gelu", "prelu", "bspline", "pau", "swish"])
def test_an_mlps_macs_are_counted_within_the_tolerance(name: str) -> None:
    act = _component(name)
    resolved = resolve_model_params("mlp", {"hidden": 24})
    macs, _ = count_macs(_built("mlp", resolved, act, (1, 8, 8), 10), torch.randn(2, 1, 8, 8))
    assert count("mlp", resolved, act, (1, 8, 8), 10, "macs") == pytest.approx(macs, rel=0.02)


def test_the_solver_finds_the_closest_width() -> None:
    relu = _component("relu")
    reference = count("mlp", resolve_model_params("mlp", {"hidden": 64}), relu, (64,), 10,
                      "params")
    assert reference is not None
    kan = resolve_model_params("kan", {"widths": [1]})

    def kan_count(w: int) -> int:
        n = count("kan", with_width(kan, "widths", w), _component("bspline"), (64,), 10,
                  "params")
        assert n is not None
        return n

    solved = solve(reference, kan_count)
    assert abs(kan_count(solved.width) - reference) <= min(
        abs(kan_count(solved.width - 1) - reference), abs(kan_count(solved.width + 1) - reference))
    # 64 -> w -> 10 edges of 10 parameters: 740 w against the MLP's 4810 + 650 ... per unit
    assert solved.width == round(reference / 740) and solved.count == 740 * solved.width
    assert solved.within == (abs(solved.count - reference) <= 0.02 * reference)
    assert with_width({"widths": [3, 3, 3]}, "widths", 9) == {"widths": [9, 9, 9]}
    assert solve(10, lambda w: 100 * w).width == 1  # nothing smaller: the closest is flagged
    assert not solve(10, lambda w: 100 * w).within
