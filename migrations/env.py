"""Alembic environment: the URL comes from actlab's settings, never from alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from core.domain.settings import get_settings
from core.store.db import make_engine
from core.store.models import Base

target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # Batch mode copies a table and drops the original: with foreign keys enforced, that
        # DROP would cascade-delete every row referencing it (a run's metrics). SQLite's own
        # advice for table rebuilds is to switch enforcement off first; it only takes effect
        # outside a transaction, so it is set on the driver connection before one begins.
        connection.connection.driver_connection.execute(  # type: ignore[union-attr]
            "PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can't ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(url=get_settings().resolved_database_url(),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(get_settings().resolved_database_url())
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
