"""The bspline activation is KAN's edge function, held to pykan's own arithmetic: the same
B-spline basis (`B_batch`) on the same extended grid, and with the same coefficients the same
spline (`coef2curve`) and edge function (w_b SiLU(x) + w_s spline(x)) within float tolerance."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import activations
from activations.bspline import BSpline, basis, knots


@pytest.mark.parametrize(("grid", "order", "low", "high"), [
    (5, 3, -1.0, 1.0), (3, 2, -2.0, 3.0), (8, 1, 0.0, 1.0), (4, 0, -1.0, 1.0)])
def test_the_basis_is_pykan_s(grid: int, order: int, low: float, high: float) -> None:
    from kan.spline import B_batch, extend_grid

    x = torch.linspace(low - 1.5, high + 1.5, 301, dtype=torch.float64)
    # pykan: a (channels, points) grid extended by k knots each side
    points = torch.linspace(low, high, grid + 1, dtype=torch.float64)[None, :]
    theirs = B_batch(x[:, None], extend_grid(points, k_extend=order), k=order)[:, 0, :]
    theirs = theirs.to(torch.float64)  # order 0: pykan answers the indicator as bools
    ours = basis(x, knots(grid, order, low, high), order)
    assert ours.shape == theirs.shape == (301, grid + order)
    assert torch.allclose(ours, theirs, atol=1e-12)


def test_with_the_same_coefficients_the_edge_function_is_pykan_s() -> None:
    from kan.spline import coef2curve, extend_grid

    torch.manual_seed(0)
    channels, grid, order = 3, 5, 3
    act = BSpline(channels, grid=grid, order=order, low=-2.0, high=2.0)
    coef = torch.randn(channels, grid + order)
    w_b, w_s = torch.rand(channels) + 0.5, torch.rand(channels) + 0.5
    with torch.no_grad():
        for i in range(grid + order):
            getattr(act, f"c{i}").copy_(coef[:, i])
        act.w_b.copy_(w_b)
        act.w_s.copy_(w_s)
    x = torch.randn(200, channels) * 2
    # pykan: each channel one input with its own grid; coef (in, out = 1, G + k)
    points = torch.linspace(-2.0, 2.0, grid + 1)[None, :].expand(channels, -1)
    spline = coef2curve(x, extend_grid(points, k_extend=order), coef[:, None, :], order)[:, :, 0]
    theirs = w_b * F.silu(x) + w_s * spline
    assert torch.allclose(act(x), theirs, atol=1e-5)
    assert torch.allclose(act.spline(x), spline, atol=1e-5)


def test_it_starts_as_silu_learns_and_takes_any_shape() -> None:
    act = activations.create("bspline", num_channels=4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    assert torch.allclose(act(x), F.silu(x))
    act(x).sum().backward()
    names = set(dict(act.named_parameters()))
    assert names == {"w_b", "w_s", *(f"c{i}" for i in range(8))}
    assert all(p.grad is not None for p in act.parameters())
    shared = activations.create("bspline", num_channels=4, per_channel=False, grid=3, order=2)
    assert shared.c0.shape == (1,) and shared(x).shape == x.shape
    with pytest.raises(ValueError, match="high > low"):
        BSpline(4, low=1.0, high=1.0)
