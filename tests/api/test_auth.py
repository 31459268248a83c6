"""ACTLAB_AUTH=true: keys, scopes, owners, quotas, the rate limit and the audit log, on a real
database (both backends), through the real app."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.store.db import session_scope
from core.store.keys import Scope, revoke_key
from core.store.models import AuditEntry, Experiment, Run
from tests.factories import new_key

SPEC: dict[str, Any] = {"activation": {"name": "relu"}, "model": {"name": "mlp"},
                        "dataset": {"name": "digits"}, "seeds": [0, 1],
                        "training": {"epochs": 1}}


@pytest.fixture
def app(auth_client: TestClient) -> TestClient:
    return auth_client


def counts() -> tuple[int, int]:
    with session_scope() as s:
        return (s.scalar(select(func.count()).select_from(Experiment)) or 0,
                s.scalar(select(func.count()).select_from(Run)) or 0)


def test_without_a_key_only_health_ui_and_docs_answer(app: TestClient) -> None:
    for path in ("/api/v1/experiments", "/api/v1/catalog/activations",
                 f"/api/v1/runs/{uuid.uuid4()}", "/api/v1/leaderboard?model=mlp&dataset=digits"):
        r = app.get(path)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in r.json()["detail"]
    assert app.post("/api/v1/experiments", json=SPEC).status_code == 401
    assert counts() == (0, 0)
    for path in ("/health", "/ui", "/ui/static/js/app.js", "/docs", "/redoc", "/openapi.json"):
        assert app.get(path).status_code == 200, path
    bad = app.get("/api/v1/experiments", headers={"Authorization": "Bearer actlab_nope"})
    assert bad.status_code == 401 and "not valid" in bad.json()["detail"]
    # a right id with a wrong secret is no better
    key_id, good = new_key(Scope.read)
    forged = good["Authorization"][:-5] + "AAAAA"
    assert app.get("/api/v1/experiments", headers={"Authorization": forged}).status_code == 401


def test_a_read_key_reads_and_cannot_write(app: TestClient) -> None:
    _, read = new_key(Scope.read)
    assert app.get("/api/v1/experiments", headers=read).status_code == 200
    r = app.post("/api/v1/experiments", json=SPEC, headers=read)
    assert r.status_code == 403 and "needs a write or admin key" in r.json()["detail"]
    assert counts() == (0, 0)


def test_only_the_owner_or_an_admin_changes_work(app: TestClient) -> None:
    alice_id, alice = new_key(Scope.write)
    _, bob = new_key(Scope.write)
    _, admin = new_key(Scope.admin)
    created = app.post("/api/v1/experiments", json=SPEC, headers=alice)
    assert created.status_code == 202, created.text
    exp, run = created.json()["id"], created.json()["runs"][0]["id"]
    with session_scope() as s:
        assert s.get_one(Experiment, uuid.UUID(exp)).owner_key_id == alice_id
    # bob reads it, but may not touch it
    assert app.get(f"/api/v1/experiments/{exp}", headers=bob).status_code == 200
    for method, path, body in (("POST", f"/api/v1/experiments/{exp}/cancel", None),
                               ("POST", f"/api/v1/runs/{run}/cancel", None),
                               ("POST", f"/api/v1/experiments/{exp}/seeds", {"seeds": [7]}),
                               ("DELETE", f"/api/v1/experiments/{exp}", None)):
        r = app.request(method, path, json=body, headers=bob)
        assert r.status_code == 403, (path, r.text)
        assert "belongs to another key" in r.json()["detail"]
    assert counts() == (1, 2)
    # the owner cancels one run, the admin the rest, then the owner retries one
    assert app.post(f"/api/v1/runs/{run}/cancel", headers=alice).status_code == 200
    assert app.post(f"/api/v1/experiments/{exp}/cancel", headers=admin).status_code == 200
    assert app.post(f"/api/v1/runs/{run}/retry", headers=bob).status_code == 403
    assert app.post(f"/api/v1/runs/{run}/retry", headers=alice).status_code == 202
    # owner=me lists only one's own
    mine = app.get("/api/v1/experiments?owner=me", headers=alice).json()
    assert [e["id"] for e in mine["items"]] == [exp]
    assert app.get("/api/v1/experiments?owner=me", headers=bob).json()["total"] == 0
    by_id = app.get(f"/api/v1/experiments?owner={alice_id}", headers=admin).json()
    assert by_id["total"] == 1
    assert app.get("/api/v1/experiments?owner=someone", headers=bob).status_code == 422


def test_a_revoked_key_is_refused_at_once(app: TestClient) -> None:
    key_id, key = new_key(Scope.write)
    assert app.get("/api/v1/experiments", headers=key).status_code == 200
    with session_scope() as s:
        assert revoke_key(s, key_id)
    r = app.get("/api/v1/experiments", headers=key)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_quota_of_unfinished_runs_refuses_the_whole_request(app: TestClient) -> None:
    _, key = new_key(Scope.write, max_queued_runs=3)
    assert app.post("/api/v1/experiments", json=SPEC, headers=key).status_code == 202
    r = app.post("/api/v1/experiments", json={**SPEC, "seeds": [5, 6]}, headers=key)
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) > 0
    assert "4 runs queued or running; at most 3" in r.json()["detail"]
    assert counts() == (1, 2)  # nothing of the refused request was stored
    sweep = app.post("/api/v1/sweeps", json={"activations": [{"name": "relu"},
                                                             {"name": "tanh"}],
                                             "models": [{"name": "mlp"}], "seeds": [0],
                                             "training": {"epochs": 1}}, headers=key)
    assert sweep.status_code == 429 and counts() == (1, 2)
    # another key has its own quota
    _, other = new_key(Scope.write)
    assert app.post("/api/v1/experiments", json={**SPEC, "seeds": [5, 6]},
                    headers=other).status_code == 202


def test_quota_of_runs_per_day_counts_sweeps_and_top_ups(app: TestClient) -> None:
    _, key = new_key(Scope.write, max_runs_per_day=4)
    sweep = app.post("/api/v1/sweeps", json={"activations": [{"name": "relu"},
                                                             {"name": "tanh"}],
                                             "models": [{"name": "mlp"}], "seeds": [0],
                                             "training": {"epochs": 1}}, headers=key)
    assert sweep.status_code == 202, sweep.text
    exp = app.post("/api/v1/experiments", json=SPEC, headers=key).json()["id"]
    r = app.post(f"/api/v1/experiments/{exp}/seeds", json={"seeds": [9]}, headers=key)
    assert r.status_code == 429 and "at most 4 a day" in r.json()["detail"]
    assert 0 < int(r.headers["retry-after"]) <= 86400
    assert counts() == (3, 4)


def test_rate_limit_answers_429_with_retry_after(app: TestClient) -> None:
    _, key = new_key(Scope.read, requests_per_minute=3)
    assert [app.get("/api/v1/experiments", headers=key).status_code
            for _ in range(3)] == [200, 200, 200]
    r = app.get("/api/v1/experiments", headers=key)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "3 requests a minute" in r.json()["detail"]


def test_writes_are_audited_by_key_id_and_the_key_never_shows(
        app: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    key_id, key = new_key(Scope.write)
    _, read = new_key(Scope.read)
    secret = key["Authorization"].split()[1]
    with caplog.at_level(logging.DEBUG):
        created = app.post("/api/v1/experiments", json=SPEC, headers=key)
        refused = app.post("/api/v1/experiments", json=SPEC, headers=read)
        bad = app.post("/api/v1/experiments", json={"seeds": "x"}, headers=key)
        app.get("/api/v1/experiments", headers=key)
    for r in (created, refused, bad):
        assert secret not in r.text
    assert secret not in caplog.text
    with session_scope() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        seen = [(e.key_id, e.method, e.path, e.status_code) for e in rows]
    assert seen[0] == (key_id, "POST", "/api/v1/experiments", 202)
    assert seen[1][2:] == ("/api/v1/experiments", 403)
    assert seen[2] == (key_id, "POST", "/api/v1/experiments", 422)
    assert len(seen) == 3  # reads are not audited
