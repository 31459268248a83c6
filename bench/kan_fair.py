"""Yu et al. 2024 ("KAN or MLP: A Fairer Comparison", arXiv 2407.16674) through the service, in
shape: at equal parameters (a matched sweep: each model's width solved to the reference MLP's
count), MLPs with ReLU, GELU and the B-spline activation against a KAN, on `digits` and on
symbolic formulas; and a small `gpt` on `modular` with its MLP FFN against KAT's `gr_kan`
(Yang & Wang 2025) at the same d_ff.

    python -m bench.kan_fair [--seeds 5] [--parts digits,symbolic,gpt]

Every number is read from the service's boards: the dataset's board over every model of the
matched sweep, each entry tested against the ReLU MLP of its budget (Welch, Holm-corrected).
The gpt pair has one activation (GELU) and two FFNs, which a board keeps in separate contexts:
its test is the same Welch test, taken here on the runs' values. Starts `actlab serve` (the
embedded default, two runs at once) in a scratch data directory. Writes
bench/results/kan_fair.md.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from typing import Any

import torch
from actlab.client import Client

from bench.service import embedded_service, write_results
from core.statistics.significance import welch

FORMULAS = ("exp_sin", "bessel", "feynman_i_6_2", "product")
ACTIVATIONS = [{"name": "relu"}, {"name": "gelu"}, {"name": "bspline"}]
MODELS = [{"name": "mlp"}, {"name": "kan", "params": {"widths": [1]}}]
# The budgets: Yu et al. match small MLPs and KANs; these references are a two-layer MLP's.
DIGITS_REFERENCE = {"name": "mlp", "params": {"hidden": 64}}
SYMBOLIC_REFERENCE = {"name": "mlp", "params": {"hidden": 32}}
GPT = {"n_layer": 2, "n_head": 4, "d_model": 128, "d_ff": 512, "context": 4}


def _matched(lab: Client, name: str, dataset: dict[str, Any], reference: dict[str, Any],
             seeds: int, training: dict[str, Any]) -> dict[str, Any]:
    return lab.sweep({"name": name, "activations": ACTIVATIONS, "models": MODELS,
                      "datasets": [dataset], "seeds": list(range(seeds)),
                      "training": training, "match": {"reference": reference}})


def _rows(board: dict[str, Any], task: str) -> list[str]:
    lines = []
    for e in board["entries"]:
        p = "baseline" if e["p_holm"] is None else f"{e['p_holm']:.3g}"
        lines.append(f"| {task} | {e['label']} | {e['num_params']:,} | {e['macs']:,} | "
                     f"{e['mean']:.4f} ± {e['std'] or 0:.4f} | {e['n']} | {p} | "
                     f"{e['verdict']} |")
    return lines


def _gpt(lab: Client, seeds: int, epochs: int) -> list[str]:
    dataset = {"name": "modular", "params": {"p": 97, "operation": "add",
                                             "train_fraction": 0.5}}
    sweep = lab.sweep({"name": "gr_kan", "activations": [{"name": "gelu"}],
                       "models": [{"name": "gpt", "params": {**GPT, "ffn": ffn}}
                                  for ffn in ("mlp", "gr_kan")],
                       "datasets": [dataset], "seeds": list(range(seeds)),
                       "training": {"epochs": epochs, "batch_size": 512, "optimizer": "adamw",
                                    "lr": 1e-3, "weight_decay": 1.0, "betas": [0.9, 0.98],
                                    "warmup_steps": 10, "decay_all": True}})
    lab.wait_sweep(sweep["id"], progress=False)
    board = lab.leaderboard(model="gpt", dataset="modular", sweep=sweep["id"],
                            metric="test_accuracy", stat="best")
    by_ffn = {e["recipe_diff"].get("model.params.ffn") or "mlp": e for e in board["entries"]}
    values = {ffn: [r["final_metrics"]["test_accuracy_at_best"]
                    for i in e["experiment_ids"] for r in lab.experiment(i)["runs"]
                    if r.get("final_metrics")] for ffn, e in by_ffn.items()}
    test = welch(values["gr_kan"], values["mlp"]) if len(values) == 2 else None
    lines = []
    for ffn, e in sorted(by_ffn.items(), key=lambda kv: kv[0] != "mlp"):
        p = "baseline" if ffn == "mlp" else ("" if test is None else f"{test.p_value:.3g}")
        lines.append(f"| modular (gpt) | GELU, {ffn} FFN | {e['num_params']:,} | "
                     f"{e['macs']:,} | {e['mean']:.4f} ± {e['std'] or 0:.4f} | {e['n']} | "
                     f"{p} | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--gpt-seeds", type=int, default=3)
    parser.add_argument("--digits-epochs", type=int, default=30)
    parser.add_argument("--symbolic-epochs", type=int, default=60)
    parser.add_argument("--gpt-epochs", type=int, default=100)
    parser.add_argument("--parts", default="digits,symbolic,gpt")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    started = time.monotonic()
    rows: list[str] = []
    with embedded_service({}, port=19300, concurrency=2) as url:
        lab = Client(url=url)
        if "digits" in parts:
            sweep = _matched(lab, "digits", {"name": "digits"}, DIGITS_REFERENCE, args.seeds,
                             {"epochs": args.digits_epochs, "batch_size": 64, "lr": 1e-3})
            lab.wait_sweep(sweep["id"], progress=False)
            rows += _rows(lab.leaderboard(dataset="digits", sweep=sweep["id"],
                                          metric="test_accuracy", stat="best"), "digits")
        for formula in FORMULAS if "symbolic" in parts else ():
            dataset = {"name": "symbolic", "params": {"formula": formula}}
            sweep = _matched(lab, formula, dataset, SYMBOLIC_REFERENCE, args.seeds,
                             {"epochs": args.symbolic_epochs, "batch_size": 64, "lr": 3e-3})
            lab.wait_sweep(sweep["id"], progress=False)
            rows += _rows(lab.leaderboard(dataset="symbolic", sweep=sweep["id"], stat="best"),
                          formula)
        if "gpt" in parts:
            rows += _gpt(lab, args.gpt_seeds, args.gpt_epochs)
    minutes = (time.monotonic() - started) / 60
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}, {minutes:.0f} min: `python -m bench.kan_fair --seeds "
             f"{args.seeds} --parts {args.parts}` (digits: {args.digits_epochs} epochs, Adam "
             f"lr 1e-3, batch 64, every model matched to the parameters of an MLP 64-64-64-10 "
             f"with ReLU; symbolic formulas: 2,000 points, {args.symbolic_epochs} epochs, Adam "
             f"lr 3e-3, matched to an MLP with two hidden layers of 32; gpt {GPT['n_layer']} x "
             f"{GPT['d_model']}, d_ff {GPT['d_ff']}, modular p = 97 addition, "
             f"{args.gpt_epochs} epochs, {args.gpt_seeds} seeds, AdamW lr 1e-3, weight decay 1). "
             "Metric: test accuracy (digits, modular) or test RMSE (symbolic, lower is better) "
             "at each run's best validation epoch, mean ± std over seeds; p: Welch's test "
             "against the ReLU MLP of the same budget (the MLP FFN for gpt), Holm-corrected "
             "over each board; parameters and MACs as the runs built them.",
             "", "| task | entry (activation / model) | parameters | MACs | metric | n | "
                 "p (Holm) | verdict |", "|---|---|---:|---:|---:|---:|---:|---|", *rows]
    write_results("kan_fair.md", lines)


if __name__ == "__main__":
    main()
