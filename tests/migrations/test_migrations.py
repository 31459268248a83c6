"""The migrations build exactly the ORM's schema (autogenerate finds nothing to add)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import get_engine
from core.models import Base
from tests.backends import Backend


def test_autogenerate_finds_no_difference(backend: Backend) -> None:
    with get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(backend: Backend) -> None:
    from core.migrate import upgrade_head

    upgrade_head()  # already at head: nothing to do, no error


def test_parameter_values_survive_the_array_migration(backend: Backend) -> None:
    """0003 turns JSON arrays into double precision[] on PostgreSQL: existing rows keep
    their values (and on SQLite nothing changes)."""
    import uuid

    import sqlalchemy as sa
    from alembic import command

    from core.migrate import alembic_config

    def uid(name: str) -> sa.BindParameter[uuid.UUID]:
        return sa.bindparam(name, type_=sa.Uuid())

    command.downgrade(alembic_config(), "0002")
    run_id, exp_id = uuid.uuid4(), uuid.uuid4()
    with get_engine().begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO experiments (id, name, kind, spec, spec_hash, activation, model, "
            "dataset, tags, priority, created_at) VALUES (:id, 'x', 'train', '{}', 'h', 'relu', "
            "'mlp', 'digits', '[]', 0, CURRENT_TIMESTAMP)").bindparams(uid("id")),
            {"id": exp_id})
        conn.execute(sa.text(
            "INSERT INTO runs (id, experiment_id, seed, status, attempt, cancel_requested, "
            "queued_at, epochs_done, epochs_total) VALUES (:id, :e, 0, 'succeeded', 1, false, "
            "CURRENT_TIMESTAMP, 1, 1)").bindparams(uid("id"), uid("e")),
            {"id": run_id, "e": exp_id})
        conn.execute(sa.text(
            "INSERT INTO activation_params (run_id, epoch, layer, block, position, name, "
            '"values") VALUES (:r, 1, \'net.1\', 1, 1, \'a\', \'[1.5, -0.25, 3.0]\')')
            .bindparams(uid("r")), {"r": run_id})
    command.upgrade(alembic_config(), "head")
    with get_engine().connect() as conn:
        from core.models import ActivationParam

        values = conn.execute(sa.select(ActivationParam.values)).scalar_one()
    assert list(values) == [1.5, -0.25, 3.0]
