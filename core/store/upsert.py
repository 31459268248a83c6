"""Idempotent inserts: a re-delivered or resumed run rewrites its rows instead of failing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FromClause


def upsert(session: Session, table: FromClause, rows: Sequence[dict[str, Any]],
           keys: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other column given in the rows."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module: Any = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect)
    if module is None:
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    stmt = module.insert(table).values(list(rows))
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=updates))
