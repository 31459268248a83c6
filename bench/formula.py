"""Formula activations against the built-ins they spell: forward + backward time, same run.

    python -m bench.formula [--device cpu|cuda] [--repeats 15]

Each pair is timed interleaved (built-in, formula, built-in, formula, ...) on input
(128, 64, 28, 28) float32 with per-channel parameters; the ratio is the median over repeats
of formula / mean(neighbouring built-in), so background load cancels out. Also reports the
bytes each saves for backward. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import torch

import activations
from bench.activations import SHAPE, fwd_bwd, saved_bytes

# (built-in, its params, the same function as a formula, the formula's parameters)
PAIRS: list[tuple[str, dict[str, Any], str, dict[str, float]]] = [
    ("swish", {}, "x * sigmoid(beta * x)", {"beta": 1.0}),
    ("prelu", {}, "where(x > 0, x, a * x)", {"a": 0.25}),
    ("dp_relu", {}, "where(x >= 0, a * x, b * x)", {"a": 1.0, "b": 0.01}),
    ("mish", {}, "x * tanh(softplus(x))", {}),
    ("elu", {}, "where(x > 0, x, exp(x) - 1)", {}),
]


def ratio(builtin: torch.nn.Module, mine: torch.nn.Module, x: torch.Tensor, g: torch.Tensor,
          device: torch.device, repeats: int) -> tuple[float, float, float]:
    for _ in range(3):  # warm-up
        fwd_bwd(builtin, x, g, device)
        fwd_bwd(mine, x, g, device)
    times_b = [fwd_bwd(builtin, x, g, device)]
    ratios = []
    for _ in range(repeats):
        t_mine = fwd_bwd(mine, x, g, device)
        times_b.append(fwd_bwd(builtin, x, g, device))
        ratios.append(t_mine / statistics.mean(times_b[-2:]))
    return statistics.median(ratios), statistics.median(times_b) * 1e3, \
        statistics.median(ratios) * statistics.median(times_b) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    x = torch.randn(*SHAPE, device=device, requires_grad=True)
    g = torch.randn(*SHAPE, device=device)
    print(f"device {device}, input {tuple(SHAPE)}, threads {torch.get_num_threads()}\n")
    print("| formula | built-in | built-in ms | formula ms | formula / built-in "
          "| saved MB (built-in / formula) |")
    print("|---|---|---|---|---|---|")
    for name, params, expression, declared in PAIRS:
        builtin = activations.create(name, num_channels=SHAPE[1], **params).to(device)
        mine = activations.create("formula", num_channels=SHAPE[1], expression=expression,
                                  parameters=declared).to(device)
        r, ms_b, ms_f = ratio(builtin, mine, x, g, device, args.repeats)
        saved = (saved_bytes(builtin, x) / 2**20, saved_bytes(mine, x) / 2**20)
        print(f"| `{expression}` | {name} | {ms_b:.1f} | {ms_f:.1f} | {r:.2f}x "
              f"| {saved[0]:.0f} / {saved[1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
