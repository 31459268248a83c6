"""A transformer spec through the service: accepted, trained by the runner, its per-token
loss and perplexity in the metric rows, the summary and the leaderboard; a transformer on an
image dataset is refused with the reason."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from worker.runner import execute_run

SPEC = {"activation": {"name": "relu"},
        "model": {"name": "gpt", "params": {"n_layer": 1, "n_head": 2, "d_model": 16,
                                            "d_ff": 32, "context": 8}},
        "dataset": {"name": "modular", "params": {"p": 7, "operation": "add"}},
        "seeds": [0], "training": {"epochs": 2, "batch_size": 16, "optimizer": "adamw"}}


def test_a_transformer_trains_through_the_service(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json=SPEC)
    assert created.status_code == 202, created.text
    (run,) = created.json()["runs"]
    run_id = uuid.UUID(run["id"])
    assert execute_run(run_id) == "succeeded"
    rows = client.get(f"/api/v1/runs/{run_id}/metrics").json()
    assert len(rows) == 2 and all(r["val_perplexity"] > 1 for r in rows)
    assert all(r["val_miou"] is None for r in rows)  # another task's metric
    summary = client.get(f"/api/v1/experiments/{created.json()['id']}/summary").json()
    assert summary["metrics"]["test_perplexity"]["final"]["n"] == 1
    board = client.get("/api/v1/leaderboard", params={
        "model": "gpt", "dataset": "modular", "metric": "test_perplexity"}).json()
    assert [e["label"] for e in board["entries"]] == ["relu"]
    assert board["higher_is_better"] is False


def test_a_transformer_takes_token_datasets_only(client: TestClient) -> None:
    refused = client.post("/api/v1/experiments", json={**SPEC, "dataset": {"name": "digits"}})
    assert refused.status_code == 422
    assert "tokens" in refused.text and "gpt" in refused.text
    refused = client.post("/api/v1/experiments", json={**SPEC, "model": {"name": "mlp"}})
    assert refused.status_code == 422 and "modular" in refused.text
