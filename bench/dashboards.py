"""Dashboard latency on a realistic database: 2,000 runs x 50 epochs in PostgreSQL
(2 tasks x 20 activations x 50 seeds), plus parameter snapshots for the learnable ones.

    python -m bench.dashboards [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Creates a scratch database next to the one in --url, fills it, then times each dashboard
endpoint in-process (FastAPI TestClient, so no network) as the median of 15 requests after
2 warm-ups, and drops the scratch database. Target: every endpoint under 300 ms.
Writes bench/results/dashboards.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from bench.service import scratch_database, write_results

TASKS = [("mlp", "digits"), ("lenet5", "digits")]
ACTIVATIONS = ["relu", "dual_line", "dp_relu", "prelu", "leaky_relu", "elu", "selu", "gelu",
               "silu", "mish", "softplus", "tanh", "sigmoid", "hardswish", "celu", "relu6",
               "trelu", "lisht", "isrlu", "swish"]
LEARNABLE = {"dual_line": ["a", "b", "m"], "dp_relu": ["a", "b"], "prelu": ["b"],
             "swish": ["beta"]}
SEEDS, EPOCHS, SLOTS, CHANNELS = 50, 50, 4, 16


def fill(url: str) -> dict[str, str]:
    from core.domain.spec import ExperimentSpec, spec_hash

    engine = sa.create_engine(url)
    rng = random.Random(0)
    now = datetime.now(UTC)
    ids: dict[str, str] = {}
    experiments, runs, metrics, params = [], [], [], []
    for model, dataset in TASKS:
        for act in ACTIVATIONS:
            spec = ExperimentSpec.model_validate({
                "activation": {"name": act}, "model": {"name": model},
                "dataset": {"name": dataset}, "seeds": list(range(SEEDS)),
                "training": {"epochs": EPOCHS}})
            exp_id = uuid.uuid4()
            ids.setdefault(act, str(exp_id))
            experiments.append({"id": exp_id, "name": act, "kind": "train",
                                "spec": spec.model_dump(mode="json"), "spec_hash": spec_hash(spec),
                                "activation": act, "model": model, "dataset": dataset,
                                "tags": [], "priority": 0, "created_at": now})
            quality = rng.uniform(0.85, 0.95)
            for seed in range(SEEDS):
                run_id = uuid.uuid4()
                runs.append({"id": run_id, "experiment_id": exp_id, "seed": seed,
                             "status": "succeeded", "attempt": 1, "cancel_requested": False,
                             "queued_at": now, "finished_at": now, "epochs_done": EPOCHS,
                             "epochs_total": EPOCHS, "num_params": 85_000, "macs": 84_480})
                for epoch in range(1, EPOCHS + 1):
                    acc = quality * (1 - 0.5 ** epoch) + rng.gauss(0, 0.01)
                    metrics.append({"run_id": run_id, "epoch": epoch, "train_loss": 1 - acc,
                                    "train_accuracy": acc, "val_loss": 1.05 - acc,
                                    "val_accuracy": acc, "val_top5": min(1.0, acc + 0.05),
                                    "test_loss": 1.06 - acc, "test_accuracy": acc - 0.005,
                                    "test_top5": min(1.0, acc + 0.04),
                                    "lr": 1e-3, "epoch_seconds": rng.uniform(1, 2),
                                    "samples_per_second": rng.uniform(800, 1200)})
                    for slot in range(1, SLOTS + 1):
                        for name in LEARNABLE.get(act, []) if model == "mlp" else []:
                            params.append({"run_id": run_id, "epoch": epoch,
                                           "layer": f"net.{slot}", "block": slot,
                                           "position": 1, "name": name,
                                           "values": [rng.gauss(1, 0.1)
                                                      for _ in range(CHANNELS)]})
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for table, rows in (("experiments", experiments), ("runs", runs),
                            ("epoch_metrics", metrics), ("activation_params", params)):
            for i in range(0, len(rows), 20_000):
                conn.execute(meta.tables[table].insert(), rows[i:i + 20_000])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    print(f"filled: {len(experiments)} experiments, {len(runs)} runs, {len(metrics)} metric "
          f"rows, {len(params)} parameter rows", flush=True)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get(
        "ACTLAB_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    with scratch_database(args.url, "actlab_bench") as url:
        try:
            os.environ.update({"ACTLAB_DATABASE_URL": url, "ACTLAB_BROKER_URL": "memory://",
                               "ACTLAB_SWEEPER": "false",
                               "ACTLAB_DATA_DIR": "/tmp/actlab-bench-dashboards"})
            from fastapi.testclient import TestClient

            from api.main import create_app
            from core.store.migrate import upgrade_head

            upgrade_head()
            started = time.perf_counter()
            ids = fill(url)
            print(f"fill took {time.perf_counter() - started:.0f} s", flush=True)
            endpoints = {
                "leaderboard, one task": "/api/v1/leaderboard?model=mlp&dataset=digits",
                "leaderboard, Mann-Whitney": "/api/v1/leaderboard?model=mlp&dataset=digits"
                                             "&test=mannwhitney",
                "leaderboard, across tasks": "/api/v1/leaderboard",
                "leaderboard, markdown": "/api/v1/leaderboard?model=mlp&dataset=digits"
                                         "&format=markdown",
                "experiment summary (50 seeds)": f"/api/v1/experiments/{ids['dual_line']}/summary",
                "parameter distributions (50 seeds x 50 epochs)":
                    f"/api/v1/experiments/{ids['dual_line']}/parameters",
                "final parameter distributions only":
                    f"/api/v1/experiments/{ids['dual_line']}/parameters?per_epoch=false",
                "experiment list, status filter": "/api/v1/experiments?status=succeeded&limit=50",
                "experiment detail (50 runs)": f"/api/v1/experiments/{ids['relu']}",
            }
            lines = [f"PostgreSQL, {len(TASKS) * len(ACTIVATIONS) * SEEDS} runs x {EPOCHS} "
                     "epochs", "", "| endpoint | median ms | max ms | target < 300 ms |",
                     "|---|---:|---:|---|"]
            with TestClient(create_app()) as client:
                for label, path in endpoints.items():
                    for _ in range(2):
                        assert client.get(path).status_code == 200, path
                    times = []
                    for _ in range(15):
                        t = time.perf_counter()
                        r = client.get(path)
                        times.append((time.perf_counter() - t) * 1e3)
                        assert r.status_code == 200
                    med = statistics.median(times)
                    lines.append(f"| {label} | {med:.0f} | {max(times):.0f} | "
                                 f"{'met' if med < 300 else 'NOT met'} |")
                    print(lines[-1], flush=True)
            write_results("dashboards.md", lines)
        finally:
            from core.store.db import reset_engines

            reset_engines()


if __name__ == "__main__":
    main()
