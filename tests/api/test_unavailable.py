"""The database going away gives 503 with a JSON body, never a stack trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client_without_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    from core.domain.settings import get_settings
    from core.store.db import reset_engines
    from core.store.queue import reset_clients

    # Nothing listens on port 1: every connection attempt is refused.
    monkeypatch.setenv("ACTLAB_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("ACTLAB_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("ACTLAB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ACTLAB_SWEEPER", "false")
    get_settings.cache_clear()
    reset_engines()
    reset_clients()
    from api.main import create_app

    return TestClient(create_app(), raise_server_exceptions=False)


def test_database_unreachable_is_503_json(client_without_database: TestClient) -> None:
    c = client_without_database
    for method, path, body in [
        ("GET", "/api/v1/experiments", None),
        ("POST", "/api/v1/experiments", {"activation": {"name": "relu"}}),
        ("GET", "/api/v1/runs/00000000-0000-0000-0000-000000000000", None),
    ]:
        r = c.request(method, path, json=body)
        assert r.status_code == 503, (path, r.text)
        assert r.json() == {"detail": "database unavailable; try again"}
        assert "Traceback" not in r.text


def test_health_is_503_when_both_are_down(client_without_database: TestClient) -> None:
    r = client_without_database.get("/health")
    assert r.status_code == 503
    assert r.json()["database"] == "unavailable" and r.json()["broker"] == "unavailable"
