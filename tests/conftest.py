"""Fixtures: a migrated database per test (SQLite, or PostgreSQL when configured) with
settings pointing at it, and helpers to run real service processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.backends import BACKENDS, PRODUCTION, Backend, make_backend
from tests.s3 import S3Server, s3_server


def pytest_report_header(config: pytest.Config) -> str:
    if PRODUCTION:
        return "actlab backends: embedded (SQLite + Celery/SQLite) and production " \
               "(PostgreSQL + Redis from ACTLAB_TEST_DATABASE_URL / ACTLAB_TEST_BROKER_URL)"
    return "actlab backends: embedded only (set ACTLAB_TEST_DATABASE_URL and " \
           "ACTLAB_TEST_BROKER_URL to also run every backend test on PostgreSQL + Redis)"


def _reset_caches() -> None:
    from core.artifacts import get_store
    from core.catalog import clear_caches
    from core.db import reset_engines
    from core.queue import reset_clients
    from core.settings import get_settings

    reset_engines()
    reset_clients()
    get_settings.cache_clear()
    clear_caches()
    get_store.cache_clear()


def _activate(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ACTLAB_") and not key.startswith("ACTLAB_TEST_"):
            monkeypatch.delenv(key)
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ACTLAB_SWEEPER", "false")  # tests drive the sweeper by hand
    _reset_caches()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A migrated, empty database (+ broker settings), once per configured backend."""
    from core.migrate import upgrade_head

    with make_backend(request.param, tmp_path / "data") as b:
        _activate(b, monkeypatch)
        upgrade_head()
        yield b
        _reset_caches()


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """The embedded default only (for tests whose subject is not the database)."""
    from core.migrate import upgrade_head

    with make_backend("embedded", tmp_path / "data") as b:
        _activate(b, monkeypatch)
        upgrade_head()
        yield b
        _reset_caches()


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    from api.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """moto's S3 server, one per test session (each test takes a fresh bucket)."""
    with s3_server() as server:
        yield server


@pytest.fixture
def auth_client(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The real app with ACTLAB_AUTH=true on `backend` (keys from tests.factories.new_key)."""
    from api.main import create_app
    from core.settings import get_settings

    monkeypatch.setenv("ACTLAB_AUTH", "true")
    monkeypatch.setenv("ACTLAB_SECRET_KEY", "test-server-secret")
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c
    get_settings.cache_clear()
