"""`actlab transfer` moves a whole store between backends and artifact stores: SQLite to
PostgreSQL with a directory to S3, and PostgreSQL to SQLite with S3 to a directory. A trained
run (metrics, parameters, curves, sparsity, checkpoint and weights) and a row in every other
table are copied. The verification holds; a second run copies nothing; a copy cut short
finishes when run again; runs in training are refused; keys are copied only when told."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from core.domain.settings import get_settings
from core.store.artifacts import ArtifactStore, LocalStore, S3Store, get_store
from core.store.db import get_engine
from core.store.models import Base
from core.store.transfer import KEYS, TransferRefused, metric_checksums, transfer
from tests.backends import PRODUCTION, Backend, fresh_postgres_database
from tests.every_table import fill_every_table
from tests.processes import ACTLAB, service_env
from tests.s3 import CREDENTIALS, S3Server
from worker.runner import execute_run

pytestmark = pytest.mark.integration


@contextmanager
def _other_database(backend: Backend, tmp: Path) -> Iterator[str]:
    """The other kind of database than the source's (SQLite when PostgreSQL is absent)."""
    if backend.name == "embedded" and PRODUCTION:
        with fresh_postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp / f'target-{uuid.uuid4().hex[:6]}.db'}"


def _populate(client: TestClient) -> str:
    created = client.post("/api/v1/experiments", json={
        "activation": {"name": "dual_line"}, "model": {"name": "mlp", "params": {"hidden": 8}},
        "dataset": {"name": "digits"}, "seeds": [0], "training": {"epochs": 2}})
    assert created.status_code == 202, created.text
    run_id = created.json()["runs"][0]["id"]
    assert execute_run(uuid.UUID(run_id)) == "succeeded"
    fill_every_table()  # a row in every other table (sweeps, searches, workers, keys, audit, ...)
    return run_id


def _stores(backend: Backend, s3: S3Server, tmp: Path,
            monkeypatch: pytest.MonkeyPatch) -> tuple[ArtifactStore, ArtifactStore]:
    """(source, target): the service's directory to a bucket from the embedded default, a
    bucket (filled from the service's directory) to a directory from PostgreSQL."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = S3Store(s3.new_bucket(), "artifacts", endpoint_url=s3.endpoint)
    local = get_store()
    if backend.name == "embedded":
        return local, bucket
    for key in local.list():
        bucket.put(key, local.get(key))
    return bucket, LocalStore(tmp / "moved-artifacts")


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def test_a_whole_store_moves_between_backends(backend: Backend, client: TestClient, s3: S3Server,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _populate(client)
    source_url = get_settings().resolved_database_url()
    source_store, target_store = _stores(backend, s3, tmp_path, monkeypatch)
    artifacts = source_store.list()
    assert f"weights/{run_id}.safetensors" in artifacts
    with _other_database(backend, tmp_path) as target_url:
        report = transfer(source_url, target_url, source_store, target_store, keys=True)
        assert report.verified, report.lines()
        counts = _counts(target_url)
        assert counts == _counts(source_url) and all(counts.values()), counts
        assert report.artifacts.copied == len(artifacts) == len(target_store.list())
        assert report.runs_checked == len(metric_checksums(get_engine())) >= 2
        assert metric_checksums(sa.create_engine(target_url)) == metric_checksums(get_engine())
        # run again: nothing new, still verified
        again = transfer(source_url, target_url, source_store, target_store, keys=True)
        assert again.verified and all(t.copied == 0 for t in [*again.tables, again.artifacts])


def test_a_copy_cut_short_finishes_and_keys_move_only_when_told(
        backend: Backend, client: TestClient, tmp_path: Path) -> None:
    _populate(client)
    source_url = get_settings().resolved_database_url()
    store = get_store()
    with _other_database(backend, tmp_path) as target_url:
        order = [t.name for t in Base.metadata.sorted_tables]
        cut = transfer(source_url, target_url, store, LocalStore(tmp_path / "a"),
                       tables=order[:len(order) // 2])
        assert len(cut.tables) < len(order) - 1
        done = transfer(source_url, target_url, store, LocalStore(tmp_path / "a"))
        assert done.verified, done.lines()
        copied = {t.name: t.copied for t in done.tables}
        assert KEYS not in copied  # not told: no keys, and nothing owned by one
        target = sa.create_engine(target_url)
        with target.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM api_keys")).scalar_one() == 0
            assert conn.execute(sa.text(
                "SELECT COUNT(*) FROM experiments WHERE owner_key_id IS NOT NULL")
            ).scalar_one() == 0
        target.dispose()
        # the command line: the same copy again, nothing to do, verified
        env = service_env(backend.env())
        done_again = subprocess.run(
            [*ACTLAB, "transfer", "--from-database", source_url, "--to-database", target_url,
             "--to-artifacts", str(tmp_path / "a")], env=env, capture_output=True, text=True,
            timeout=120)
        assert done_again.returncode == 0, done_again.stderr
        assert "verified: every table" in done_again.stdout
        assert "API keys are not copied" in done_again.stderr


def test_runs_in_training_are_refused(backend: Backend, client: TestClient,
                                      tmp_path: Path) -> None:
    run_id = _populate(client)
    with get_engine().begin() as conn:
        conn.execute(sa.text("UPDATE runs SET status = 'running' WHERE id = :id"),
                     {"id": uuid.UUID(run_id).hex if backend.name == "embedded" else run_id})
    with _other_database(backend, tmp_path) as target_url, \
            pytest.raises(TransferRefused, match="runs in training"):
        transfer(get_settings().resolved_database_url(), target_url, get_store(),
                 LocalStore(tmp_path / "b"))
