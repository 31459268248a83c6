"""Load, CI-sized (bench/load.py has the full sizes and the latencies): 100 tiny runs through
two worker processes all finish, with one metrics row each, while clients in another process
poll status the whole time without an error."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.domain.status import RunStatus
from core.store.db import session_scope
from core.store.models import EpochMetric, Run
from tests.backends import BACKENDS, make_backend
from tests.processes import ACTLAB, api_and_worker, service_env, stop_and_check

pytestmark = pytest.mark.integration
RUNS = 100
POLLER = """
import json, sys, time, httpx
url, ids, seconds = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
errors, done, end = [], 0, time.monotonic() + seconds
with httpx.Client(base_url=url, timeout=10) as c:
    while time.monotonic() < end:
        for i in ids:
            r = c.get(f"/api/v1/experiments/{i}")
            done += 1
            if r.status_code != 200:
                errors.append(r.status_code)
print(json.dumps({"requests": done, "errors": errors}))
"""


# The lab layout (PostgreSQL + Redis) when configured; the embedded default otherwise.
@pytest.mark.parametrize("backend_name", BACKENDS[-1:])
def test_100_tiny_runs_through_two_workers(backend_name: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from core.store.migrate import upgrade_head
    from tests.conftest import _activate, _reset_caches

    with make_backend(backend_name, tmp_path / "data") as backend:
        _activate(backend, monkeypatch)
        upgrade_head()
        env = backend.env()
        with api_and_worker(env, tmp_path / "service.log") as svc, svc.client() as c:
            with (tmp_path / "worker2.log").open("wb") as out:
                second = subprocess.Popen([*ACTLAB, "worker"], env=service_env(env),
                                          stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            try:
                ids = []
                for batch in range(RUNS // 20):  # 20 seeds an experiment, 5 experiments
                    created = c.post("/api/v1/experiments", json={
                        "activation": {"name": "relu"}, "name": f"load {batch}",
                        "model": {"name": "mlp", "params": {"hidden": 8}},
                        "seeds": list(range(20)), "training": {"epochs": 1}})
                    assert created.status_code == 202, created.text
                    ids.append(created.json()["id"])
                pollers = [subprocess.Popen(
                    [sys.executable, "-c", POLLER, svc.url, json.dumps(ids), "10"],
                    stdout=subprocess.PIPE, text=True) for _ in range(4)]
                deadline = time.monotonic() + 300
                while True:
                    with session_scope() as s:
                        unfinished = s.scalar(select(func.count()).select_from(Run).where(
                            Run.status.in_([RunStatus.queued, RunStatus.running])))
                    if not unfinished:
                        break
                    assert time.monotonic() < deadline, svc.log_text()[-3000:]
                    time.sleep(0.5)
                polled = [json.loads(p.communicate(timeout=60)[0]) for p in pollers]
            finally:
                assert not stop_and_check(second, signal.SIGQUIT, group=True)
        with session_scope() as s:
            statuses = dict(s.execute(select(Run.status, func.count()).group_by(Run.status))
                            .all())
            rows = s.scalar(select(func.count()).select_from(EpochMetric))
            attempts = s.scalar(select(func.max(Run.attempt)))
        _reset_caches()
    assert statuses == {RunStatus.succeeded: RUNS}
    assert rows == RUNS and attempts == 1  # one metrics row a run, each trained once
    assert all(p["errors"] == [] and p["requests"] > 0 for p in polled), polled
    # both workers took runs
    assert "running: attempt 1" in (tmp_path / "worker2.log").read_text(errors="replace")
