"""Five seeds through the service against the loop a researcher would write instead.

    python -m bench.seeds [--epochs 30] [--seeds 5] [--repeats 1]

For `mnist1d_cnn` on `mnist1d` and `lenet5` on `digits` (ReLU, the MNIST-1D paper's recipe:
Adam lr 0.01, batch 100, evaluation of validation and test every epoch), measured in the same
run on this machine:
- the reference, a bare PyTorch loop that trains the seeds one after another in this process
  (its clock starts after imports and data loading);
- `actlab serve` (the embedded default, one worker child, warmed at start-up) with the seeds
  claimed and trained together as one vmapped model (`ACTLAB_GROUP_SEEDS=5` and
  `ACTLAB_SEED_BATCHING=vmap`, the defaults);
- the same service with every seed its own run (`ACTLAB_GROUP_SEEDS=1`).
A service figure is the first run's queued_at to the last run's finished_at (the server's
clock). Writes bench/results/seeds.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import torch
import torch.nn.functional as F

from bench.service import embedded_service, write_results
from worker.training.datasets import DataSplits, load_dataset
from worker.training.models import ActFactory, build_model

CASES = (("mnist1d_cnn", "mnist1d"), ("lenet5", "digits"))
BATCH, LR = 100, 1e-2


@torch.no_grad()
def _evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    model.train()
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def bare_loop(model_name: str, data: DataSplits, seeds: list[int], epochs: int) -> float:
    """What a researcher writes by hand: per seed, build, then train and evaluate each
    epoch. Returns seconds for all seeds."""
    started = time.perf_counter()
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model(model_name, {}, data.input_shape, data.num_classes,
                            ActFactory("relu"))
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        x, y, n = data.train_x, data.train_y, len(data.train_x)
        for _ in range(epochs):
            order = torch.randperm(n)
            for i in range(0, n, BATCH):
                idx = order[i:i + BATCH]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            _evaluate(model, data.val_x, data.val_y)
            _evaluate(model, data.test_x, data.test_y)
    return time.perf_counter() - started


def _seconds(runs: list[dict[str, Any]]) -> float:
    start = min(datetime.fromisoformat(r["queued_at"]) for r in runs)
    end = max(datetime.fromisoformat(r["finished_at"]) for r in runs)
    return (end - start).total_seconds()


def through_service(model: str, dataset: str, seeds: list[int], epochs: int, group: int,
                    cached: Path) -> tuple[float, set[str]]:
    """Seconds from the first queued to the last finished, and the runs' execution modes
    (with how a group was batched)."""
    with embedded_service({"ACTLAB_GROUP_SEEDS": str(group)}, cached) as url:
        time.sleep(8)  # the worker child warms up before work arrives, as in a lab
        spec = {"activation": {"name": "relu"}, "model": {"name": model},
                "dataset": {"name": dataset}, "seeds": seeds,
                "training": {"epochs": epochs, "batch_size": BATCH, "lr": LR,
                             "optimizer": "adam"}}
        with httpx.Client(base_url=url, timeout=60) as c:
            created = c.post("/api/v1/experiments", params={"force": "true"}, json=spec)
            created.raise_for_status()
            ids = [r["id"] for r in created.json()["runs"]]
            # Polled once a second: the API shares the cores with the worker, and the
            # figure comes from the server's timestamps, not from this loop.
            while c.get(f"/api/v1/experiments/{created.json()['id']}").json()[
                    "status"] in ("queued", "running"):
                time.sleep(1.0)
            runs = [c.get(f"/api/v1/runs/{i}").json() for i in ids]
    assert all(r["status"] == "succeeded" for r in runs), runs
    return _seconds(runs), {"{mode} {batching}".format_map(
        {"mode": "?", "batching": "", **(r["provenance"] or {})}).strip() for r in runs}

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}: `python -m bench.seeds --epochs {args.epochs} --seeds "
             f"{args.seeds} --repeats {args.repeats}` (ReLU, Adam lr {LR:g}, batch {BATCH}, "
             "validation and test evaluated every epoch; medians, each ratio the median "
             "of the repeats' ratios to their own bare loop).", "",
             f"| model / dataset | bare loop, {args.seeds} seeds one after another s | "
             "service, seeds together s | / bare | service, one run per seed s | / bare |",
             "|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as cached:
        for model, dataset in CASES:
            data = load_dataset(dataset, {}, Path(cached))
            bare, together, apart = [], [], []
            for _ in range(args.repeats):
                bare.append(bare_loop(model, data, seeds, args.epochs))
                seconds, modes = through_service(model, dataset, seeds, args.epochs,
                                                 args.seeds, Path(cached))
                assert modes == {"batched vmap"}, modes
                together.append(seconds)
                seconds, modes = through_service(model, dataset, seeds, args.epochs, 1,
                                                 Path(cached))
                assert modes == {"single"}, modes
                apart.append(seconds)
            # Each repeat's ratios against its own bare loop (the machine is noisy), then
            # the medians.
            b, t, a = (statistics.median(v) for v in (bare, together, apart))
            rt = statistics.median(x / y for x, y in zip(together, bare, strict=True))
            ra = statistics.median(x / y for x, y in zip(apart, bare, strict=True))
            lines.append(f"| {model} / {dataset} | {b:.1f} | {t:.1f} | {rt:.2f} | "
                         f"{a:.1f} | {ra:.2f} |")
            print(lines[-1], flush=True)
    write_results("seeds.md", lines)


if __name__ == "__main__":
    main()
