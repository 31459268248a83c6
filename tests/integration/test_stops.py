"""Every way a worker is stopped hands its run over: SIGTERM or SIGINT to the whole process
group (systemd's default, SLURM's scancel, Ctrl-C in a terminal), SIGTERM to the child that
trains alone (and so Celery's own cancel), and `actlab serve` stopped by Ctrl-C. Each time the
run is back in the queue within seconds, the attempt not counted, and the next worker claims
it at once (the sweeper's re-enqueue delay is far beyond the test) and resumes it from its
checkpoint, every epoch recorded once. Real processes; the main process's own SIGTERM is
tests/integration/test_handover.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_handover import slow_sweeper  # noqa: F401  (the service)
from tests.processes import ACTLAB, Service, descendants, serve, service_env, stop_and_check

pytestmark = pytest.mark.integration
EPOCHS = 20  # about 3 s of training: the signal lands well before the end
SPEC = {"activation": {"name": "dual_line"}, "model": {"name": "lenet5"}, "seeds": [0],
        "training": {"epochs": EPOCHS, "batch_size": 32}}


def _start(c: httpx.Client, log: Any) -> str:
    run_id: str = c.post("/api/v1/experiments", json=SPEC).json()["runs"][0]["id"]
    deadline = time.monotonic() + 120
    while c.get(f"/api/v1/runs/{run_id}").json()["progress"]["epoch"] < 3:
        assert time.monotonic() < deadline, log()
        time.sleep(0.1)
    return run_id


def _handed_over(c: httpx.Client, run_id: str, log: Any) -> int:
    """Waits for the run to be queued again (attempt not counted); its epoch then."""
    signalled = time.monotonic()
    while (run := c.get(f"/api/v1/runs/{run_id}").json())["status"] == "running":
        assert time.monotonic() - signalled < 20, log()
        time.sleep(0.1)
    assert (run["status"], run["attempt"]) == ("queued", 0), run
    epoch: int = run["progress"]["epoch"]
    return epoch


def _finished_once(c: httpx.Client, run_id: str, log: Any, attempts: int = 1) -> None:
    deadline = time.monotonic() + 180
    while (run := c.get(f"/api/v1/runs/{run_id}").json())["status"] != "succeeded":
        assert run["status"] in ("queued", "running"), (run, log())
        assert time.monotonic() < deadline, log()
        time.sleep(0.3)
    assert run["attempt"] == attempts  # a hand-over is not an attempt
    rows = c.get(f"/api/v1/runs/{run_id}/metrics").json()
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signal_to_the_whole_group_hands_over(
        slow_sweeper: tuple[Service, dict[str, str]], tmp_path: Path,  # noqa: F811
        signum: int) -> None:
    service, env = slow_sweeper
    first = service.procs[1]  # `actlab worker`, the leader of its own process group
    with service.client() as c:
        run_id = _start(c, lambda: service.log_text()[-3000:])
        os.killpg(first.pid, signum)  # every process of the worker, as systemd or a tty do
        handed_at = _handed_over(c, run_id, lambda: service.log_text()[-3000:])
        assert stop_and_check(first, signal.SIGTERM, group=True, timeout=60) == set()
        assert "handed over" in service.log_text()
        log = tmp_path / "second.log"
        with log.open("wb") as out:
            second = subprocess.Popen([*ACTLAB, "worker"], env=service_env(env), stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _finished_once(c, run_id, lambda: log.read_text()[-3000:])
        finally:
            stop_and_check(second, signal.SIGQUIT, group=True)
        assert f"from epoch {handed_at}" in log.read_text()  # resumed, not restarted


def test_a_sigterm_to_the_training_child_alone_hands_over(
        slow_sweeper: tuple[Service, dict[str, str]]) -> None:  # noqa: F811
    """As Celery's own cancel of a task does: the run goes back to the queue, and the same
    worker's next child resumes it."""
    service, _ = slow_sweeper
    worker = service.procs[1]
    with service.client() as c:
        run_id = _start(c, lambda: service.log_text()[-3000:])
        children = descendants(worker.pid)
        assert children, "the worker has no pool child"
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        _finished_once(c, run_id, lambda: service.log_text()[-3000:])
    text = service.log_text()
    assert "signal SIGTERM: handing the runs in training over" in text
    assert "handed over" in text and worker.poll() is None  # the worker itself goes on


def test_serve_stopped_by_ctrl_c_hands_over(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"ACTLAB_DATA_DIR": str(data), "ACTLAB_STALE_AFTER_SECONDS": "600",
           "ACTLAB_REQUEUE_AFTER_SECONDS": "600"}
    with serve(env, tmp_path / "first.log") as first, first.client() as c:
        run_id = _start(c, lambda: first.log_text()[-3000:])
        first.procs[0].send_signal(signal.SIGINT)  # Ctrl-C to `actlab serve`
        assert first.procs[0].wait(60) == 0, first.log_text()[-3000:]
    with serve(env, tmp_path / "second.log") as second, second.client() as c:
        run = c.get(f"/api/v1/runs/{run_id}").json()
        assert run["attempt"] in (0, 1), run  # handed over: queued, or already resumed
        _finished_once(c, run_id, lambda: second.log_text()[-3000:])
    assert "handed over" in (tmp_path / "first.log").read_text()
    # resumed from the checkpoint, not restarted
    assert re.search(r"from epoch [1-9]", (tmp_path / "second.log").read_text())
