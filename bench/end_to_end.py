"""One training run end to end, against the loop a researcher would write instead.

    python -m bench.end_to_end [--epochs 200 60] [--repeats 3] [--no-production]

MNIST-1D CNN with ReLU on the paper's recipe (batch 100, Adam lr 0.01, validation and test
evaluated every epoch), one seed, one process at a time, measured in the same run:
- the reference, a bare PyTorch loop in this process (its clock starts after imports and data
  loading);
- `actlab train SPEC`, the whole process, wall clock, against the bare loop as a script of
  its own (the whole process too) and, as the target reads, against the bare loop plus the
  time of `python -c "import torch"`;
- through `actlab serve` (the embedded default) and through `actlab api` + `actlab worker`
  on PostgreSQL + Redis, each with its worker child warmed before work arrives: queued_at to
  finished_at from the server, queued to started, and the median epoch's seconds as the run
  recorded them against the bare loop's mean epoch.
Writes bench/results/end-to-end.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import torch

from bench.seeds import BATCH, LR, bare_loop
from bench.service import embedded_service, production_service, write_results
from worker.training.datasets import load_dataset

MODEL, DATASET = "mnist1d_cnn", "mnist1d"


def _spec(epochs: int) -> dict[str, Any]:
    return {"activation": {"name": "relu"}, "model": {"name": MODEL},
            "dataset": {"name": DATASET}, "seeds": [0],
            "training": {"epochs": epochs, "batch_size": BATCH, "lr": LR, "optimizer": "adam"}}


def wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def actlab_train(epochs: int, cached: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps(_spec(epochs)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTLAB_")}
        env["ACTLAB_DATA_DIR"] = str(cached.parent)
        return wall([sys.executable, "-m", "cli", "train", str(spec), "--device", "cpu"], env)


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def through(service: Callable[[], AbstractContextManager[str]], epochs: int
            ) -> dict[str, float]:
    """queued -> finished and queued -> started seconds, and the median recorded epoch."""
    with service() as url:
        time.sleep(8)  # the worker child warms up before work arrives, as in a lab
        with httpx.Client(base_url=url, timeout=60) as c:
            created = c.post("/api/v1/experiments", params={"force": "true"},
                             json=_spec(epochs))
            created.raise_for_status()
            run_id = created.json()["runs"][0]["id"]
            while c.get(f"/api/v1/runs/{run_id}").json()["status"] in ("queued", "running"):
                time.sleep(0.5)  # the figures come from the server's timestamps
            run = c.get(f"/api/v1/runs/{run_id}").json()
            metrics = c.get(f"/api/v1/runs/{run_id}/metrics").json()
    assert run["status"] == "succeeded", run
    return {"total": (_time(run["finished_at"]) - _time(run["queued_at"])).total_seconds(),
            "wait": (_time(run["started_at"]) - _time(run["queued_at"])).total_seconds(),
            "epoch": statistics.median(m["epoch_seconds"] for m in metrics)}


def bare_process(epochs: int, cached: Path) -> float:
    """The bare loop as a script of its own, the whole process: what `actlab train` is
    compared with (both import torch, load the data and build an optimizer, which imports
    torch._dynamo)."""
    return wall([sys.executable, "-m", "bench.end_to_end", "--bare-process", str(epochs),
                 str(cached)], dict(os.environ))


def import_torch() -> float:
    return wall([sys.executable, "-c", "import torch"], dict(os.environ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[200, 60])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-production", action="store_true",
                        help="skip PostgreSQL + Redis (127.0.0.1 by default)")
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--bare-process", nargs=2, metavar=("EPOCHS", "DATASETS"),
                        help=argparse.SUPPRESS)  # the child of bare_process()
    args = parser.parse_args()
    if args.bare_process:
        epochs, datasets = args.bare_process
        bare_loop(MODEL, load_dataset(DATASET, {}, Path(datasets)), [0], int(epochs))
        return
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}: `python -m bench.end_to_end --epochs "
             f"{' '.join(map(str, args.epochs))} --repeats {args.repeats}"
             f"{' --no-production' if args.no_production else ''}` ({MODEL} on {DATASET}, "
             f"ReLU, Adam lr {LR:g}, batch {BATCH}, one seed; medians of the repeats, each "
             "ratio the median of the repeats' ratios to their own bare loop).", "",
             "| path | epochs | seconds | / bare loop | / bare script | queued -> started s | "
             "epoch s | epoch / bare epoch |", "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def services(cached: Path) -> Iterator[tuple[str, Callable[[], AbstractContextManager[str]]]]:
        yield "`actlab serve` (embedded)", lambda: embedded_service({}, cached)
        if not args.no_production:
            yield "`actlab api` + `worker` (PostgreSQL + Redis)", \
                lambda: production_service(args.db, args.redis, {}, cached)

    with tempfile.TemporaryDirectory() as tmp:
        cached = Path(tmp) / "datasets"
        data = load_dataset(DATASET, {}, cached)
        torch_import = statistics.median(import_torch() for _ in range(3))
        bare_loop(MODEL, data, [0], 2)  # warm-up: this process's first steps are slow
        for epochs in args.epochs:
            rows: dict[str, list[dict[str, float]]] = {}
            bares: list[float] = []
            for _ in range(args.repeats):
                bare = bare_loop(MODEL, data, [0], epochs)
                bares.append(bare)
                rows.setdefault("bare PyTorch loop (reference)", []).append(
                    {"total": bare, "epoch": bare / epochs, "ratio": 1.0})
                script = bare_process(epochs, cached)
                rows.setdefault("bare loop as a script, the whole process", []).append(
                    {"total": script, "ratio": script / bare})
                train_s = actlab_train(epochs, cached)
                rows.setdefault("`actlab train`, the whole process", []).append(
                    {"total": train_s, "ratio": train_s / bare, "script": train_s / script})
                rows.setdefault("`actlab train` less `import torch`", []).append(
                    {"total": train_s - torch_import, "ratio": (train_s - torch_import) / bare})
                for label, service in services(cached):
                    got = through(service, epochs)
                    rows.setdefault(label, []).append(
                        {**got, "ratio": got["total"] / bare,
                         "epoch_ratio": got["epoch"] / (bare / epochs)})
            for label, values in rows.items():
                def med(key: str, values: list[dict[str, float]] = values) -> str:
                    found = [v[key] for v in values if key in v]
                    return f"{statistics.median(found):.3g}" if found else ""

                lines.append(f"| {label} | {epochs} | {med('total')} | {med('ratio')} | "
                             f"{med('script')} | {med('wait')} | {med('epoch')} | "
                             f"{med('epoch_ratio')} |")
                print(lines[-1], flush=True)
    lines += ["", f"`import torch` alone: {torch_import:.2f} s (median of 3)."]
    write_results("end-to-end.md", lines)


if __name__ == "__main__":
    main()
