"""Fixed learning rate against an equal tuning budget, through the service: at least ten
activations against ReLU on `mnist1d` and on `digits`, once all at the spec's single lr and
once as a tuned sweep (every activation, ReLU too, gets the same quasi-random learning rates,
and is evaluated at its own best on fresh seeds). Reports per task each activation's chosen
lr, its mean and verdict against ReLU both ways, Kendall's tau between the two rankings, the
decisions that change, and the seeds and wall time the tuning cost.

    python -m bench.tuning [--seeds 5] [--trials 5] [--epochs 10]

Starts `actlab serve` (the embedded default) in a scratch data directory. Writes
bench/results/tuning.md.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from typing import Any

import torch
from actlab.client import Client
from scipy import stats

from bench.service import embedded_service, write_results

ACTIVATIONS = ["relu", "tanh", "sigmoid", "elu", "leaky_relu", "gelu", "silu", "softplus",
               "selu", "hardtanh", "dual_line", "prelu"]
TASKS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"name": "mnist1d_mlp"}, {"name": "mnist1d"}),
    ({"name": "mlp", "params": {"hidden": 64}}, {"name": "digits"})]
LR = 0.003  # the single lr of the fixed sweep (bench/race.py's)
SPACE = {"lr": {"low": 1e-4, "high": 0.1, "log": True}}


def _board(lab: Client, model: dict[str, Any], dataset: dict[str, Any],
           sweep_id: str) -> dict[str, dict[str, Any]]:
    board = lab.leaderboard(model=model["name"], dataset=dataset["name"], sweep=sweep_id,
                            metric="test_accuracy")
    return {e["label"]: e for e in board["entries"]}


def _task(lab: Client, model: dict[str, Any], dataset: dict[str, Any],
          args: argparse.Namespace) -> tuple[list[str], dict[str, float]]:
    base = {"activations": [{"name": a} for a in ACTIVATIONS], "models": [model],
            "datasets": [dataset], "seeds": list(range(args.seeds))}
    training = {"epochs": args.epochs, "batch_size": 128}
    started = time.monotonic()
    fixed = lab.sweep({**base, "name": "fixed lr", "training": {**training, "lr": LR}})
    lab.wait_sweep(fixed["id"], progress=False, poll=2.0)
    fixed_seconds = time.monotonic() - started
    started = time.monotonic()
    tuned = lab.sweep({**base, "name": "tuned", "training": training,
                       "tuning": {"trials": args.trials, "space": SPACE}})
    state = lab.wait_sweep(tuned["id"], progress=False, poll=2.0)
    tuned_seconds = time.monotonic() - started
    chosen = {e["label"]: e for e in state["tuning"]["entries"]}
    at_lr, at_best = (_board(lab, model, dataset, s["id"]) for s in (fixed, tuned))
    labels = [a for a in ACTIVATIONS if a in at_lr and a in at_best]
    tau = stats.kendalltau([at_lr[a]["rank"] for a in labels],
                           [at_best[a]["rank"] for a in labels])
    changed = [a for a in labels if at_lr[a]["verdict"] != at_best[a]["verdict"]]
    lines = [f"### {model['name']} on {dataset['name']}", "",
             f"Kendall's tau between the rankings: {tau.statistic:.2f} (p {tau.pvalue:.3g}); "
             f"decisions against ReLU that change: {len(changed)} of {len(labels) - 1}"
             f"{' (' + ', '.join(changed) + ')' if changed else ''}. The tuning cost "
             f"{len(ACTIVATIONS) * args.trials} trial runs beside the "
             f"{len(ACTIVATIONS) * args.seeds} evaluation runs ({tuned_seconds:.0f} s against "
             f"the fixed sweep's {fixed_seconds:.0f} s).", "",
             "| activation | chosen lr | on edge | rank at lr 0.003 | mean | verdict | rank "
             "tuned | mean | verdict |", "|---|---:|---|---:|---:|---|---:|---:|---|"]
    for a in labels:
        pick = chosen[a]["chosen"] or {}
        lr = f"{pick['lr']:.2g}" if "lr" in pick else "none"
        lines.append(f"| {a} | {lr} | {', '.join(chosen[a]['on_edge'])} | "
                     f"{at_lr[a]['rank']:g} | {at_lr[a]['mean']:.4f} | {at_lr[a]['verdict']} | "
                     f"{at_best[a]['rank']:g} | {at_best[a]['mean']:.4f} | "
                     f"{at_best[a]['verdict']} |")
    return lines + [""], {"fixed": fixed_seconds, "tuned": tuned_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    started = time.monotonic()
    sections: list[str] = []
    with embedded_service({"ACTLAB_MAX_RUNS_PER_SWEEP": "2000"}, port=19400) as url:
        lab = Client(url=url)
        for model, dataset in TASKS:
            lines, _ = _task(lab, model, dataset, args)
            sections += lines
    minutes = (time.monotonic() - started) / 60
    head = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
            f"{torch.__version__}, {minutes:.0f} min: `python -m bench.tuning --seeds "
            f"{args.seeds} --trials {args.trials} --epochs {args.epochs}` (Adam, batch 128; "
            f"fixed: lr {LR}; tuned: {args.trials} quasi-random lr in [1e-4, 0.1], log, the "
            "same for every activation, chosen by best validation accuracy on seed "
            f"{args.seeds}, then evaluated on seeds 0-{args.seeds - 1}; test accuracy at the "
            "last epoch, Welch against ReLU tuned the same way, Holm).", ""]
    write_results("tuning.md", head + sections)


if __name__ == "__main__":
    main()
