"""The migrations build exactly the ORM's schema (autogenerate finds nothing to add)."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.store.db import get_engine
from core.store.migrate import alembic_config
from core.store.models import Base
from tests.backends import Backend


def _uid(name: str) -> sa.BindParameter[uuid.UUID]:
    return sa.bindparam(name, type_=sa.Uuid())


def _insert_run(conn: sa.Connection, final_metrics: str | None = None) -> uuid.UUID:
    """An experiment with one succeeded run, written in SQL (the ORM is ahead of the schema
    a downgraded database has). Returns the run id."""
    run_id, exp_id = uuid.uuid4(), uuid.uuid4()
    conn.execute(sa.text(
        "INSERT INTO experiments (id, name, kind, spec, spec_hash, activation, model, "
        "dataset, tags, priority, created_at) VALUES (:id, 'x', 'train', '{}', 'h', 'relu', "
        "'mlp', 'digits', '[]', 0, CURRENT_TIMESTAMP)").bindparams(_uid("id")), {"id": exp_id})
    conn.execute(sa.text(
        "INSERT INTO runs (id, experiment_id, seed, status, attempt, cancel_requested, "
        "queued_at, epochs_done, epochs_total, final_metrics, best_epoch) VALUES (:id, :e, 0, "
        "'succeeded', 1, false, CURRENT_TIMESTAMP, 1, 1, :f, 1)").bindparams(_uid("id"),
                                                                           _uid("e")),
        {"id": run_id, "e": exp_id, "f": final_metrics})
    return run_id


def test_autogenerate_finds_no_difference(backend: Backend) -> None:
    with get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(backend: Backend) -> None:
    from core.store.migrate import upgrade_head

    upgrade_head()  # already at head: nothing to do, no error


def test_parameter_values_survive_the_array_migration(backend: Backend) -> None:
    """0003 turns JSON arrays into double precision[] on PostgreSQL: existing rows keep
    their values (and on SQLite nothing changes)."""
    command.downgrade(alembic_config(), "0002")
    with get_engine().begin() as conn:
        run_id = _insert_run(conn)
        conn.execute(sa.text(
            "INSERT INTO activation_params (run_id, epoch, layer, block, position, name, "
            '"values") VALUES (:r, 1, \'net.1\', 1, 1, \'a\', \'[1.5, -0.25, 3.0]\')')
            .bindparams(_uid("r")), {"r": run_id})
    command.upgrade(alembic_config(), "head")
    with get_engine().connect() as conn:
        from core.store.models import ActivationParam

        values = conn.execute(sa.select(ActivationParam.values)).scalar_one()
    assert list(values) == [1.5, -0.25, 3.0]


def test_old_val_rows_become_test_rows(backend: Backend) -> None:
    """0004: val_* recorded before the validation split existed were measured on the test
    split; they move to test_*, the best epoch chosen on them is cleared, and the
    experiment is marked recipe version 1."""
    from core.store.models import EpochMetric, Experiment, Run

    command.downgrade(alembic_config(), "0003")
    final = json.dumps({"val_accuracy": 0.9, "val_loss": 0.3, "train_loss": 0.2,
                        "best_val_accuracy": 0.92})
    with get_engine().begin() as conn:
        run_id = _insert_run(conn, final)
        conn.execute(sa.text(
            "INSERT INTO epoch_metrics (run_id, epoch, train_loss, val_loss, val_accuracy, "
            "val_top5) VALUES (:r, 1, 0.2, 0.3, 0.9, 1.0)").bindparams(_uid("r")), {"r": run_id})
    command.upgrade(alembic_config(), "head")
    with get_engine().connect() as conn:
        row = conn.execute(sa.select(EpochMetric)).one()
        assert (row.test_loss, row.test_accuracy, row.test_top5) == (0.3, 0.9, 1.0)
        assert (row.val_loss, row.val_accuracy, row.val_top5) == (None, None, None)
        assert row.train_loss == 0.2
        run = conn.execute(sa.select(Run.final_metrics, Run.best_epoch)).one()
        assert run.final_metrics == {"test_accuracy": 0.9, "test_loss": 0.3,
                                     "train_loss": 0.2}
        assert run.best_epoch is None
        assert conn.execute(sa.select(Experiment.recipe_version)).scalar_one() == 1
    command.downgrade(alembic_config(), "0003")
    with get_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT val_accuracy FROM epoch_metrics")).scalar_one() \
            == 0.9
    command.upgrade(alembic_config(), "head")
