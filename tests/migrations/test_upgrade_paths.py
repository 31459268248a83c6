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

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from core.domain.spec import ExperimentSpec, spec_hash
from core.store.db import get_engine
from core.store.migrate import alembic_config
from core.store.models import Base
from tests.backends import Backend

REVISIONS = [s.revision for s in reversed(list(
    ScriptDirectory.from_config(alembic_config()).walk_revisions()))]
# The revision that moved the old validation numbers to the test columns.
VAL_BECAME_TEST = "0004"
SPEC = ExperimentSpec.model_validate({"activation": {"name": "relu"},
                                      "training": {"epochs": 1}})
METRIC = 0.625


def _value(table: str, column: sa.Column[Any], ids: dict[str, uuid.UUID]) -> Any:
    """A value this column can hold that means what the code reads it as."""
    known: dict[tuple[str, str], Any] = {
        ("experiments", "spec"): SPEC.model_dump(mode="json"),
        ("experiments", "spec_hash"): spec_hash(SPEC),
        ("experiments", "kind"): "train", ("experiments", "activation"): "relu",
        ("experiments", "model"): "mlp", ("experiments", "dataset"): "digits",
        ("experiments", "tags"): [], ("experiments", "name"): "survivor",
        ("experiments", "role"): "evaluation", ("runs", "reused_from"): None,
        ("runs", "error"): None, ("experiments", "recipe_version"): 2,
        ("runs", "status"): "succeeded", ("runs", "seed"): 0, ("runs", "attempt"): 1,
        ("runs", "epochs_done"): 1, ("runs", "epochs_total"): 1, ("runs", "best_epoch"): 1,
        ("runs", "final_metrics"): {"val_accuracy": METRIC},
        ("epoch_metrics", "epoch"): 1, ("activation_params", "epoch"): 1,
        ("activation_params", "values"): [1.5, -0.25],
        ("response_curves", "xs"): [0.0, 1.0], ("response_curves", "ys"): [[0.0, 1.0]],
    }
    if (table, column.name) in known:
        return known[(table, column.name)]
    for fk in column.foreign_keys:
        return ids[fk.column.table.name]
    kind = column.type
    if isinstance(kind, sa.Uuid):
        return ids.setdefault(table, uuid.uuid4()) if column.primary_key else uuid.uuid4()
    if isinstance(kind, sa.Enum):
        return kind.enums[0]
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.Float | sa.Numeric):
        return METRIC
    if isinstance(kind, sa.DateTime) or "DateTime" in type(kind).__name__:
        return datetime.now(UTC)
    if isinstance(kind, sa.JSON | sa.ARRAY):
        return [METRIC] if table == "activation_params" else {}
    return f"{table}.{column.name}"[:min(16, getattr(kind, "length", None) or 16)]


def _fill() -> set[str]:
    """A row in every table the schema has, in the columns it has; returns the tables."""
    ids: dict[str, uuid.UUID] = {}
    filled = set()
    with get_engine().begin() as conn:
        present = sa.inspect(conn)
        names = set(present.get_table_names()) - {"alembic_version"}
        for table in Base.metadata.sorted_tables:
            if table.name not in names:
                continue
            columns = {c["name"]: c for c in present.get_columns(table.name)}
            row = {}
            for column in table.columns:
                if column.name not in columns or (column.primary_key and column.autoincrement
                                                  is True and isinstance(column.type,
                                                                         sa.Integer)):
                    continue
                row[column.name] = _value(table.name, column, ids)
            if isinstance(table.c.get("id", None), sa.Column) and \
                    isinstance(table.c.id.type, sa.Uuid):
                row["id"] = ids.setdefault(table.name, uuid.uuid4())
            conn.execute(_insert(table, columns, row))
            filled.add(table.name)
    return filled


def _insert(table: sa.Table, present: dict[str, Any], row: dict[str, Any]) -> Any:
    """An INSERT of `row` typed as the columns are at this revision: a column that held JSON
    then (activation values before 0003 on PostgreSQL) is bound as JSON."""
    bound = sa.table(table.name, *[
        sa.column(name, sa.JSON() if "JSON" in type(present[name]["type"]).__name__
                  else table.c[name].type) for name in row])
    return sa.insert(bound).values(**row)


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_populated_database_upgrades_to_head(backend: Backend, client: TestClient,
                                               revision: str) -> None:
    from core.store.models import EpochMetric, Experiment, Run

    command.downgrade(alembic_config(), "base")
    command.upgrade(alembic_config(), revision)
    filled = _fill()
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
