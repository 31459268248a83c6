"""Runs say what they need, workers say what they serve: `resources.device` is recorded but
not part of the recipe, the claim only hands a worker the runs it can serve (priority still
first), a queued run no live worker can serve says what it waits for, and a run that asks
for the CPU trains there."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from core.domain.settings import Settings
from core.store.db import session_scope
from core.store.lifecycle import claim_next
from core.store.workers import seen
from worker.devices import device_for_run, served
from worker.runner import execute_run

SPEC: dict[str, Any] = {"activation": {"name": "relu"},
                        "model": {"name": "mlp", "params": {"hidden": 8}},
                        "dataset": {"name": "digits"}, "seeds": [0],
                        "training": {"epochs": 1}}


def _submit(client: TestClient, device: str | None, **more: Any) -> dict[str, Any]:
    body = {**SPEC, **more}
    if device is not None:
        body["resources"] = {"device": device}
    created = client.post("/api/v1/experiments", json=body)
    assert created.status_code == 202, created.text
    return created.json()


def test_resources_are_recorded_but_not_the_recipe(client: TestClient) -> None:
    plain = _submit(client, None)
    gpu = _submit(client, "cuda", seeds=[1])
    detail = client.get(f"/api/v1/experiments/{gpu['id']}").json()
    assert detail["spec"]["resources"] == {"device": "cuda"}
    assert detail["spec_hash"] == client.get(
        f"/api/v1/experiments/{plain['id']}").json()["spec_hash"]
    refused = client.post("/api/v1/experiments", json={**SPEC, "resources": {"device": "tpu"}})
    assert refused.status_code == 422 and "resources.device" in refused.text


def test_the_claim_hands_a_worker_only_what_it_serves(client: TestClient) -> None:
    gpu = _submit(client, "cuda", priority=5)  # first by priority, but not for a CPU worker
    cpu = _submit(client, "cpu", seeds=[1])
    anywhere = _submit(client, "any", seeds=[2])
    with session_scope() as s:
        first = claim_next(s, "cpu-worker:1", devices=["any", "cpu"])
        second = claim_next(s, "cpu-worker:1", devices=["any", "cpu"])
        third = claim_next(s, "cpu-worker:1", devices=["any", "cpu"])
        gpu_claim = claim_next(s, "gpu-worker:1", devices=["any", "cuda"])
    assert {str(first), str(second)} == {cpu["runs"][0]["id"], anywhere["runs"][0]["id"]}
    assert third is None and str(gpu_claim) == gpu["runs"][0]["id"]


def test_a_run_no_live_worker_serves_says_what_it_waits_for(client: TestClient) -> None:
    gpu, cpu = _submit(client, "cuda"), _submit(client, "cpu", seeds=[1])

    def waiting(experiment: dict[str, Any]) -> str | None:
        runs = client.get(f"/api/v1/experiments/{experiment['id']}").json()["runs"]
        return runs[0]["waiting_for"]  # type: ignore[no-any-return]

    assert (waiting(gpu), waiting(cpu)) == ("a cuda worker", "a cpu worker")  # none alive
    with session_scope() as s:
        seen(s, "laptop:1", ["any", "cpu"])
    assert (waiting(gpu), waiting(cpu)) == ("a cuda worker", None)
    with session_scope() as s:
        seen(s, "gpu-box:7", ["any", "cuda"])
    assert waiting(gpu) is None
    # this process is a CPU worker: the GPU run is not its to train, and stays queued
    assert execute_run(uuid.UUID(gpu["runs"][0]["id"]), worker="laptop") == "duplicate"
    assert client.get(f"/api/v1/experiments/{gpu['id']}").json()["runs"][0]["status"] == \
        "queued"
    assert execute_run(uuid.UUID(cpu["runs"][0]["id"]), worker="laptop") == "succeeded"
    run = client.get(f"/api/v1/runs/{cpu['runs'][0]['id']}").json()
    assert run["device"] == "cpu" and run["waiting_for"] is None


def test_what_a_worker_serves_and_where_a_run_trains() -> None:
    assert served(Settings(device="cpu")) == ["any", "cpu"]
    assert served(Settings(device="cuda")) == ["any", "cuda"]
    assert served(Settings(device="cuda", worker_serves="cpu")) == ["any", "cpu", "cuda"]
    assert device_for_run(Settings(device="cuda"), {"resources": {"device": "cpu"}}) == "cpu"
    assert device_for_run(Settings(device="cuda"), {}) == "cuda"
