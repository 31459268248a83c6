"""One key, twenty writes at once (a notebook submitting a sweep's experiments from a thread
pool), against a real `actlab api` process with auth on: each is accepted or refused by the
key's quota, none fails, and the quota holds exactly. On PostgreSQL the key's row was locked
after the first insert and 19 of 20 answered 503 (deadlocks)."""

from __future__ import annotations

import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core.db import session_scope
from core.keys import Quotas, Scope, create_key
from core.models import Experiment, Run
from tests.backends import BACKENDS, make_backend
from tests.processes import ACTLAB, free_port, service_env, stop_and_check, wait_healthy

pytestmark = pytest.mark.integration
WRITES = 20
QUEUED_RUNS = 30  # the key's quota: 15 experiments of 2 seeds fit, 5 are refused


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_twenty_writes_of_one_key_at_once(backend_name: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from core.migrate import upgrade_head
    from core.settings import get_settings
    from tests.conftest import _activate, _reset_caches

    with make_backend(backend_name, tmp_path / "data") as backend:
        env = {**backend.env(), "ACTLAB_AUTH": "true", "ACTLAB_SECRET_KEY": "concurrency",
               "ACTLAB_SWEEPER": "false"}
        _activate(backend, monkeypatch)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        _reset_caches()
        upgrade_head()
        with session_scope() as s:
            _, key = create_key(s, "notebook", Scope.write, get_settings().resolved_secret(),
                                Quotas(QUEUED_RUNS, 10**6, 10**6))
        port = free_port()
        log = tmp_path / "api.log"
        with log.open("wb") as out:
            api = subprocess.Popen([*ACTLAB, "api", "--port", str(port)],
                                   env=service_env(env), stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, [api], log)

            def submit(i: int) -> int:
                with httpx.Client(base_url=url, timeout=60) as client:
                    return client.post("/api/v1/experiments", headers={
                        "Authorization": f"Bearer {key}"}, json={
                        "name": f"cell {i}", "activation": {"name": "relu"},
                        "seeds": [2 * i, 2 * i + 1], "training": {"epochs": 1}}).status_code

            with ThreadPoolExecutor(WRITES) as pool:
                codes = list(pool.map(submit, range(WRITES)))
        finally:
            assert not stop_and_check(api, signal.SIGTERM, group=True)
        with session_scope() as s:
            experiments = s.scalar(select(func.count()).select_from(Experiment)) or 0
            runs = s.scalar(select(func.count()).select_from(Run)) or 0
        _reset_caches()
    assert sorted(set(codes)) == [202, 429], (codes, log.read_text(errors="replace")[-3000:])
    assert codes.count(202) == QUEUED_RUNS // 2 == experiments and runs == QUEUED_RUNS
    assert "Traceback" not in log.read_text(errors="replace")
