"""One key, twenty writes at once (a notebook submitting a sweep's experiments from a thread
pool), against a real `actlab api` process with auth on: each is accepted or refused by the
key's quota, none fails, and the quota holds exactly. On PostgreSQL the key's row was locked
after the first insert and 19 of 20 answered 503 (deadlocks)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core.store.db import session_scope
from core.store.keys import Quotas, Scope
from core.store.models import Experiment, Run
from tests.backends import BACKENDS
from tests.processes import live_api

pytestmark = pytest.mark.integration
WRITES = 20
QUEUED_RUNS = 30  # the key's quota: 15 experiments of 2 seeds fit, 5 are refused


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_twenty_writes_of_one_key_at_once(backend_name: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with live_api(backend_name, tmp_path, monkeypatch,
                  {"ACTLAB_AUTH": "true", "ACTLAB_SECRET_KEY": "concurrency",
                   "ACTLAB_SWEEPER": "false"},
                  Scope.write, Quotas(QUEUED_RUNS, 10**6, 10**6)) as api:
        log = api.log

        def submit(i: int) -> int:
            with httpx.Client(base_url=api.url, timeout=60) as client:
                return client.post("/api/v1/experiments", headers={
                    "Authorization": f"Bearer {api.key}"}, json={
                    "name": f"cell {i}", "activation": {"name": "relu"},
                    "seeds": [2 * i, 2 * i + 1], "training": {"epochs": 1}}).status_code

        with ThreadPoolExecutor(WRITES) as pool:
            codes = list(pool.map(submit, range(WRITES)))
        with session_scope() as s:
            experiments = s.scalar(select(func.count()).select_from(Experiment)) or 0
            runs = s.scalar(select(func.count()).select_from(Run)) or 0
    assert sorted(set(codes)) == [202, 429], (codes, log.read_text(errors="replace")[-3000:])
    assert codes.count(202) == QUEUED_RUNS // 2 == experiments and runs == QUEUED_RUNS
    assert "Traceback" not in log.read_text(errors="replace")
