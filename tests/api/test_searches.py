"""/api/v1/searches: validation at submit (422 naming the field, nothing stored), the report
of a search driven to its end, export, cancel."""

from __future__ import annotations

import csv
import io
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.store.db import session_scope
from core.store.models import Experiment, Run, Search
from tests.worker.test_search_driver import SPEC, _drive
from worker.search.driver import advance


def _count_searches() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Search)) or 0


def test_a_bad_search_is_a_422_naming_the_field(client: TestClient) -> None:
    bad = {**SPEC, "space": {"schemas": ["unary(x)"], "unary": ["tanh", "tahn"]}}
    response = client.post("/api/v1/searches", json=bad)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(d["field"] == "space.unary" and "'tahn'" in d["msg"] for d in detail), detail
    assert _count_searches() == 0
    assert client.get(f"/api/v1/searches/{uuid.uuid4()}").status_code == 404


def test_a_search_reports_ranked_candidates_and_a_corrected_confirmation(
        client: TestClient) -> None:
    created = client.post("/api/v1/searches", json=SPEC)
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["status"] == "queued" and body["space_size"] == 8 and not body["sampled"]
    search_id = uuid.UUID(body["id"])
    _drive(search_id)
    report = client.get(f"/api/v1/searches/{search_id}").json()
    assert report["status"] == "succeeded" and report["phase"] == "done"
    assert report["progress"]["trainings"] <= report["progress"]["budget"] == 12
    ranked = [c for c in report["candidates"] if c["rank"] is not None]
    assert [c["rank"] for c in ranked] == list(range(1, len(ranked) + 1))
    assert [c["val_mean"] for c in ranked] == sorted((c["val_mean"] for c in ranked),
                                                     reverse=True)
    relu = next(c for c in report["candidates"] if c["expression"] == "relu(x)")
    assert relu["equivalents"] == ["max(x, 0.0)"] and relu["experiment_id"]
    assert report["filtered"] == [{"expression": "exp(exp(x))",
                                   "reason": report["filtered"][0]["reason"]}]
    assert report["filtered"][0]["reason"].startswith("explodes")
    curve = [p["val_mean"] for p in report["best_so_far"]]
    assert curve == sorted(curve) and len(curve) == len(ranked)
    rows = report["confirmation"]
    assert [r["role"] for r in rows] == ["baseline", "candidate"]
    candidate = rows[1]
    assert candidate["expression"] == ranked[0]["expression"] and candidate["n"] == 2
    assert candidate["baseline"] == "relu"
    # one test in the family: Holm leaves it alone
    if candidate["p_value"] is not None:
        assert candidate["p_holm"] == candidate["p_value"]
    assert candidate["verdict"] in ("better", "worse", "no significant difference",
                                    "test undefined")
    assert report["surrogate"]["model"] is None  # a random search has no surrogate
    assert report["pareto"] and all(p["macs"] > 0 for p in report["pareto"])
    listing = client.get("/api/v1/searches", params={"status": "succeeded"}).json()
    assert [s["id"] for s in listing["items"]] == [str(search_id)]

    exported = client.get(f"/api/v1/searches/{search_id}/export").json()
    assert exported["spec"]["strategy"] == "random"
    assert [d["step"] for d in exported["decisions"]] == list(range(1, report["steps"] + 1))
    table = list(csv.DictReader(io.StringIO(
        client.get(f"/api/v1/searches/{search_id}/export", params={"format": "csv"}).text)))
    assert {r["table"] for r in table} == {"candidate", "filtered", "decision"}
    assert client.post(f"/api/v1/searches/{search_id}/cancel").status_code == 409


def test_cancel_stops_the_runs_in_flight(client: TestClient) -> None:
    search_id = uuid.UUID(client.post("/api/v1/searches", json=SPEC).json()["id"])
    assert advance(search_id) == "proposed"  # pool built, first round queued
    cancelled = client.post(f"/api/v1/searches/{search_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    with session_scope() as s:
        statuses = s.scalars(select(Run.status).join(Experiment).where(
            Experiment.search_id == search_id)).all()
    assert statuses and set(statuses) == {"cancelled"}
    assert advance(search_id) == "busy"  # a finished search takes no more steps
