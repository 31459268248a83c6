"""Faults a lab meets, each with real processes (API, Celery workers, PostgreSQL, Redis): the
broker or the database going away, the API killed mid-request, a run whose worker always
dies, duplicate deliveries to two workers. The outage tests start private PostgreSQL and
Redis servers (tests/servers.py) so they can stop them; the machine's services are never
touched."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.store.db import session_scope
from core.store.models import EpochMetric, Experiment, Run
from tests.backends import BACKENDS, Backend, make_backend
from tests.processes import ACTLAB, api_and_worker, service_env, stop_and_check, wait_healthy
from tests.servers import (
    PrivatePostgres,
    PrivateRedis,
    private_postgres,
    private_redis,
    servers_missing,
    wait_for_postgres,
)

pytestmark = pytest.mark.integration
TINY = {"activation": {"name": "relu"}, "model": {"name": "mlp", "params": {"hidden": 8}},
        "dataset": {"name": "digits"}, "training": {"epochs": 1}}
# Reliability settings that make the tests quick: notices re-sent after 3 s, runs whose
# heartbeat stopped re-queued after 4 s.
FAST = {"ACTLAB_SWEEPER": "true", "ACTLAB_SWEEPER_INTERVAL_SECONDS": "1",
        "ACTLAB_REQUEUE_AFTER_SECONDS": "3", "ACTLAB_STALE_AFTER_SECONDS": "4"}


def until(check: Callable[[], Any], timeout: float, what: str, log: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (httpx.HTTPError, KeyError, ValueError):
            value = None  # the service may be away on purpose
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log()[-4000:]}"
        time.sleep(0.3)


def run_rows() -> list[Run]:
    with session_scope() as s:
        return list(s.scalars(select(Run)))


def all_finished(expected: int) -> bool:
    runs = run_rows()
    return len(runs) == expected and all(r.status.finished for r in runs)


def epochs_recorded(run_id: uuid.UUID) -> list[int]:
    with session_scope() as s:
        return list(s.scalars(select(EpochMetric.epoch).where(EpochMetric.run_id == run_id)
                              .order_by(EpochMetric.epoch)))


@pytest.fixture
def activate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Backend], None]]:
    """Point this test process at a backend (to read the database the service writes)."""
    from core.store.migrate import upgrade_head
    from tests.conftest import _activate, _reset_caches

    def go(backend: Backend) -> None:
        _activate(backend, monkeypatch)
        upgrade_head()

    yield go
    _reset_caches()


@pytest.fixture
def private_stack(tmp_path: Path,
                  activate: Callable[[Backend], None]) -> Iterator[tuple[PrivatePostgres,
                                                                         PrivateRedis,
                                                                         Backend]]:
    missing = servers_missing()
    if missing:
        pytest.skip(f"the outage tests start private servers; {missing}")
    with private_postgres() as pg, private_redis() as broker:
        backend = Backend("private", tmp_path / "data", pg.url, broker.url,
                          f"actlab-faults-{uuid.uuid4().hex[:8]}")
        activate(backend)
        yield pg, broker, backend


def test_redis_down_for_30_s_during_a_sweep(
        private_stack: tuple[PrivatePostgres, PrivateRedis, Backend], tmp_path: Path) -> None:
    """Every run finishes; meanwhile the API kept accepting experiments (queued) and /health
    said the broker was down."""
    _, broker, backend = private_stack
    with api_and_worker({**backend.env(), **FAST}, tmp_path / "service.log") as svc, \
            svc.client() as c:
        sweep = c.post("/api/v1/sweeps", json={
            "activations": [{"name": n} for n in ("relu", "tanh", "elu", "dual_line")],
            "models": [{"name": "mlp", "params": {"hidden": 16}}], "seeds": [0, 1],
            "training": {"epochs": 3}})
        assert sweep.status_code == 202, sweep.text
        until(lambda: any(r.status.value != "queued" for r in run_rows()), 120,
              "the sweep to start", svc.log_text)
        broker.stop()
        down_at = time.monotonic()
        assert any(not r.status.finished for r in run_rows())  # the outage hits the sweep
        health = until(lambda: (h := c.get("/health")).status_code == 503 and h.json(), 20,
                       "/health to see the broker down", svc.log_text)
        assert health["broker"] == "unavailable" and health["database"] == "ok"
        during = c.post("/api/v1/experiments", json={**TINY, "seeds": [0, 1]})
        assert during.status_code == 202, during.text
        assert during.json()["status"] == "queued"
        time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
        broker.start()
        until(lambda: c.get("/health").status_code == 200, 30, "/health to recover",
              svc.log_text)
        until(lambda: all_finished(10), 240, "every run to finish", svc.log_text)
    assert {r.status.value for r in run_rows()} == {"succeeded"}, svc.log_text()[-3000:]
    for run in run_rows():
        assert epochs_recorded(run.id) == list(range(1, run.epochs_total + 1))


def test_postgres_restarted_during_a_run(
        private_stack: tuple[PrivatePostgres, PrivateRedis, Backend], tmp_path: Path) -> None:
    """The worker retries its writes with backoff: the run finishes on its first attempt
    with every epoch recorded once."""
    pg, _, backend = private_stack
    epochs = 10
    with api_and_worker({**backend.env(), "ACTLAB_SWEEPER": "true"},
                        tmp_path / "service.log") as svc, svc.client() as c:
        created = c.post("/api/v1/experiments", json={
            "activation": {"name": "dual_line"}, "model": {"name": "lenet5"}, "seeds": [0],
            "training": {"epochs": epochs, "batch_size": 32}}).json()
        run_id = uuid.UUID(created["runs"][0]["id"])
        until(lambda: len(epochs_recorded(run_id)) >= 2, 120, "epoch 2", svc.log_text)
        pg.stop()
        time.sleep(5)
        pg.start()
        wait_for_postgres(pg.url)
        run = until(lambda: (r := c.get(f"/api/v1/runs/{run_id}").json())["status"]
                    not in ("queued", "running") and r, 240, "the run to end", svc.log_text)
    assert run["status"] == "succeeded" and run["attempt"] == 1, svc.log_text()[-3000:]
    assert epochs_recorded(run_id) == list(range(1, epochs + 1))
    assert "database unreachable" in svc.log_text()  # the retry really happened


def _start_api(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*ACTLAB, "api", "--port", str(port)], env=service_env(env),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_api_killed_while_posts_are_in_flight(
        backend_name: str, tmp_path: Path, activate: Callable[[Backend], None]) -> None:
    """No experiment without its runs, and no queued run left undispatched: after a restart
    the sweeper sends what the dead API never did."""
    with make_backend(backend_name, tmp_path / "data") as backend:
        activate(backend)
        env = {**backend.env(), **FAST}
        with api_and_worker(env, tmp_path / "service.log") as svc:
            api = svc.procs[0]
            stop = threading.Event()
            accepted: list[str] = []

            def post_forever() -> None:
                with httpx.Client(base_url=svc.url, timeout=10) as c:
                    while not stop.is_set():
                        try:
                            r = c.post("/api/v1/experiments",
                                       json={**TINY, "seeds": [0, 1, 2],
                                             "name": uuid.uuid4().hex},
                                       params={"force": "true"})
                            accepted.append(r.json()["id"])
                        except (httpx.HTTPError, ValueError):
                            return

            threads = [threading.Thread(target=post_forever) for _ in range(4)]
            for t in threads:
                t.start()
            until(lambda: len(accepted) >= 4, 60, "some POSTs", svc.log_text)
            os.killpg(api.pid, signal.SIGKILL)  # no clean-up, requests cut mid-flight
            api.wait()
            stop.set()
            for t in threads:
                t.join(timeout=30)
            restarted = _start_api(env, int(svc.url.rsplit(":", 1)[1]), svc.log)
            try:
                wait_healthy(svc.url, [restarted], svc.log)
                with session_scope() as s:
                    experiments = s.scalar(select(func.count()).select_from(Experiment)) or 0
                    per_experiment = s.execute(select(Run.experiment_id, func.count())
                                               .group_by(Run.experiment_id)).all()
                assert experiments >= len(accepted) >= 4
                assert len(per_experiment) == experiments  # none without its runs
                assert {n for _, n in per_experiment} == {3}
                until(lambda: all_finished(3 * experiments), 300,
                      "every stored run to finish", svc.log_text)
            finally:
                assert not stop_and_check(restarted, signal.SIGTERM, group=True)
        assert {r.status.value for r in run_rows()} == {"succeeded"}


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_a_run_whose_worker_always_dies_fails_after_max_attempts(
        backend_name: str, tmp_path: Path, activate: Callable[[Backend], None]) -> None:
    """Whatever process claims it is SIGKILLed (an OOM killer, a bad node): the sweeper
    re-queues it until ACTLAB_MAX_ATTEMPTS, then fails it with the reason kept."""
    with make_backend(backend_name, tmp_path / "data") as backend:
        activate(backend)
        with api_and_worker({**backend.env(), **FAST, "ACTLAB_MAX_ATTEMPTS": "2"},
                            tmp_path / "service.log") as svc, svc.client() as c:
            created = c.post("/api/v1/experiments", json={
                **TINY, "seeds": [0], "model": {"name": "lenet5"},
                "training": {"epochs": 30}}).json()
            run_id = uuid.UUID(created["runs"][0]["id"])
            killed: set[int] = set()

            def kill_claimant() -> bool:
                with session_scope() as s:
                    run = s.get_one(Run, run_id)
                if run.status.finished:
                    return True
                if run.status.value == "running" and run.claimed_by:
                    pid = int(run.claimed_by.split(":")[-2])
                    if pid not in killed:
                        killed.add(pid)
                        os.kill(pid, signal.SIGKILL)
                return False

            until(kill_claimant, 180, "the run to end", svc.log_text)
            run = c.get(f"/api/v1/runs/{run_id}").json()
        assert run["status"] == "failed" and run["attempt"] == 2, run
        assert "worker lost: no heartbeat" in run["error"] and "attempt 2 of 2" in run["error"]
        assert len(killed) == 2
        assert f"run {run_id} failed: attempt 2" in svc.log_text()


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_two_workers_and_forced_redelivery_train_once(
        backend_name: str, tmp_path: Path, activate: Callable[[Backend], None]) -> None:
    from core.store.queue import send_run_notices

    with make_backend(backend_name, tmp_path / "data") as backend:
        activate(backend)
        env = backend.env()
        with api_and_worker(env, tmp_path / "service.log") as svc, svc.client() as c:
            second_log = tmp_path / "second-worker.log"  # its own file: no shared offset
            with second_log.open("wb") as out:
                second = subprocess.Popen([*ACTLAB, "worker"], env=service_env(env),
                                          stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)


            def logs() -> str:
                return svc.log_text() + second_log.read_text(errors="replace")

            try:
                created = c.post("/api/v1/experiments", json={
                    **TINY, "seeds": [0], "training": {"epochs": 4}}).json()
                run_id = created["runs"][0]["id"]
                send_run_notices([uuid.UUID(run_id)] * 4)  # forced redelivery
                run = until(lambda: (r := c.get(f"/api/v1/runs/{run_id}").json())["status"]
                            == "succeeded" and r, 180, "the run", logs)
                until(lambda: logs().count(f"run {run_id} not claimable") >= 4, 60,
                      "every duplicate to be turned away", logs)
            finally:
                assert not stop_and_check(second, signal.SIGQUIT, group=True)
        assert run["attempt"] == 1
        assert epochs_recorded(uuid.UUID(run_id)) == [1, 2, 3, 4]
        assert logs().count(f"run {run_id} running: attempt") == 1
