"""A row in every table the database has, in the columns it has (whatever its revision):
an experiment that trained (a spec, a succeeded run, an epoch of metrics, parameters and a
curve), and plain values elsewhere. For the upgrade and transfer tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from core.domain.spec import ExperimentSpec, spec_hash
from core.store.db import get_engine
from core.store.models import Base

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


def fill_every_table() -> set[str]:
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
