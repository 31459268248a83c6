"""Bad input at scale: each case an attacker tried is a 4xx that names the problem, and
stores nothing (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.store.db import session_scope
from core.store.models import Experiment, Run, Sweep

RELU = {"name": "relu"}


def stored() -> tuple[int, int, int]:
    with session_scope() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) or 0  # type: ignore[return-value]
                     for t in (Experiment, Run, Sweep))


def _problems(r: Any) -> str:
    detail = r.json()["detail"]
    return detail if isinstance(detail, str) else " | ".join(
        f"{e['field']}: {e['msg']}" for e in detail)


@pytest.mark.parametrize(("body", "status", "phrase"), [
    ({"activation": RELU, "model": {"name": "mlp", "params": {"hidden": 65536, "depth": 64}}},
     422, "model.params: model 'mlp' with these params has about 2.71e+11 weights"),
    ({"activation": RELU, "model": {"name": "wide_resnet", "params": {"depth": 1000,
                                                                       "widen": 20}},
      "dataset": {"name": "cifar10"}}, 422, "ACTLAB_MAX_MODEL_PARAMS"),
    ({"activation": RELU, "model": {"name": "resnet_v1", "params": {"depth": 110}},
      "dataset": {"name": "cifar10"}, "training": {"batch_size": 65536}}, 422,
     "training.batch_size: one training step"),
    ({"activation": RELU, "dataset": {"name": "synthetic", "params": {"samples": 30,
                                                                       "classes": 100}}},
     422, "dataset.params.samples: 30 samples over 100 classes"),
    ({"activation": RELU, "name": "bell\x07"}, 422, "name: text must not contain control"),
    ({"activation": RELU, "tags": ["esc\x1b[31m"]}, 422, "tags.0: text must not contain"),
])
def test_specs_refused_at_submit(client: TestClient, body: dict[str, Any], status: int,
                                 phrase: str) -> None:
    r = client.post("/api/v1/experiments", json=body)
    assert r.status_code == status, r.text
    assert phrase in _problems(r)
    assert stored() == (0, 0, 0)


@pytest.mark.parametrize(("content", "headers", "status", "phrase"), [
    ("[" * 100_000 + "]" * 100_000, {}, 400, "nests JSON arrays or objects too deeply"),
    (b'{"name": "\xff\xfe", "activation": {"name": "relu"}}', {}, 400,
     "not valid UTF-8: byte 0xff at offset 10"),
    (lambda: (b"x" * 65536 for _ in range(160)), {}, 413, "request body larger than"),
    ('{"activation": {"name": "relu"}', {}, 422, "request body is not valid JSON"),
])
def test_unreadable_bodies_say_why(client: TestClient, content: Any, headers: dict[str, str],
                                   status: int, phrase: str) -> None:
    # a chunked body (a fresh generator each time) announces no Content-Length
    r = client.post("/api/v1/experiments", content=content() if callable(content) else content,
                    headers={"content-type": "application/json", **headers})
    assert r.status_code == status, r.text
    assert phrase in _problems(r)
    assert stored() == (0, 0, 0)


@pytest.fixture
def experiment(client: TestClient) -> Iterator[str]:
    created = client.post("/api/v1/experiments", json={"activation": RELU, "seeds": [0]})
    assert created.status_code == 202
    yield created.json()["id"]


@pytest.mark.parametrize(("seeds", "status", "phrase"), [
    ([-1], 422, "seeds: Value error, seeds must be in [0, 2147483647], got [-1]"),
    ([2**31], 422, "got [2147483648]"),
    ([10**30], 422, "seeds"),
    ([-(10**30)], 422, "seeds"),
    ([3, 3], 422, "duplicate seeds: [3]"),
    ([0], 409, "seeds already in experiment"),
])
def test_seed_top_ups_refused(client: TestClient, experiment: str, seeds: list[int],
                              status: int, phrase: str) -> None:
    r = client.post(f"/api/v1/experiments/{experiment}/seeds",
                    content=json.dumps({"seeds": seeds}),
                    headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert phrase in _problems(r)
    assert stored() == (1, 1, 0)


@pytest.mark.parametrize(("grid", "phrase"), [
    ({"training.lr.x": [1]}, "training.lr.x=1]: Input should be a valid number"),
    ({"activation.params.a": [1.0], "activation.params.a.b": [2.0]}, "grid"),
    ({"nothing.at.all": [1]}, "grid"),
])
def test_sweep_grids_refused(client: TestClient, grid: dict[str, Any], phrase: str) -> None:
    r = client.post("/api/v1/sweeps", json={"activations": [{"name": "dual_line"}],
                                            "grid": grid})
    assert r.status_code == 422, r.text
    assert phrase in _problems(r)
    assert stored() == (0, 0, 0)


@pytest.mark.parametrize("tag", ["it's", '"quoted"', "emoji 🧪", "back\\slash", "%"])
def test_odd_but_valid_tags_filter_cleanly(client: TestClient, tag: str) -> None:
    created = client.post("/api/v1/experiments", json={"activation": RELU, "tags": [tag]})
    assert created.status_code == 202, created.text
    listed = client.get("/api/v1/experiments", params={"tag": tag})
    assert listed.status_code == 200 and listed.json()["total"] == 1
    board = client.get("/api/v1/leaderboard", params={"model": "mlp", "dataset": "digits",
                                                      "tag": tag})
    assert board.status_code == 200, board.text


@pytest.mark.parametrize("path", ["/experiments/..%2F..", "/api/v1/nothing-here",
                                  "/api/v1/experiments/%2e%2e/x"])
def test_a_path_no_route_matches_says_so(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert detail.startswith("no such path: ") and "/api/v1" in detail, detail


def test_a_missing_row_keeps_its_own_404(client: TestClient) -> None:
    r = client.get("/api/v1/experiments/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404 and "not found" in r.json()["detail"]
    assert not r.json()["detail"].startswith("no such path")
