"""The formula activation: equals the built-ins it spells, passes gradcheck, saves only its
input, records its parameters under their own names."""

from __future__ import annotations

import math

import pytest
import torch

import activations
from activations.formula import Formula
from core.domain.formula import NAME, RESERVED
from tests.activations.test_fused import saved_bytes


@pytest.mark.parametrize(("expression", "parameters", "builtin", "builtin_params"), [
    ("x * sigmoid(beta * x)", {"beta": 1.7}, "swish", {"beta": 1.7}),
    ("where(x > 0, x, a * x)", {"a": 0.25}, "prelu", {"init": 0.25}),
    ("where(x >= 0, a * x, b * x)", {"a": 1.0, "b": 0.01}, "dp_relu", {}),
    ("relu(x)", {}, "relu", {}),
    ("x * tanh(softplus(x))", {}, "mish", {}),
])
def test_equals_the_builtin(expression: str, parameters: dict[str, float], builtin: str,
                            builtin_params: dict[str, float]) -> None:
    torch.manual_seed(0)
    mine = activations.create("formula", num_channels=3, expression=expression,
                              parameters=parameters).double()
    theirs = activations.create(builtin, num_channels=3, **builtin_params).double()
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    y1, y2 = mine(x), theirs(x)
    torch.testing.assert_close(y1, y2)
    g = torch.randn_like(y1)
    torch.testing.assert_close(torch.autograd.grad(y1, x, g)[0], torch.autograd.grad(y2, x, g)[0])
    # The learnable parameters get the same gradients too (PReLU's is recorded as b).
    for (_, p1), (_, p2) in zip(mine.named_parameters(), theirs.named_parameters(), strict=True):
        (gp1,) = torch.autograd.grad(mine(x), p1, g)
        (gp2,) = torch.autograd.grad(theirs(x), p2, g)
        torch.testing.assert_close(gp1, gp2)


@pytest.mark.parametrize("expression", [
    "a * x * sigmoid(b * x) + c",
    "where(x > a, x - a, b * (exp(x - a) - 1))",
    "clamp(x, -a, a) + b * sin(x) + cos(c * x)",
    "max(x, a * x) / (1 + abs(b) * x ** 2)",
    "erf(a * x) * log1p(x ** 2) + sqrt(1 + x ** 2) * b + min(c, x)",
    "elu(a * x) + selu(x) * b + gelu(x) * silu(c * x)",
    "softsign(a * x) + sinh(x) * b - cosh(c * x) + atan(x) + square(x)",
    "div(x, a + square(x)) + sum(x, b, tanh(x)) * prod(c, x, sigmoid(x))",
])
def test_gradcheck(expression: str) -> None:
    params = {name: 0.3 + 0.2 * i for i, name in enumerate("abc") if name in expression}
    module = activations.create("formula", num_channels=3, expression=expression,
                                parameters=params).double()
    x = torch.randn(4, 3, 2, dtype=torch.float64) * 2
    # Keep away from kinks, where finite differences disagree with any subgradient.
    x = torch.where((x - 0.3).abs() < 0.05, x + 0.2, x).requires_grad_(True)
    names = [n for n, _ in module.named_parameters()]

    def call(x: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(module, dict(zip(names, ps, strict=True)), (x,))

    inputs = (x, *[p.detach().clone().requires_grad_(True) for p in module.parameters()])
    assert torch.autograd.gradcheck(call, inputs, eps=1e-6, atol=1e-5)


def test_every_function_equals_its_math_twin() -> None:
    """The torch compilation of each function against the standard-library twin the API
    folds constants with (core.domain.formula._MATH): one definition, two implementations."""
    from core.domain.formula import _MATH, FUNCTIONS

    points = [-3.0, -1.1, -0.2, 0.0005, 0.4, 1.7, 3.5]
    for name, (arity, _) in FUNCTIONS.items():
        if name in ("where", "sum", "prod"):
            continue  # a comparison and the tree's own Sum and Product
        args = ", ".join(["x", "0.3 * x", "2.0"][:arity])
        module = activations.create("formula", num_channels=None,
                                    expression=f"{name}({args})").double()
        for v in points:
            got = float(module(torch.tensor([v], dtype=torch.float64)))
            try:
                want = _MATH[name](*[v, 0.3 * v, 2.0][:arity])
            except ValueError:  # outside the domain (log of a negative): NaN in torch
                assert math.isnan(got), (name, v)
                continue
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (name, v)


def test_safe_division_is_finite_and_keeps_the_sign() -> None:
    module = activations.create("formula", num_channels=None, expression="div(1, x)").double()
    x = torch.tensor([-1e-9, 0.0, 1e-9, -0.5, 4.0], dtype=torch.float64, requires_grad=True)
    y = module(x)
    assert y.tolist() == pytest.approx([-1000.0, 1000.0, 1000.0, -2.0, 0.25])
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_saves_only_its_input() -> None:
    channels = 16
    module = activations.create("formula", num_channels=channels,
                                expression="a * x * sigmoid(b * x) + where(x > 0, x, c * x)",
                                parameters={"a": 1.0, "b": 1.0, "c": 0.1})
    x = torch.randn(8, channels, 12, 12, requires_grad=True)
    assert saved_bytes(module, x) <= x.numel() * x.element_size() + 64 * channels * 4 + 4096


def test_parameters_are_recorded_under_their_names_per_channel_or_scalar() -> None:
    per_channel = activations.create("formula", num_channels=5, expression="x * sigmoid(beta * x)",
                                     parameters={"beta": 2.0})
    assert [(n, tuple(p.shape)) for n, p in per_channel.named_parameters()] == [("beta", (5,))]
    assert per_channel.beta.tolist() == [2.0] * 5
    scalar = activations.create("formula", num_channels=5, expression="x * sigmoid(beta * x)",
                                parameters={"beta": 2.0}, per_channel=False)
    assert tuple(scalar.beta.shape) == (1,)


def test_constant_branches_still_give_one_value_per_element() -> None:
    step = activations.create("formula", expression="where(x > 0, 1, 0) + 0 * x")
    x = torch.tensor([[-1.0, 2.0], [3.0, -4.0]])
    assert step(x).tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_reserved_names_cover_every_attribute_of_the_module() -> None:
    """A parameter must never shadow an attribute of the module that holds it."""
    module = Formula(2, "x")
    attributes = {a for a in dir(module) if NAME.fullmatch(a)}
    assert attributes - RESERVED == set()


def test_bad_formulas_raise_in_the_library_too() -> None:
    with pytest.raises(ValueError, match="unknown function 'foo'"):
        activations.create("formula", expression="foo(x)")
    with pytest.raises(ValueError, match="b declared but not used"):
        activations.create("formula", expression="a * x", parameters={"a": 1.0, "b": 1.0})
