"""An activation search through the running service, disturbed: the worker process training
one of its runs is SIGKILLed and the whole service (API, sweeper and worker) is restarted
mid-search. The result equals, decision for decision and number for number, the same search
driven undisturbed in-process on a fresh database; nothing is trained twice."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.store.db import session_scope
from core.store.models import Experiment, Run
from tests.backends import BACKENDS, make_backend
from tests.processes import Service, api_and_worker, serve
from tests.worker.test_search_driver import _drive

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "name": "disturbed search",
    "task": {"model": {"name": "mlp", "params": {"hidden": 32}},
             "dataset": {"name": "digits"},
             "training": {"epochs": 6, "batch_size": 32, "lr": 0.01}},
    "space": {"candidates": ["tanh(x)", "relu(x)", "max(x, 0)", "x * sigmoid(x)", "silu(x)",
                             "exp(exp(x))", "abs(x)", "softsign(x)", "elu(x)"],
              "templates": [{"expression": "x * sigmoid(p * x)", "parameters": {"p": 1.5}}]},
    "strategy": "surrogate", "concurrency": 2, "budget": {"trainings": 14},
    "seeds": {"screen": 1, "confirm": 2, "confirm_top": 1}, "seed": 3,
}


def _signature(report: dict[str, Any], export: dict[str, Any]) -> dict[str, Any]:
    """What must not change: every decision, every candidate's numbers, the confirmation."""
    return {
        "decisions": [{k: v for k, v in d.items()
                       if k not in ("experiment_id", "trainings_spent", "at", "step")}
                      for d in export["decisions"]],
        "candidates": [(c["expression"], c["status"], c["val_mean"], c["test_mean"],
                        c["equivalents"]) for c in report["candidates"]],
        "filtered": report["filtered"],
        "confirmation": [(r["expression"], r["baseline"], r["test_mean"], r["p_value"],
                          r["p_holm"], r["verdict"]) for r in report["confirmation"]],
    }


def _reference(tmp: Path, mp: pytest.MonkeyPatch) -> dict[str, Any]:
    """The search driven in-process, undisturbed, on its own fresh database."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from core.store.migrate import upgrade_head
    from tests.conftest import _activate, _reset_caches

    with make_backend("embedded", tmp / "reference") as backend:
        _activate(backend, mp)
        upgrade_head()
        with TestClient(create_app()) as c:
            search_id = c.post("/api/v1/searches", json=SPEC).json()["id"]
            _drive(uuid.UUID(search_id))
            report = c.get(f"/api/v1/searches/{search_id}").json()
            export = c.get(f"/api/v1/searches/{search_id}/export").json()
        _reset_caches()
    assert report["status"] == "succeeded"
    return _signature(report, export)


def _wait(c: Any, search_id: str, svc: Service, until: Any, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        state = c.get(f"/api/v1/searches/{search_id}").json()
        done = until(state)
        if done:
            return done
        assert state["status"] in ("queued", "running"), (state, svc.log_text()[-3000:])
        assert time.monotonic() < deadline, svc.log_text()[-4000:]
        time.sleep(0.2)


@pytest.mark.parametrize("backend_name", BACKENDS[-1:])
def test_a_killed_worker_and_a_restarted_service_change_nothing(
        backend_name: str, tmp_path: Path) -> None:
    from core.store.migrate import upgrade_head
    from tests.conftest import _activate, _reset_caches

    with pytest.MonkeyPatch.context() as mp:
        expected = _reference(tmp_path, mp)
    with make_backend(backend_name, tmp_path / "data") as backend, \
            pytest.MonkeyPatch.context() as mp:
        _activate(backend, mp)
        upgrade_head()
        env = {**backend.env(), "ACTLAB_SWEEPER": "true", "ACTLAB_STALE_AFTER_SECONDS": "4",
               "ACTLAB_SWEEPER_INTERVAL_SECONDS": "1", "ACTLAB_REQUEUE_AFTER_SECONDS": "10"}
        start = serve if backend.name == "embedded" else api_and_worker
        with start(env, tmp_path / "first.log") as svc, svc.client() as c:
            search_id = c.post("/api/v1/searches", json=SPEC).json()["id"]

            def training(state: dict[str, Any]) -> str | None:
                with session_scope() as s:
                    return s.scalar(select(Run.claimed_by).join(Experiment).where(
                        Experiment.search_id == uuid.UUID(search_id),
                        Run.status == "running", Run.epochs_done >= 1))
            claimed_by = _wait(c, search_id, svc, training)
            os.kill(int(claimed_by.split(":")[-2]), signal.SIGKILL)
            time.sleep(1.0)
        # the whole service goes down mid-search and comes back
        with start(env, tmp_path / "second.log") as svc, svc.client() as c:
            _wait(c, search_id, svc, lambda st: st["status"] == "succeeded" and st)
            report = c.get(f"/api/v1/searches/{search_id}").json()
            export = c.get(f"/api/v1/searches/{search_id}/export").json()
        with session_scope() as s:
            runs = s.scalars(select(Run).join(Experiment).where(
                Experiment.search_id == uuid.UUID(search_id))).all()
            experiments = s.scalars(select(Experiment.name).where(
                Experiment.search_id == uuid.UUID(search_id))).all()
        _reset_caches()
    assert _signature(report, export) == expected
    # the surrogate chose after the first random picks; a template is never merged
    assert "surrogate" in {d["rule"] for d in export["decisions"]}
    assert report["surrogate"]["model"] == "knn"
    assert any(c["parameters"] == {"p": 1.5} for c in report["candidates"])
    # one experiment per screened or confirmed candidate and baseline, no run twice
    assert len(experiments) == len(set(experiments))
    assert len(runs) == len({(r.experiment_id, r.seed) for r in runs})
    assert max(r.attempt for r in runs) == 2  # the killed run, resumed
    assert report["progress"]["trainings"] <= 14
