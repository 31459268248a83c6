"""KAN's edge function in a spec: its grid is checked at submit (high above low), and a valid
one is accepted with every default filled in."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_a_bspline_grid_must_rise(client: TestClient) -> None:
    body = {"activation": {"name": "bspline", "params": {"low": 1.0, "high": 1.0}},
            "seeds": [0], "training": {"epochs": 1}}
    refused = client.post("/api/v1/experiments", json=body)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert any(d["field"] == "activation.params.high" and "must be above low" in d["msg"]
               for d in detail), detail
    body["activation"]["params"] = {"low": -2.0, "high": 2.0, "grid": 8}  # type: ignore[index]
    created = client.post("/api/v1/experiments", json=body)
    assert created.status_code == 202, created.text
    params = client.get(f"/api/v1/experiments/{created.json()['id']}").json()["spec"][
        "activation"]["params"]
    assert params == {"grid": 8, "order": 3, "low": -2.0, "high": 2.0, "per_channel": True}
