"""What the benchmarks share: a scratch PostgreSQL database, waiting for a service to answer,
and writing a results table."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

RESULTS = Path(__file__).resolve().parent / "results"


@contextmanager
def scratch_database(url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of `url`, dropped afterwards; yields its URL."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = :n"), {"n": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def write_results(name: str, lines: list[str]) -> str:
    """bench/results/NAME as a table of `lines`; returns the text (and prints it)."""
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(text)
    print(text)
    return text


def wait_healthy(url: str, timeout: float, why: Callable[[], str] = lambda: "") -> None:
    """Until GET /health answers 200; AssertionError with `why()` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"service not healthy at {url}\n{why()}"
        time.sleep(0.3)


@contextmanager
def embedded_service(settings: dict[str, str], datasets: Path | None = None,
                     port: int = 18500, concurrency: int = 1) -> Iterator[str]:
    """`actlab serve` (the embedded default) in a scratch data directory, with these ACTLAB_
    settings, a copy of `datasets` (already generated, as a lab's are after their first
    run) and `concurrency` runs trained at once; yields its URL and stops it afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        if datasets is not None:
            shutil.copytree(datasets, Path(tmp) / "datasets")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTLAB_")}
        env.update({"ACTLAB_DATA_DIR": tmp, **settings})
        port += os.getpid() % 1000
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port),
                                 "--concurrency", str(concurrency)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, 120)
            yield url
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)


@contextmanager
def production_service(db_url: str, redis: str, settings: dict[str, str],
                       datasets: Path | None = None, workers: int = 1) -> Iterator[str]:
    """`actlab api` and `workers` x `actlab worker` on a scratch PostgreSQL database next to
    `db_url` and a queue of their own on `redis`, with these ACTLAB_ settings and a copy of
    `datasets`; yields the API's URL and stops everything afterwards."""
    actlab = [sys.executable, "-m", "cli"]
    with scratch_database(db_url, "actlab_bench") as db, tempfile.TemporaryDirectory() as tmp:
        if datasets is not None:
            shutil.copytree(datasets, Path(tmp) / "datasets")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTLAB_")}
        env.update({"ACTLAB_DATABASE_URL": db, "ACTLAB_BROKER_URL": redis,
                    "ACTLAB_DATA_DIR": tmp, "ACTLAB_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
                    **settings})
        subprocess.run([*actlab, "migrate"], env=env, check=True, capture_output=True)
        port = 18000 + os.getpid() % 1000
        url = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "service.log"
        procs: list[subprocess.Popen[bytes]] = []
        try:
            with log.open("wb") as out:
                for command in (["api", "--port", str(port)], *[["worker"]] * workers):
                    procs.append(subprocess.Popen([*actlab, *command], env=env, stdout=out,
                                                  stderr=subprocess.STDOUT,
                                                  start_new_session=True))
            wait_healthy(url, 120, lambda: log.read_text()[-3000:])
            yield url
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            for proc in procs:
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
