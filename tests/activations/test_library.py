"""Registry, catalog, per-channel behaviour, channel multiplication, GAAF's gradient gain,
and clear errors."""

from __future__ import annotations

import pytest
import torch

import activations

# Activations whose defaults have no learnable parameter to test: a formula with two.
EXAMPLE_PARAMS = {"formula": {"expression": "a * x * sigmoid(beta * x)",
                              "parameters": {"a": 1.0, "beta": 1.0}}}


def test_at_least_45_activations_each_with_formula_reference_and_params() -> None:
    catalog = activations.catalog()
    assert len(catalog) >= 45
    seeds = {"inverse", "dp_relu", "dual_line", "slope_shift", "slaf", "gaaf_relu", "gaaf_tanh"}
    literature = {"prelu", "pelu", "flexible_relu", "general_relu", "trelu", "aria2", "isru",
                  "isrlu", "sqnl", "mish", "swish", "e_swish", "elish", "lisht", "pau"}
    assert seeds | literature <= {e["name"] for e in catalog}
    for entry in catalog:
        assert entry["formula"] and entry["reference"], entry["name"]
        for p in entry["params"]:
            assert {"name", "kind", "default", "learnable"} <= set(p)


def test_aliases_resolve() -> None:
    assert activations.get_info("linear").name == "identity"
    assert activations.get_info("pade").name == "pau"
    assert isinstance(activations.create("frelu", num_channels=2), activations.Activation)


@pytest.mark.parametrize("name", [n for n in activations.names()
                                  if activations.get_info(n).per_channel_capable])
def test_per_channel_parameters_on_2d_and_4d(name: str) -> None:
    params = {"per_channel": True, **EXAMPLE_PARAMS.get(name, {})}
    module = activations.create(name, num_channels=5, **params)
    learnable = list(module.parameters())
    assert learnable and all(p.shape == (5,) for p in learnable)
    for shape in [(7, 5), (2, 5, 3, 3)]:
        module.zero_grad()
        x = torch.randn(shape, requires_grad=True)
        y = module(x)
        assert y.shape == shape
        y.square().sum().backward()
        assert all(p.grad is not None and p.grad.shape == (5,) for p in learnable)
        assert any(p.grad.abs().sum() > 0 for p in learnable)  # type: ignore[union-attr]
    scalar = activations.create(name, num_channels=5, **{**params, "per_channel": False})
    assert all(p.shape == (1,) for p in scalar.parameters())


def test_learnable_parameters_are_marked_for_no_weight_decay() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4),
                                activations.create("dual_line", num_channels=4))
    ids = activations.activation_parameter_ids(model)
    assert ids == {id(p) for p in model[1].parameters()}


def test_inverse_doubles_channels_with_any_inner_activation() -> None:
    for inner in ("relu", "dual_line", "gelu"):
        module = activations.create("inverse", num_channels=3, activation=inner)
        assert module.channel_multiplier == 2
        assert module(torch.randn(2, 3, 4, 4)).shape == (2, 6, 4, 4)
        assert module(torch.randn(5, 3)).shape == (5, 6)
    assert activations.get_info("inverse").channel_multiplier == 2


def test_gaaf_stays_within_1_over_k_and_its_gradient_gains_s() -> None:
    x = torch.linspace(-6, 6, 10001, dtype=torch.float64, requires_grad=True)
    for name, base, s in [("gaaf_relu", torch.relu, lambda t: torch.sigmoid(t + 4.0)),
                          ("gaaf_tanh", torch.tanh, lambda t: torch.exp(-t * t / 3))]:
        k = 10000.0
        module = activations.create(name)
        y = module(x)
        assert (y - base(x)).abs().max().item() < 1 / k
        (grad,) = torch.autograd.grad(y.sum(), x)
        xd = x.detach().requires_grad_(True)
        (base_grad,) = torch.autograd.grad(base(xd).sum(), xd)
        gain = grad - base_grad
        # d/dx [g s] = g' s + g s' = s + O(1/K)
        torch.testing.assert_close(gain, s(x.detach()), atol=1e-3, rtol=0)


def test_response_samples_per_channel_curves() -> None:
    module = activations.create("dual_line", num_channels=3)
    with torch.no_grad():
        module.a.copy_(torch.tensor([1.0, 2.0, 3.0]))
    xs = torch.tensor([-1.0, 0.0, 1.0])
    ys = activations.response(module, xs)
    assert ys.shape == (3, 3)
    torch.testing.assert_close(ys[:, 2], torch.tensor([0.78, 1.78, 2.78]))
    assert activations.response(activations.create("relu"), xs).shape == (1, 3)


def test_activation_parameters_lists_layer_block_position() -> None:
    a = activations.create("dual_line", num_channels=2)
    a.block, a.position = 3, 1
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), a)
    snaps = activations.activation_parameters(model)
    assert [(s.layer, s.block, s.position, s.name) for s in snaps] == \
        [("1", 3, 1, "a"), ("1", 3, 1, "b"), ("1", 3, 1, "m")]
    assert snaps[0].values == [1.0, 1.0]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: activations.create("reluu"), r"unknown activation 'reluu'; valid names: .*relu"),
    (lambda: activations.create("prelu", num_channels=2, slope=1),
     r"unknown parameter\(s\) slope for activation 'prelu'; valid parameters: init, "
     r"per_channel"),
    (lambda: activations.create("slaf", num_channels=2, degree=-1), r"slaf.degree must be >= 1"),
    (lambda: activations.create("slaf", num_channels=2, degree=2.5),
     r"slaf.degree must be an integer"),
    (lambda: activations.create("gaaf_relu", k=0), r"gaaf_relu.k must be > 0"),
    (lambda: activations.create("gaaf_relu", variant="ceil"), r"must be one of floor, round"),
    (lambda: activations.create("inverse", activation="inverse"), r"cannot be nested"),
    (lambda: activations.create("dual_line", num_channels=0), r"num_channels must be positive"),
    (lambda: activations.create("dual_line", num_channels=4)(torch.randn(2, 3, 5)),
     r"4 channels but the input has 3"),
    (lambda: activations.create("slaf", num_channels=4)(torch.randn(2, 3)),
     r"4 channels but the input has 3"),
    (lambda: activations.create("elu", alpha=float("nan")), r"must be finite"),
])
def test_clear_errors(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
