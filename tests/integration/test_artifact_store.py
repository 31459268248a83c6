"""A run outlives its host: its worker (local data directory A) is SIGKILLed mid-run, and a
worker on "another host" (its own directory B, the same database, broker and S3 store)
resumes it from the checkpoint in the store. Against a real S3-protocol server (moto)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.domain.settings import Settings
from tests.backends import BACKENDS, Backend, make_backend
from tests.processes import ACTLAB, Service, free_port, service_env, stop_and_check, wait_healthy
from tests.s3 import S3Server

pytestmark = pytest.mark.integration


def _shared(backend: Backend, data_dir: Path) -> dict[str, str]:
    """Explicit database and broker URLs, so a second host with its own data directory
    reaches the first one's (the embedded default keeps them as files in data_dir)."""
    base = Settings(data_dir=backend.data_dir, database_url=backend.database_url,
                    broker_url=backend.broker_url)
    return {**backend.env(), "ACTLAB_DATA_DIR": str(data_dir),
            "ACTLAB_DATABASE_URL": base.resolved_database_url(),
            "ACTLAB_BROKER_URL": base.resolved_broker_url()}


@pytest.fixture(params=BACKENDS)
def two_hosts(request: pytest.FixtureRequest, tmp_path: Path,
              s3: S3Server) -> Iterator[tuple[Service, dict[str, str], dict[str, str], Path]]:
    from core.store.migrate import upgrade_head
    from tests.conftest import _activate, _reset_caches

    with make_backend(request.param, tmp_path / "a") as backend, \
            pytest.MonkeyPatch.context() as mp:
        _activate(backend, mp)
        upgrade_head()
        store = s3.env(s3.new_bucket())
        for key, value in store.items():
            mp.setenv(key, value)
        _reset_caches()  # this process reads the same store
        common = {**store, "ACTLAB_SWEEPER": "true", "ACTLAB_STALE_AFTER_SECONDS": "4",
                  "ACTLAB_SWEEPER_INTERVAL_SECONDS": "1", "ACTLAB_REQUEUE_AFTER_SECONDS": "30"}
        host_a = {**_shared(backend, tmp_path / "a"), **common}
        host_b = {**_shared(backend, tmp_path / "b"), **common}
        log = tmp_path / "service.log"
        port = free_port()
        with log.open("wb") as out:
            api = subprocess.Popen([*ACTLAB, "api", "--port", str(port)],
                                   env=service_env(host_a), stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        service = Service(f"http://127.0.0.1:{port}", log, [api])
        try:
            wait_healthy(service.url, [api], log)
            yield service, host_a, host_b, tmp_path
        finally:
            stop_and_check(api, signal.SIGTERM, group=True)
            _reset_caches()


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*ACTLAB, "worker"], env=service_env(env), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_done(c: httpx.Client, run_id: str, service: Service,
               timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = c.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < deadline, service.log_text()[-4000:]
        time.sleep(0.3)


def test_a_run_survives_the_loss_of_its_host(two_hosts: tuple[Service, dict[str, str],
                                                              dict[str, str], Path]) -> None:
    from core.store.artifacts import get_store

    service, host_a, host_b, tmp = two_hosts
    spec = {"activation": {"name": "dual_line"}, "model": {"name": "lenet5"}, "seeds": [0],
            "training": {"epochs": 10, "batch_size": 32}}
    log_a, log_b = tmp / "worker-a.log", tmp / "worker-b.log"
    worker_a = _worker(host_a, log_a)
    with service.client() as c:
        run_id = c.post("/api/v1/experiments", json=spec).json()["runs"][0]["id"]
        deadline = time.monotonic() + 120
        while c.get(f"/api/v1/runs/{run_id}").json()["progress"]["epoch"] < 3:
            assert time.monotonic() < deadline, service.log_text()[-3000:]
            time.sleep(0.1)
        assert get_store().list("checkpoints/") == [f"checkpoints/{run_id}.pt"]
        os.killpg(worker_a.pid, signal.SIGKILL)  # the whole host is gone: no clean-up at all
        worker_a.wait()
        killed_at = c.get(f"/api/v1/runs/{run_id}").json()["progress"]["epoch"]

        worker_b = _worker(host_b, log_b)
        try:
            run = _wait_done(c, run_id, service)
            assert run["status"] == "succeeded" and run["attempt"] == 2, run
            rows = c.get(f"/api/v1/runs/{run_id}/metrics").json()
            assert [r["epoch"] for r in rows] == list(range(1, 11))
            # The same numbers as a run nobody disturbed (forced: not reused).
            fresh = c.post("/api/v1/experiments?force=true", json=spec).json()
            undisturbed = _wait_done(c, fresh["runs"][0]["id"], service)
            learned = ("val_accuracy", "test_accuracy", "train_loss", "test_accuracy_at_best")
            assert {k: run["final_metrics"][k] for k in learned} == \
                {k: undisturbed["final_metrics"][k] for k in learned}
            weights = c.get(f"/api/v1/runs/{run_id}/weights")
            assert weights.status_code == 200
        finally:
            stop_and_check(worker_b, signal.SIGQUIT, group=True)
    assert f"run {run_id} resumes from its checkpoint" in log_b.read_text()
    assert killed_at >= 3
    # Nothing of the run was kept on either host's disk: checkpoints and weights are in S3.
    for host in ("a", "b"):
        assert not (tmp / host / "artifacts").exists()
        assert not (tmp / host / "checkpoints").exists()
    assert get_store().list("checkpoints/") == []
