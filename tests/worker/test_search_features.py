"""The Fisher spectrum feature against a dense eigendecomposition of the P x P empirical
Fisher, on a network small enough to form it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from worker.search.features import (
    BINS,
    fisher_eigenvalues,
    fisher_features,
    per_sample_gradients,
    spectrum_histogram,
    weight_layers,
)


def _small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4)).double()


def _dense_fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str) -> torch.Tensor:
    """(1/N) sum_i g_i g_i^T, each g_i from its own backward pass: no vmap, no Gram trick."""
    param = dict(model.named_parameters())[name]
    rows = []
    for xi, yi in zip(x, y, strict=True):
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi[None]), yi[None]), param)
        rows.append(g.reshape(-1))
    g = torch.stack(rows)
    return g.T @ g / len(g)


def test_the_gram_spectrum_equals_the_dense_fisher_spectrum() -> None:
    model = _small()
    x = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    names = weight_layers(model)
    assert names == ["0.weight", "2.weight"]
    grads = per_sample_gradients(model, x, y, names)
    for name in names:
        dense = _dense_fisher(model, x, y, name)  # P x P: 15 and 20
        assert dense.shape[0] > len(x)
        want = torch.linalg.eigvalsh(dense).flip(0)
        got = fisher_eigenvalues(grads[name])
        # the N largest of the P eigenvalues are the Gram matrix's; the rest are zero
        torch.testing.assert_close(got, want[:len(x)].clamp_min(0.0), atol=1e-12, rtol=1e-9)
        assert want[len(x):].abs().max() < 1e-12


def test_histogram_is_a_fixed_length_distribution() -> None:
    values = torch.tensor([1e-20, 1e-6, 1e-6, 0.5, 2.0, 1e9])
    hist = spectrum_histogram(values)
    assert len(hist) == len(BINS) - 1 and sum(hist) == pytest.approx(1.0)
    assert hist[0] == pytest.approx(1 / 6)  # numerically zero: the first bin
    assert hist[-1] == pytest.approx(1 / 6)  # beyond the last edge: the last bin
    model = _small()
    features = fisher_features(model, torch.randn(6, 3, dtype=torch.float64),
                               torch.tensor([0, 1, 2, 3, 0, 1]))
    assert list(features) == ["0.weight", "2.weight"]
    assert all(len(v) == 16 and sum(v) == pytest.approx(1.0) for v in features.values())


@pytest.mark.parametrize("activation", ["dual_line", "gaaf_relu", "slaf", "pau", "formula"])
def test_fused_activations_give_the_same_per_sample_gradients_under_vmap(
        activation: str) -> None:
    """Inside torch.func the fused Functions step aside for their plain formulas
    (activations.base.under_transforms); the gradients are the fused path's."""
    from worker.training.models import ActFactory, build_model

    params = {"expression": "x * tanh(softplus(a * x))", "parameters": {"a": 1.0}} \
        if activation == "formula" else {}
    torch.manual_seed(0)
    model = build_model("mlp", {"hidden": 8}, (6,), 3, ActFactory(activation, params)).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1])
    names = weight_layers(model)
    grads = per_sample_gradients(model, x, y, names)
    for name in names:
        param = dict(model.named_parameters())[name]
        for i in range(len(x)):
            (g,) = torch.autograd.grad(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), param)
            torch.testing.assert_close(grads[name][i], g.reshape(-1), rtol=1e-7, atol=1e-9)
