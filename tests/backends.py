"""Which database + broker pairs the suite runs on.

Always the embedded default (SQLite + Celery over SQLite). Also PostgreSQL + Redis when
ACTLAB_TEST_DATABASE_URL and ACTLAB_TEST_BROKER_URL point at them (CI sets both); the pytest
header says which ran, so nothing is skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("ACTLAB_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("ACTLAB_TEST_BROKER_URL")
PRODUCTION = bool(PG_URL and REDIS_URL)
BACKENDS = ["embedded", "production"] if PRODUCTION else ["embedded"]


@dataclass
class Backend:
    name: str
    data_dir: Path
    database_url: str | None
    broker_url: str | None
    queue: str

    def env(self) -> dict[str, str]:
        env = {"ACTLAB_DATA_DIR": str(self.data_dir), "ACTLAB_QUEUE": self.queue}
        if self.database_url:
            env["ACTLAB_DATABASE_URL"] = self.database_url
        if self.broker_url:
            env["ACTLAB_BROKER_URL"] = self.broker_url
        return env


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    assert PG_URL
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"actlab_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextmanager
def make_backend(name: str, data_dir: Path) -> Iterator[Backend]:
    queue = f"actlab-test-{uuid.uuid4().hex[:8]}"  # isolates tests sharing one Redis
    if name == "embedded":
        yield Backend(name, data_dir, None, None, queue)
        return
    with fresh_postgres_database() as url:
        yield Backend(name, data_dir, url, REDIS_URL, queue)
