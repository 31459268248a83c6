"""The exhaustive table a search replays against: every distinct function of a small space
trained with several seeds (trained together, one group per function), with its zero-cost
features. Long (tens of minutes on 2 cores): run once, commit the table; not part of the
tests nor of `make bench`.

    python -m bench.search_table [--schema 'unary(unary(x))'] [--model mlp] [--dataset digits]
                                 [--seeds 3] [--epochs 8] [--limit N]

Writes bench/results/search-table.json (read by bench/search_replay.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from bench.service import RESULTS
from core.domain.search_space import (
    DEFAULT_BINARY,
    DEFAULT_UNARY,
    canonical_or_reason,
    parse_schema,
)
from core.domain.spec import TrainingSettings
from worker.search.features import BATCH, fisher_features
from worker.search.functions import Candidate, group
from worker.training import TrainConfig
from worker.training.datasets import load_dataset
from worker.training.loop import SeedTrainer, train_group

TABLE = RESULTS / "search-table.json"
GRID_STEP = 5  # every 5th grid point of worker/search/functions.GRID: 41 values


def _train(canonical: str, args: argparse.Namespace, data: Any, root: Path
           ) -> dict[str, Any]:
    """Every seed of one function, trained together; its best-validation epoch's numbers."""
    trainers = [SeedTrainer(TrainConfig(
        activation="formula", activation_params={"expression": canonical},
        model=args.model, dataset=args.dataset, seed=seed,
        training=TrainingSettings(epochs=args.epochs, batch_size=args.batch_size,
                                  optimizer="adam", lr=args.lr)), "cpu", root, data,
        member=f"seed{seed}") for seed in range(args.seeds)]
    x, y = trainers[0].prep.train_x[:BATCH], trainers[0].prep.train_y[:BATCH]
    fisher = fisher_features(trainers[0].prep.model, x, y)
    train_group(trainers)
    val, test, status = [], [], []
    for t in trainers:
        r = t.result()
        status.append(r.status)
        best = r.best_epoch
        val.append(r.history[best - 1]["val_accuracy"] if best else 0.0)
        test.append(r.history[best - 1]["test_accuracy"] if best else 0.0)
    return {"val": val, "test": test, "status": status,
            "fisher": [v for layer in fisher.values() for v in layer]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", default="unary(unary(x))")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--limit", type=int, default=0, help="only the first N functions")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    schema = parse_schema(args.schema)
    expansions: dict[tuple[str, ...], str] = {}
    import itertools

    sets = [DEFAULT_UNARY if k == "unary" else DEFAULT_BINARY for k in schema.slots]
    for ops in itertools.product(*sets):
        expansions[ops] = schema.expand(ops)
    functions, filtered = group([Candidate(e) for e in expansions.values()])
    if args.limit:
        functions = functions[:args.limit]
    spelled = {s: f.canonical for f in functions for s in f.spellings}
    function_of = {",".join(ops): spelled.get(canonical_or_reason(text)[0] or "")
                   for ops, text in expansions.items()}
    root = Path(tempfile.mkdtemp())
    data = load_dataset(args.dataset, {}, root)
    rows = []
    for f in tqdm(functions, desc="functions", unit="fn"):
        rows.append({"canonical": f.canonical, "equivalents": f.equivalents,
                     "grid": f.outputs[::GRID_STEP], **_train(f.canonical, args, data, root)})
    seconds = time.perf_counter() - started
    table = {
        "measured": f"{datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
                    f"{torch.__version__}, {seconds:.0f} s",
        "command": f"python -m bench.search_table --schema '{args.schema}' --model {args.model} "
                   f"--dataset {args.dataset} --seeds {args.seeds} --epochs {args.epochs} "
                   f"--batch-size {args.batch_size} --lr {args.lr:g}"
                   + (f" --limit {args.limit}" if args.limit else ""),
        "schema": args.schema, "unary": list(DEFAULT_UNARY), "binary": list(DEFAULT_BINARY),
        "expansions": len(expansions), "function_of": function_of,
        "filtered": [{"expression": f.expression, "reason": f.reason} for f in filtered],
        "functions": rows,
    }
    TABLE.write_text(json.dumps(table, indent=0) + "\n")
    best = max(rows, key=lambda r: statistics.fmean(r["val"]))
    print(f"{len(rows)} functions ({len(expansions)} expansions, {len(filtered)} filtered) in "
          f"{seconds:.0f} s; best by validation: {best['canonical']} "
          f"{statistics.fmean(best['val']):.4f}")


if __name__ == "__main__":
    main()
