"""Runs routed to the hardware they need, through real worker processes: a CPU-only worker
trains the CPU and "any" runs and leaves a CUDA run queued, saying what it waits for."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_end_to_end import service, wait_for  # noqa: F401
from tests.processes import Service

pytestmark = pytest.mark.integration
SPEC = {"activation": {"name": "relu"}, "model": {"name": "mlp", "params": {"hidden": 8}},
        "dataset": {"name": "digits"}, "training": {"epochs": 1}, "tags": ["routing"]}


def test_a_cpu_worker_leaves_a_cuda_run_waiting(service: Service) -> None:  # noqa: F811
    http = service.client()
    gpu = http.post("/api/v1/experiments", json={
        **SPEC, "seeds": [40], "priority": 5, "resources": {"device": "cuda"}}).json()
    cpu = http.post("/api/v1/experiments", json={
        **SPEC, "seeds": [41], "resources": {"device": "cpu"}}).json()
    anywhere = http.post("/api/v1/experiments", json={**SPEC, "seeds": [42]}).json()
    for done in (cpu, anywhere):  # the GPU run's higher priority does not block them
        exp = wait_for(http, done["id"], {"succeeded"})
        assert exp["runs"][0]["device"] == "cpu", service.log_text()[-2000:]
    deadline = time.monotonic() + 120
    while True:  # the worker's row is in the registry once its child has started
        run = http.get(f"/api/v1/experiments/{gpu['id']}").json()["runs"][0]
        if run["waiting_for"] == "a cuda worker" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert (run["status"], run["waiting_for"]) == ("queued", "a cuda worker"), run
