"""Each search strategy replayed against the exhaustive table (bench/search_table.py) over
many search seeds: trainings needed to find a function in the table's top 5 % and top 1 %
(by the mean best-validation accuracy over the table's seeds; each replayed training sees
one seed's score, as a one-seed screen would). Then the surrogate's rank correlation on
held-out functions, and the best function confirmed against ReLU with fresh seeds.

    python -m bench.search_replay [--searches 20] [--confirm-seeds 5]

Writes bench/results/search-replay.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from bench.search_table import TABLE
from bench.service import write_results
from core.domain.search_space import Schema, parse_schema
from core.domain.spec import TrainingSettings
from worker.search.replay import replay, top_fraction
from worker.search.strategies import (
    Pool,
    RandomSearch,
    RegularizedEvolution,
    SurrogateSearch,
    held_out_spearman,
)
from worker.training import TrainConfig
from worker.training.datasets import load_dataset
from worker.training.loop import SeedTrainer, train_group


def pool_of(table: dict[str, Any]) -> tuple[Pool, dict[str, list[float]]]:
    """The table's functions as a search pool: features are the outputs on the grid (clipped
    to +-10) and the Fisher spectrum histograms; genes from the schema's expansions."""
    rows = table["functions"]
    keys = [r["canonical"] for r in rows]
    features = np.array([np.concatenate([np.clip(r["grid"], -10, 10), r["fisher"]])
                         for r in rows])
    schema = parse_schema(table["schema"])
    genes: dict[str, tuple[Schema, tuple[str, ...]]] = {}
    function_of: dict[tuple[str, tuple[str, ...]], str] = {}
    present = set(keys)
    for ops_text, key in table["function_of"].items():
        if key in present:
            ops = tuple(ops_text.split(","))
            genes.setdefault(key, (schema, ops))
            function_of[(schema.text, ops)] = key
    return Pool(keys, features, genes, function_of), {r["canonical"]: r["val"] for r in rows}


def _confirm(table: dict[str, Any], best: str, seeds: list[int]) -> dict[str, Any]:
    """The best function and ReLU on the table's recipe with fresh seeds (never the table's
    own), test accuracy at each run's best-validation epoch, paired by seed."""
    command = table["command"]
    epochs = int(command.split("--epochs ")[1].split()[0])
    lr = float(command.split("--lr ")[1].split()[0])
    batch = int(command.split("--batch-size ")[1].split()[0])
    model = command.split("--model ")[1].split()[0]
    dataset = command.split("--dataset ")[1].split()[0]
    root = Path(tempfile.mkdtemp())
    data = load_dataset(dataset, {}, root)
    out: dict[str, list[float]] = {}
    for name, act, params in ((best, "formula", {"expression": best}), ("relu", "relu", {})):
        trainers = [SeedTrainer(TrainConfig(
            activation=act, activation_params=params, model=model, dataset=dataset, seed=s,
            training=TrainingSettings(epochs=epochs, batch_size=batch, optimizer="adam",
                                      lr=lr)), "cpu", root, data, member=f"s{s}")
            for s in seeds]
        train_group(trainers)
        results = [t.result() for t in trainers]
        out[name] = [r.final_metrics.get("test_accuracy_at_best", float("nan"))
                     for r in results]
    test = stats.ttest_rel(out[best], out["relu"])
    return {"best": out[best], "relu": out["relu"], "p": float(test.pvalue)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=20)
    parser.add_argument("--confirm-seeds", type=int, default=5)
    args = parser.parse_args()
    table = json.loads(TABLE.read_text())
    pool, observed = pool_of(table)
    means = {k: statistics.fmean(v) for k, v in observed.items()}
    goals = {"top 5 %": top_fraction(means, 0.05), "top 1 %": top_fraction(means, 0.01)}
    strategies = {"random": RandomSearch(), "evolution": RegularizedEvolution(),
                  "surrogate (knn)": SurrogateSearch("knn"),
                  "surrogate (gp)": SurrogateSearch("gp")}
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}: `python -m bench.search_replay --searches {args.searches} "
             f"--confirm-seeds {args.confirm_seeds}` against the table of "
             f"`{table['command']}` ({table['measured']}: {len(pool.keys)} distinct functions "
             f"of {table['expansions']} expansions, {len(table['filtered'])} filtered before "
             f"training). Trainings until the first function of the table's top 5 % "
             f"({len(goals['top 5 %'])} functions) and top 1 % ({len(goals['top 1 %'])}), "
             f"over {args.searches} search seeds; one training = one seed of one function.",
             "", "| strategy | top 5 %: median [min, max] | top 1 %: median [min, max] |",
             "|---|---:|---:|"]
    medians: dict[str, float] = {}
    for name, strategy in strategies.items():
        found: dict[str, list[int]] = {g: [] for g in goals}
        for seed in range(args.searches):
            run = replay(strategy, pool, observed, goals, seed)
            for g in goals:
                found[g].append(run.found[g] or len(pool.keys))
        cells = [f"{statistics.median(found[g]):g} [{min(found[g])}, {max(found[g])}]"
                 for g in goals]
        medians[name] = statistics.median(found["top 5 %"])
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    ratio = medians["surrogate (knn)"] / medians["random"]
    rhos = [held_out_spearman(pool, means, "knn", seed=s) for s in range(args.searches)]
    lines += ["", f"Surrogate / random, median trainings to the top 5 %: {ratio:.2f} (goal: at "
                  f"most 0.33).",
              f"Surrogate (k-nearest neighbours on grid outputs + Fisher spectra) Spearman "
              f"correlation with the realised validation accuracy on held-out functions "
              f"(fitted on a random half, {args.searches} splits): median "
              f"{statistics.median(rhos):.3f} [{min(rhos):.3f}, {max(rhos):.3f}]."]
    best = max(means, key=lambda k: means[k])
    relu = means.get("relu(x)")
    confirmation = _confirm(table, best, list(range(100, 100 + args.confirm_seeds)))
    lines += [f"Best function by validation: `{best}` (mean best-validation accuracy "
              f"{means[best]:.4f}; relu(x) {relu:.4f})." if relu is not None else
              f"Best function by validation: `{best}` ({means[best]:.4f}).",
              f"Confirmed with {args.confirm_seeds} fresh seeds (100-{99 + args.confirm_seeds})"
              f" on the same recipe, test accuracy at the best-validation epoch: "
              f"{statistics.fmean(confirmation['best']):.4f} ± "
              f"{statistics.stdev(confirmation['best']):.4f} against ReLU "
              f"{statistics.fmean(confirmation['relu']):.4f} ± "
              f"{statistics.stdev(confirmation['relu']):.4f}; paired t-test p = "
              f"{confirmation['p']:.3g} (one comparison, so Holm changes nothing)."]
    write_results("search-replay.md", lines)


if __name__ == "__main__":
    main()
