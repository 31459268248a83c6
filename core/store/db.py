"""Engine and sessions. SQLite gets WAL, a busy timeout and write-intent transactions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.domain.settings import get_settings


def make_engine(url: str) -> Engine:
    settings = get_settings()
    pool = {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # API, worker and sweeper share the file: WAL lets readers run beside the writer.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY
            # when another process wrote in between; taking the write lock up front waits instead.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


_ENGINES: dict[str, Engine] = {}


def get_engine() -> Engine:
    url = get_settings().resolved_database_url()
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url)
    return engine


def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any exception."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


T = TypeVar("T")
log = logging.getLogger("actlab.db")


def _connection_lost(exc: BaseException) -> bool:
    """A server that went away or restarted, not a statement the server refused."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def in_transaction(work: Callable[[Session], T], *, patience: float = 120.0,
                   what: str = "database write") -> T:
    """Run `work` in one transaction (session_scope), again from the start with backoff
    (0.5 s doubling to 8 s) while the database is unreachable, for up to `patience` seconds.
    Only for idempotent work: upserts and conditional UPDATEs, which is all a worker writes."""
    deadline = time.monotonic() + patience
    delay = 0.5
    while True:
        try:
            with session_scope() as session:
                return work(session)
        except Exception as exc:
            if not _connection_lost(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("%s: database unreachable (%s); retrying in %.1f s", what,
                        type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


def reset_engines() -> None:
    """Forget cached engines (tests switch databases; a forked child must not reuse the pool)."""
    for engine in _ENGINES.values():
        engine.dispose(close=False)
    _ENGINES.clear()
