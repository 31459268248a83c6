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
