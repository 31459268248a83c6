"""The artifact store: checkpoints and trained weights, where every worker and the API see them.

Two backends behind one small interface: a local directory (the embedded default, under
ACTLAB_DATA_DIR/artifacts) and S3-compatible object storage (`ACTLAB_ARTIFACTS_URL=
s3://bucket/prefix`; the endpoint from ACTLAB_S3_ENDPOINT_URL, credentials from the usual
AWS_* variables), through boto3. A reader never sees half an object: the local store writes a
temporary file and renames it, and S3 makes a PUT visible only once complete.

Keys: `checkpoints/<run id>.pt` (while a run trains) and `weights/<run id>.safetensors`.
Which weights are kept is a policy over the runs' rows: core/store/retention.py. The stores know
nothing of the database, so training (worker/training/) imports them without the ORM.
"""

from __future__ import annotations

import os
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from core.domain.settings import Settings, get_settings


class ArtifactMissing(KeyError):
    """No object under this key."""


class ArtifactStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str = "") -> list[str]: ...


def checkpoint_key(run_id: uuid.UUID | str) -> str:
    return f"checkpoints/{run_id}.pt"


def weights_key(run_id: uuid.UUID | str) -> str:
    return f"weights/{run_id}.safetensors"


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad artifact key {key!r}")
    return key


class LocalStore:
    """A directory; the embedded default."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a crash mid-write leaves the previous object intact

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ArtifactMissing(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> list[str]:
        if not self.root.exists():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                if p.is_file() and not p.name.startswith("."))
        return sorted(k for k in keys if k.startswith(prefix))


class S3Store:
    """A bucket (and key prefix) of S3-compatible object storage: AWS, MinIO, Ceph, ..."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 client: Any = None) -> None:
        import boto3  # only a deployment that uses S3 needs it loaded

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket,
                                                 Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise ArtifactMissing(key) from None
        return body

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix)
        for page in pages:
            keys += [obj["Key"][len(self.prefix):] for obj in page.get("Contents", [])]
        return sorted(keys)


def store_at(where: str, endpoint_url: str | None = None) -> ArtifactStore:
    """s3://bucket[/prefix], file:///path, or a directory's path."""
    if "://" not in where:
        return LocalStore(Path(where))
    parsed = urlparse(where)
    if parsed.scheme == "s3" and parsed.netloc:
        return S3Store(parsed.netloc, parsed.path, endpoint_url=endpoint_url)
    if parsed.scheme == "file":
        return LocalStore(Path(parsed.path))
    raise ValueError(f"an artifact store is s3://bucket[/prefix], file:///path or a "
                     f"directory, got {where!r}")


def store_for(settings: Settings) -> ArtifactStore:
    """The store the settings name: ACTLAB_ARTIFACTS_URL, else ACTLAB_DATA_DIR/artifacts."""
    url = settings.artifacts_url
    if not url:
        return LocalStore(settings.data_dir / "artifacts")
    try:
        if "://" not in url:
            raise ValueError(url)
        return store_at(url, settings.s3_endpoint_url)
    except ValueError:
        raise ValueError(f"ACTLAB_ARTIFACTS_URL must be s3://bucket[/prefix] or "
                         f"file:///path, got {url!r}") from None


@lru_cache(maxsize=1)
def get_store() -> ArtifactStore:
    return store_for(get_settings())


def run_artifact_keys(run_ids: list[uuid.UUID]) -> list[str]:
    return [key for run_id in run_ids for key in (checkpoint_key(run_id), weights_key(run_id))]
