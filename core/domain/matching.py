"""Matched sizes: a model's width solved so that its parameters (or MACs) equal a reference
model's, as Yu et al. 2024 ("KAN or MLP: A Fairer Comparison") compare KANs and MLPs.

Counted without torch, at submit, from the catalog: the parameters exactly for the models
counted here (an MLP's weights, biases and activations' learnable parameters; a KAN's edge
functions), and MACs as actlab counts them (each layer's multiply-accumulates plus each
activation slot's operations, the catalog's `ops`). tests/worker/training/test_matching.py
holds these counts to the built models. The worker records both counts of the models as it
builds them, and whether they landed within TOLERANCE, in the run's provenance
(worker/training/matched.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.domain.spec import ExperimentSpec, Match

# A matched width lands within this share of the reference's count, or is flagged.
TOLERANCE = 0.02
# The widths searched (a width parameter's own bounds narrow it).
MAX_WIDTH = 65536


@dataclass(frozen=True)
class Component:
    """A catalog entry and the params it is built with (complete: defaults filled in)."""

    entry: Mapping[str, Any]
    params: Mapping[str, Any]


def activation_parameters(act: Component, channels: int) -> int:
    """The learnable parameters of one activation slot of `channels` channels."""
    name, params = act.entry["name"], act.params
    per_slot = len(act.entry.get("learnable_params", []))
    if name == "bspline":  # w_b, w_s and G + k coefficients
        per_slot = 2 + int(params.get("grid", 5)) + int(params.get("order", 3))
    elif name == "formula":
        per_slot = len(params.get("parameters") or {})
    per_channel = bool(params.get("per_channel", False))
    return per_slot * (channels if per_channel else 1)


def _ops(act: Component, channels: int) -> float:
    """One slot's operations on one example, from the catalog's line in the channels (per
    channel where the params say)."""
    line = act.entry.get("ops") or {"per_element": act.entry.get("ops_per_element", 1.0),
                                    "per_slot": 0.0}
    suffix = "_per_channel" if act.params.get("per_channel") and \
        "per_element_per_channel" in line else ""
    return float(line[f"per_element{suffix}"]) * channels + float(line[f"per_slot{suffix}"])


def _mlp(inputs: int, classes: int, act: Component, model: Mapping[str, Any],
         depth: int | None = None) -> tuple[int, float]:
    """(parameters, MACs) of worker/training/models.py's MLP."""
    hidden, layers = int(model.get("hidden", 256)), int(depth or model.get("depth", 2))
    multiplier = int(act.entry.get("channel_multiplier", 1))
    keep_width = model.get("width_policy") == "keep_width" and multiplier > 1
    units = max(1, hidden // multiplier) if keep_width else hidden
    params, macs, width = 0, 0.0, inputs
    for _ in range(layers):
        params += width * units + units + activation_parameters(act, units)
        macs += width * units + _ops(act, units)
        width = units * multiplier
    return params + width * classes + classes, macs + width * classes


def _kan(inputs: int, classes: int, act: Component, model: Mapping[str, Any]
         ) -> tuple[int, float]:
    """(parameters, MACs) of worker/training/kan.py's KAN: every edge a per-channel
    activation; with bspline edges the layer contracts the inputs' bases with the edges'
    coefficients (n_in (G + k) n_out) and the SiLU branch with w_b (n_in n_out)."""
    sizes = [inputs, *[int(w) for w in model.get("widths", [16])], classes]
    grid, order = int(model.get("grid", 5)), int(model.get("order", 3))
    edge = Component(act.entry, {**act.params, "per_channel": True, "grid": grid,
                                 "order": order})
    # (the catalog's per-channel measure of an activation is at its default grid)
    params, macs = 0, 0.0
    for n_in, n_out in zip(sizes, sizes[1:], strict=False):
        params += activation_parameters(edge, n_in * n_out)
        if act.entry["name"] == "bspline":
            macs += n_in * (grid + order) * n_out + n_in * n_out + basis_ops(n_in, grid, order)
        else:
            macs += _ops(edge, n_in * n_out)
    return params, macs


def basis_ops(inputs: int, grid: int, order: int) -> int:
    """The operations of a KAN layer's B-spline basis on `inputs` values, as
    activations/bspline.py::basis runs them: three per knot interval (two comparisons and
    their `and`), then per degree p the G + 2k - p functions of the level below combined
    with seven operations per input and two on the knots alone (Cox-de Boor)."""
    intervals = grid + 2 * order
    levels = [intervals - p for p in range(1, order + 1)]
    return 3 * inputs * intervals + sum(7 * inputs * m + 2 * m for m in levels)


Counter = Callable[[int, int, Component, Mapping[str, Any]], tuple[int, float]]
COUNTERS: dict[str, Counter] = {
    "mlp": _mlp,
    "mnist1d_mlp": lambda i, c, a, m: _mlp(i, c, a, m, depth=2),
    "kan": _kan,
}


def count(model: str, model_params: Mapping[str, Any], act: Component,
          input_shape: tuple[int, ...], classes: int, by: str) -> int | None:
    """The model's parameters or MACs (`by`), None for a model this module cannot count."""
    counter = COUNTERS.get(model)
    if counter is None:
        return None
    params, macs = counter(math.prod(input_shape), classes, act, model_params)
    return params if by == "params" else round(macs)


def with_width(model_params: Mapping[str, Any], width_param: str, width: int) -> dict[str, Any]:
    """The params with the width set: a list of widths (a KAN's) takes it at every layer."""
    current = model_params.get(width_param)
    value: Any = [width] * len(current) if isinstance(current, list) else width
    return {**model_params, width_param: value}


@dataclass(frozen=True)
class Solved:
    width: int
    count: int
    reference_count: int

    @property
    def within(self) -> bool:
        return abs(self.count - self.reference_count) <= TOLERANCE * self.reference_count


def solve(reference_count: int, counts: Callable[[int], int], low: int = 1,
          high: int = MAX_WIDTH) -> Solved:
    """The width in [low, high] whose count is closest to `reference_count` (the smaller on
    a tie); `counts` grows with the width, so a bisection finds the crossing."""
    lo, hi = low, high
    while lo < hi:
        mid = (lo + hi) // 2
        if counts(mid) < reference_count:
            lo = mid + 1
        else:
            hi = mid
    candidates = [w for w in (lo - 1, lo) if low <= w <= high]
    best = min(candidates, key=lambda w: (abs(counts(w) - reference_count), w))
    return Solved(best, counts(best), reference_count)


class MatchError(ValueError):
    """A matched sweep that cannot be solved; the message says why."""


def countable(model: str) -> bool:
    return model in COUNTERS


def _width_bounds(model: Mapping[str, Any]) -> tuple[str, int, int]:
    width_param = model.get("width_param")
    if not width_param or not countable(model["name"]):
        raise MatchError(f"model {model['name']!r} cannot be matched: widths are solved for "
                         f"{', '.join(sorted(COUNTERS))}")
    info = next(p for p in model["params"] if p["name"] == width_param)
    return width_param, int(info.get("min") or 1), int(info.get("max") or MAX_WIDTH)


def matched(spec: ExperimentSpec, match: Match) -> ExperimentSpec:
    """`spec` with its model's width solved to `match`'s reference on the spec's dataset, and
    the solution recorded in its `match`. MatchError when the model has no solvable width."""
    from core.domain import catalog, sizing
    from core.domain.spec import ExperimentSpec, MatchRecord

    model = catalog.entries("models")[spec.model.name]
    width_param, low, high = _width_bounds(model)
    if not countable(match.reference.name):
        raise MatchError(f"reference model {match.reference.name!r} cannot be counted: "
                         f"references are {', '.join(sorted(COUNTERS))}")
    dataset = catalog.entries("datasets")[spec.dataset.name]
    shape = sizing.input_shape(dataset, spec.dataset.params)
    classes = int(spec.dataset.params.get("classes", dataset["num_classes"]))
    acts = catalog.entries("activations")
    reference = count(match.reference.name, match.reference.params,
                      Component(acts[match.reference.activation], _defaults(
                          acts[match.reference.activation])), shape, classes, match.by)
    own = Component(acts[spec.activation.name], spec.activation.params)

    def counts(width: int) -> int:
        n = count(spec.model.name, with_width(spec.model.params, width_param, width), own, shape,
                  classes, match.by)
        assert n is not None  # countable, checked above
        return n

    assert reference is not None
    solved = solve(reference, counts, low, high)
    body = spec.model_dump(mode="json")
    body["model"]["params"] = with_width(spec.model.params, width_param, solved.width)
    body["match"] = MatchRecord(by=match.by, reference=match.reference, width_param=width_param,
                                width=solved.width, count=solved.count,
                                reference_count=reference, within=solved.within
                                ).model_dump(mode="json")
    return ExperimentSpec.model_validate(body)


def _defaults(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {p["name"]: p["default"] for p in entry.get("params", [])}
