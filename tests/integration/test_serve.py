"""`actlab serve` stops everything it started on Ctrl-C (SIGINT) or SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.processes import (
    ACTLAB,
    descendants,
    free_port,
    service_env,
    stop_and_check,
    wait_healthy,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_leaves_no_process_behind(tmp_path: Path, signum: int) -> None:
    log = tmp_path / "serve.log"
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([*ACTLAB, "serve", "--port", str(port)],
                                env=service_env({"ACTLAB_DATA_DIR": str(tmp_path / "data")}),
                                stdout=out, stderr=subprocess.STDOUT)
    wait_healthy(f"http://127.0.0.1:{port}", [proc], log)
    started = descendants(proc.pid)
    assert len(started) >= 3, "expected the API, the worker and its pool child"
    survivors = stop_and_check(proc, signum)
    assert survivors == set(), f"left running: {survivors}\n{log.read_text()[-2000:]}"
    assert proc.returncode == 0
    assert "actlab stopped" in log.read_text()
    assert (tmp_path / "data" / "actlab.sqlite").exists()
