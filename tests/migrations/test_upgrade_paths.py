"""A populated database upgrades from every revision to head with nothing lost.

The test finds the revisions itself. At each one it builds the schema and fills every table
that revision had with a row, in the columns it had. The experiment is a trained one: a
spec, a succeeded run, its epoch of metrics, parameters and curve. Every other table gets a
row of plain values. Then it upgrades to head and checks that every row survived, with the
meaning the code gives it now. The metrics are where the code reads them: before 0004 the
split called validation was the test split. The service reads the experiment, its run and
its board without an error. A new revision's tables are filled by the same rule, and its
meaning is checked here when it moves data.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from core.store.db import get_engine
from core.store.migrate import alembic_config
from core.store.models import Base
from tests.backends import Backend
from tests.every_table import METRIC, fill_every_table

REVISIONS = [s.revision for s in reversed(list(
    ScriptDirectory.from_config(alembic_config()).walk_revisions()))]
# The revision that moved the old validation numbers to the test columns.
VAL_BECAME_TEST = "0004"


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_populated_database_upgrades_to_head(backend: Backend, client: TestClient,
                                               revision: str) -> None:
    from core.store.models import EpochMetric, Experiment, Run

    command.downgrade(alembic_config(), "base")
    command.upgrade(alembic_config(), revision)
    filled = fill_every_table()
    command.upgrade(alembic_config(), "head")
    with get_engine().connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in filled:
                assert conn.execute(sa.select(sa.func.count()).select_from(table)) \
                    .scalar_one() == 1, (revision, table.name)
        metrics = conn.execute(sa.select(EpochMetric)).one()
        run = conn.execute(sa.select(Run)).one()
        experiment = conn.execute(sa.select(Experiment)).one()
    old = REVISIONS.index(revision) < REVISIONS.index(VAL_BECAME_TEST)
    # what was recorded as validation before 0004 was the test split: it reads as test now
    assert (metrics.test_accuracy, metrics.val_accuracy) == \
        ((METRIC, None) if old else (METRIC, METRIC))
    assert run.final_metrics == ({"test_accuracy": METRIC} if old else {"val_accuracy": METRIC})
    assert experiment.recipe_version == (1 if old else 2)
    for path in (f"/api/v1/experiments/{experiment.id}",
                 f"/api/v1/experiments/{experiment.id}/summary", f"/api/v1/runs/{run.id}",
                 f"/api/v1/runs/{run.id}/metrics", f"/api/v1/runs/{run.id}/parameters",
                 f"/api/v1/runs/{run.id}/functions"):
        answer = client.get(path)
        assert answer.status_code == 200, (revision, path, answer.text)
    board = client.get("/api/v1/leaderboard", params={"model": "mlp", "dataset": "digits",
                                                     "stat": "final"}).json()
    assert [e["mean"] for e in board["entries"]] == [METRIC], revision
    assert client.get(f"/api/v1/runs/{run.id}/parameters").json()["items"][0]["values"] == \
        [1.5, -0.25]
