"""`actlab migrate`: bring the configured database to the newest schema."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_head() -> None:
    command.upgrade(alembic_config(), "head")


class SchemaMismatch(RuntimeError):
    """The database's schema revision is not the one this code was written for."""


@functools.cache
def head_revision() -> str:
    """The newest revision this code's migrations know."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def database_revision(engine: Engine | None = None) -> str | None:
    """The revision a database (the configured one by default) is at (None: never
    migrated)."""
    from sqlalchemy import inspect, text

    from core.store.db import get_engine

    engine = engine or get_engine()
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check_revision() -> None:
    """SchemaMismatch naming both revisions when the database is not at this code's head: a
    worker of an older (or newer) version must not read or write rows whose meaning it does
    not know."""
    ours, theirs = head_revision(), database_revision()
    if theirs != ours:
        raise SchemaMismatch(
            f"the database is at schema revision {theirs or 'none (never migrated)'}, this "
            f"worker's code at {ours}: "
            + ("upgrade the worker to the version that migrated the database"
               if theirs is not None and theirs > ours else
               "migrate the database (`actlab migrate`) or run the worker's matching version"))
