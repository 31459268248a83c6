"""Grokking (Power et al. 2022) through the service: a small `gpt` on `modular` (p = 97,
addition, half of all equations for training, AdamW with weight decay 1), and per FFN
activation the epochs until the training accuracy reaches 0.99 (it fits) and until the
validation accuracy does (it groks), as two time-to-target boards: Kaplan-Meier medians with
runs that never reach the target kept as censored, the log-rank test against ReLU.

    python -m bench.grokking [--seeds 3] [--epochs 200] [--operation add] [--recipe power]

`--recipe power` trains with Power et al.'s optimiser settings (AdamW betas 0.9 and 0.98, 10
warm-up steps, weight decay on every weight, as Nanda et al. too) in place of the service's
defaults (betas 0.9 and 0.999, no warm-up, norms, embeddings and biases exempt), at the same
data fraction, so the two tables compare. Both report how many runs still generalise at the
last epoch. Starts `actlab serve` (the embedded default) in a scratch data directory. Writes
bench/results/grokking.md (grokking_power.md with the published recipe).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from typing import Any

import torch
from actlab.client import Client

from bench.glu_variants import VARIANTS, _label
from bench.service import embedded_service, write_results

KEPT = ("ReLU", "GELU", "ReLU²", "SwiGLU")
MODEL = {"name": "gpt", "params": {"n_layer": 2, "n_head": 4, "d_model": 128, "d_ff": 512,
                                   "context": 4}}
TARGET = 0.99
RECIPES = {  # training settings beyond the shared ones
    "service": {},
    "power": {"betas": [0.9, 0.98], "warmup_steps": 10, "decay_all": True},
}


def _medians(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["label"]: e for e in board["entries"]}


def _epochs(entry: dict[str, Any] | None) -> str:
    if entry is None or entry["median_epochs"] is None:
        return "not reached"
    low, high = entry["median_epochs_low"], entry["median_epochs_high"]
    return f"{entry['median_epochs']:g} [{'-' if low is None else f'{low:g}'}, " \
           f"{'-' if high is None else f'{high:g}'}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--operation", default="add", choices=["add", "sub", "div"])
    parser.add_argument("--recipe", default="service", choices=sorted(RECIPES))
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
                                        "weight_decay": 1.0, **RECIPES[args.recipe]}})
        lab.wait_sweep(sweep["id"], progress=False)
        query = {"model": "gpt", "dataset": "modular", "sweep": sweep["id"]}
        fits = _medians(lab.leaderboard(target=f"train_accuracy>={TARGET}", **query))
        groks = lab.leaderboard(target=f"val_accuracy>={TARGET}", **query)
        final = _medians(lab.leaderboard(metric="test_accuracy", **query))
        kept = {e["label"]: _still_general(lab, e["experiment_ids"]) for e in groks["entries"]}
    minutes = (time.monotonic() - started) / 60
    names = {_label(spec): paper for paper, spec in VARIANTS.items()}
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}, {minutes:.0f} min: `python -m bench.grokking --seeds "
             f"{args.seeds} --epochs {args.epochs} --operation {args.operation} --recipe "
             f"{args.recipe}` (gpt 2 x 128, 4 heads, d_ff 512; modular p = 97, "
             f"{args.operation}, train fraction 0.5; batch 512, AdamW lr 1e-3, weight decay 1"
             f"{RECIPE_TEXT[args.recipe]}; SwiGLU at d_ff x 2/3). Epochs are Kaplan-Meier "
             "medians with their 95 % interval (a bound the runs cannot close: -); a run that "
             "never reaches the target is censored at its last epoch; p is the log-rank test "
             "against ReLU (exact below 10 runs), Holm-corrected. 'At the end': runs whose "
             f"last-epoch validation accuracy is still ≥ {TARGET}.",
             "", f"| rank | FFN | epochs to train acc ≥ {TARGET} | epochs to val acc ≥ "
             f"{TARGET} | reached | at the end | p (Holm) | test accuracy (mean ± std) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for e in groks["entries"]:
        p = "" if e["p_holm"] is None else f"{e['p_holm']:.3g}"
        done = final.get(e["label"])
        accuracy = "" if done is None else f"{done['mean']:.4f} ± {done['std'] or 0:.4f}"
        lines.append(f"| {e['rank']:g} | {names.get(e['label'], e['label'])} | "
                     f"{_epochs(fits.get(e['label']))} | {_epochs(e)} | "
                     f"{e['target_reached']}/{e['target_runs']} | {kept[e['label']]} | {p} | "
                     f"{accuracy} |")
    write_results("grokking.md" if args.recipe == "service" else f"grokking_{args.recipe}.md",
                  lines)


RECIPE_TEXT = {"service": " (betas 0.9, 0.999; no warm-up; norms, embeddings and biases "
                          "exempt from decay)",
               "power": ", betas 0.9, 0.98, 10 warm-up steps, decay on every weight"}


def _still_general(lab: Client, experiment_ids: list[str]) -> str:
    """Runs whose last epoch's validation accuracy is still at the target, of all."""
    runs = [r for i in experiment_ids for r in lab.experiment(i)["runs"]]
    at_end = [(r.get("final_metrics") or {}).get("val_accuracy") for r in runs]
    return f"{sum(v is not None and v >= TARGET for v in at_end)}/{len(runs)}"


if __name__ == "__main__":
    main()
