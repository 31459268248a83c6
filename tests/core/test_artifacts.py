"""The artifact store, on a local directory and on a real S3-protocol server (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.domain.settings import Settings
from core.store.artifacts import ArtifactMissing, ArtifactStore, LocalStore, S3Store, store_for
from tests.s3 import CREDENTIALS, S3Server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield LocalStore(tmp_path / "artifacts")
        return
    server: S3Server = request.getfixturevalue("s3")
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    yield store_for(Settings(artifacts_url=f"s3://{server.new_bucket()}/lab/a",
                             s3_endpoint_url=server.endpoint, data_dir=tmp_path))


def test_put_get_exists_list_delete(store: ArtifactStore) -> None:
    assert store.list() == [] and not store.exists("checkpoints/r1.pt")
    store.put("checkpoints/r1.pt", b"one")
    store.put("checkpoints/r1.pt", b"two")  # overwrite
    store.put("weights/r1.safetensors", b"\x00" * 1000)
    assert store.get("checkpoints/r1.pt") == b"two"
    assert store.exists("checkpoints/r1.pt")
    assert store.list() == ["checkpoints/r1.pt", "weights/r1.safetensors"]
    assert store.list("weights/") == ["weights/r1.safetensors"]
    store.delete("checkpoints/r1.pt")
    store.delete("checkpoints/never-there.pt")  # deleting nothing is fine
    assert store.list() == ["weights/r1.safetensors"]
    with pytest.raises(ArtifactMissing):
        store.get("checkpoints/r1.pt")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_bad_keys_are_refused(store: ArtifactStore, key: str) -> None:
    with pytest.raises(ValueError, match="bad artifact key"):
        store.put(key, b"x")


def test_the_s3_store_keeps_to_its_prefix(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    bucket = s3.new_bucket()
    store = S3Store(bucket, "lab/one", endpoint_url=s3.endpoint)
    store.put("weights/w.safetensors", b"w")
    raw = boto3.client("s3", endpoint_url=s3.endpoint)
    assert [o["Key"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"]] == \
        ["lab/one/weights/w.safetensors"]
    assert S3Store(bucket, "lab/two", endpoint_url=s3.endpoint).list() == []


def test_local_writes_leave_no_partial_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("checkpoints/r.pt", b"a" * 10_000)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["r.pt"]


def test_settings_choose_the_store(tmp_path: Path) -> None:
    assert isinstance(store_for(Settings(data_dir=tmp_path)), LocalStore)
    with pytest.raises(ValueError, match="ACTLAB_ARTIFACTS_URL must be"):
        store_for(Settings(data_dir=tmp_path, artifacts_url="ftp://x"))
