"""What one hostile write could do before: store a value that broke every later read, skip the
deployment's limits, get an answer about its body without a key, or be refused with a vague
reason. Both backends, through the real app."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.store.db import session_scope
from core.store.keys import Scope
from core.store.models import AuditEntry, Experiment, Run
from tests.factories import new_key

RELU = {"name": "relu"}
JSON = {"content-type": "application/json"}


def stored() -> tuple[int, int]:
    with session_scope() as s:
        return (s.scalar(select(func.count()).select_from(Experiment)) or 0,
                s.scalar(select(func.count()).select_from(Run)) or 0)


def _post(client: TestClient, body: Any, path: str = "/api/v1/experiments",
          headers: dict[str, str] | None = None) -> Any:
    # json.dumps writes a lone surrogate as the escape \ud800, as an attacker's client would
    return client.post(path, content=json.dumps(body), headers={**JSON, **(headers or {})})


# Every text a spec stores or echoes: letters, the characters JSON can carry that UTF-8
# cannot (lone surrogates), control characters, NUL.
TEXT = st.text(alphabet=st.one_of(st.characters(codec="utf-8"),
                                  st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                                  st.sampled_from(["\x00", "\x07", "\x1b", "\x9f"])),
               max_size=12)


@st.composite
def hostile_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"activation": {"name": "relu"}, "seeds": [0],
                            "training": {"epochs": 1}}
    where = draw(st.sampled_from(["name", "tag", "activation_param_key", "activation_param",
                                  "model_param_key", "formula", "formula_parameter",
                                  "activation_name", "slot"]))
    text = draw(TEXT)
    if where == "name":
        spec["name"] = text
    elif where == "tag":
        spec["tags"] = [draw(st.sampled_from(["ok", "x"])), text or "t"]
    elif where == "activation_param_key":
        spec["activation"] = {"name": "dual_line", "params": {text: 1}}
    elif where == "activation_param":
        spec["activation"] = {"name": "gelu", "params": {"approximate": text}}
    elif where == "model_param_key":
        spec["model"] = {"name": "mlp", "params": {text: 2}}
    elif where == "formula":
        spec["activation"] = {"name": "formula", "params": {"expression": f"x * {text}"}}
    elif where == "formula_parameter":
        spec["activation"] = {"name": "formula", "params": {
            "expression": "x * p", "parameters": {text or "p": 1.0}}}
    elif where == "activation_name":
        spec["activation"] = {"name": text}
    else:
        spec["activation"] = {"name": "relu", "slots": {text or "*": {"name": "tanh"}}}
    return spec


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=hostile_specs())
def test_no_accepted_request_makes_a_later_read_fail(client: TestClient,
                                                      spec: dict[str, Any]) -> None:
    r = _post(client, spec)
    assert r.status_code in (202, 422), r.text
    if r.status_code == 422:  # the refusal names the field and is itself valid UTF-8 JSON
        assert all(e["field"] and e["msg"] for e in r.json()["detail"]), r.text
    listed = client.get("/api/v1/experiments")
    assert listed.status_code == 200, listed.text
    for item in listed.json()["items"]:
        page = client.get(f"/api/v1/experiments/{item['id']}")
        assert page.status_code == 200, page.text
    tagged = client.get("/api/v1/experiments", params={"tag": "ok"})
    assert tagged.status_code == 200, tagged.text


@pytest.mark.parametrize(("body", "field", "phrase"), [
    ({"activation": RELU, "tags": ["a\ud800b"]}, "tags.0",
     "lone UTF-16 surrogates, got \\ud800"),
    ({"activation": {"name": "dual_line", "params": {"a\udfffb": 1}}}, "activation.params.<key>",
     "lone UTF-16 surrogates, got \\udfff"),
    ({"activation": {"name": "formula", "params": {"expression": "x\ud800"}}},
     "activation.params.expression", "lone UTF-16 surrogates"),
    ({"activation": RELU, "name": "n\ud83d"}, "name", "lone UTF-16 surrogates"),
])
def test_lone_surrogates_are_refused_naming_the_field(client: TestClient, body: dict[str, Any],
                                                      field: str, phrase: str) -> None:
    r = _post(client, body)
    assert r.status_code == 422, r.text
    assert any(e["field"] == field and phrase in e["msg"] for e in r.json()["detail"]), r.text
    assert stored() == (0, 0)
    assert client.get("/api/v1/experiments").status_code == 200


@pytest.mark.parametrize(("content", "headers", "status", "phrase"), [
    ('{"activation": {"name": "relu"}}', {"content-type": "text/plain"}, 415,
     "must be JSON, sent with 'Content-Type: application/json' (got 'text/plain')"),
    ('{"activation": {"name": "relu"}}', {}, 415, "no Content-Type was sent"),
    ("activation=relu", {"content-type": "application/x-www-form-urlencoded"}, 415,
     "got 'application/x-www-form-urlencoded'"),
    ('{"activation": {"name": "relu"}}', {"content-type": "multipart/form-data; boundary=x"},
     415, "got 'multipart/form-data'"),
    ('{"activation": {"name": "relu"}, "training": {"epochs": 100000, "epochs": 1}}', JSON, 422,
     "key 'epochs' appears twice in one JSON object"),
    ('{"activation": {"name": "relu"}, "seeds": [1' + "0" * 5000 + "]}", JSON, 422,
     "a number of 5001 digits; no field takes a number that long"),
    ('{"activation": {"name": "relu"}, "training": {"lr": 1e999}}', JSON, 422,
     "must be a finite number, got inf (numbers beyond about 1.8e308 read as infinite)"),
    ('{"activation": {"name": "relu"}, "seeds": ['
     + ", ".join(map(str, range(10**6, 10**6 + 40_000))) + "]}", JSON, 413,
     "the most POST /api/v1/experiments takes"),
])
def test_refusals_name_their_cause(client: TestClient, content: str, headers: dict[str, str],
                                   status: int, phrase: str) -> None:
    r = client.post("/api/v1/experiments", content=content, headers=headers)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    text = detail if isinstance(detail, str) else " | ".join(e["msg"] for e in detail)
    assert phrase in text, text
    assert stored() == (0, 0)


def test_a_json_media_type_with_parameters_is_json(client: TestClient) -> None:
    r = client.post("/api/v1/experiments", content=json.dumps({"activation": RELU}),
                    headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 202, r.text


def test_writes_without_a_body_take_only_a_few_bytes(client: TestClient) -> None:
    created = _post(client, {"activation": RELU, "seeds": [0]}).json()
    r = client.post(f"/api/v1/experiments/{created['id']}/cancel", content=b"x" * 10_000,
                    headers=JSON)
    assert r.status_code == 413 and "4096" in r.json()["detail"]
    document = client.get("/openapi.json").json()  # and every write documents it
    writes = [(path, method, op) for path, item in document["paths"].items()
              for method, op in item.items() if method in ("post", "put", "patch", "delete")]
    assert writes and all("413" in op["responses"] for _, _, op in writes), \
        [(path, method) for path, method, op in writes if "413" not in op["responses"]]


def test_a_large_seed_list_is_refused_in_linear_time(client: TestClient) -> None:
    # 10,001 seeds: over the hard cap, refused by the schema; 10,000 repeated seeds: listed
    # briefly (the message names at most ten)
    r = _post(client, {"activation": RELU, "seeds": list(range(10_001))})
    assert r.status_code == 422 and "at most 10000" in r.text
    r = _post(client, {"activation": RELU, "seeds": [7] * 5000 + list(range(100, 5100))})
    assert r.status_code == 422, r.text
    assert "duplicate seeds: [7]" in r.text
    r = _post(client, {"activation": RELU, "seeds": [-s for s in range(1, 2000)]})
    assert "got [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, ...] (1999)" in r.text


def test_a_huge_sweep_is_refused_from_its_grid_before_expansion(client: TestClient) -> None:
    r = client.post("/api/v1/sweeps", json={"activations": [RELU],
                                            "grid": {"training.lr": [0.1] * 10_001}})
    assert r.status_code == 422 and "at most 10000 items" in r.text, r.text
    # equal components and values are one cell, counted and expanded without the product
    r = client.post("/api/v1/sweeps", json={
        "activations": [RELU] * 500, "models": [{"name": "mlp"}] * 50,
        "datasets": [{"name": "digits"}] * 50, "grid": {"training.lr": [0.1] * 10_000},
        "training": {"epochs": 1}})
    assert r.status_code == 202 and r.json()["runs_queued"] == 1, r.text
    grid = {"training.lr": [i / 1e4 for i in range(1, 101)],
            "training.weight_decay": [i / 1e6 for i in range(100)],
            "training.batch_size": list(range(16, 116))}
    r = client.post("/api/v1/sweeps", json={"activations": [RELU], "grid": grid})
    assert r.status_code == 422, r.text
    assert "expands to 1000000 cells x 1 seeds = 1000000 runs; at most 5000 per sweep" in r.text
    with session_scope() as s:  # the one-cell sweep's experiment alone
        assert (s.scalar(select(func.count()).select_from(Experiment)) or 0) == 1


# --- authentication comes before the body ------------------------------------------------


@pytest.mark.parametrize(("content", "headers"), [
    ('{"activation": ', JSON),  # malformed JSON
    (b'{"name": "\xff"}', JSON),  # not UTF-8
    ('{"activation": {"name": "relu"}}', {"content-type": "text/plain"}),  # wrong type
    ('{"a": 1, "a": 2}', JSON),  # duplicate key
    ("[" * 100_000, JSON),  # too deep
])
def test_no_key_no_read_key_no_answer_about_the_body(auth_client: TestClient, content: Any,
                                                     headers: dict[str, str]) -> None:
    assert auth_client.post("/api/v1/experiments", content=content,
                         headers=headers).status_code == 401
    _, read = new_key(Scope.read)
    r = auth_client.post("/api/v1/experiments", content=content, headers={**headers, **read})
    assert r.status_code == 403, r.text
    assert "needs a write or admin key" in r.json()["detail"]


def test_refused_writes_are_audited_with_the_key_that_sent_them(auth_client: TestClient) -> None:
    key_id, write = new_key(Scope.write)
    for content, headers in (('{"activation": ', JSON), ("x", {"content-type": "text/plain"}),
                             ('{"a": 1, "a": 2}', JSON)):
        r = auth_client.post("/api/v1/experiments", content=content, headers={**headers, **write})
        assert r.status_code in (415, 422), r.text
    with session_scope() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(r.status_code, r.key_id) for r in rows] == [(422, key_id), (415, key_id),
                                                             (422, key_id)]


# --- the document describes the mode the service runs in ---------------------------------


def test_the_document_has_no_security_and_no_401_with_auth_off(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "securitySchemes" not in document.get("components", {})
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "security" not in operation, (path, method)
            assert not {"401", "403", "429"} & set(operation["responses"]), (path, method)
    assert "415" in document["paths"]["/api/v1/experiments"]["post"]["responses"]


def test_the_document_has_bearer_security_with_auth_on(auth_client: TestClient) -> None:
    document = auth_client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operation = document["paths"]["/api/v1/experiments"]["post"]
    assert operation["security"] and {"401", "403", "429", "415"} <= set(operation["responses"])


# --- a committed cancel is answered as committed ------------------------------------------


def test_cancelling_a_search_with_the_broker_down_is_not_a_500(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from core.domain.settings import get_settings
    from core.domain.timeutil import utcnow
    from core.store.db import reset_engines
    from core.store.models import Search
    from core.store.queue import reset_clients

    created = client.post("/api/v1/searches", json={
        "space": {"candidates": ["tanh(x)"]}, "budget": {"trainings": 40},
        "task": {"training": {"epochs": 1}}})
    assert created.status_code == 202, created.text
    search_id = uuid.UUID(created.json()["id"])
    with session_scope() as s:  # a driver step holds it: the cancel must wake the next one
        s.execute(update(Search).where(Search.id == search_id).values(
            status="running", lease_until=utcnow() + timedelta(minutes=5)))
    monkeypatch.setenv("ACTLAB_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens
    get_settings.cache_clear()
    reset_clients()
    reset_engines()
    r = client.post(f"/api/v1/searches/{search_id}/cancel")
    assert r.status_code == 200, r.text
    with session_scope() as s:
        assert s.get_one(Search, search_id).cancel_requested
