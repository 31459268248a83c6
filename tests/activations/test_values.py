"""Every activation at fixed points (x = 0 and both sides of every kink), default and
non-default parameters, against the scalar formulas of scalar_formulas.py."""

from __future__ import annotations

import math

import pytest
import torch

import activations
from tests.activations.scalar_formulas import CASES

POINTS = [-7.0, -3.0, -2.0, -1.5, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 1.5, 2.0, 3.0, 6.0,
          7.0]


def test_every_activation_has_hand_computed_cases() -> None:
    missing = sorted(set(activations.names()) - set(CASES) - {"inverse"})
    assert missing == [], f"no hand-computed values for {missing}"
    assert len(activations.names()) >= 45


@pytest.mark.parametrize(("name", "params", "fn"),
                         [(n, p, f) for n, cases in CASES.items() for p, f in cases],
                         ids=[f"{n}-{i}" for n, cases in CASES.items()
                              for i in range(len(cases))])
def test_values_at_fixed_points(name: str, params: dict, fn: object) -> None:
    module = activations.create(name, num_channels=1, **params).double().eval()
    x = torch.tensor(POINTS, dtype=torch.float64).reshape(-1, 1)
    got = module(x).reshape(-1).tolist()
    want = [fn(p) for p in POINTS]  # type: ignore[operator]
    for p, g, w in zip(POINTS, got, want, strict=True):
        # parameters are created in float32, so defaults like 0.1 carry ~1e-8 of rounding
        assert g == pytest.approx(w, rel=1e-6, abs=1e-6), f"{name}{params} at x={p}"


def test_inverse_concatenates_act_of_x_and_minus_x() -> None:
    x = torch.tensor([[-2.0, 3.0], [0.5, -0.0]])
    y = activations.create("inverse")(x)
    assert y.tolist() == [[0.0, 3.0, 2.0, 0.0], [0.5, 0.0, 0.0, 0.0]]
    y = activations.create("inverse", activation="tanh")(x)
    torch.testing.assert_close(y, torch.cat([torch.tanh(x), torch.tanh(-x)], 1))


def test_learnable_non_default_values_after_assignment() -> None:
    slaf = activations.create("slaf", num_channels=1, degree=3).double()
    with torch.no_grad():
        for k, c in enumerate([0.5, -1.0, 0.25, 2.0]):
            getattr(slaf, f"c{k}").fill_(c)
    apl = activations.create("apl", num_channels=1).double()
    with torch.no_grad():
        apl.a1.fill_(0.5)
        apl.b1.fill_(1.0)
    # one interval on [0, 1], order 1: knots -1, 0, 1, 2, two hats peaking at 0 and 1
    spline = activations.create("bspline", num_channels=1, grid=1, order=1, low=0.0,
                                high=1.0).double()
    with torch.no_grad():
        spline.c0.fill_(2.0)
        spline.c1.fill_(-1.0)
        spline.w_b.fill_(0.5)
        spline.w_s.fill_(3.0)

    def hat(x: float, peak: float) -> float:
        return max(0.0, 1.0 - abs(x - peak))

    for x in POINTS:
        t = torch.tensor([[x]], dtype=torch.float64)
        assert slaf(t).item() == pytest.approx(0.5 - x + 0.25 * x**2 + 2 * x**3, abs=1e-9)
        assert spline(t).item() == pytest.approx(
            0.5 * x / (1 + math.exp(-x)) + 3.0 * (2.0 * hat(x, 0.0) - hat(x, 1.0)), abs=1e-9)
        assert apl(t).item() == pytest.approx(max(0.0, x) + 0.5 * max(0.0, -x + 1.0))


def test_functional_forms_match_modules() -> None:
    x = torch.linspace(-4, 4, 41)
    for name in activations.names():
        info = activations.get_info(name)
        if info.functional is None:
            with pytest.raises(ValueError, match="learnable state"):
                activations.get_fn(name)
            continue
        module = activations.create(name).eval()
        torch.testing.assert_close(activations.get_fn(name)(x), module(x), msg=name)
