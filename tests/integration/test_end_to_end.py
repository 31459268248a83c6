"""The whole path with real processes: HTTP API, Celery worker, database and broker.

Runs on the embedded default (`actlab serve`: SQLite + Celery over SQLite) and, when
configured, on PostgreSQL + Redis (`actlab api` + `actlab worker`)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.domain.settings import get_settings
from core.store.queue import send_run_notices
from tests.backends import BACKENDS
from tests.processes import Service, running_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=BACKENDS)
def service(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp(f"svc-{request.param}")
    with running_service(request.param, tmp) as (svc, _):
        yield svc


def wait_for(client: httpx.Client, experiment_id: str, done: set[str],
             timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exp = client.get(f"/api/v1/experiments/{experiment_id}").json()
        if {r["status"] for r in exp["runs"]} <= done:
            return exp
        time.sleep(0.3)
    raise AssertionError(f"experiment {experiment_id} not done in {timeout} s: {exp}")


def test_post_then_poll_until_succeeded(service: Service) -> None:
    with service.client() as c:
        created = c.post("/api/v1/experiments", json={
            "activation": {"name": "relu"}, "model": {"name": "mlp"},
            "dataset": {"name": "digits"}, "seeds": [0, 1], "training": {"epochs": 2}})
        assert created.status_code == 202, created.text
        exp = wait_for(c, created.json()["id"], {"succeeded", "failed", "diverged"})
        assert [r["status"] for r in exp["runs"]] == ["succeeded", "succeeded"], \
            service.log_text()[-3000:]
        assert exp["status"] == "succeeded"
        for run in exp["runs"]:
            rows = c.get(f"/api/v1/runs/{run['id']}/metrics").json()
            assert [row["epoch"] for row in rows] == [1, 2]
            for split in ("train", "val", "test"):
                assert all(0 <= row[f"{split}_accuracy"] <= 1 for row in rows), split
                assert all(row[f"{split}_loss"] > 0 for row in rows), split
            detail = c.get(f"/api/v1/runs/{run['id']}").json()
            assert detail["attempt"] == 1 and detail["progress"]["epoch"] == 2
            assert detail["final_metrics"]["val_accuracy"] == rows[-1]["val_accuracy"]
            assert detail["final_metrics"]["test_accuracy"] == rows[-1]["test_accuracy"]
            best = max(rows, key=lambda r: (r["val_accuracy"], -r["epoch"]))
            assert detail["best_epoch"] == best["epoch"]  # chosen on validation only
            assert detail["final_metrics"]["test_accuracy_at_best"] == best["test_accuracy"]
            assert detail["macs"] > detail["activation_macs"] > 0
            assert detail["parameters"] == [] and detail["reused_from"] is None
        # relu has no learnable parameters
        assert c.get(f"/api/v1/runs/{exp['runs'][0]['id']}/parameters").json()["total"] == 0
    # the worker child imported torch and the trainer when it started, not at this run
    assert "worker child warmed up in" in service.log_text()


def test_learnable_activation_parameters_are_snapshotted(service: Service) -> None:
    with service.client() as c:
        created = c.post("/api/v1/experiments", json={
            "activation": {"name": "dual_line"}, "model": {"name": "lenet5"},
            "seeds": [0], "training": {"epochs": 2}}).json()
        exp = wait_for(c, created["id"], {"succeeded", "failed", "diverged"})
        assert exp["runs"][0]["status"] == "succeeded", exp["runs"][0]["error"]
        page = c.get(f"/api/v1/runs/{exp['runs'][0]['id']}/parameters").json()
        # lenet5: 4 activation slots x (a, b, m) x 2 epochs
        assert page["total"] == 24
        keys = {(p["block"], p["position"], p["name"]) for p in page["items"]}
        assert keys == {(b, 1, n) for b in (1, 2, 3, 4) for n in "abm"}
        first_conv = [p for p in page["items"] if p["block"] == 1 and p["name"] == "a"]
        assert {len(p["values"]) for p in first_conv} == {6}  # per channel: 6 filters


def test_same_message_delivered_twice_trains_once(service: Service) -> None:
    with service.client() as c:
        created = c.post("/api/v1/experiments", json={
            "activation": {"name": "relu"}, "seeds": [7], "training": {"epochs": 2}}).json()
        run_id = created["runs"][0]["id"]
        send_run_notices([uuid.UUID(run_id)], get_settings())  # a second, duplicate delivery
        wait_for(c, created["id"], {"succeeded"})
        deadline = time.monotonic() + 90
        pattern = f"run {run_id} not claimable"
        while pattern not in service.log_text() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert pattern in service.log_text(), "the duplicate was never delivered"
        run = c.get(f"/api/v1/runs/{run_id}").json()
        assert run["attempt"] == 1 and run["status"] == "succeeded"
        assert len(c.get(f"/api/v1/runs/{run_id}/metrics").json()) == 2
        assert len(re.findall(f"run {run_id} succeeded", service.log_text())) == 1


def test_cancel_a_queued_and_a_running_run(service: Service) -> None:
    with service.client() as c:
        # One worker process: the first experiment's run trains while the second's waits
        # in the queue (the seeds of one experiment would train together).
        spec = {"activation": {"name": "relu"}, "training": {"epochs": 1000}}
        created = c.post("/api/v1/experiments", json={**spec, "seeds": [0]}).json()
        running_id = created["runs"][0]["id"]
        deadline = time.monotonic() + 120
        while c.get(f"/api/v1/runs/{running_id}").json()["progress"]["epoch"] < 1:
            assert time.monotonic() < deadline, service.log_text()[-3000:]
            time.sleep(0.1)
        waiting = c.post("/api/v1/experiments", json={**spec, "seeds": [1]}).json()
        queued_id = waiting["runs"][0]["id"]

        queued = c.post(f"/api/v1/runs/{queued_id}/cancel").json()
        assert queued["status"] == "cancelled"
        running = c.post(f"/api/v1/runs/{running_id}/cancel").json()
        assert running["status"] == "running" and running["cancel_requested"]
        epoch_at_cancel = running["progress"]["epoch"]

        exp = wait_for(c, created["id"], {"cancelled"}, timeout=60)
        assert exp["status"] == "cancelled"
        assert c.get(f"/api/v1/experiments/{waiting['id']}").json()["status"] == "cancelled"
        stopped = c.get(f"/api/v1/runs/{running_id}").json()
        assert stopped["progress"]["epoch"] <= epoch_at_cancel + 1  # within one epoch
        assert len(c.get(f"/api/v1/runs/{running_id}/metrics").json()) == \
            stopped["progress"]["epoch"]
        assert c.post(f"/api/v1/runs/{running_id}/cancel").status_code == 409
        assert c.get(f"/api/v1/runs/{queued_id}").json()["attempt"] == 0  # never trained


def wait_for_sweep(client: httpx.Client, sweep_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweep = client.get(f"/api/v1/sweeps/{sweep_id}").json()
        if sweep["progress"]["fraction"] == 1.0:
            return sweep
        time.sleep(0.3)
    raise AssertionError(f"sweep {sweep_id} not done in {timeout} s: {sweep['progress']}")


def test_sweep_end_to_end_then_reuse(service: Service) -> None:
    body = {"name": "three activations", "activations": [
        {"name": "relu"}, {"name": "dual_line"}, {"name": "prelu"}],
        "models": [{"name": "mlp", "params": {"hidden": 32}}], "datasets": [{"name": "digits"}],
        "seeds": [0, 1], "training": {"epochs": 2}, "tags": ["sweep-test"]}
    with service.client() as c:
        created = c.post("/api/v1/sweeps", json=body)
        assert created.status_code == 202, created.text
        sweep = created.json()
        assert len(sweep["experiments"]) == 3 and sweep["runs_queued"] == 6
        done = wait_for_sweep(c, sweep["id"])
        assert done["progress"]["counts"]["succeeded"] == 6, service.log_text()[-3000:]
        assert {e["status"] for e in done["experiments"]} == {"succeeded"}

        board = c.get("/api/v1/leaderboard?model=mlp&dataset=digits").json()
        ours = {e["id"] for e in done["experiments"]}
        mine = [e for e in board["entries"] if set(e["experiment_ids"]) & ours]
        assert sorted(e["activation"] for e in mine) == ["dual_line", "prelu", "relu"]
        assert all(e["n"] == 2 for e in mine)
        dual = next(e for e in done["experiments"] if e["activation"] == "dual_line")
        params = c.get(f"/api/v1/experiments/{dual['id']}/parameters").json()
        assert {(p["block"], p["name"]) for p in params["final"]} == \
            {(b, n) for b in (1, 2) for n in "abm"}
        response = c.get(f"/api/v1/experiments/{dual['id']}/response").json()
        assert len(response["layers"]) == 2 and len(response["envelope"]["min"]) == 101

        # The same sweep again reuses every succeeded recipe and seed: nothing is queued.
        again = c.post("/api/v1/sweeps", json=body).json()
        assert again["runs_queued"] == 0 and again["runs_reused"] == 6
        reused = c.get(f"/api/v1/sweeps/{again['id']}").json()
        assert reused["progress"]["counts"]["succeeded"] == 6
        exp = c.get(f"/api/v1/experiments/{again['experiments'][0]['id']}").json()
        assert all(len(c.get(f"/api/v1/runs/{r['id']}/metrics").json()) == 2
                   for r in exp["runs"])
        # force trains again
        forced = c.post("/api/v1/sweeps", json={**body, "activations": [{"name": "relu"}],
                                                 "force": True}).json()
        assert forced["runs_queued"] == 2 and forced["runs_reused"] == 0
        wait_for_sweep(c, forced["id"])


def test_lr_range_through_the_api(service: Service) -> None:
    with service.client() as c:
        created = c.post("/api/v1/experiments", json={
            "kind": "lr_range", "activation": {"name": "dual_line"},
            "model": {"name": "mlp"}, "dataset": {"name": "digits"}, "seeds": [0, 1],
            "training": {"lr_min": 1e-5, "lr_max": 10.0, "lr_range_steps": 60}}).json()
        exp = wait_for(c, created["id"], {"succeeded", "failed"})
        assert {r["status"] for r in exp["runs"]} == {"succeeded"}, exp["runs"][0]["error"]
        run = c.get(f"/api/v1/runs/{exp['runs'][0]['id']}").json()
        assert 1e-5 <= run["result"]["suggested_lr"] <= 10
        table = c.get("/api/v1/leaderboard/lr?model=mlp&dataset=digits").json()
        entry = next(e for e in table["entries"] if e["activation"] == "dual_line")
        assert entry["n"] >= 2 and entry["suggested_min"] <= entry["suggested_lr"] <= \
            entry["suggested_max"]


def test_a_formula_activation_trains_and_records_its_parameters(service: Service) -> None:
    spec = {"activation": {"name": "formula", "params": {
                "expression": "x * sigmoid(beta * x)", "parameters": {"beta": 1.0}}},
            "model": {"name": "mlp", "params": {"hidden": 32}}, "dataset": {"name": "digits"},
            "seeds": [0, 1], "training": {"epochs": 2}}
    with service.client() as c:
        created = c.post("/api/v1/experiments", json=spec)
        assert created.status_code == 202, created.text
        exp = wait_for(c, created.json()["id"], {"succeeded", "failed", "diverged"})
        assert [r["status"] for r in exp["runs"]] == ["succeeded", "succeeded"], \
            service.log_text()[-3000:]
        assert exp["spec"]["activation"]["params"]["expression"] == "sigmoid(beta * x) * x"
        page = c.get(f"/api/v1/runs/{exp['runs'][0]['id']}/parameters",
                     params={"epoch": 2}).json()
        assert {(p["block"], p["name"], len(p["values"])) for p in page["items"]} == \
            {(1, "beta", 32), (2, "beta", 32)}
        dist = c.get(f"/api/v1/experiments/{exp['id']}/parameters").json()
        assert {(b["block"], b["name"]) for b in dist["final"]} == {(1, "beta"), (2, "beta")}
        assert all(b["n"] == 64 for b in dist["final"])  # 32 channels x 2 seeds
        region = c.get(f"/api/v1/experiments/{exp['id']}/response").json()
        assert len(region["layers"]) == 2
        # The same function written the other way round is the same recipe: reused.
        again = c.post("/api/v1/experiments", json={**spec, "activation": {
            "name": "formula", "params": {"expression": "x*sigmoid(x*beta)",
                                          "parameters": {"beta": 1.0}}}})
        assert again.status_code == 202
        assert again.json()["status"] == "succeeded"
        board = c.get("/api/v1/leaderboard", params={"model": "mlp", "dataset": "digits",
                                                     "baseline": "relu"}).json()
        labels = {e["label"] for e in board["entries"]}
        assert "formula(sigmoid(beta * x) * x; beta=1.0)" in labels


def test_a_regression_trains_reports_rmse_and_ranks_by_it(service: Service) -> None:
    """A KAN on a symbolic formula: RMSE and R^2 on every split, no accuracy, the best epoch
    by validation RMSE, the formula in the provenance, and a board ranked by test RMSE."""
    spec = {"activation": {"name": "bspline"}, "model": {"name": "kan", "params": {"widths": [4]}},
            "dataset": {"name": "symbolic", "params": {"formula": "product", "n": 300}},
            "seeds": [0, 1], "training": {"epochs": 3, "optimizer": "adam", "lr": 0.01}}
    with service.client() as c:
        created = c.post("/api/v1/experiments", json=spec)
        assert created.status_code == 202, created.text
        exp = wait_for(c, created.json()["id"], {"succeeded", "failed", "diverged"})
        assert [r["status"] for r in exp["runs"]] == ["succeeded", "succeeded"], \
            service.log_text()[-3000:]
        run = c.get(f"/api/v1/runs/{exp['runs'][0]['id']}").json()
        rows = c.get(f"/api/v1/runs/{run['id']}/metrics").json()
        assert all(row["val_accuracy"] is None and row["train_accuracy"] is None
                   for row in rows)
        assert all(row["train_rmse"] > 0 and row["test_r2"] <= 1 for row in rows)
        best = min(rows, key=lambda r: (r["val_rmse"], r["epoch"]))
        assert run["best_epoch"] == best["epoch"]
        assert run["final_metrics"]["test_rmse_at_best"] == best["test_rmse"]
        assert run["provenance"]["data"]["expression"] == "x*y"
        board = c.get("/api/v1/leaderboard", params={"model": "kan", "dataset": "symbolic",
                                                     "stat": "best"}).json()
        assert board["metric"] == "test_rmse" and board["select"] == "val_rmse"
        [entry] = board["entries"]
        assert entry["mean"] == pytest.approx(sum(
            c.get(f"/api/v1/runs/{r['id']}").json()["final_metrics"]["test_rmse_at_best"]
            for r in exp["runs"]) / 2)
        # A model made for classification only is refused the regression dataset.
        refused = c.post("/api/v1/experiments", json={**spec, "activation": {"name": "relu"},
                                                      "model": {"name": "lenet5"}})
        assert refused.status_code == 422 and "regression dataset" in refused.text


def test_a_formula_that_overflows_ends_the_run_diverged(service: Service) -> None:
    with service.client() as c:
        created = c.post("/api/v1/experiments", json={
            "activation": {"name": "formula", "params": {"expression": "exp(exp(exp(x)))"}},
            "model": {"name": "mlp", "params": {"hidden": 16}}, "dataset": {"name": "digits"},
            "seeds": [0], "training": {"epochs": 3}})
        assert created.status_code == 202, created.text
        exp = wait_for(c, created.json()["id"], {"succeeded", "failed", "diverged"})
        run = c.get(f"/api/v1/runs/{exp['runs'][0]['id']}").json()
        assert run["status"] == "diverged", run
        assert "loss became" in run["error"]
        metrics = c.get(f"/api/v1/runs/{run['id']}/metrics").json()
        assert len(metrics) == run["progress"]["epoch"] < 3  # what finished before is kept


def test_the_event_stream_follows_an_experiment_to_its_end(service: Service) -> None:
    """GET /experiments/{id}/events: every epoch of every run as it happens, the experiment's
    status changes, then `end`, and the stream closes; the client's wait() rides on it."""
    from actlab.client import Client

    lab = Client(url=service.url)
    submitted = lab.submit({"activation": {"name": "dual_line"}, "model": {"name": "mlp",
                            "params": {"hidden": 16}}, "seeds": [0, 1],
                            "training": {"epochs": 3}}, force=True)
    seen = list(lab.events(submitted.id))
    names = [name for name, _ in seen]
    assert names[-1] == "end" and names.count("end") == 1
    assert seen[-1][1]["status"] == "succeeded" and seen[-1][1]["finished"]
    for run in submitted.created["runs"]:
        mine = [data for name, data in seen if name == "run" and data["id"] == run["id"]]
        # A fast run may skip intermediate reads; a run is seen running at its last epoch
        # too, between that epoch's write and the write of its end.
        running = [d["epoch"] for d in mine if d["status"] == "running" and d["epoch"]]
        assert running == sorted(set(running)) and set(running) <= {1, 2, 3}, running
        assert mine[-1]["status"] == "succeeded" and mine[-1]["epoch"] == 3
        assert mine[-1]["val_loss"] is not None and mine[-1]["train_loss"] is not None
    statuses = [data["status"] for name, data in seen if name == "experiment"]
    assert statuses[-1] == "succeeded" and len(statuses) == len(set(statuses))
    # a finished experiment: its state, then end at once; wait() returns the detail
    again = list(lab.events(submitted.id))
    assert [n for n, _ in again] == ["run", "run", "experiment", "end"]
    assert submitted.wait(progress=False)["status"] == "succeeded"
    with service.client() as c:
        missing = c.get(f"/api/v1/experiments/{uuid.uuid4()}/events")
        assert missing.status_code == 404 and "not found" in missing.json()["detail"]


def test_priority_orders_the_queue(service: Service) -> None:
    """A priority-10 run submitted after three priority -10 runs starts before them, on
    either broker (a notice wakes a worker, which claims the run that should start next)."""
    tiny = {"model": {"name": "mlp", "params": {"hidden": 8}}, "seeds": [0],
            "training": {"epochs": 1}}
    with service.client() as c:
        def post(spec: dict[str, Any]) -> str:
            r = c.post("/api/v1/experiments", params={"force": "true"}, json=spec)
            assert r.status_code == 202, r.text
            return str(r.json()["runs"][0]["id"])

        # keeps the one worker busy while the others queue up behind it
        blocker = post({**tiny, "activation": {"name": "relu"},
                        "training": {"epochs": 8, "batch_size": 16}})
        deadline = time.monotonic() + 120
        while c.get(f"/api/v1/runs/{blocker}").json()["status"] == "queued":
            assert time.monotonic() < deadline, service.log_text()[-3000:]
            time.sleep(0.1)
        low = [post({**tiny, "activation": {"name": "relu"}, "priority": -10,
                     "name": f"low {i}"}) for i in range(3)]
        high = post({**tiny, "activation": {"name": "tanh"}, "priority": 10})
        runs = {}
        for run_id in [blocker, *low, high]:
            deadline = time.monotonic() + 180
            while (run := c.get(f"/api/v1/runs/{run_id}").json())["status"] != "succeeded":
                assert run["status"] in ("queued", "running"), run
                assert time.monotonic() < deadline, service.log_text()[-3000:]
                time.sleep(0.2)
            runs[run_id] = run
    started = {run_id: run["started_at"] for run_id, run in runs.items()}
    assert started[high] < min(started[r] for r in low), started
    assert started[low[0]] < started[low[1]] < started[low[2]]  # then the longest waiting
