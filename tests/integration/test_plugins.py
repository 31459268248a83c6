"""A plugin package (tests/plugin_example) adds an activation and a model with no fork: the API
serves and validates them without torch, a worker that has them trains them, one that lacks
them fails the run naming what is missing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import BACKENDS, Backend
from tests.plugins import DIST, PLUGIN_DIR, install_example_plugin
from tests.processes import Service, running_service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return install_example_plugin(tmp_path_factory.mktemp("site"))


def _python(code: str, pythonpath: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env={"PYTHONPATH": pythonpath, "PATH": "/usr/bin:/bin",
                                         "ACTLAB_DATA_DIR": "/tmp/actlab-plugin-test"})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_library_loads_the_plugin_and_its_shipped_fragment_is_current(
        plugin_path: str) -> None:
    out = _python(
        "import activations, torch; from cli.catalog import render_catalog; "
        "m = activations.create('scaled_tanh', num_channels=3); "
        "print(activations.get_info('scaled_tanh').family, "
        "[n for n, _ in m.named_parameters()], m(torch.zeros(2, 3)).abs().sum().item()); "
        f"print(render_catalog({DIST!r}) == open({str(PLUGIN_DIR)!r} + "
        "'/actlab_plugin_example/catalog.json').read()); "
        "print('scaled_tanh' in render_catalog()); "
        "from worker.training.models import get_model_info; "
        "print(get_model_info('one_layer').input_kinds)", plugin_path)
    assert out.split("\n")[:4] == ["plugin ['a', 'b'] 0.0", "True", "False",
                                   "('vector', 'image')"], \
        "stale fragment: run `actlab catalog --plugin actlab-plugin-example --write " \
        "tests/plugin_example/actlab_plugin_example/catalog.json` with the plugin installed"


def test_the_api_serves_and_validates_plugin_activations_without_torch(
        plugin_path: str) -> None:
    out = _python(
        "import sys, json; from fastapi.testclient import TestClient; "
        "from api.main import create_app; from core.store.migrate import upgrade_head; "
        "upgrade_head(); c = TestClient(create_app()); "
        "acts = {a['name']: a for a in c.get('/api/v1/catalog/activations').json()}; "
        "ok = c.post('/api/v1/experiments', json={'activation': {'name': 'scaled_tanh', "
        "'params': {'a': 1.0}}}); "
        "bad = c.post('/api/v1/experiments', json={'activation': {'name': 'scaled_tanh', "
        "'params': {'c': 1.0}}}); "
        "print(json.dumps([acts['scaled_tanh']['plugin'], ok.status_code, bad.status_code, "
        "bad.json()['detail'][0]['msg'], 'torch' in sys.modules]))", plugin_path)
    plugin, ok, bad, msg, torch_loaded = json.loads(out.strip().split("\n")[-1])
    assert (plugin, ok, bad, torch_loaded) == (DIST, 202, 422, False)
    assert "valid parameters: a, b, per_channel" in msg


@pytest.fixture(scope="module", params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            plugin_path: str) -> Iterator[tuple[Service, Backend]]:
    tmp = tmp_path_factory.mktemp(f"plugin-{request.param}")
    with running_service(request.param, tmp, {"PYTHONPATH": plugin_path}) as running:
        yield running


def test_a_plugin_activation_trains_through_the_service(
        service: tuple[Service, Backend]) -> None:
    svc, _ = service
    with svc.client() as c:
        created = c.post("/api/v1/experiments", json={
            "activation": {"name": "scaled_tanh"}, "model": {"name": "one_layer",
                                                            "params": {"hidden": 16}},
            "seeds": [0], "training": {"epochs": 2}})
        assert created.status_code == 202, created.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            exp = c.get(f"/api/v1/experiments/{created.json()['id']}").json()
            if exp["status"] not in ("queued", "running"):
                break
            time.sleep(0.3)
        assert exp["status"] == "succeeded", svc.log_text()[-3000:]
        run_id = exp["runs"][0]["id"]
        items = c.get(f"/api/v1/runs/{run_id}/parameters").json()["items"]
        assert {(p["block"], p["name"]) for p in items} == {(1, "a"), (1, "b")}


def test_a_worker_without_the_plugin_fails_the_run_naming_it(
        service: tuple[Service, Backend]) -> None:
    """The API (with the plugin) accepted the spec; this process is a worker without it."""
    from core.domain.timeutil import utcnow
    from core.store.db import session_scope
    from core.store.models import Experiment, Run
    from worker.runner import execute_run

    svc, _ = service
    with svc.client() as c:
        spec = c.get(f"/api/v1/experiments/{_any_experiment(c)}").json()["spec"]
    with session_scope() as s:
        exp = Experiment(name="no plugin here", kind="train", spec=spec,
                         spec_hash=uuid.uuid4().hex, activation="scaled_tanh", model="mlp",
                         dataset="digits", tags=[], priority=0)
        # enqueued_at set: the sweeper takes it for announced, not lost, and leaves it alone.
        exp.runs = [Run(seed=99, epochs_total=1, enqueued_at=utcnow())]
        s.add(exp)
        s.flush()
        run_id = exp.runs[0].id
    # Claimed here before the service's worker can (its queue never heard of this run).
    assert execute_run(run_id) == "failed"
    with session_scope() as s:
        error = s.get_one(Run, run_id).error or ""
    assert "unknown activation 'scaled_tanh'" in error
    assert "install that plugin here (entry point group actlab.activations)" in error


def _any_experiment(c: httpx.Client) -> str:
    items = c.get("/api/v1/experiments", params={"activation": "scaled_tanh"}).json()["items"]
    return str(items[0]["id"])
