"""The first run a new worker child takes, with and without warming the child at start-up
(ACTLAB_WARM_WORKERS), against the second run of the same child, measured in the same run.

    python -m bench.first_run [--repeats 3]

Each repeat starts `actlab serve` (the embedded default) with warm-up on, then off, in a
fresh data directory that already holds the generated MNIST-1D set (as a lab's does after
its first run: generating it, about 5 s, happens once per data directory, not per child);
waits --idle seconds (a worker that started before work arrives), submits one run
(mnist1d_cnn on mnist1d, one epoch), then a second identical one (forced), and reads each
run's queued -> started and queued -> finished times from the API. Writes
bench/results/first-run.md.
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

from bench.service import embedded_service, write_results

SPEC = {"activation": {"name": "relu"}, "model": {"name": "mnist1d_cnn"},
        "dataset": {"name": "mnist1d"}, "seeds": [0], "training": {"epochs": 1}}


def _seconds(run: dict[str, Any], end: str) -> float:
    start = datetime.fromisoformat(run["queued_at"])
    return (datetime.fromisoformat(run[end]) - start).total_seconds()


def one_service(warm: bool, idle: float, cached: Path) -> list[dict[str, float]]:
    settings = {"ACTLAB_WARM_WORKERS": str(warm).lower(), "ACTLAB_TORCH_THREADS": "1"}
    with embedded_service(settings, cached, port=18000) as url:
        time.sleep(idle)
        out = []
        with httpx.Client(base_url=url, timeout=60) as c:
            for _ in range(2):
                created = c.post("/api/v1/experiments", params={"force": "true"},
                                 json=SPEC).json()
                run_id = created["runs"][0]["id"]
                while (run := c.get(f"/api/v1/runs/{run_id}").json())["status"] in (
                        "queued", "running"):
                    time.sleep(0.05)
                assert run["status"] == "succeeded", run
                out.append({"started": _seconds(run, "started_at"),
                            "finished": _seconds(run, "finished_at")})
        return out

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    from worker.training.datasets import load_dataset

    rows: dict[str, list[list[dict[str, float]]]] = {"warm": [], "cold": []}
    with tempfile.TemporaryDirectory() as cached:
        load_dataset("mnist1d", {}, Path(cached))  # generated once, as a lab's first run does
        for _ in range(args.repeats):
            for warm in (True, False):
                rows["warm" if warm else "cold"].append(one_service(warm, args.idle,
                                                                    Path(cached)))
    second = [r[1]["finished"] for rs in rows.values() for r in rs]
    reference = statistics.median(second)
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores: "
             f"`python -m bench.first_run --repeats {args.repeats} --idle {args.idle:g}` "
             "(`actlab serve`, mnist1d_cnn on mnist1d, one epoch; medians).", "",
             "| worker child | first run: queued -> started s | first run: queued -> finished s "
             "| / second run of the same child |", "|---|---:|---:|---:|"]
    for name, label in (("warm", "warmed at start-up (default)"),
                        ("cold", "not warmed (ACTLAB_WARM_WORKERS=false)")):
        started = statistics.median(r[0]["started"] for r in rows[name])
        finished = statistics.median(r[0]["finished"] for r in rows[name])
        lines.append(f"| {label} | {started:.2f} | {finished:.2f} | "
                     f"{finished / reference:.2f} |")
    lines.append(f"| reference: the second run of a child | | {reference:.2f} | 1.00 |")
    write_results("first-run.md", lines)


if __name__ == "__main__":
    main()
