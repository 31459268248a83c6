"""Load on the lab layout: 1,000 tiny runs through two worker processes on PostgreSQL + Redis,
and the status latency that clients polling from another process see meanwhile.

    python -m bench.load [--db postgresql+psycopg://postgres@127.0.0.1:5432/test]
                         [--redis redis://127.0.0.1:6379/0] [--runs 1000] [--seconds 30]

Creates a scratch database next to --db, starts `actlab api` and two `actlab worker`
processes, submits the runs (20 seeds an experiment: mlp with 8 hidden units, digits, one
epoch), then, while they train, polls `GET /api/v1/experiments/{id}` from another process
for --seconds each: 50 and 200 clients each polling once a second, then 1, 50 and 200
clients back to back (the server's saturation), and
`GET /api/v1/catalog/models` (no database work) with 50 clients as the reference measured
in the same run. Waits until every run has finished, checks the counts, drops the scratch
database and writes bench/results/load.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.service import scratch_database, wait_healthy, write_results

ACTLAB = [sys.executable, "-m", "cli"]
SEEDS_PER_EXPERIMENT = 20


async def _poll(url: str, paths: list[str], clients: int, seconds: float,
                interval: float) -> dict[str, Any]:
    """`clients` clients, each asking once per `interval` seconds (0: back to back, which
    measures the server's saturation rather than polling)."""
    latencies: list[float] = []
    errors: list[str] = []
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:

        async def one_client(rng: random.Random) -> None:
            await asyncio.sleep(rng.uniform(0, interval))  # clients out of phase
            while time.monotonic() < end:
                start = time.perf_counter()
                try:
                    r = await c.get(rng.choice(paths))
                    if r.status_code != 200:
                        errors.append(str(r.status_code))
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                latencies.append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - start)))

        await asyncio.gather(*(one_client(random.Random(i)) for i in range(clients)))
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {"clients": clients, "requests": len(latencies), "errors": len(errors),
            "error_kinds": sorted(set(errors)), "p50": pct(0.50), "p99": pct(0.99),
            "mean": statistics.fmean(latencies), "per_second": len(latencies) / seconds}


def poll_from_another_process(url: str, paths: list[str], clients: int, seconds: float,
                              interval: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.load", "--poll", url, json.dumps(paths),
                          str(clients), str(seconds), str(interval)],
                         capture_output=True, text=True,
                         check=True, timeout=seconds + 120)
    result: dict[str, Any] = json.loads(out.stdout)
    return {**result, "interval": interval}


def _env(db: str, redis: str, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTLAB_")}
    env.update({"ACTLAB_DATABASE_URL": db, "ACTLAB_BROKER_URL": redis,
                "ACTLAB_DATA_DIR": str(data), "ACTLAB_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
                "ACTLAB_TORCH_THREADS": "1", "ACTLAB_QUOTA_QUEUED_RUNS": "100000",
                "ACTLAB_KEEP_WEIGHTS": "none"})
    return env


def _start(env: dict[str, str], log: Path, procs: list[subprocess.Popen[bytes]]) -> str:
    """`actlab api` and two workers started (appended to `procs`); the API's URL once
    healthy."""
    port = 18000 + random.randrange(1000)
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        procs.append(subprocess.Popen([*ACTLAB, "api", "--port", str(port)], env=env,
                                      stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True))
        for _ in range(2):
            procs.append(subprocess.Popen([*ACTLAB, "worker"], env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True))
    wait_healthy(url, 90, lambda: log.read_text()[-3000:])
    return url


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM if p is procs[0] else signal.SIGQUIT)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def _submit(url: str, runs: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=url, timeout=60) as c:
        for i in range(runs // SEEDS_PER_EXPERIMENT):
            r = c.post("/api/v1/experiments", json={
                "activation": {"name": "relu"}, "name": f"load {i}",
                "model": {"name": "mlp", "params": {"hidden": 8}},
                "seeds": list(range(SEEDS_PER_EXPERIMENT)), "training": {"epochs": 1}})
            r.raise_for_status()
            ids.append(r.json()["id"])
    return ids


def _drained(db: str) -> tuple[dict[str, int], int | None]:
    """Once nothing is queued or running: the runs per status and the metrics rows."""
    engine = sa.create_engine(db)
    try:
        while True:
            with engine.connect() as conn:
                counts: dict[str, int] = dict(conn.execute(sa.text(
                    "SELECT status, count(*) FROM runs GROUP BY status")).all())
                rows = conn.execute(sa.text("SELECT count(*) FROM epoch_metrics")).scalar()
            if not counts.get("queued") and not counts.get("running"):
                return counts, rows
            time.sleep(1)
    finally:
        engine.dispose()


def run(db_url: str, redis: str, runs: int, seconds: float) -> str:
    with scratch_database(db_url, "actlab_load") as db:
        data = Path(f"/tmp/{make_url(db).database}")
        env = _env(db, redis, data)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            data.mkdir(parents=True)
            subprocess.run([*ACTLAB, "migrate"], env=env, check=True, capture_output=True)
            url = _start(env, data / "service.log", procs)
            start = time.monotonic()
            ids = _submit(url, runs)
            submitted = time.monotonic() - start
            paths = [f"/api/v1/experiments/{i}" for i in ids]
            # The reference: a request through the same stack that reads no database.
            reference = poll_from_another_process(url, ["/api/v1/catalog/models"], 50,
                                                  min(seconds, 10), 1.0)
            polls = [poll_from_another_process(url, paths, n, seconds, every)
                     for n, every in ((50, 1.0), (200, 1.0), (1, 0.0), (50, 0.0), (200, 0.0))]
            counts, rows = _drained(db)
            total = time.monotonic() - start
        finally:
            _stop(procs)
            shutil.rmtree(data, ignore_errors=True)
    return _report(runs, seconds, submitted, total, counts, rows, reference, polls)


def _report(runs: int, seconds: float, submitted: float, total: float,
            counts: dict[str, int], rows: int | None, reference: dict[str, Any],
            polls: list[dict[str, Any]]) -> str:
    ok = counts == {"succeeded": runs} and rows == runs
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores: "
        f"`python -m bench.load --runs {runs} --seconds {seconds:g}` (PostgreSQL + Redis, "
        "`actlab api` and two `actlab worker` processes, pollers in another process).",
        "",
        f"- {runs} tiny runs submitted in {submitted:.1f} s, all finished in {total:.0f} s "
        f"({runs / total:.1f} runs/s): statuses {counts}, {rows} metrics rows "
        f"({'counts match' if ok else 'COUNTS DO NOT MATCH'}).",
        "",
        "| polling `GET /api/v1/experiments/{id}` | requests | errors | p50 ms | p99 ms | "
        "p99 / reference p99 |",
        "|---|---:|---:|---:|---:|---:|",
        f"| reference: `GET /api/v1/catalog/models` (no database), 50 clients, each once a "
        f"second | "
        f"{reference['requests']} | "
        f"{reference['errors']} | {reference['p50']:.1f} | {reference['p99']:.1f} | 1.00 |",
    ]
    for poll in polls:
        how = "each once a second" if poll["interval"] else "back to back (saturation)"
        kinds = f" ({', '.join(poll['error_kinds'])})" if poll["errors"] else ""
        lines.append(f"| {poll['clients']} clients, {how}, {seconds:g} s | {poll['requests']} | "
                     f"{poll['errors']}{kinds} | {poll['p50']:.1f} | {poll['p99']:.1f} | "
                     f"{poll['p99'] / reference['p99']:.2f} |")
    return write_results("load.md", lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--poll":
        url, paths, clients, seconds, interval = sys.argv[2], json.loads(sys.argv[3]), \
            int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
        print(json.dumps(asyncio.run(_poll(url, paths, clients, seconds, interval))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    run(args.db, args.redis, args.runs, args.seconds)


if __name__ == "__main__":
    main()
