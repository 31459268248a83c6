"""Adaptive sweeps (seeds until decided) through the service: refused shapes, then a race
trained round by round by the runner (each run's end starts the next round), an entry that
is clearly worse stopped after its first round, the rest topped up until the cap, and the
report's decisions equal to a replay of the stored values."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.statistics.adastop import replay
from core.store.db import session_scope
from core.store.models import Sweep
from core.store.race import adaptive_of, design_of
from worker.runner import execute_run

DEAD = {"name": "formula", "params": {"expression": "0 * x"}}  # outputs nothing: ~1/10
BODY: dict[str, Any] = {
    "name": "race", "activations": [{"name": "relu"}, DEAD, {"name": "leaky_relu"}],
    "models": [{"name": "mlp", "params": {"hidden": 16}}], "datasets": [{"name": "digits"}],
    "training": {"epochs": 2, "batch_size": 64},
    "adaptive": {"baseline": "relu", "metric": "test_accuracy", "per_round": 5,
                 "max_rounds": 2, "alpha": 0.05}}


@pytest.mark.parametrize("change,field,words", [
    ({"seeds": [0, 1]}, "seeds", "not both"),
    ({"models": [{"name": "mlp"}, {"name": "lenet5"}]}, "models", "one task"),
    ({"grid": {"training.lr": [0.1, 0.01]}}, "grid", "no grid"),
    ({"adaptive": {"metric": "epoch_seconds"}}, "adaptive.metric", "a race compares by"),
    ({"adaptive": {"per_round": 1}}, "adaptive.per_round", "greater than or equal to 2"),
    ({"adaptive": {"baseline": "relux"}}, "adaptive.baseline", "unknown baseline"),
])
def test_a_race_s_shape_is_checked(client: TestClient, change: dict[str, Any], field: str,
                                   words: str) -> None:
    refused = client.post("/api/v1/sweeps", json={**BODY, **change})
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert any(d["field"] == field and words in d["msg"] for d in detail), detail


def test_the_baseline_joins_when_not_listed_and_the_cap_counts_every_round(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    created = client.post("/api/v1/sweeps", json={
        **BODY, "activations": [{"name": "tanh"}], "adaptive": {"per_round": 2}})
    assert created.status_code == 202, created.text
    assert sorted(c["activation"] for c in created.json()["experiments"]) == ["relu", "tanh"]
    assert created.json()["runs_queued"] == 4  # the first round: 2 seeds each
    monkeypatch.setenv("ACTLAB_MAX_RUNS_PER_SWEEP", "20")
    from core.domain.settings import get_settings

    get_settings.cache_clear()
    refused = client.post("/api/v1/sweeps", json={**BODY, "adaptive": {"max_rounds": 6}})
    assert refused.status_code == 422  # 3 entries x 5 seeds x 6 rounds = 90 runs
    assert "90 runs" in refused.text


def _drain(client: TestClient, sweep_id: str) -> int:
    """Train every queued run of the sweep, as workers would, until none is left."""
    trained = 0
    while True:
        sweep = client.get(f"/api/v1/sweeps/{sweep_id}").json()
        queued = [r["id"] for e in sweep["experiments"]
                  for r in client.get(f"/api/v1/experiments/{e['id']}").json()["runs"]
                  if r["status"] == "queued"]
        if not queued:
            return trained
        for run_id in queued:
            execute_run(uuid.UUID(run_id))
            trained += 1


def test_a_race_stops_what_is_decided_and_tops_up_the_rest(client: TestClient) -> None:
    created = client.post("/api/v1/sweeps", json=BODY)
    assert created.status_code == 202, created.text
    sweep_id = created.json()["id"]
    race = client.get(f"/api/v1/sweeps/{sweep_id}").json()["race"]
    assert (race["round"], race["finished"], race["rounds_decided"]) == (1, False, 0)
    assert {e["decision"] for e in race["entries"]} == {"baseline", "undecided"}
    _drain(client, sweep_id)
    race = client.get(f"/api/v1/sweeps/{sweep_id}").json()["race"]
    assert race["finished"] and race["note"] is None
    by = {e["label"]: e for e in race["entries"]}
    dead = by["formula(0.0 * x)"]
    assert (dead["decision"], dead["decided_round"], dead["seeds"]) == ("worse", 1, 5)
    assert [r["n"] for r in dead["rounds"]] == [5]
    assert by["relu"]["decision"] == "baseline"
    leaky = by["leaky_relu"]
    if leaky["decision"] == "undecided":  # then it raced to the cap beside the baseline
        assert leaky["seeds"] == by["relu"]["seeds"] == 10 and race["round"] == 2
    assert race["seeds_spent"] == sum(e["seeds"] for e in race["entries"]) < race["seeds_max"]
    # the decisions are a replay of the values the API shows, with the sweep's design
    values = []
    for entry in race["entries"]:
        runs = client.get(f"/api/v1/experiments/{entry['experiment_id']}").json()["runs"]
        values.append([r["final_metrics"]["test_accuracy"]
                       for r in sorted(runs, key=lambda r: r["seed"])])
    with session_scope() as session:
        sweep = session.get_one(Sweep, uuid.UUID(sweep_id))
        design = design_of(sweep, adaptive_of(sweep))  # type: ignore[arg-type]
    replayed = replay(values, design)
    assert replayed.rounds == race["rounds_decided"]
    assert [c.decided_round for c in replayed.comparisons] == \
        [e["decided_round"] for e in race["entries"][1:]]
    # the leaderboard of the sweep carries each entry's decision
    board = client.get("/api/v1/leaderboard", params={
        "model": "mlp", "dataset": "digits", "sweep": sweep_id}).json()
    rows = {e["label"]: e for e in board["entries"]}
    assert (rows["formula(0.0 * x)"]["decision"], rows["formula(0.0 * x)"]["n"]) == ("worse", 5)
    assert rows["relu"]["decision"] == "baseline"
    markdown = client.get("/api/v1/leaderboard", params={
        "model": "mlp", "dataset": "digits", "sweep": sweep_id, "format": "markdown"}).text
    assert "| decision | decided_round |" in markdown and "| worse | 1 |" in markdown


def test_a_diverged_seed_loses_the_race_instead_of_stopping_it(client: TestClient) -> None:
    blowup = {"name": "formula", "params": {"expression": "exp(exp(10 * x))"}}
    created = client.post("/api/v1/sweeps", json={
        **BODY, "activations": [{"name": "relu"}, blowup]})
    assert created.status_code == 202, created.text
    _drain(client, created.json()["id"])
    race = client.get(f"/api/v1/sweeps/{created.json()['id']}").json()["race"]
    assert race["finished"] and race["note"] is None, race
    baseline, entry = race["entries"]
    assert (baseline["decision"], baseline["diverged"]) == ("baseline", 0)
    assert (entry["diverged"], entry["seeds"]) == (5, 5)
    assert (entry["decision"], entry["decided_round"]) == ("worse", 1)
    # tested as one spread of the baseline's values below its lowest
    values = [r["final_metrics"]["test_accuracy"] for r in client.get(
        f"/api/v1/experiments/{baseline['experiment_id']}").json()["runs"]]
    floor = max(0.0, min(values) - (max(values) - min(values)))
    assert entry["rounds"][0]["mean"] == pytest.approx(floor)


def test_a_pilot_plans_a_fixed_design(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json={
        "activation": {"name": "relu"}, "model": {"name": "mlp", "params": {"hidden": 16}},
        "dataset": {"name": "digits"}, "seeds": [0, 1, 2, 3],
        "training": {"epochs": 1, "batch_size": 64}})
    experiment_id = created.json()["id"]
    early = client.get(f"/api/v1/experiments/{experiment_id}/plan",
                       params={"difference": 0.01})
    assert early.status_code == 409 and "at least 2 finished seeds" in early.text
    for run in created.json()["runs"]:
        execute_run(uuid.UUID(run["id"]))
    values = [r["final_metrics"]["test_accuracy"]
              for r in client.get(f"/api/v1/experiments/{experiment_id}").json()["runs"]]
    sd = float(np.std(values, ddof=1))
    small = client.get(f"/api/v1/experiments/{experiment_id}/plan",
                       params={"difference": sd, "comparisons": 1}).json()
    assert small["pilot_seeds"] == 4 and small["sd"] == pytest.approx(sd)
    # one standard deviation at 80 % power and alpha 0.05: Student's 17 seeds (statsmodels)
    assert small["seeds_per_entry"] in (17, 18)
    assert small["seeds_per_entry_cautious"] > small["seeds_per_entry"]
    assert [p["seeds"] for p in small["curve"]][:3] == [2, 3, 5]
    powers = [p["power"] for p in small["curve"]]
    assert powers == sorted(powers)
    split = client.get(f"/api/v1/experiments/{experiment_id}/plan",
                       params={"difference": sd, "comparisons": 10}).json()
    assert split["alpha_per_test"] == 0.005 and split["seeds_per_entry"] > 17
    refused = client.get(f"/api/v1/experiments/{experiment_id}/plan",
                         params={"difference": 0.01, "metric": "lr"})
    assert refused.status_code == 422
