"""PReLU, DP ReLU and Dual Line: hand-computed values, gradients, per-channel shapes."""

from __future__ import annotations

import pytest
import torch

import activations
from activations.piecewise import two_slope, two_slope_reference


def test_dual_line_at_hand_computed_points() -> None:
    act = activations.create("dual_line", per_channel=False)  # a=1, b=0.01, m=-0.22
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0])
    expected = torch.tensor([-0.02 - 0.22, -0.005 - 0.22, -0.22, 0.5 - 0.22, 3.0 - 0.22])
    torch.testing.assert_close(act(x.reshape(1, -1)).reshape(-1), expected)


def test_dp_relu_non_default_slopes() -> None:
    act = activations.create("dp_relu", a=2.0, b=0.5, per_channel=False)
    x = torch.tensor([[-4.0, 0.0, 3.0]])
    torch.testing.assert_close(act(x), torch.tensor([[-2.0, 0.0, 6.0]]))


def test_prelu_matches_torch() -> None:
    ours = activations.create("prelu", num_channels=3, init=0.2)
    x = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(ours(x), torch.nn.functional.prelu(x, torch.full((3,), 0.2)))


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 4)])
@pytest.mark.parametrize("which", ["a", "b", "m", "none"])
def test_gradcheck_and_equal_to_the_plain_formula(shape: tuple[int, ...], which: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    a = torch.rand(3, dtype=torch.float64, requires_grad=True) + 0.5
    b = torch.rand(3, dtype=torch.float64, requires_grad=True) * 0.1
    m = torch.randn(3, dtype=torch.float64, requires_grad=True)
    args = (x, None if which == "a" else a, b, None if which == "m" else m)
    assert torch.autograd.gradcheck(two_slope, args)
    y1 = two_slope(*args)
    y2 = two_slope_reference(*args)
    torch.testing.assert_close(y1, y2)
    g = torch.randn_like(y1)
    inputs = [t for t in args if t is not None]
    torch.testing.assert_close(torch.autograd.grad(y1, inputs, g),
                               torch.autograd.grad(y2, inputs, g))


def test_per_channel_parameters_get_gradients() -> None:
    act = activations.create("dual_line", num_channels=4)
    assert act.a.shape == (4,) and act.b.shape == (4,) and act.m.shape == (4,)
    act(torch.randn(2, 4, 3, 3)).sum().backward()
    assert all(p.grad is not None and p.grad.shape == (4,) for p in act.parameters())


def test_channel_mismatch_and_unknown_names_are_clear() -> None:
    act = activations.create("dual_line", num_channels=4)
    with pytest.raises(ValueError, match="4 channels but the input has 3"):
        act(torch.randn(2, 3))
    with pytest.raises(ValueError, match="unknown activation 'dual_lin'; valid names: .*dual_line"):
        activations.create("dual_lin")
    with pytest.raises(ValueError, match="unknown parameter.*valid parameters: a, b, m"):
        activations.create("dual_line", slope=1.0)
    with pytest.raises(ValueError, match="per_channel=True needs num_channels"):
        activations.create("dual_line")
