"""torch.autograd.gradcheck in float64 for every activation, input and parameters."""

from __future__ import annotations

import pytest
import torch

import activations

# Piecewise formulas have kinks; keep gradcheck's finite differences (eps 1e-6) away from
# them. Jump/kink locations of every activation at the parameters used below:
KINKS = [0.0, -2.0, 2.0, 1.0, -1.0, 6.0, 0.5, -0.5, 0.4, -3.0, 3.0]
# GAAF's sawtooth jumps every 1/K; with K = 10 the jumps sit at multiples of 0.1.
PARAMS = {"gaaf_relu": {"k": 10.0}, "gaaf_tanh": {"k": 10.0},
          "formula": {"expression": "where(x > c, a * x, softplus(x) * b) + tanh(c * x)",
                      "parameters": {"a": 1.0, "b": 0.5, "c": 0.1}}}


def points(n: int, seed: int, step: float | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64) * 2
    for kink in KINKS:
        near = (x - kink).abs() < 1e-2
        x = torch.where(near, x + 0.05, x)
    if step is not None:  # keep 10 % of a step from the sawtooth's jumps
        frac = torch.remainder(x, step) / step
        x = torch.where((frac < 0.1) | (frac > 0.9), x + 0.5 * step, x)
    return x


@pytest.mark.parametrize("name", activations.names())
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 2, 2)], ids=["2d", "4d"])
def test_gradcheck(name: str, shape: tuple[int, ...]) -> None:
    params = PARAMS.get(name, {})
    module = activations.create(name, num_channels=3, **params).double().eval()
    step = 1 / params["k"] if "k" in params else None
    x = points(int(torch.tensor(shape).prod()), seed=len(name), step=step).reshape(shape)
    x.requires_grad_(True)
    learned = [p for p in module.parameters()]
    with torch.no_grad():  # move parameters off their symmetric inits (e.g. APL's a = 0)
        for i, p in enumerate(learned):
            p.add_(0.05 * (i + 1))


    inputs = (x, *[p.detach().clone().requires_grad_(True) for p in learned])
    assert torch.autograd.gradcheck(lambda *a: _functional(module, learned, *a), inputs,
                                    eps=1e-6, atol=1e-5)


def _functional(module: torch.nn.Module, learned: list[torch.nn.Parameter],
                x: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
    """Call `module` with its parameters replaced by `ps` (so gradcheck can perturb them)."""
    from torch.func import functional_call

    names = [n for n, p in module.named_parameters()]
    return functional_call(module, dict(zip(names, ps, strict=True)), (x,))
