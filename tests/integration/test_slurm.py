"""Workers as SLURM jobs, on a real one-node SLURM (tests/slurm_cluster.py): `actlab slurm`
submits a worker that trains a queued run and leaves once nothing is queued
(`--until-empty`); a job that reaches its time limit's warning hands its run over and a
second job finishes it, every epoch recorded once, the hand-over not counted as an attempt."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.backends import BACKENDS, make_backend
from tests.processes import ACTLAB, free_port, service_env, stop_and_check, wait_healthy
from tests.slurm_cluster import jobs, slurm_cluster, slurm_missing

pytestmark = pytest.mark.integration
MISSING = slurm_missing()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The API (no worker of its own) on the production backend (the embedded one where
    that is not configured) and a SLURM cluster whose jobs will be the workers; one for
    the module's tests, which take minutes of SLURM time."""
    if MISSING:
        pytest.skip(f"a real SLURM is needed ({MISSING}); .ci/run installs it")
    from core.store.migrate import upgrade_head
    from tests.conftest import _activate, _reset_caches

    tmp_path = tmp_path_factory.mktemp("slurm-lab")
    with make_backend(BACKENDS[-1], tmp_path / "data") as backend, \
            pytest.MonkeyPatch.context() as mp, slurm_cluster(tmp_path / "slurm") as slurm:
        _activate(backend, mp)
        upgrade_head()
        env = service_env({**backend.env(), "ACTLAB_SWEEPER": "true",
                           "ACTLAB_STALE_AFTER_SECONDS": "600",
                           "ACTLAB_REQUEUE_AFTER_SECONDS": "600"})
        port, log = free_port(), tmp_path / "api.log"
        with log.open("wb") as out:
            api = subprocess.Popen([*ACTLAB, "api", "--port", str(port)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, [api], log)
            yield {"url": url, "env": {**env, **slurm}, "slurm": slurm, "logs": tmp_path,
                   "embedded": backend.name == "embedded"}
        finally:
            stop_and_check(api, signal.SIGTERM, group=True)
            _reset_caches()


def _submit_workers(lab: dict[str, Any], *args: str) -> str:
    extra = ["--allow-embedded"] if lab["embedded"] else []
    done = subprocess.run([*ACTLAB, "slurm", "--gpus", "0", "--cpus", "1", "--logs",
                           str(lab["logs"] / "jobs"), *extra, *args], env=lab["env"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[1].rstrip(":")  # "job 12: ..."


def _job_log(lab: dict[str, Any]) -> str:
    return "\n".join(p.read_text() for p in sorted((lab["logs"] / "jobs").glob("*.out")))


def _until(what: Any, timeout: float, why: Any) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, why()
        time.sleep(0.5)
    return found


def test_a_queued_run_is_trained_by_a_slurm_job(lab: dict[str, Any]) -> None:
    http = httpx.Client(base_url=lab["url"])
    created = http.post("/api/v1/experiments", json={
        "activation": {"name": "relu"}, "model": {"name": "mlp", "params": {"hidden": 8}},
        "dataset": {"name": "digits"}, "seeds": [0], "training": {"epochs": 2}}).json()
    run_id = created["runs"][0]["id"]
    job = _submit_workers(lab, "--time", "5", "--until-empty")
    _until(lambda: http.get(f"/api/v1/runs/{run_id}").json()["status"] == "succeeded", 180,
           lambda: _job_log(lab)[-3000:])
    # --until-empty: the worker leaves once nothing is queued, and its job ends
    _until(lambda: job not in jobs(lab["slurm"]), 90, lambda: _job_log(lab)[-3000:])


def test_a_job_warned_or_cancelled_hands_its_run_over(lab: dict[str, Any]) -> None:
    http = httpx.Client(base_url=lab["url"])
    epochs = 120  # about 15 s of training: the warning comes well before the end
    created = http.post("/api/v1/experiments", json={
        "activation": {"name": "dual_line"}, "model": {"name": "lenet5"}, "seeds": [0],
        "training": {"epochs": epochs, "batch_size": 32}}).json()
    run_id = created["runs"][0]["id"]
    # A real job with a real limit, whose warning is due 60 s before it (and SLURM may send
    # it up to a minute early). The test sends that warning itself, as SLURM's --signal
    # does (USR2 to the batch shell), once the run has trained: how long the worker takes
    # to start on a busy machine decides nothing.
    first = _submit_workers(lab, "--time", "4", "--warning", "60")
    _until(lambda: http.get(f"/api/v1/runs/{run_id}").json()["progress"]["epoch"] >= 2, 180,
           lambda: _job_log(lab)[-3000:])
    warned = subprocess.run(["scancel", "--signal=USR2", "--batch", first],
                            env={**os.environ, **lab["slurm"]}, capture_output=True, text=True,
                            timeout=30)
    assert warned.returncode == 0, warned.stderr
    run = _until(lambda: (r := http.get(f"/api/v1/runs/{run_id}").json())["status"] == "queued"
                 and r, 90, lambda: _job_log(lab)[-3000:])
    assert run["attempt"] == 0 and 0 < run["progress"]["epoch"] < epochs, run
    assert "handed over" in _job_log(lab)
    _until(lambda: first not in jobs(lab["slurm"]), 60, lambda: _job_log(lab)[-3000:])
    # The next job resumes it, and is cancelled (`scancel`: SIGTERM to every process of the
    # job, no warning first, as at the hard limit): it hands the run over too.
    handed_at = run["progress"]["epoch"]
    second = _submit_workers(lab, "--time", "10")
    _until(lambda: http.get(f"/api/v1/runs/{run_id}").json()["progress"]["epoch"]
           >= handed_at + 2, 180, lambda: _job_log(lab)[-3000:])
    cancelled = subprocess.run(["scancel", second], env={**os.environ, **lab["slurm"]},
                               capture_output=True, text=True, timeout=30)
    assert cancelled.returncode == 0, cancelled.stderr
    run = _until(lambda: (r := http.get(f"/api/v1/runs/{run_id}").json())["status"] == "queued"
                 and r, 60, lambda: _job_log(lab)[-3000:])
    assert run["attempt"] == 0 and handed_at < run["progress"]["epoch"] < epochs, run
    _until(lambda: second not in jobs(lab["slurm"]), 60, lambda: _job_log(lab)[-3000:])
    _submit_workers(lab, "--time", "10", "--until-empty")
    run = _until(lambda: (r := http.get(f"/api/v1/runs/{run_id}").json())["status"]
                 == "succeeded" and r, 300, lambda: _job_log(lab)[-3000:])
    assert run["attempt"] == 1
    rows = http.get(f"/api/v1/runs/{run_id}/metrics").json()
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))
    assert os.environ.get("SLURM_CONF") is None  # the cluster stays the test's own
