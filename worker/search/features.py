"""Zero-cost features of a candidate activation on a task (Bingham & Miikkulainen 2023): the
spectrum of the empirical Fisher information of the network at initialisation, per weight
layer, on one batch, summarised as a fixed-length vector.

For a layer with parameters theta and per-sample loss gradients g_1..g_N (the rows of G,
N x P), the empirical Fisher is F = G^T G / N (P x P). Its nonzero eigenvalues are those of
the N x N Gram matrix G G^T / N, so the spectrum costs one batch of per-sample gradients
(torch.func: vmap over grad) and an N x N eigendecomposition per layer, never a P x P one.
Each layer's spectrum becomes a histogram of log10 eigenvalues over fixed bins (a share of
the N eigenvalues per bin), so every candidate of a task has a vector of the same length.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BATCH = 64  # examples in the batch the spectrum is measured on
BINS = torch.linspace(-12.0, 4.0, 17)  # log10 eigenvalue bin edges: 16 bins
FLOOR = 1e-12  # eigenvalues below this (numerically zero) land in the first bin


def weight_layers(model: nn.Module) -> list[str]:
    """The names of the weights of every convolution and linear layer, in order."""
    return [f"{path}.weight" if path else "weight" for path, m in model.named_modules()
            if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d
                          | nn.ConvTranspose1d | nn.ConvTranspose2d)]


def per_sample_gradients(model: nn.Module, x: Tensor, y: Tensor,
                         names: list[str]) -> dict[str, Tensor]:
    """name -> N x P matrix of the per-sample gradients of the cross-entropy loss."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(chosen: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
        out = torch.func.functional_call(model, ({**params, **chosen}, buffers),
                                         (xi.unsqueeze(0),))
        return F.cross_entropy(out, yi.unsqueeze(0))

    grad: Callable[..., dict[str, Tensor]] = torch.func.grad(loss)
    chosen = {n: params[n] for n in names}
    grads = torch.func.vmap(grad, in_dims=(None, 0, 0))(chosen, x, y)
    return {n: g.reshape(len(x), -1) for n, g in grads.items()}


def fisher_eigenvalues(gradients: Tensor) -> Tensor:
    """The nonzero spectrum of the empirical Fisher G^T G / N, from the Gram matrix G G^T / N
    (N x N, float64), largest first; numerically zero eigenvalues are clipped to 0."""
    g = gradients.double()
    gram = g @ g.T / len(g)
    values: Tensor = torch.linalg.eigvalsh(gram).flip(0)
    return values.clamp_min(0.0)


def spectrum_histogram(eigenvalues: Tensor) -> list[float]:
    """Share of the eigenvalues in each log10 bin of BINS (below FLOOR: the first bin)."""
    logs = eigenvalues.clamp_min(FLOOR).log10().float()
    logs = logs.clamp(float(BINS[0]), float(BINS[-1]) - 1e-6)
    counts = torch.histc(logs, bins=len(BINS) - 1, min=float(BINS[0]), max=float(BINS[-1]))
    return (counts / len(eigenvalues)).tolist()


def fisher_features(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, list[float]]:
    """Per weight layer, the histogram of the empirical Fisher's log spectrum at the model's
    current (initial) weights on the batch (x, y)."""
    was_training = model.training
    model.eval()  # no dropout; batch-norm uses its (initial) running statistics
    try:
        names = weight_layers(model)
        grads = per_sample_gradients(model, x, y, names)
    finally:
        model.train(was_training)
    return {n: spectrum_histogram(fisher_eigenvalues(grads[n])) for n in names}
