"""A real race through the service: at least ten activations against ReLU on one task as an
adaptive sweep (rounds of seeds until decided, core/store/race.py), then the fixed design at the
race's maximum (every activation at per_round x max_rounds seeds, the seeds the race already
trained reused), and whether the two agree.

    python -m bench.race [--per-round 5] [--max-rounds 4] [--epochs 10]

The task: `mnist1d_mlp` on `mnist1d`. Starts `actlab serve` (the embedded default) in a
scratch data directory. Reports per activation the race's decision, round and seeds, and the
fixed design's verdict (Welch against ReLU at the maximum, Holm-corrected); writes
bench/results/race.md.
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

ACTIVATIONS = ["tanh", "sigmoid", "elu", "leaky_relu", "gelu", "silu", "softplus", "selu",
               "hardtanh", "identity", "dual_line", "prelu"]
MODEL = {"name": "mnist1d_mlp"}
DATASET = {"name": "mnist1d"}
# What agreeing means: the race's decision against the fixed design's verdict.
SAME = {("better", "better"), ("worse", "worse"),
        ("no_difference", "no significant difference"),
        ("undecided", "no significant difference")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--max-rounds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    training: dict[str, Any] = {"epochs": args.epochs, "batch_size": 128, "lr": 0.003}
    cap = args.per_round * args.max_rounds
    started = time.monotonic()
    with embedded_service({"ACTLAB_MAX_RUNS_PER_SWEEP": "2000"}, port=19300) as url:
        lab = Client(url=url)
        raced = lab.sweep({"name": "race", "activations": [{"name": "relu"}] + [
            {"name": a} for a in ACTIVATIONS], "models": [MODEL], "datasets": [DATASET],
            "training": training, "adaptive": {"baseline": "relu", "metric": "test_accuracy",
                                               "per_round": args.per_round,
                                               "max_rounds": args.max_rounds}})
        race = lab.wait_sweep(raced["id"], progress=False, poll=2.0)["race"]
        race_seconds = time.monotonic() - started
        fixed = lab.sweep({"name": "fixed", "activations": [{"name": "relu"}] + [
            {"name": a} for a in ACTIVATIONS], "models": [MODEL], "datasets": [DATASET],
            "training": training, "seeds": list(range(cap))})
        lab.wait_sweep(fixed["id"], progress=False, poll=2.0)
        board = lab.leaderboard(model=MODEL["name"], dataset=DATASET["name"],
                                sweep=fixed["id"])
    verdicts = {e["label"]: e for e in board["entries"]}
    agree = 0
    rows = []
    for e in race["entries"]:
        verdict = verdicts[e["label"]]["verdict"]
        same = e["decision"] == "baseline" or (e["decision"], verdict) in SAME
        agree += same and e["decision"] != "baseline"
        rows.append(f"| {e['label']} | {e['decision'].replace('_', ' ')} | "
                    f"{e['decided_round'] or ''} | {e['seeds']} | "
                    f"{verdicts[e['label']]['mean']:.4f} | {verdict} | "
                    f"{'' if e['decision'] == 'baseline' else ('yes' if same else 'NO')} |")
    entries = len(race["entries"]) - 1
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}: `python -m bench.race --per-round {args.per_round} "
             f"--max-rounds {args.max_rounds} --epochs {args.epochs}` ({MODEL['name']} on "
             f"{DATASET['name']}, Adam lr 0.003, batch 128; test accuracy at the last epoch; "
             f"alpha 0.05). The race took {race_seconds:.0f} s through the service.", "",
             f"The race spent **{race['seeds_spent']} of at most {race['seeds_max']} seeds** "
             f"({race['seeds_spent'] / race['seeds_max']:.0%}), over {race['round']} "
             f"round(s); its decisions agree with the fixed design at {cap} seeds each "
             f"(Welch against ReLU, Holm over {entries} comparisons) for {agree} of {entries} "
             "activations. A race's `undecided` is counted as agreeing with `no significant "
             "difference`.", "",
             "| activation | race decision | round | seeds | mean at the maximum | fixed design "
             f"at {cap} seeds | agree |", "|---|---|---:|---:|---:|---|---|", *rows]
    write_results("race.md", lines)


if __name__ == "__main__":
    main()
