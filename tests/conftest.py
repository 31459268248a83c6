"""Fixtures: a migrated database per test (SQLite, or PostgreSQL when configured) with
settings pointing at it, and helpers to run real service processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.backends import BACKENDS, PRODUCTION, Backend, make_backend
from tests.s3 import S3Server, s3_server

# One intra-op thread per test process, as the service processes the tests start have
# (ACTLAB_TORCH_THREADS=1): `make test` runs two test processes on two cores beside those
# services, and OpenMP's default of a thread per core then leaves every small op spinning for
# a thread that is not running (the engine tests ran 3x slower on a loaded 2-core machine).
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# Modules whose tests share no module fixture and each run for minutes: under `make test`'s
# parallel workers each test is its own unit of work, so they run side by side.
SPREAD = frozenset({"tests/integration/test_openapi_fuzz.py"})


def _scope(nodeid: str) -> str:
    """The unit a parallel worker takes whole: the module (its module-scoped services
    start once), or the test itself for SPREAD modules."""
    module = nodeid.split("::", 1)[0]
    return nodeid if module in SPREAD else module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with integration tests first (stable otherwise): they take minutes, so the
    parallel workers start them at once and the quick unit tests fill in behind them."""
    slow = {i.nodeid.split("::", 1)[0] for i in items if i.get_closest_marker("integration")}
    items.sort(key=lambda i: i.nodeid.split("::", 1)[0] not in slow)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Work handed out by module (or by test for SPREAD), in collection order: the slow
    modules first (xdist would otherwise order modules by their number of tests)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    config.option.loadscopereorder = False
    return ByModule(config, log)


def pytest_report_header(config: pytest.Config) -> str:
    if PRODUCTION:
        return "actlab backends: embedded (SQLite + Celery/SQLite) and production " \
               "(PostgreSQL + Redis from ACTLAB_TEST_DATABASE_URL / ACTLAB_TEST_BROKER_URL)"
    return "actlab backends: embedded only (set ACTLAB_TEST_DATABASE_URL and " \
           "ACTLAB_TEST_BROKER_URL to also run every backend test on PostgreSQL + Redis)"


def _reset_caches() -> None:
    from core.domain.catalog import clear_caches
    from core.domain.settings import get_settings
    from core.store.artifacts import get_store
    from core.store.db import reset_engines
    from core.store.queue import reset_clients

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
    from core.store.migrate import upgrade_head

    with make_backend(request.param, tmp_path / "data") as b:
        _activate(b, monkeypatch)
        upgrade_head()
        yield b
        _reset_caches()


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """The embedded default only (for tests whose subject is not the database)."""
    from core.store.migrate import upgrade_head

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
    from core.domain.settings import get_settings

    monkeypatch.setenv("ACTLAB_AUTH", "true")
    monkeypatch.setenv("ACTLAB_SECRET_KEY", "test-server-secret")
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c
    get_settings.cache_clear()
