"""Every way a run comes to be queued applies the deployment's limits: experiments, sweeps,
top-ups, retries, searches at the door, search rounds and confirmations. The first test finds
the ways in the source, so a new one that skips `core/store/creation.py` fails here until it is
listed (with a test below that it refuses what it must)."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from core.domain.search_spec import SearchSpec
from core.domain.settings import get_settings
from core.domain.status import RunStatus
from core.store.db import session_scope
from core.store.models import Experiment, Run, Search
from tests.backends import Backend
from worker.runner import execute_run
from worker.search.driver import advance

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "cli", "core", "worker")

# callee -> the functions allowed to call it (file:function). A run row is made only in
# creation.add_runs, which applies the limits; a run is queued again only by
# creation.retry, which does too.
ALLOWED: dict[str, set[str]] = {
    "Run": {"core/store/creation.py:add_runs"},
    "add_runs": {"core/store/creation.py:create_experiment", "core/store/creation.py:top_up"},
    "top_up": {"core/store/creation.py:add_seeds", "core/store/race.py:_next_round",
               "worker/search/driver.py:_next_confirmation_round"},
    "retry_run": {"core/store/creation.py:retry"},
    "create_experiment": {"api/routes/experiments.py:create_experiment",
                          "api/sweeps.py:create_sweep", "worker/search/driver.py:_experiment",
                          "core/store/tuned.py:start", "core/store/tuned.py:_evaluate"},
    "add_seeds": {"api/routes/experiments.py:add_seeds"},
    "retry": {"api/routes/runs.py:retry"},
    "check_search": {"api/routes/searches.py:create_search"},
}


def _calls() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {name: set() for name in ALLOWED}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for func_node in ast.walk(tree):
                if not isinstance(func_node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(func_node):
                    if not isinstance(node, ast.Call):
                        continue
                    callee = node.func.attr if isinstance(node.func, ast.Attribute) else \
                        getattr(node.func, "id", None)
                    if callee in found:
                        found[callee].add(f"{path.relative_to(ROOT)}:{func_node.name}")
    return found


def test_every_creation_path_is_known_and_goes_through_creation() -> None:
    found = _calls()
    # a client method or a route named like a creation function is not one: only the
    # calls inside the listed places are; anything else must be looked at
    unexpected = {name: sorted(where - ALLOWED[name] - _NOT_CREATION.get(name, set()))
                  for name, where in found.items()}
    assert not any(unexpected.values()), \
        f"new places create or queue runs: {unexpected}; route them through " \
        "core/store/creation.py and list them in ALLOWED with a test that they apply the " \
        "deployment's limits"
    for name, where in ALLOWED.items():
        assert where <= found[name], f"{name}: {sorted(where - found[name])} no longer call it"


# Same names, other things: the CLI command that calls the HTTP client's retry.
_NOT_CREATION: dict[str, set[str]] = {"retry": {"cli/main.py:cmd_retry"}}


# --- each path refuses a spec beyond the limits -------------------------------------------


def _limit_epochs(monkeypatch: pytest.MonkeyPatch, epochs: int) -> None:
    monkeypatch.setenv("ACTLAB_MAX_EPOCHS", str(epochs))
    get_settings.cache_clear()


def _runs() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Run)) or 0


SPEC: dict[str, Any] = {"activation": {"name": "relu"}, "seeds": [0],
                        "training": {"epochs": 3}}


@pytest.mark.parametrize("path", ["experiments", "sweeps"])
def test_experiments_and_sweeps_refuse_epochs_over_the_limit(
        client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    _limit_epochs(monkeypatch, 2)
    body = SPEC if path == "experiments" else {"activations": [{"name": "relu"}],
                                               "training": {"epochs": 3}}
    r = client.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 422 and "ACTLAB_MAX_EPOCHS" in r.text, r.text
    assert _runs() == 0


def test_top_ups_and_retries_refuse_a_spec_the_limits_no_longer_allow(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    created = client.post("/api/v1/experiments", json=SPEC).json()
    run_id = created["runs"][0]["id"]
    with session_scope() as s:
        s.execute(update(Run).where(Run.id == uuid.UUID(run_id))
                  .values(status=RunStatus.failed))
    _limit_epochs(monkeypatch, 2)
    top_up = client.post(f"/api/v1/experiments/{created['id']}/seeds", json={"seeds": [1]})
    assert top_up.status_code == 422 and "ACTLAB_MAX_EPOCHS" in top_up.text, top_up.text
    retried = client.post(f"/api/v1/runs/{run_id}/retry")
    assert retried.status_code == 422 and "ACTLAB_MAX_EPOCHS" in retried.text, retried.text
    assert _runs() == 1
    with session_scope() as s:
        assert s.get_one(Run, uuid.UUID(run_id)).status == RunStatus.failed


SEARCH: dict[str, Any] = {
    "task": {"model": {"name": "mlp", "params": {"hidden": 8}}, "dataset": {"name": "digits"},
             "training": {"epochs": 2, "lr": 0.01}},
    "space": {"candidates": ["tanh(x)", "x * sigmoid(x)"]},
    "strategy": "random", "budget": {"trainings": 6},
    "seeds": {"screen": 1, "confirm": 2, "confirm_top": 1}, "seed": 1,
}


@pytest.mark.parametrize(("change", "field", "phrase"), [
    ({"task": {**SEARCH["task"], "training": {"epochs": 1001}}}, "task.training.epochs",
     "epochs must be <= 1000"),
    ({"task": {**SEARCH["task"], "model": {"name": "mlp", "params": {"hidden": 8192,
                                                                     "depth": 3}}}},
     "task.model.params", "ACTLAB_MAX_MODEL_PARAMS"),
])
def test_a_search_is_refused_at_the_door(client: TestClient, change: dict[str, Any],
                                         field: str, phrase: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTLAB_MAX_MODEL_PARAMS", "10000000")
    get_settings.cache_clear()
    r = client.post("/api/v1/searches", json={**SEARCH, **change})
    assert r.status_code == 422, r.text
    assert any(e["field"] == field and phrase in e["msg"] for e in r.json()["detail"]), r.text
    with session_scope() as s:
        assert (s.scalar(select(func.count()).select_from(Search)) or 0) == 0


def _stored_search(spec: dict[str, Any]) -> uuid.UUID:
    valid = SearchSpec.model_validate(spec)
    with session_scope() as s:
        search = Search(name="limits", spec=valid.model_dump(mode="json"))
        s.add(search)
        s.flush()
        return search.id


def _search_state(search_id: uuid.UUID) -> tuple[str, str | None]:
    with session_scope() as s:
        search = s.get_one(Search, search_id)
        return search.status, search.error


def test_a_search_round_applies_the_limits_of_now(backend: Backend,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    search_id = _stored_search(SEARCH)
    _limit_epochs(monkeypatch, 1)  # lowered after the search was accepted
    for _ in range(3):
        advance(search_id)
    status, error = _search_state(search_id)
    assert status == "failed" and error is not None and "ACTLAB_MAX_EPOCHS" in error
    assert _runs() == 0


def test_a_confirmation_applies_the_limits_of_now(backend: Backend,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # screening on 1 epoch passes a limit of 1; the confirmation's 2 epochs do not
    search_id = _stored_search({**SEARCH, "screen_epochs": 1})
    _limit_epochs(monkeypatch, 1)
    for _ in range(20):
        advance(search_id)
        with session_scope() as s:
            queued = s.scalars(select(Run.id).where(Run.status == RunStatus.queued)).all()
        for run_id in queued:
            execute_run(run_id, worker="t")
        if _search_state(search_id)[0] == "failed":
            break
    status, error = _search_state(search_id)
    assert status == "failed" and error is not None and "ACTLAB_MAX_EPOCHS" in error, error
    with session_scope() as s:  # screening trained; nothing of the confirmation was stored
        assert s.scalar(select(func.count()).select_from(Experiment)
                        .where(Experiment.name.contains("[confirm]"))) == 0
        assert (s.scalar(select(func.count()).select_from(Run)) or 0) > 0


def test_a_race_s_next_round_applies_the_limits_of_now(client: TestClient,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An adaptive sweep's round 2 is created when round 1 ends: under the limits of then. A
    round they refuse ends the race, saying why; nothing of it is stored."""
    created = client.post("/api/v1/sweeps", json={
        "activations": [{"name": "relu"}, {"name": "tanh"}],
        "models": [{"name": "mlp", "params": {"hidden": 8}}], "training": {"epochs": 2},
        "adaptive": {"per_round": 2, "max_rounds": 3}}).json()
    _limit_epochs(monkeypatch, 1)  # lowered after the sweep was accepted
    with session_scope() as s:
        queued = s.scalars(select(Run.id).where(Run.status == RunStatus.queued)).all()
    for run_id in queued:
        execute_run(run_id, worker="t")
    race = client.get(f"/api/v1/sweeps/{created['id']}").json()["race"]
    assert race["finished"] and race["round"] == 1
    assert "round 2 is beyond the deployment's limits" in race["note"]
    assert "ACTLAB_MAX_EPOCHS" in race["note"]
    assert _runs() == 4


def test_a_confirmation_round_applies_the_limits_of_now(backend: Backend,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A confirmation in rounds: round 2 is created when round 1 ends, under the limits of
    then; refused, the search fails saying why, with nothing of round 2 stored."""
    spec = {**SEARCH, "budget": {"trainings": 10},
            "seeds": {"screen": 1, "confirm": 2, "confirm_top": 1, "confirm_rounds": 2}}
    search_id = _stored_search(spec)
    for _ in range(20):
        advance(search_id)
        with session_scope() as s:
            queued = s.scalars(select(Run.id).where(Run.status == RunStatus.queued)).all()
            confirming = s.scalar(select(func.count()).select_from(Experiment).where(
                Experiment.name.contains("[confirm]"))) or 0
        if confirming:  # round 1 of the confirmation is queued: lower the limits now
            _limit_epochs(monkeypatch, 1)
        for run_id in queued:
            execute_run(run_id, worker="t")
        if _search_state(search_id)[0] == "failed":
            break
    status, error = _search_state(search_id)
    assert status == "failed" and error is not None and "ACTLAB_MAX_EPOCHS" in error, error
    with session_scope() as s:  # round 1's two seeds per entry, never round 2's
        seeds = s.scalars(select(Run.seed).join(Experiment).where(
            Experiment.name.contains("[confirm]"))).all()
        assert sorted(set(seeds)) == [1000, 1001]


TUNED_SWEEP: dict[str, Any] = {
    "activations": [{"name": "relu"}, {"name": "tanh"}],
    "models": [{"name": "mlp", "params": {"hidden": 8}}], "training": {"epochs": 2},
    "seeds": [0, 1, 2], "tuning": {"trials": 3, "space": {"lr": {"low": 1e-3, "high": 0.1}}}}


def test_a_tuned_sweep_counts_its_trials_at_the_door(client: TestClient,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTLAB_MAX_RUNS_PER_SWEEP", "10")
    get_settings.cache_clear()
    refused = client.post("/api/v1/sweeps", json=TUNED_SWEEP)  # 2 x (3 seeds + 3 trials)
    assert refused.status_code == 422 and "12 runs" in refused.text, refused.text
    assert _runs() == 0


def test_a_tuned_sweep_s_evaluation_applies_the_limits_of_now(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluation is created when the last trial ends: under the limits of then; refused,
    the tuning ends saying why, with nothing of the evaluation stored."""
    created = client.post("/api/v1/sweeps", json=TUNED_SWEEP).json()
    _limit_epochs(monkeypatch, 1)  # lowered after the sweep was accepted
    with session_scope() as s:
        queued = s.scalars(select(Run.id).where(Run.status == RunStatus.queued)).all()
    for run_id in queued:
        execute_run(run_id, worker="t")
    tuning = client.get(f"/api/v1/sweeps/{created['id']}").json()["tuning"]
    assert tuning["finished"] and "beyond the deployment's limits" in tuning["note"]
    assert "ACTLAB_MAX_EPOCHS" in tuning["note"]
    assert _runs() == 6  # the trials only
