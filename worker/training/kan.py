"""Kolmogorov-Arnold networks (Liu et al. 2024, arXiv 2404.19756): a learnable univariate
function on every edge instead of a fixed activation on every node.

A layer n_in -> n_out computes y_j = sum_i phi_ij(x_i). Its n_in * n_out edge functions are
one activation of the library with n_in * n_out channels (edge (i, j) is channel
i * n_out + j, pykan's coefficient layout): the spec's activation, `bspline` (KAN's
w_b SiLU + w_s spline, with the model's `grid` and `order`) or `pau` (a rational KAN), each
channel its own parameters. So every edge's function is recorded like any per-channel
activation's parameters, and its cost is counted as the activation's. There is no Linear
layer: the parameters of a layer are n_in * n_out * (G + k + 2) with `bspline`, as pykan's
`KANLayer` has (its coefficients, scale_base and scale_sp).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import activations
from activations.bspline import BSpline, basis
from activations.parametric import PAU
from core.domain.params import ParamInfo
from worker.training.models import VECTOR_TASKS, ActFactory, ModelInfo, register_model

# The edge functions a KAN takes: the spec's activation must be one of these.
EDGE_FUNCTIONS = ("bspline", "pau")


class _Basis(nn.Module):
    """The B-spline basis of a layer's inputs (a module of its own, so the memory it keeps is
    counted like any layer output's)."""

    # counted in a run's MACs like an activation's work (activations/cost.py)
    elementwise_work = True

    def __init__(self, knot: Tensor, order: int) -> None:
        super().__init__()
        self.order = order
        self.knot: Tensor
        self.register_buffer("knot", knot.clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return basis(x, self.knot, self.order)


class KANLayer(nn.Module):
    """n_in -> n_out, y_j = sum_i phi_ij(x_i), the phi_ij one activation of n_in * n_out
    channels."""

    def __init__(self, n_in: int, n_out: int, act: ActFactory, block: int,
                 edge_params: dict[str, Any]) -> None:
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        edges = activations.build(act.name, n_in * n_out, {**act.params, **edge_params})
        assert isinstance(edges, activations.Activation)
        edges.block, edges.position, edges.channels = block, 1, n_in * n_out
        self.edges = edges
        self.basis = _Basis(edges.knot, edges.order) if isinstance(edges, BSpline) else None
        _break_symmetry(edges, n_in)

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(self.edges, BSpline) and self.basis is not None \
                and self.edges.w_b.numel() == self.n_in * self.n_out:
            return self._splines(x, self.edges, self.basis(x))
        batch = x.shape[0]
        spread = x.unsqueeze(2).expand(batch, self.n_in, self.n_out)
        out: Tensor = self.edges(spread.reshape(batch, self.n_in * self.n_out))
        return out.reshape(batch, self.n_in, self.n_out).sum(dim=1)

    def _splines(self, x: Tensor, edges: BSpline, b: Tensor) -> Tensor:
        """The same sum as pykan computes it: the basis depends on the input x_i only, not on
        the edge, so it is taken once per input and contracted with every edge's
        coefficients as one matrix product (spreading x over the n_out edges first costs
        n_out times the work: measured 20-170x slower, bench/kan.py)."""
        n_in, n_out = self.n_in, self.n_out
        params = edges.params()
        w_b = params[0].reshape(n_in, n_out)
        w_s = params[1].reshape(n_in, n_out, 1)
        coef = torch.stack(params[2:], dim=1).reshape(n_in, n_out, edges.count) * w_s
        # b: batch x n_in x (G + k)
        spline = b.flatten(1) @ coef.transpose(1, 2).reshape(n_in * edges.count, n_out)
        return F.silu(x) @ w_b + spline


def _break_symmetry(edges: nn.Module, n_in: int, noise: float = 0.5) -> None:
    """Edges that start equal stay equal (every output of a layer the same sum): each edge
    gets a random scale, as pykan draws its scale_base (mu 0, sigma 1: U(-1, 1) / sqrt(n_in)),
    and a bspline edge small random coefficients (pykan fits its spline to noise of
    `noise` / G at the grid points; here the coefficients are drawn at that size). The run's
    seed fixes the draws: the model is built after the RNG is seeded."""
    with torch.no_grad():
        if isinstance(edges, BSpline):  # w_b SiLU + w_s spline
            edges.w_b.copy_((torch.rand_like(edges.w_b) * 2 - 1) / math.sqrt(n_in))
            for coef in edges.params()[2:]:
                coef.copy_((torch.rand_like(coef) - 0.5) * noise / edges.grid)
        elif isinstance(edges, PAU):  # the numerator scaled: each edge a multiple of the fit
            numerator = edges.params()[:6]
            scale = (torch.rand_like(numerator[0]) * 2 - 1) / math.sqrt(n_in)
            for coef in numerator:
                coef.mul_(scale)


class KAN(nn.Module):
    """The flattened input through KAN layers of `widths`, then one to the classes."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 widths: list[int] | None = None, grid: int = 5, order: int = 3) -> None:
        super().__init__()
        if act.name not in EDGE_FUNCTIONS:
            raise ValueError(f"kan's edges are {' or '.join(EDGE_FUNCTIONS)}, not {act.name!r}")
        # every edge its own function; the grid is the model's (pau has none)
        edge_params: dict[str, Any] = {"per_channel": True}
        if act.name == "bspline":
            edge_params |= {"grid": grid, "order": order}
        sizes = [math.prod(input_shape), *(widths or [16]), num_classes]
        self.flatten = nn.Flatten()
        self.layers = nn.ModuleList(
            KANLayer(n_in, n_out, act, block, edge_params)
            for block, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False), start=1))

    def forward(self, x: Tensor) -> Tensor:
        x = self.flatten(x)
        for layer in self.layers:
            x = layer(x)
        return x


def _kan(input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
         widths: list[int], grid: int, order: int) -> KAN:
    return KAN(input_shape, num_classes, act, widths, grid, order)


register_model(ModelInfo(
    name="kan", builder=_kan, input_kinds=("vector", "image", "sequence"), tasks=VECTOR_TASKS,
    description="Kolmogorov-Arnold network: a learnable function on every edge (the spec's "
                "activation: bspline, or pau for a rational KAN), summed at each node",
    reference="Liu et al. 2024, KAN: Kolmogorov-Arnold Networks (arXiv:2404.19756)",
    params=(ParamInfo("widths", [16], kind="ints", min=1, max=4096,
                      doc="hidden widths, one per hidden layer"),
            ParamInfo("grid", 5, kind="int", min=1, max=64,
                      doc="G, grid intervals of each bspline edge"),
            ParamInfo("order", 3, kind="int", min=0, max=5,
                      doc="k, the spline degree of each bspline edge (pykan's k)")),
    activations=EDGE_FUNCTIONS, width_param="widths",
))
