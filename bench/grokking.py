"""Grokking (Power et al. 2022) through the service: a small `gpt` on `modular` (p = 97,
addition, half of all equations for training, AdamW with weight decay 1), and per FFN
activation the epochs until the training accuracy reaches 0.99 (it fits) and until the
validation accuracy does (it groks), as two time-to-target boards: Kaplan-Meier medians with
runs that never reach the target kept as censored, the log-rank test against ReLU.

    python -m bench.grokking [--seeds 3] [--epochs 200] [--operation add]

Starts `actlab serve` (the embedded default) in a scratch data directory. Writes
bench/results/grokking.md.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from typing import Any

import torch

from bench.glu_variants import VARIANTS, _label
from bench.service import embedded_service, write_results
from cli.client import Client

KEPT = ("ReLU", "GELU", "ReLU²", "SwiGLU")
MODEL = {"name": "gpt", "params": {"n_layer": 2, "n_head": 4, "d_model": 128, "d_ff": 512,
                                   "context": 4}}
TARGET = 0.99


def _medians(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["label"]: e for e in board["entries"]}


def _epochs(entry: dict[str, Any] | None) -> str:
    if entry is None or entry["median_epochs"] is None:
        return "not reached"
    low, high = entry["median_epochs_low"], entry["median_epochs_high"]
    interval = f" [{low:g}, {'∞' if high is None else f'{high:g}'}]" if low is not None else ""
    return f"{entry['median_epochs']:g}{interval}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--operation", default="add", choices=["add", "sub", "div"])
    args = parser.parse_args()
    dataset = {"name": "modular", "params": {"p": 97, "operation": args.operation,
                                             "train_fraction": 0.5}}
    started = time.monotonic()
    with embedded_service({}, port=19100) as url:
        lab = Client(url=url)
        sweep = lab.sweep({"name": "grokking", "activations": [VARIANTS[k] for k in KEPT],
                           "models": [MODEL], "datasets": [dataset],
                           "seeds": list(range(args.seeds)),
                           "training": {"epochs": args.epochs, "batch_size": 512,
                                        "optimizer": "adamw", "lr": 1e-3,
                                        "weight_decay": 1.0}})
        lab.wait_sweep(sweep["id"], progress=False)
        query = {"model": "gpt", "dataset": "modular", "sweep": sweep["id"]}
        fits = _medians(lab.leaderboard(target=f"train_accuracy>={TARGET}", **query))
        groks = lab.leaderboard(target=f"val_accuracy>={TARGET}", **query)
        final = _medians(lab.leaderboard(metric="test_accuracy", **query))
    minutes = (time.monotonic() - started) / 60
    names = {_label(spec): paper for paper, spec in VARIANTS.items()}
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}, {minutes:.0f} min: `python -m bench.grokking --seeds "
             f"{args.seeds} --epochs {args.epochs} --operation {args.operation}` (gpt 2 x 128, "
             f"4 heads, d_ff 512; modular p = 97, {args.operation}, train fraction 0.5; batch "
             "512, AdamW lr 1e-3, weight decay 1; SwiGLU at d_ff x 2/3). Epochs are Kaplan-Meier "
             "medians with their 95 % interval; a run that never reaches the target is "
             "censored at its last epoch; p is the log-rank test against ReLU, Holm-corrected.",
             "", f"| rank | FFN | epochs to train acc ≥ {TARGET} | epochs to val acc ≥ "
             f"{TARGET} | reached | p (Holm) | test accuracy (mean ± std) |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for e in groks["entries"]:
        p = "" if e["p_holm"] is None else f"{e['p_holm']:.3g}"
        done = final.get(e["label"])
        accuracy = "" if done is None else f"{done['mean']:.4f} ± {done['std'] or 0:.4f}"
        lines.append(f"| {e['rank']:g} | {names.get(e['label'], e['label'])} | "
                     f"{_epochs(fits.get(e['label']))} | {_epochs(e)} | "
                     f"{e['target_reached']}/{e['target_runs']} | {p} | {accuracy} |")
    write_results("grokking.md", lines)


if __name__ == "__main__":
    main()
