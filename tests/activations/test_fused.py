"""The memory-lean paths (fused CPU kernels, recompute) equal the plain formulas, forward and
backward, and keep only the input (plus O(C)) for backward."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import activations
from activations import native
from activations.fused import KINDS
from activations.gaaf import gaaf, gaaf_reference
from activations.piecewise import two_slope, two_slope_reference
from activations.recompute import Elementwise
from activations.slaf import poly_reference, polynomial


def test_kernels_are_built_here() -> None:
    # The suite must exercise the fused path, not silently fall back.
    assert native.library() is not None


def _compare(fast: object, slow: object, inputs: list[torch.Tensor], rtol: float,
             atol: float) -> None:
    y1 = fast(*inputs)  # type: ignore[operator]
    y2 = slow(*inputs)  # type: ignore[operator]
    torch.testing.assert_close(y1, y2, rtol=rtol, atol=atol)
    g = torch.randn_like(y1)
    wanted = [t for t in inputs if t.requires_grad]
    for a, b in zip(torch.autograd.grad(y1, wanted, g), torch.autograd.grad(y2, wanted, g),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol * max(1, a.numel() ** 0.5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(64, 8), (4, 8, 5, 7), (3, 8, 40), (1000,)])
@pytest.mark.parametrize("channels", ["per_channel", "scalar"])
def test_two_slope_fused_equals_formula(dtype: torch.dtype, shape: tuple[int, ...],
                                        channels: str) -> None:
    torch.manual_seed(0)
    c = 8 if channels == "per_channel" and len(shape) > 1 else 1
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    a, b, m = (torch.randn(c, dtype=dtype, requires_grad=True) for _ in range(3))
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for args in ([x, a, b, m], [x, None, b, None]):
        _compare(lambda *t, args=args: two_slope(*_fill(args, t)),
                 lambda *t, args=args: two_slope_reference(*_fill(args, t)),
                 [t for t in args if t is not None], tol, tol)


def _fill(template: list[torch.Tensor | None], given: tuple[torch.Tensor, ...]) -> list:
    it = iter(given)
    return [None if t is None else next(it) for t in template]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("degree", [1, 3, 4, 8])
@pytest.mark.parametrize("shape", [(64, 6), (2, 6, 30, 30)])
def test_polynomial_fused_equals_formula(dtype: torch.dtype, degree: int,
                                         shape: tuple[int, ...]) -> None:
    torch.manual_seed(degree)
    x = (torch.rand(shape, dtype=dtype) * 2 - 1).requires_grad_(True)
    coef = (torch.randn(6, degree + 1, dtype=dtype) * 0.5).requires_grad_(True)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    _compare(polynomial, poly_reference, [x, coef], tol, tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("base", ["relu", "tanh"])
@pytest.mark.parametrize("variant", ["floor", "round"])
def test_gaaf_fused_equals_formula(dtype: torch.dtype, base: str, variant: str) -> None:
    torch.manual_seed(1)
    x = (torch.randn(4099, dtype=dtype) * 4).requires_grad_(True)  # odd size: vector tail too
    tol = 2e-6 if dtype == torch.float32 else 1e-12
    _compare(lambda t: gaaf(t, base, 1e4, 4.0, variant),
             lambda t: gaaf_reference(t, base, 1e4, 4.0, variant), [x], tol, tol)


def test_gaaf_propagates_nan() -> None:
    x = torch.tensor([float("nan"), 1.0] * 9)
    assert torch.isnan(gaaf(x)[0::2]).all() and torch.isfinite(gaaf(x)[1::2]).all()


@pytest.mark.parametrize("name", [n for n in activations.names()
                                  if isinstance(activations.create(n, num_channels=4),
                                                Elementwise)])
def test_recompute_equals_plain_autograd(name: str) -> None:
    torch.manual_seed(0)
    module = activations.create(name, num_channels=4).double()
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            p.add_(0.1 * (i + 1))
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    params = list(module.parameters())
    y1, y2 = module(x), module.reference(x)  # type: ignore[operator]
    torch.testing.assert_close(y1, y2)
    g = torch.randn_like(y1)
    for a, b in zip(torch.autograd.grad(y1, [x, *params], g),
                    torch.autograd.grad(y2, [x, *params], g), strict=True):
        torch.testing.assert_close(a, b)


def saved_bytes(module: torch.nn.Module, x: torch.Tensor) -> int:
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(storages.values())


@pytest.mark.parametrize("name", [n for n in activations.names()
                                  if activations.get_info(n).learnable])
def test_learnable_activations_save_only_the_input_and_o_c(name: str) -> None:
    channels = 16
    module = activations.create(name, num_channels=channels)
    x = torch.randn(8, channels, 12, 12, requires_grad=True)
    limit = x.numel() * x.element_size() + 64 * channels * 4 + 4096
    assert saved_bytes(module, x) <= limit


def test_plain_path_without_kernels_gives_the_same_results(tmp_path: object) -> None:
    code = """
import torch, activations
from activations import native
assert native.library() is None
torch.manual_seed(0)
x = torch.randn(4, 8, 6, 6, requires_grad=True)
out = []
for name in ["dual_line", "prelu", "slaf", "gaaf_relu", "gaaf_tanh"]:
    m = activations.create(name, num_channels=8)
    y = m(x); y.sum().backward()
    out.append((y.sum().item(), x.grad.sum().item())); x.grad = None
print(out)
"""
    env = {**os.environ, "ACTLAB_NATIVE_KERNELS": "0"}
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True)
    assert plain.returncode == 0, plain.stderr
    fused = subprocess.run([sys.executable, "-c", code.replace("is None", "is not None")],
                           capture_output=True, text=True)
    assert fused.returncode == 0, fused.stderr
    for (y1, g1), (y2, g2) in zip(eval(plain.stdout), eval(fused.stdout), strict=True):
        assert y1 == pytest.approx(y2, rel=1e-4, abs=1e-3)
        assert g1 == pytest.approx(g2, rel=1e-4, abs=1e-3)


def _inputs() -> torch.Tensor:
    """Typical values, both tails far out, and a fine grid around 0 (where e^x - 1 and
    x - tanh(x) cancel), in an odd count so the kernel's partial last vector is used."""
    torch.manual_seed(0)
    return torch.cat([torch.randn(2001) * 3, torch.linspace(-40, 40, 401),
                      torch.linspace(-1e-3, 1e-3, 101)]).reshape(1, 1, -1)


@pytest.mark.parametrize("name", KINDS)
def test_stateless_kernel_equals_its_formula(name: str) -> None:
    fn = activations.get_info(name).functional
    params = {"sine_relu": {"epsilon": 0.3}, "mila": {"beta": 0.5}}.get(name, {})
    x = _inputs().requires_grad_(True)
    y = fn(x, **params)
    assert type(y.grad_fn).__name__ == "_FusedBackward"  # the kernel ran, not the formula
    _compare(lambda t: fn(t, **params), lambda t: fn.formula(t, **params), [x],
             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", KINDS)
def test_stateless_kernel_propagates_nan_and_keeps_only_the_input(name: str) -> None:
    fn = activations.get_info(name).functional
    x = torch.tensor([float("nan"), 0.5] * 9, requires_grad=True)
    y = fn(x)
    assert torch.isnan(y[0::2]).all() and torch.isfinite(y[1::2]).all()
    module = activations.create(name, num_channels=8)
    big = torch.randn(4, 8, 6, 6, requires_grad=True)
    assert saved_bytes(module, big) == big.numel() * big.element_size()


def test_stateless_kernels_leave_other_tensors_to_the_formula() -> None:
    fn = activations.get_info("mish").functional
    for x in (torch.randn(4, 8, 5, 5, dtype=torch.float64, requires_grad=True),  # gradcheck
              torch.randn(4, 8, 5, 5).to(memory_format=torch.channels_last).requires_grad_()):
        assert type(fn(x).grad_fn).__name__ != "_FusedBackward"
        torch.testing.assert_close(fn(x), fn.formula(x))
    assert torch.autograd.gradcheck(fn, (torch.randn(3, 4, dtype=torch.float64,
                                                     requires_grad=True),))


@pytest.mark.parametrize("name", ["swish", "pelu", "soft_exponential", "srelu", "apl", "pau",
                                  "slope_shift", "flexible_relu"])
@pytest.mark.parametrize(("shape", "per_channel"), [
    *[(shape, pc) for shape in [(4, 8, 5, 7), (16, 8), (3, 8, 40)] for pc in (True, False)],
    ((37,), False)])  # a 1-D input has no channel dim
def test_learnable_kernel_equals_its_formula(name: str, shape: tuple[int, ...],
                                             per_channel: bool) -> None:
    """Forward, input gradient and every parameter's gradient, in the plane layout, the
    (N, C) layout (lanes across channels, C not a multiple of the vector width) and 1-D."""
    torch.manual_seed(0)
    extra = {"hinges": 3} if name == "apl" else {}
    module = activations.create(name, num_channels=shape[1] if len(shape) > 1 else None,
                                per_channel=per_channel, **extra)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
        if name == "soft_exponential":  # every branch: alpha < 0, = 0 and > 0
            alpha = next(module.parameters())
            alpha.copy_(torch.linspace(-0.5, 0.5, alpha.numel()) if per_channel
                        else torch.tensor([-0.3]))
    x = (2 * torch.randn(shape)).requires_grad_(True)
    params = list(module.parameters())
    fast = module(x)
    assert type(fast.grad_fn).__name__ == "_FusedLearnableBackward"
    slow = module.reference(x) if hasattr(module, "reference") else \
        module._formula(x, module.a, module.m)  # type: ignore[operator]
    scale = 1 + slow.abs().max().item()
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6 * scale)
    g = torch.randn_like(fast)
    for a, b in zip(torch.autograd.grad(fast, [x, *params], g),
                    torch.autograd.grad(slow, [x, *params], g), strict=True):
        torch.testing.assert_close(a, b, rtol=5e-5, atol=1e-6 * (1 + b.abs().max().item()))


def test_rrelu_kernel_draws_seeded_slopes_and_recomputes_them_in_backward() -> None:
    module = activations.create("rrelu", lower=0.1, upper=0.3)  # training mode
    x = torch.randn(64, 8, 33)
    torch.manual_seed(3)
    xa = x.clone().requires_grad_(True)
    y = module(xa)
    assert type(y.grad_fn).__name__ == "_RReLUBackward"
    y.backward(torch.ones_like(y))
    torch.manual_seed(3)
    assert torch.equal(module(x), y.detach())  # the same generator state, the same slopes
    neg = x < 0
    slopes = y.detach()[neg] / x[neg]
    assert 0.1 <= slopes.min() and slopes.max() < 0.3 and len(slopes.unique()) > 0.99 * len(slopes)
    assert abs(slopes.mean().item() - 0.2) < 0.005  # uniform on [0.1, 0.3): mean 0.2
    assert xa.grad is not None
    torch.testing.assert_close(xa.grad[neg], slopes)
    assert (xa.grad[~neg] == 1).all() and torch.equal(y.detach()[~neg], x[~neg])
    assert saved_bytes(module, x.requires_grad_(True)) == x.numel() * x.element_size()
    module.eval()  # the mean slope, as PyTorch's
    torch.testing.assert_close(module(x), torch.nn.functional.leaky_relu(x, 0.2))


def test_inverse_relu_kernel_equals_concatenation() -> None:
    torch.manual_seed(0)
    module = activations.create("inverse", num_channels=8)
    x = torch.randn(4, 8, 5, 7)
    x[0, 0, 0, 0] = float("nan")
    fast_x, slow_x = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    fast = module(fast_x)
    slow = torch.cat([torch.relu(slow_x), torch.relu(-slow_x)], dim=1)
    assert type(fast.grad_fn).__name__ == "_InverseReLUBackward"
    torch.testing.assert_close(fast, slow, equal_nan=True)
    g = torch.randn_like(fast)
    fast.backward(g)
    slow.backward(g)
    torch.testing.assert_close(fast_x.grad, slow_x.grad, equal_nan=True)


# The ends of the float range: both tails far out, past where float32's e^x overflows or
# underflows (|x| > 88), past Cephes' sin/cos reduction (8192), and the non-finite values.
EXTREMES = [-3e38, -1e30, -1e10, -1e4, -100.0, -89.0, -88.0, -50.0, -0.5, 0.5, 50.0, 88.0,
            89.0, 100.0, 1e4, 1e10, 1e30, 3e38]
NON_FINITE = [float("-inf"), float("inf"), float("nan")]


def _extreme_inputs() -> torch.Tensor:
    # an odd count, so the kernel's partial last vector holds some of them
    return torch.tensor(EXTREMES + NON_FINITE).reshape(1, 1, -1)


def _hold_at_extremes(fast: object, slow: object) -> None:
    """Forward equal everywhere, +-inf and NaN included (NaN where the formula gives NaN);
    the input gradient equal at every finite input; NaN in gives NaN out, forward and
    backward. Gradients at +-inf are not compared: an infinite pre-activation has already
    made the loss non-finite, and PyTorch's own autograd answers NaN (0 * inf) for some
    formulas there where the kernel gives the limit."""
    x1, x2 = _extreme_inputs().requires_grad_(True), _extreme_inputs().requires_grad_(True)
    y1, y2 = fast(x1), slow(x2)  # type: ignore[operator]
    assert type(y1.grad_fn).__name__.startswith("_Fused")  # the kernel ran
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-6, equal_nan=True)
    (g1,) = torch.autograd.grad(y1, x1, torch.ones_like(y1))
    (g2,) = torch.autograd.grad(y2, x2, torch.ones_like(y2))
    finite = torch.isfinite(x1.detach())
    torch.testing.assert_close(g1[finite], g2[finite], rtol=1e-5, atol=1e-6, equal_nan=True)
    nan = torch.isnan(x1.detach())
    assert torch.isnan(y1[nan]).all() and torch.isnan(g1[nan]).all()


@pytest.mark.parametrize("name", KINDS)
def test_stateless_kernel_equals_its_formula_at_the_ends_of_the_float_range(name: str) -> None:
    fn = activations.get_info(name).functional
    params = {"sine_relu": {"epsilon": 0.3}, "mila": {"beta": 0.5}}.get(name, {})
    _hold_at_extremes(lambda t: fn(t, **params), lambda t: fn.formula(t, **params))


@pytest.mark.parametrize(("name", "value"), [
    ("swish", None), ("pelu", None), ("srelu", None), ("apl", None), ("pau", None),
    ("slope_shift", None), ("flexible_relu", None), ("soft_exponential", -0.3),
    ("soft_exponential", 0.0), ("soft_exponential", 0.3)])
def test_learnable_kernel_equals_its_formula_at_the_ends_of_the_float_range(
        name: str, value: float | None) -> None:
    torch.manual_seed(0)
    module = activations.create(name, num_channels=1, per_channel=False,
                                **({"hinges": 3} if name == "apl" else {}))
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
        if value is not None:  # each of soft_exponential's branches
            next(module.parameters()).fill_(value)
    slow = module.reference if hasattr(module, "reference") else \
        lambda t: module._formula(t, module.a, module.m)  # type: ignore[operator]
    _hold_at_extremes(module, slow)
