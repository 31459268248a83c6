"""`actlab keys create|list|revoke` against the embedded database; the key is printed once,
alone on the last line, and works against the API until revoked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient


def keys(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTLAB_")}
    env.update({"ACTLAB_DATA_DIR": str(data), "ACTLAB_AUTH": "true"})
    return subprocess.run([sys.executable, "-m", "cli", "keys", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.main import create_app
    from tests.conftest import _reset_caches

    data = tmp_path / "data"
    made = keys("create", "--name", "alice's laptop", "--scope", "read", data=data)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("actlab_") and " " not in key
    assert (data / "secret.key").stat().st_mode & 0o077 == 0  # the owner's alone
    listed = keys("list", data=data)
    assert "alice's laptop" in listed.stdout and "read" in listed.stdout
    # the secret (everything after the id; it may itself hold "_") shows nowhere
    assert key not in listed.stdout and key.split("_", 2)[2] not in listed.stdout

    for name in [k for k in os.environ if k.startswith("ACTLAB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ACTLAB_DATA_DIR", str(data))
    monkeypatch.setenv("ACTLAB_AUTH", "true")
    _reset_caches()
    with TestClient(create_app(), raise_server_exceptions=False) as api:
        headers = {"Authorization": f"Bearer {key}"}
        assert api.get("/api/v1/experiments", headers=headers).status_code == 200
        key_id = key.split("_")[1]
        revoked = keys("revoke", key_id[:8], data=data)
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        assert api.get("/api/v1/experiments", headers=headers).status_code == 401
    assert "revoked" in keys("list", data=data).stdout
    unknown = keys("revoke", "ffffffff", data=data)
    assert unknown.returncode == 1 and "no key ids start with" in unknown.stderr
    _reset_caches()
