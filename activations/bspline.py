"""KAN's edge function as an activation (Liu et al. 2024, "KAN: Kolmogorov-Arnold Networks",
arXiv 2404.19756; reference code `pykan`):

    f(x) = w_b SiLU(x) + w_s sum_i c_i B_i(x)

with B_i the B-splines of order k (pykan's k, the spline's degree) on a uniform grid of G
intervals over [low, high], extended by k knots on each side, so there are G + k of them
(Cox-de Boor recursion, as pykan's `B_batch` computes them). Outside the extended grid every
B_i is 0 and only the SiLU branch is left. Per channel (or one function for the layer): the
coefficients c0..c{G+k-1}, w_b and w_s are learnable and recorded like every learnable
parameter. It starts as SiLU (w_b = w_s = 1, every c_i = 0); pykan starts its coefficients
from noise, which a test of the arithmetic sets by hand (tests/activations/test_bspline.py
holds the basis and the edge function to pykan's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from activations.base import Activation, bcast, make_param
from activations.piecewise import PER_CHANNEL
from activations.recompute import recompute
from activations.registry import ActivationInfo, register
from core.domain.params import ParamInfo

MAX_GRID = 64
MAX_ORDER = 5


def knots(grid: int, order: int, low: float, high: float) -> Tensor:
    """The G + 2k + 1 knots: the grid's G + 1 points and k more on each side, evenly spaced
    (pykan's `extend_grid` of a uniform grid)."""
    step = (high - low) / grid
    return low + step * torch.arange(-order, grid + order + 1, dtype=torch.float64)


def basis(x: Tensor, knot: Tensor, order: int) -> Tensor:
    """B_i(x) for every element of x: x's shape plus a last dimension of len(knot) - 1 -
    order functions (Cox-de Boor; pykan's `B_batch` without its per-input grid axis)."""
    t = knot.to(x.dtype)
    u = x.unsqueeze(-1)
    b = ((u >= t[:-1]) & (u < t[1:])).to(x.dtype)
    for p in range(1, order + 1):
        left = (u - t[:-(p + 1)]) / (t[p:-1] - t[:-(p + 1)]) * b[..., :-1]
        right = (t[p + 1:] - u) / (t[p + 1:] - t[1:-p]) * b[..., 1:]
        b = left + right
    return b


class BSpline(Activation):
    """w_b SiLU(x) + w_s sum_i c_i B_i(x), per channel (dim 1) or one for the layer."""

    def __init__(self, num_channels: int | None, grid: int = 5, order: int = 3,
                 low: float = -1.0, high: float = 1.0, per_channel: bool = True) -> None:
        super().__init__()
        if not high > low:
            raise ValueError(f"the grid's range must have high > low, got [{low}, {high}]")
        self.grid, self.order, self.low, self.high = grid, order, low, high
        self.knot: Tensor
        self.register_buffer("knot", knots(grid, order, low, high).float(), persistent=False)
        self.w_b = make_param(1.0, num_channels, per_channel)
        self.w_s = make_param(1.0, num_channels, per_channel)
        self.count = grid + order
        for i in range(self.count):
            setattr(self, f"c{i}", make_param(0.0, num_channels, per_channel))

    def params(self) -> list[Tensor]:
        return [self.w_b, self.w_s, *(getattr(self, f"c{i}") for i in range(self.count))]

    def spline(self, x: Tensor) -> Tensor:
        """sum_i c_i B_i(x), the coefficients of x's channel."""
        return self._spline(x, self.params()[2:])

    def _spline(self, x: Tensor, coefs: list[Tensor]) -> Tensor:
        b = basis(x, self.knot, self.order)
        coef = torch.stack(coefs, dim=1)  # (P, G + k): one row per channel, or one row
        if coef.shape[0] == 1:
            return b @ coef[0]
        shape = (1, -1) + (1,) * (x.dim() - 2) + (self.count,)
        return (b * coef.reshape(shape)).sum(-1)

    def formula(self, x: Tensor, w_b: Tensor, w_s: Tensor, *coefs: Tensor) -> Tensor:
        return bcast(w_b, x) * F.silu(x) + bcast(w_s, x) * self._spline(x, list(coefs))

    def forward(self, x: Tensor) -> Tensor:
        # The basis is (G + 2k + 1) times the input: recomputed in backward, never saved.
        return recompute(self.formula, x, *self.params())

    def extra_repr(self) -> str:
        return f"grid={self.grid}, order={self.order}, range=[{self.low}, {self.high}]"


def _build(num_channels: int | None, grid: int, order: int, low: float, high: float,
           per_channel: bool) -> BSpline:
    return BSpline(num_channels, grid, order, low, high, per_channel)


register(ActivationInfo(
    name="bspline", builder=_build, family="learnable", per_channel_capable=True,
    aliases=("kan_spline",),
    formula=r"f(x) = w_b\,\mathrm{SiLU}(x) + w_s \sum_{i=0}^{G+k-1} c_i B_i(x)",
    reference="Liu et al. 2024, KAN: Kolmogorov-Arnold Networks (arXiv:2404.19756); pykan",
    notes="B_i: B-splines of order k on G intervals over [low, high], extended by k knots "
          "each side (0 outside); learnable w_b, w_s, c0..c{G+k-1}; starts as SiLU "
          "(c_i = 0, w_b = w_s = 1)",
    params=(ParamInfo("grid", 5, kind="int", min=1, max=MAX_GRID, doc="G, grid intervals"),
            ParamInfo("order", 3, kind="int", min=0, max=MAX_ORDER,
                      doc="k, the spline's degree (pykan's k)"),
            ParamInfo("low", -1.0, doc="the grid's lower end"),
            ParamInfo("high", 1.0, doc="the grid's upper end (above low)"),
            PER_CHANNEL)))
