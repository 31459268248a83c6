"""How long a study takes to submit: a sweep of 43 activations x 5 seeds (the seed paper's
size) in one POST, against one 5-seed experiment POST measured in the same run.

    python -m bench.submit [--db postgresql+psycopg://postgres@127.0.0.1:5432/test]
                           [--repeats 5]

In-process (FastAPI TestClient, no network, no worker: the runs stay queued and their
notices go to a queue nobody reads), on the embedded SQLite database and on a scratch
PostgreSQL database next to --db, with force=true so nothing is reused. Target: under 1 s.
Writes bench/results/submit.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

from bench.service import scratch_database, write_results

SEEDS = [0, 1, 2, 3, 4]


def _activations() -> list[str]:
    from core.domain import catalog

    names = [n for n in catalog.canonical_names("activations") if n != "formula"]
    return names[:43]


def _postgres(url: str) -> AbstractContextManager[str | None]:
    return scratch_database(url, "actlab_submit")


@contextmanager
def _sqlite(_: str) -> Iterator[str | None]:
    yield None


def measure(backend: Callable[[str], AbstractContextManager[str | None]], db: str,
            repeats: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from core.domain.settings import get_settings
    from core.store.db import reset_engines
    from core.store.migrate import upgrade_head
    from core.store.queue import reset_clients

    with tempfile.TemporaryDirectory() as tmp, backend(db) as url:
        os.environ.update({"ACTLAB_DATA_DIR": tmp, "ACTLAB_SWEEPER": "false",
                           "ACTLAB_QUEUE": f"bench-{uuid.uuid4().hex[:8]}"})
        os.environ.pop("ACTLAB_DATABASE_URL", None)
        os.environ.pop("ACTLAB_BROKER_URL", None)
        if url:
            os.environ["ACTLAB_DATABASE_URL"] = url
            os.environ["ACTLAB_BROKER_URL"] = "redis://127.0.0.1:6379/0"
        get_settings.cache_clear()
        reset_engines()
        reset_clients()
        upgrade_head()
        sweep = {"activations": [{"name": n} for n in _activations()],
                 "models": [{"name": "mlp"}], "seeds": SEEDS, "training": {"epochs": 1},
                 "force": True}
        one = {"activation": {"name": "relu"}, "seeds": SEEDS, "training": {"epochs": 1}}
        times: dict[str, list[float]] = {"sweep": [], "one": []}
        with TestClient(create_app()) as c:
            for _ in range(repeats):
                start = time.perf_counter()
                r = c.post("/api/v1/experiments", params={"force": "true"}, json=one)
                times["one"].append(time.perf_counter() - start)
                assert r.status_code == 202, r.text
                start = time.perf_counter()
                r = c.post("/api/v1/sweeps", json=sweep)
                times["sweep"].append(time.perf_counter() - start)
                assert r.status_code == 202 and r.json()["runs_queued"] == 43 * 5, r.text
        reset_engines()
        reset_clients()
        if url:  # the notices nobody will read
            import redis

            redis.Redis.from_url(os.environ["ACTLAB_BROKER_URL"]).delete(
                os.environ["ACTLAB_QUEUE"])
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores: "
             f"`python -m bench.submit --repeats {args.repeats}` (medians).", "",
             "| database | one experiment, 5 seeds (reference) s | sweep 43 x 5 = 215 runs s "
             "| ratio | target < 1 s |", "|---|---:|---:|---:|---|"]
    for name, backend in (("SQLite (embedded)", _sqlite), ("PostgreSQL + Redis", _postgres)):
        t = measure(backend, args.db, args.repeats)
        lines.append(f"| {name} | {t['one']:.3f} | {t['sweep']:.3f} | "
                     f"{t['sweep'] / t['one']:.1f} | {'met' if t['sweep'] < 1 else 'not met'} |")
    write_results("submit.md", lines)


if __name__ == "__main__":
    main()
