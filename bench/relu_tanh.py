"""The shape of Krizhevsky et al.'s claim (ReLU reaches 25 % training error six times sooner
than tanh), through the service: ReLU and tanh, same recipe, several seeds, then the
leaderboard ranked by epochs to the target with censored runs and the log-rank test.

    python -m bench.relu_tanh [--model lenet5] [--dataset digits] [--seeds 5] [--epochs 30]
                              [--target train_error<=0.25]

Starts `actlab serve` (the embedded default) in a scratch data directory. Writes
bench/results/relu-tanh-MODEL.md.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

import torch
from actlab.client import Client

from bench.service import embedded_service, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--target", default="train_error<=0.25")
    args = parser.parse_args()
    with embedded_service({}, port=18700) as url:
        lab = Client(url=url)
        for activation in ("relu", "tanh"):
            lab.submit({"activation": {"name": activation},
                        "model": {"name": args.model}, "dataset": {"name": args.dataset},
                        "seeds": list(range(args.seeds)),
                        "training": {"epochs": args.epochs, "lr": args.lr,
                                     "optimizer": args.optimizer}}).wait(progress=False)
        board = lab.leaderboard(model=args.model, dataset=args.dataset, target=args.target)
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}: `python -m bench.relu_tanh --model {args.model} --dataset "
             f"{args.dataset} --seeds {args.seeds} --epochs {args.epochs} --lr {args.lr:g} "
             f"--optimizer {args.optimizer} --target '{args.target}'` (Kaplan-Meier medians "
             "with 95 % intervals; runs that never reach the target are censored).", "",
             "| activation | reached | epochs per seed (- never) | median epochs [95 %] | "
             "median seconds | log-rank p |", "|---|---:|---|---:|---:|---:|"]

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    medians = {}
    for e in board["entries"]:
        medians[e["label"]] = e["median_epochs"]
        per_seed = ", ".join(fmt(v) for v in e["target_epochs"].values())
        p = "" if e["p_value"] is None else f"{e['p_value']:.3g}"
        lines.append(f"| {e['label']} | {e['target_reached']}/{e['target_runs']} | "
                     f"{per_seed} | {fmt(e['median_epochs'])} [{fmt(e['median_epochs_low'])}, "
                     f"{fmt(e['median_epochs_high'])}] | {fmt(e['median_seconds'])} | {p} |")
    if medians.get("relu") and medians.get("tanh"):
        lines += ["", f"tanh / relu, median epochs to {args.target}: "
                      f"{medians['tanh'] / medians['relu']:.2f}"]
    write_results(f"relu-tanh-{args.model}.md", lines)


if __name__ == "__main__":
    main()
