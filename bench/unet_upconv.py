"""The Q&A's U-Net question, through the service: is an activation after the up-convolution
worth having? The same U-Net on the generated shapes, ReLU in every slot against ReLU with
nothing after the transposed convolutions (`up*.post` = identity, the paper's layout),
several seeds as one sweep, then the leaderboard with Welch's t-test against ReLU everywhere.

    python -m bench.unet_upconv [--seeds 5] [--epochs 15] [--width 8]

Starts `actlab serve` (the embedded default) in a scratch data directory. Writes
bench/results/unet-upconv.md.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

import torch
from actlab.client import Client

from bench.service import embedded_service, write_results

# ReLU after the up-convolution (every slot), and nothing there (the paper's layout).
PLACEMENTS: list[dict[str, dict[str, str]]] = [{}, {"up*.post": {"name": "identity"}}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.003)
    args = parser.parse_args()
    started = time.perf_counter()
    with embedded_service({}, port=18800) as url:
        lab = Client(url=url)
        # One sweep: the two placements are its two cells.
        sweep = lab.sweep({"name": "unet up-convolution",
                           "activations": [{"name": "relu", "slots": slots}
                                           for slots in PLACEMENTS],
                           "models": [{"name": "unet", "params": {"width": args.width}}],
                           "datasets": [{"name": "shapes"}], "seeds": list(range(args.seeds)),
                           "training": {"epochs": args.epochs, "batch_size": 32,
                                        "lr": args.lr}})
        lab.wait_sweep(sweep["id"], progress=False)
        boards = {metric: lab.request("GET", "/api/v1/leaderboard", params={
            "model": "unet", "dataset": "shapes", "metric": metric, "stat": "best",
            "sweep": sweep["id"],
            "format": "markdown"}).text for metric in ("test_miou", "test_accuracy")}
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}, {time.perf_counter() - started:.0f} s in all: "
             f"`python -m bench.unet_upconv --seeds {args.seeds} --epochs {args.epochs} "
             f"--width {args.width} --lr {args.lr:g}` (U-Net, 2 levels, on `shapes`; each "
             "run's epoch chosen by validation accuracy; Welch's t-test against ReLU in every "
             "slot, Holm-corrected).", ""]
    for metric, board in boards.items():
        lines += [f"{metric}:", "", board.strip(), ""]
    write_results("unet-upconv.md", lines)


if __name__ == "__main__":
    main()
