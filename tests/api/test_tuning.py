"""Equal tuning budgets through the service: every entry (the baseline too) trains the same
quasi-random points on the trial seed, each is evaluated at its own best point on fresh
seeds, trials stay off the boards, and a tuned entry is still tested against its baseline
(the tuned key left out of the context, shown in the recipe's differences); a race starts
once the tuning has chosen."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.domain.settings import get_settings
from core.store import tuned
from core.store.db import session_scope
from tests.api.test_races import _drain

SPACE = {"lr": {"low": 1e-3, "high": 0.3, "log": True}}
BODY: dict[str, Any] = {
    "name": "tuned", "activations": [{"name": "relu"}, {"name": "tanh"}],
    "models": [{"name": "mlp", "params": {"hidden": 8}}], "datasets": [{"name": "digits"}],
    "seeds": [0, 1], "training": {"epochs": 2, "batch_size": 64},
    "tuning": {"trials": 3, "space": SPACE}}


@pytest.mark.parametrize("change,field,words", [
    ({"tuning": {"space": {"epochs": {"low": 1, "high": 5}}}}, "tuning.space",
     "'epochs' cannot be tuned"),
    ({"tuning": {"space": {"lr": {"low": 0.1, "high": 0.01}}}}, "tuning.space.lr",
     "must be below high"),
    ({"tuning": {"space": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}},
     "tuning.space.lr", "log range needs low > 0"),
    ({"tuning": {"space": {"lr": {"low": 1e-3, "high": 50.0}}}}, "tuning.space",
     "lr = 50.0 is not a valid setting"),
    ({"training": {"lr": 0.01}}, "training.lr", "is tuned"),
    ({"grid": {"training.lr": [0.1, 0.01]}}, "grid.training.lr", "is tuned"),
    ({"tuning": {"space": SPACE, "select": "test_accuracy"}}, "tuning.select",
     "unknown selection metric"),
])
def test_a_tuning_budget_s_shape_is_checked(client: TestClient, change: dict[str, Any],
                                            field: str, words: str) -> None:
    refused = client.post("/api/v1/sweeps", json={**BODY, **change})
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert any(d["field"] == field and words in d["msg"] for d in detail), detail


def test_every_entry_gets_the_same_trials_and_is_evaluated_at_its_best(
        client: TestClient) -> None:
    created = client.post("/api/v1/sweeps", json=BODY)
    assert created.status_code == 202, created.text
    assert created.json()["runs_queued"] == 6  # 2 entries x 3 trials, on seed 2
    sweep_id = created.json()["id"]
    sweep = client.get(f"/api/v1/sweeps/{sweep_id}").json()
    tuning = sweep["tuning"]
    assert not tuning["finished"] and tuning["select"] == "val_accuracy"
    points = [[t["params"] for t in e["trials"]] for e in tuning["entries"]]
    assert points[0] == points[1] and len(points[0]) == 3  # the same points for both
    assert all(1e-3 <= p["lr"] <= 0.3 for p in points[0])
    assert {t["seed"] for e in tuning["entries"] for t in e["trials"]} == {2}  # not 0 or 1
    # trials are on no board
    board = client.get("/api/v1/leaderboard", params={"model": "mlp", "dataset": "digits",
                                                      "sweep": sweep_id}).json()
    assert board["entries"] == []
    _drain(client, sweep_id)  # the trials, then the evaluations the last trial's end created
    tuning = client.get(f"/api/v1/sweeps/{sweep_id}").json()["tuning"]
    assert tuning["finished"]
    for entry in tuning["entries"]:
        values = [t["value"] for t in entry["trials"]]
        assert all(v is not None for v in values) and {t["status"] for t in entry["trials"]} \
            == {"succeeded"}
        best = entry["trials"][values.index(max(values))]["params"]
        assert entry["chosen"] == best
        evaluation = client.get(f"/api/v1/experiments/{entry['experiment_id']}").json()
        assert evaluation["spec"]["training"]["lr"] == best["lr"]
        assert evaluation["spec"]["role"] == "evaluation"
        assert evaluation["spec"]["tuned"] == ["training.lr"]
        assert sorted(r["seed"] for r in evaluation["runs"]) == [0, 1]
        assert {r["status"] for r in evaluation["runs"]} == {"succeeded"}
    board = client.get("/api/v1/leaderboard", params={"model": "mlp", "dataset": "digits",
                                                      "sweep": sweep_id}).json()
    rows = {e["label"]: e for e in board["entries"]}
    assert set(rows) == {"relu", "tanh"} and rows["relu"]["verdict"] == "baseline"
    assert rows["tanh"]["n"] == 2 and rows["tanh"]["p_value"] is not None  # still tested
    chosen = {e["label"]: e["chosen"]["lr"] for e in tuning["entries"]}
    if chosen["relu"] != chosen["tanh"]:
        assert "training.lr" in board["differs_by"]
        assert rows["tanh"]["recipe_diff"]["training.lr"] == chosen["tanh"]
    with session_scope() as session:  # once chosen, nothing more happens
        assert tuned.advance(session, uuid.UUID(sweep_id), get_settings()) == []


def test_a_race_starts_once_the_tuning_has_chosen(client: TestClient) -> None:
    body = {**BODY, "tuning": {"trials": 2, "space": SPACE}}
    del body["seeds"]
    created = client.post("/api/v1/sweeps", json={
        **body, "adaptive": {"baseline": "relu", "per_round": 2, "max_rounds": 1}})
    assert created.status_code == 202, created.text
    sweep_id = created.json()["id"]
    sweep = client.get(f"/api/v1/sweeps/{sweep_id}").json()
    # trials on seed 2 (one past the race's every seed); no race round yet
    assert {t["seed"] for e in sweep["tuning"]["entries"] for t in e["trials"]} == {2}
    assert sweep["race"] is None
    _drain(client, sweep_id)
    sweep = client.get(f"/api/v1/sweeps/{sweep_id}").json()
    assert sweep["tuning"]["finished"] and sweep["race"]["finished"]
    assert sorted(e["label"] for e in sweep["race"]["entries"]) == ["relu", "tanh"]
    assert all(e["seeds"] == 2 for e in sweep["race"]["entries"])  # evaluations only
