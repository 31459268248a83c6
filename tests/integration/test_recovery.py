"""A worker killed mid-run: the sweeper re-queues the run, another worker process claims it
(attempt 2) and resumes from the last checkpoint; every epoch is recorded exactly once."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import pytest

from core.store.db import session_scope
from core.store.models import Run
from tests.backends import BACKENDS
from tests.processes import Service, running_service

pytestmark = pytest.mark.integration


@pytest.fixture(params=BACKENDS)
def fast_sweeper_service(request: pytest.FixtureRequest,
                         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp(f"recovery-{request.param}")
    env = {"ACTLAB_SWEEPER": "true", "ACTLAB_STALE_AFTER_SECONDS": "4",
           "ACTLAB_SWEEPER_INTERVAL_SECONDS": "1", "ACTLAB_REQUEUE_AFTER_SECONDS": "30"}
    with running_service(request.param, tmp, env) as (svc, _):
        yield svc


def test_killed_worker_run_is_resumed_from_its_checkpoint(fast_sweeper_service: Service) -> None:
    service = fast_sweeper_service
    epochs = 12
    with service.client() as c:
        spec = {"activation": {"name": "dual_line"}, "model": {"name": "lenet5"},
                "seeds": [0], "training": {"epochs": epochs, "batch_size": 32}}
        created = c.post("/api/v1/experiments", json=spec).json()
        run_id = created["runs"][0]["id"]
        deadline = time.monotonic() + 120
        while c.get(f"/api/v1/runs/{run_id}").json()["progress"]["epoch"] < 3:
            assert time.monotonic() < deadline, service.log_text()[-3000:]
            time.sleep(0.1)
        with session_scope() as s:
            claimed_by = s.get_one(Run, uuid.UUID(run_id)).claimed_by
        assert claimed_by is not None
        pid = int(claimed_by.split(":")[-2])  # the token is host:pid:nonce
        os.kill(pid, signal.SIGKILL)  # the process training the run dies, no clean-up at all
        killed_at = c.get(f"/api/v1/runs/{run_id}").json()["progress"]["epoch"]

        deadline = time.monotonic() + 180
        run = c.get(f"/api/v1/runs/{run_id}").json()
        while run["status"] != "succeeded":
            assert run["status"] in ("running", "queued"), run
            assert time.monotonic() < deadline, service.log_text()[-4000:]
            time.sleep(0.3)
            run = c.get(f"/api/v1/runs/{run_id}").json()
        assert run["attempt"] == 2
        rows = c.get(f"/api/v1/runs/{run_id}/metrics").json()
        assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))
        params = c.get(f"/api/v1/runs/{run_id}/parameters?name=a&layer=features.1").json()
        assert sorted(p["epoch"] for p in params["items"]) == list(range(1, epochs + 1))
        # the same numbers as the same run undisturbed
        again = c.post("/api/v1/experiments", params={"force": "true"}, json=spec).json()
        calm_id = again["runs"][0]["id"]
        deadline = time.monotonic() + 180
        while (calm := c.get(f"/api/v1/runs/{calm_id}").json())["status"] != "succeeded":
            assert calm["status"] in ("running", "queued"), calm
            assert time.monotonic() < deadline, service.log_text()[-4000:]
            time.sleep(0.3)
        assert calm["attempt"] == 1
        for key in ("train_loss", "val_accuracy", "test_accuracy", "test_accuracy_at_best"):
            assert run["final_metrics"][key] == calm["final_metrics"][key], key
        assert run["best_epoch"] == calm["best_epoch"]
        calm_rows = c.get(f"/api/v1/runs/{calm_id}/metrics").json()
        assert [r["val_loss"] for r in rows] == [r["val_loss"] for r in calm_rows]
    log = service.log_text()
    assert "re-queued 1 stale run" in log
    assert f"run {run_id} resumes from its checkpoint" in log
    assert killed_at >= 3
