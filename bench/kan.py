"""A KAN layer's forward + backward time: actlab's (worker/training/kan.py: the edges one
`bspline` activation of n_in x n_out channels) against pykan's `KANLayer` and against a
Linear + ReLU of about the same parameter count, on the same batch.

    python -m bench.kan [--repeats 20] [--batch 256]

Timings are interleaved (reference, candidate, reference, ...) and each figure is the median
over repeats of candidate / mean(neighbouring reference runs), so background load cancels
out; the reference is the Linear + ReLU. Writes bench/results/kan.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import torch
from torch import Tensor, nn

from bench.service import write_results
from worker.training.kan import KANLayer
from worker.training.models import ActFactory

# (n_in, n_out): a digits-sized first layer, a square hidden one, a wide one.
SHAPES = ((64, 16), (32, 32), (128, 64))
GRID, ORDER = 5, 3


def _time(module: nn.Module, x: Tensor) -> float:
    x.grad = None
    for p in module.parameters():
        p.grad = None
    t = time.perf_counter()
    module(x).sum().backward()
    return time.perf_counter() - t


def _ratio(candidate: Callable[[Tensor], Tensor], reference: nn.Module, x: Tensor,
           repeats: int) -> tuple[float, float]:
    """(median of candidate / neighbouring reference, median candidate ms)."""
    wrapped = _Call(candidate)
    for _ in range(3):  # warm-up
        _time(wrapped, x)
        _time(reference, x)
    ratios, times = [], []
    for _ in range(repeats):
        r1 = _time(reference, x)
        t = _time(wrapped, x)
        r2 = _time(reference, x)
        ratios.append(t / ((r1 + r2) / 2))
        times.append(t)
    return statistics.median(ratios), 1000 * statistics.median(times)


class _Call(nn.Module):
    """A callable as a module (a module assigned here is registered, its parameters too)."""

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def _row(n_in: int, n_out: int, batch: int, repeats: int) -> str:
    from kan.KANLayer import KANLayer as PykanLayer

    torch.manual_seed(0)
    ours = KANLayer(n_in, n_out, ActFactory("bspline"), 1,
                    {"grid": GRID, "order": ORDER, "per_channel": True})
    theirs = PykanLayer(n_in, n_out, num=GRID, k=ORDER, save_plot_data=False)
    params = sum(p.numel() for p in ours.parameters())
    # a Linear + ReLU with about as many parameters: n_in -> hidden -> n_out
    hidden = max(1, round(params / (n_in + n_out)))
    mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))
    x = (torch.rand(batch, n_in) * 2.4 - 1.2).requires_grad_()
    ours_ratio, ours_ms = _ratio(ours, mlp, x, repeats)
    theirs_ratio, theirs_ms = _ratio(lambda v: theirs(v)[0], mlp, x, repeats)
    mlp_params = sum(p.numel() for p in mlp.parameters())
    return (f"| {n_in} -> {n_out} | {params} | {mlp_params} | {ours_ms:.2f} | {ours_ratio:.1f} "
            f"| {theirs_ms:.2f} | {theirs_ratio:.1f} | {theirs_ms / ours_ms:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {torch.get_num_threads()} CPU threads, "
             f"torch {torch.__version__}: `python -m bench.kan --repeats {args.repeats} "
             f"--batch {args.batch}` (float32, G {GRID}, k {ORDER}, inputs across the grid; "
             "forward + backward, median of interleaved repeats; the reference is a Linear + "
             "ReLU + Linear of about the KAN layer's parameters).", "",
             "| layer | KAN parameters | MLP parameters | actlab ms | actlab / MLP | pykan ms | "
             "pykan / MLP | pykan / actlab |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [_row(n_in, n_out, args.batch, args.repeats) for n_in, n_out in SHAPES]
    write_results("kan.md", lines)


if __name__ == "__main__":
    main()
