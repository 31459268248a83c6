"""A worker stopped by SIGTERM hands its run over at once: it abandons the training between
two steps, keeps its checkpoint, gives the run back to the queue (the attempt not counted)
and exits; the next worker resumes from the checkpoint, every epoch recorded once. Real
worker processes; the stale-heartbeat timeout is set far beyond the test, so only the
hand-over can queue the run again."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import BACKENDS, make_backend
from tests.processes import ACTLAB, Service, api_and_worker, service_env, stop_and_check

pytestmark = pytest.mark.integration


@pytest.fixture(params=BACKENDS)
def slow_sweeper(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 ) -> Iterator[tuple[Service, dict[str, str]]]:
    from core.store.migrate import upgrade_head
    from tests.conftest import _activate, _reset_caches

    tmp = tmp_path_factory.mktemp(f"handover-{request.param}")
    with make_backend(request.param, tmp / "data") as backend, \
            pytest.MonkeyPatch.context() as mp:
        _activate(backend, mp)
        upgrade_head()
        env = {**backend.env(), "ACTLAB_SWEEPER": "true", "ACTLAB_STALE_AFTER_SECONDS": "600",
               "ACTLAB_REQUEUE_AFTER_SECONDS": "600"}
        with api_and_worker(env, tmp / "service.log") as svc:
            yield svc, env
        _reset_caches()


def test_sigterm_hands_the_run_over_at_once(slow_sweeper: tuple[Service, dict[str, str]],
                                           tmp_path: Path) -> None:
    service, env = slow_sweeper
    first = service.procs[1]  # `actlab worker`
    epochs = 40  # about 5 s of training: the signal lands well before the end
    with service.client() as c:
        created = c.post("/api/v1/experiments", json={
            "activation": {"name": "dual_line"}, "model": {"name": "lenet5"}, "seeds": [0],
            "training": {"epochs": epochs, "batch_size": 32}}).json()
        run_id = created["runs"][0]["id"]
        deadline = time.monotonic() + 120
        while c.get(f"/api/v1/runs/{run_id}").json()["progress"]["epoch"] < 3:
            assert time.monotonic() < deadline, service.log_text()[-3000:]
            time.sleep(0.1)
        signalled = time.monotonic()
        first.send_signal(signal.SIGTERM)  # the main process only, as `kill` or systemd do
        run = c.get(f"/api/v1/runs/{run_id}").json()
        while run["status"] == "running":
            assert time.monotonic() - signalled < 20, service.log_text()[-3000:]
            time.sleep(0.1)
            run = c.get(f"/api/v1/runs/{run_id}").json()
        assert (run["status"], run["attempt"]) == ("queued", 0), run
        handed_at = run["progress"]["epoch"]
        assert stop_and_check(first, signal.SIGTERM, timeout=60) == set()  # it exits
        assert first.returncode is not None and "handed over" in service.log_text()

        log = tmp_path / "second.log"
        with log.open("wb") as out:
            second = subprocess.Popen([*ACTLAB, "worker"], env=service_env(env), stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            while (run := c.get(f"/api/v1/runs/{run_id}").json())["status"] != "succeeded":
                assert run["status"] in ("queued", "running"), run
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.3)
        finally:
            stop_and_check(second, signal.SIGQUIT, group=True)
        assert run["attempt"] == 1  # the hand-over was not counted as an attempt
        assert f"from epoch {handed_at}" in log.read_text()  # resumed, not restarted
        rows = c.get(f"/api/v1/runs/{run_id}/metrics").json()
        assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))
