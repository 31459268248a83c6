"""`actlab transfer`: a whole store moved from one database and artifact store to another
(SQLite and PostgreSQL, a directory and S3, either way).

The target is brought to head first. Every table the service keeps is copied in the order
its foreign keys need, rows the target already holds are left as they are, and so are
artifacts it already has. So a second run copies nothing, and a run killed midway finishes
when started again. The copy ends with a verification: the rows of every table and a
checksum of every run's metric values, on both sides.

Runs in training are refused: their checkpoints are still being written. Stop the workers
(each hands its run back to the queue), then transfer: a queued run is copied as queued, with
its checkpoint, and resumes on the target. API keys are stored as keyed hashes
(core/store/keys.py), so they work on the target only with the same secret key. They are
copied when told (`keys`); otherwise the target has no keys, and every experiment, sweep and
search is copied without an owner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from core.domain.metrics import METRICS
from core.store.artifacts import ArtifactStore
from core.store.db import make_engine
from core.store.migrate import alembic_config, database_revision, head_revision
from core.store.models import Base

BATCH = 1000
KEYS = "api_keys"
OWNED = ("sweeps", "searches", "experiments")  # their owner_key_id names a key


class TransferRefused(RuntimeError):
    """The source cannot be copied as it is; the message says why and what to do."""


@dataclass
class TableCount:
    name: str
    source: int
    target: int
    copied: int


@dataclass
class Report:
    tables: list[TableCount] = field(default_factory=list)
    artifacts: TableCount = field(default_factory=lambda: TableCount("artifacts", 0, 0, 0))
    runs_checked: int = 0
    mismatched_runs: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.mismatched_runs and all(
            t.source == t.target for t in [*self.tables, self.artifacts])

    def lines(self) -> list[str]:
        width = max(len(t.name) for t in [*self.tables, self.artifacts])
        out = [f"{'table':<{width}}  {'source':>8}  {'target':>8}  {'copied':>8}"]
        out += [f"{t.name:<{width}}  {t.source:>8}  {t.target:>8}  {t.copied:>8}"
                for t in [*self.tables, self.artifacts]]
        out.append(f"metric checksums: {self.runs_checked} runs, "
                   + ("all equal" if not self.mismatched_runs
                      else f"{len(self.mismatched_runs)} differ: "
                           f"{', '.join(self.mismatched_runs[:5])}"))
        out.append("verified: every table, artifact and run matches" if self.verified
                   else "NOT verified: the counts or checksums above differ")
        return out


def _refuse_unready(source: Engine) -> None:
    head = head_revision()
    found = database_revision(source)
    if found != head:
        raise TransferRefused(f"the source database is at schema revision {found}, this "
                              f"version's is {head}: migrate it first (`actlab migrate` with "
                              "ACTLAB_DATABASE_URL set to it)")
    runs = Base.metadata.tables["runs"]
    with source.connect() as connection:
        training = connection.execute(sa.select(runs.c.id).where(
            runs.c.status == "running").limit(6)).scalars().all()
    if training:
        shown = ", ".join(str(r) for r in training[:5])
        raise TransferRefused(
            f"the source has runs in training ({shown}{', ...' if len(training) > 5 else ''}): "
            "stop its workers first (each hands its run back to the queue, and a queued run "
            "is copied with its checkpoint and resumes on the target), then transfer")


def migrate_to_head(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _insert(engine: Engine, table: sa.Table) -> Any:
    """An INSERT that leaves a row the target already has (same key) as it is."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table))
                   .scalar_one())


def _rows(source: Engine, table: sa.Table) -> Iterable[list[dict[str, Any]]]:
    """The table's rows in batches, in key order; a run that reuses another's result comes
    after the runs it could name."""
    order = [*([table.c.reused_from.is_not(None)] if table.name == "runs" else []),
             *table.primary_key.columns]
    with source.connect() as connection:
        result = connection.execution_options(stream_results=True).execute(
            sa.select(table).order_by(*order))
        while batch := result.mappings().fetchmany(BATCH):
            yield [dict(row) for row in batch]


def _copy_table(source: Engine, target: Engine, table: sa.Table, keys: bool) -> int:
    before = _count(target, table)
    statement = _insert(target, table)
    for batch in _rows(source, table):
        if not keys and table.name in OWNED:
            for row in batch:
                row["owner_key_id"] = None
        with target.begin() as connection:
            connection.execute(statement, batch)
    _advance_sequence(target, table)
    return _count(target, table) - before


def _advance_sequence(engine: Engine, table: sa.Table) -> None:
    """PostgreSQL hands out integer keys from a sequence, which explicit keys do not move:
    set it past the largest copied one."""
    keys = [c for c in table.primary_key.columns
            if isinstance(c.type, sa.Integer) and c.autoincrement is True]
    if engine.dialect.name != "postgresql" or len(keys) != 1:
        return
    column = keys[0].name
    with engine.begin() as connection:
        connection.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
            f"GREATEST((SELECT MAX({column}) FROM {table.name}), 1))"))


def metric_checksums(engine: Engine) -> dict[str, str]:
    """Per run, a hash of every epoch's metric values (rounded to 12 significant digits:
    the same float read back from either database)."""
    epochs = Base.metadata.tables["epoch_metrics"]
    digests: dict[str, Any] = {}
    with engine.connect() as connection:
        rows = connection.execute(sa.select(epochs).order_by(epochs.c.run_id, epochs.c.epoch))
        for row in rows.mappings():
            values = [row["epoch"], *(None if row[m] is None else float(f"{row[m]:.12g}")
                                      for m in METRICS)]
            digest = digests.setdefault(str(row["run_id"]), hashlib.sha256())
            digest.update(json.dumps(values).encode())
    return {run: d.hexdigest() for run, d in digests.items()}


def _copy_artifacts(source: ArtifactStore, target: ArtifactStore) -> TableCount:
    keys = source.list()
    copied = 0
    for key in keys:
        if not target.exists(key):
            target.put(key, source.get(key))
            copied += 1
    return TableCount("artifacts", len(keys), len(target.list()), copied)


def transfer(source_url: str, target_url: str, source_store: ArtifactStore,
             target_store: ArtifactStore, *, keys: bool = False,
             tables: Sequence[str] | None = None,
             progress: Callable[[str], None] = lambda _: None) -> Report:
    """Copy the store at `source_url` (and `source_store`) to `target_url` (and
    `target_store`); `tables` limits the copy to those tables (a partial copy, as a killed
    run leaves). TransferRefused when the source is not ready."""
    source, target = make_engine(source_url), make_engine(target_url)
    try:
        _refuse_unready(source)
        progress("bringing the target to head")
        migrate_to_head(target)
        report = Report()
        for table in Base.metadata.sorted_tables:
            if (table.name == KEYS and not keys) or (tables and table.name not in tables):
                continue
            copied = _copy_table(source, target, table, keys)
            report.tables.append(TableCount(table.name, _count(source, table),
                                            _count(target, table), copied))
            progress(f"{table.name}: {copied} rows copied")
        if tables is None:
            report.artifacts = _copy_artifacts(source_store, target_store)
            progress(f"artifacts: {report.artifacts.copied} copied")
        ours, theirs = metric_checksums(source), metric_checksums(target)
        report.runs_checked = len(ours)
        report.mismatched_runs = sorted(r for r, d in ours.items() if theirs.get(r) != d)
        return report
    finally:
        source.dispose()
        target.dispose()
