"""A worker of another version than the database's schema refuses, naming both revisions:
at start (the worker process stops) and before each claim (the run stays queued for a
worker that matches)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from core.store.db import get_engine
from core.store.migrate import SchemaMismatch, check_revision, head_revision
from tests.backends import Backend
from tests.factories import get_run, make_experiment
from tests.processes import ACTLAB, service_env
from worker.runner import REFUSED, execute_run

pytestmark = pytest.mark.integration
AHEAD = "9999"  # a revision this code does not know: the database migrated by a newer one


def _stamp(revision: str) -> None:
    with get_engine().begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})


def test_a_database_ahead_of_the_code_is_refused_before_any_claim(backend: Backend) -> None:
    check_revision()  # at head: nothing to say
    experiment, [run_id] = make_experiment()
    _stamp(AHEAD)
    with pytest.raises(SchemaMismatch) as refused:
        check_revision()
    assert f"at schema revision {AHEAD}, this worker's code at {head_revision()}" in \
        str(refused.value) and "upgrade the worker" in str(refused.value)
    assert execute_run(run_id) == REFUSED
    assert get_run(run_id).status == "queued" and get_run(run_id).attempt == 0
    _stamp(head_revision())
    assert execute_run(run_id) == "succeeded"


def test_a_worker_refuses_to_start_on_a_database_one_revision_ahead(
        backend: Backend, tmp_path: Path) -> None:
    _stamp(AHEAD)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([*ACTLAB, "worker"], env=service_env(backend.env()),
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        worker.wait(90)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise AssertionError(f"the worker kept running:\n{log.read_text()[-3000:]}") from None
    finally:
        _stamp(head_revision())
    output = log.read_text()
    assert "refusing to start" in output and AHEAD in output and head_revision() in output, \
        output[-3000:]
    assert "running: attempt" not in output
