"""POST/GET /api/v1/experiments on a real database (no worker: runs stay queued)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.store.db import session_scope
from core.store.models import Experiment, Run

GOOD: dict[str, Any] = {
    "name": "dual line vs relu",
    "activation": {"name": "dual_line", "params": {"per_channel": True}},
    "model": {"name": "lenet5", "params": {}},
    "dataset": {"name": "digits", "params": {}},
    "seeds": [0, 1, 2],
    "training": {"epochs": 3, "batch_size": 64, "optimizer": "adam", "lr": 0.001,
                 "weight_decay": 0.0, "schedule": "constant"},
    "tags": ["paper-repro"],
    "priority": 0,
}


def stored_counts() -> tuple[int, int]:
    with session_scope() as s:
        return (s.scalar(select(func.count()).select_from(Experiment)) or 0,
                s.scalar(select(func.count()).select_from(Run)) or 0)


def test_post_queues_one_run_per_seed(client: TestClient) -> None:
    r = client.post("/api/v1/experiments", json=GOOD)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued"
    assert sorted(run["seed"] for run in body["runs"]) == [0, 1, 2]
    assert all(run["status"] == "queued" for run in body["runs"])
    assert stored_counts() == (1, 3)

    detail = client.get(f"/api/v1/experiments/{body['id']}").json()
    assert detail["status"] == "queued"
    assert detail["counts"]["queued"] == 3
    assert detail["spec"]["activation"]["params"] == {"a": 1.0, "b": 0.01, "m": -0.22,
                                                      "per_channel": True}
    assert detail["runs"][0]["progress"] == {"epoch": 0, "epochs": 3, "fraction": 0.0}

    run_id = body["runs"][0]["id"]
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "queued" and run["attempt"] == 0
    assert client.get(f"/api/v1/runs/{run_id}/metrics").json() == []
    assert client.get(f"/api/v1/runs/{run_id}/parameters").json()["items"] == []


def test_defaults_fill_in_and_equal_recipes_hash_equal(client: TestClient) -> None:
    a = client.post("/api/v1/experiments", json={"activation": {"name": "dual_line"}}).json()
    b = client.post("/api/v1/experiments", json={
        "activation": {"name": "dual_line", "params": {"per_channel": True, "m": -0.22}},
        "seeds": [5], "name": "other name"}).json()
    ha = client.get(f"/api/v1/experiments/{a['id']}").json()["spec_hash"]
    hb = client.get(f"/api/v1/experiments/{b['id']}").json()["spec_hash"]
    assert ha == hb


def test_later_settings_at_their_defaults_keep_the_recipe_hash(client: TestClient) -> None:
    import hashlib
    import json

    from core.domain.spec import RECIPE_VERSION, ExperimentSpec, spec_hash

    plain = ExperimentSpec.model_validate({"activation": {"name": "relu"}})
    explicit = ExperimentSpec.model_validate({"activation": {"name": "relu"}, "training": {
        "betas": [0.9, 0.999], "warmup_steps": 0, "decay_all": False, "precision": "fp32",
        "sparsity_cett": 0.2}})
    assert spec_hash(plain) == spec_hash(explicit)
    # the hash as it was computed before these settings (and precision) existed, and before
    # a matched sweep's `match` (absent from an unmatched spec's hash)
    recipe = plain.model_dump(mode="json", exclude={"name", "tags", "priority", "seeds",
                                                    "resources", "role", "tuned", "match"})
    for later in ("precision", "betas", "warmup_steps", "decay_all", "sparsity_cett"):
        del recipe["training"][later]
    recipe["recipe_version"] = RECIPE_VERSION
    old = hashlib.sha256(json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode())
    assert spec_hash(plain) == old.hexdigest()
    for changed in ({"betas": [0.9, 0.98]}, {"warmup_steps": 10}, {"decay_all": True},
                    {"sparsity_cett": 0.1}):
        other = ExperimentSpec.model_validate({"activation": {"name": "relu"},
                                               "training": changed})
        assert spec_hash(other) != spec_hash(plain), changed


def _bad(**changes: Any) -> dict[str, Any]:
    spec = {k: (dict(v) if isinstance(v, dict) else v) for k, v in GOOD.items()}
    for dotted, value in changes.items():
        parts = dotted.split("__")
        target = spec
        for p in parts[:-1]:
            target = target[p]
        target[parts[-1]] = value
    return spec


BAD_CASES = [
    ("unknown activation", _bad(activation={"name": "reluu"}), "activation.name",
     ["unknown activation 'reluu'", "dual_line", "relu"]),
    ("unknown model", _bad(model={"name": "vgg99"}), "model.name", ["lenet5", "mlp"]),
    ("unknown dataset", _bad(dataset={"name": "imagenet"}), "dataset.name", ["digits", "mnist1d"]),
    ("unknown activation param", _bad(activation={"name": "dual_line", "params": {"k": 1}}),
     "activation.params.k", ["valid parameters: a, b, m, per_channel"]),
    ("bad param type", _bad(activation={"name": "dual_line", "params": {"per_channel": "yes"}}),
     "activation.params.per_channel", ["true or false"]),
    ("zero epochs", _bad(training__epochs=0), "training.epochs", ["greater than or equal to 1"]),
    ("too many epochs", _bad(training__epochs=100_000), "training.epochs", ["ACTLAB_MAX_EPOCHS"]),
    ("empty seeds", _bad(seeds=[]), "seeds", ["at least 1"]),
    ("duplicate seeds", _bad(seeds=[1, 1, 2]), "seeds", ["duplicate seeds: [1]"]),
    ("negative seed", _bad(seeds=[-1]), "seeds", ["seeds must be in"]),
    ("string epochs", _bad(training__epochs="10"), "training.epochs", ["valid integer"]),
    ("float seeds", _bad(seeds=[0.5]), "seeds.0", ["valid integer"]),
    ("unknown optimizer", _bad(training__optimizer="lbfgs"), "training.optimizer", ["adam"]),
    ("negative lr", _bad(training__lr=-1.0), "training.lr", ["greater than 0"]),
    ("unknown top-level field", _bad(learning_rate=0.1), "learning_rate", ["not permitted"]),
    ("missing activation", {k: v for k, v in GOOD.items() if k != "activation"}, "activation",
     ["required"]),
    ("model/dataset mismatch", _bad(dataset={"name": "mnist1d"}), "model.name",
     ["takes image inputs", "sequence"]),
    ("classifier on a segmentation set", _bad(dataset={"name": "shapes"}), "model.name",
     ["made for classification", "'shapes' is a segmentation dataset"]),
    ("segmentation model on a classification set", _bad(model={"name": "unet"}), "model.name",
     ["made for segmentation", "classification dataset"]),
    *[(f"formula: {why}", _bad(activation={"name": "formula", "params": params}),
       f"activation.params.{field}", phrases) for why, params, field, phrases in [
        ("code", {"expression": "__import__('os').system('id')"}, "expression",
         ["only the functions", "at position 1"]),
        ("attribute", {"expression": "x.real"}, "expression", ["Attribute", "position 1"]),
        ("lambda", {"expression": "(lambda: x)()"}, "expression", ["only the functions"]),
        ("comprehension", {"expression": "mean([x for x in y])"}, "expression",
         ["unknown function 'mean'"]),
        ("huge power", {"expression": "x ** 1e9"}, "expression", ["outside", "position 6"]),
        ("unknown name", {"expression": "x * k"}, "expression",
         ["unknown name 'k'", "position 5"]),
        ("unused parameter", {"expression": "x", "parameters": {"beta": 1.0}}, "expression",
         ["beta declared but not used"]),
        ("syntax", {"expression": "x * (1 +"}, "expression", ["syntax error", "position"]),
        ("100 kB", {"expression": "x+" * 50_000 + "x"}, "expression",
         ["100001 characters; at most 500"]),
        ("nesting", {"expression": "(" * 240 + "x" + ")" * 240}, "expression",
         ["nested parentheses"]),
        ("deep calls", {"expression": "tanh(" * 30 + "x" + ")" * 30}, "expression",
         ["nests deeper than 24"]),
        ("parameter name", {"expression": "x", "parameters": {"relu": 1.0}}, "parameters",
         ["cannot name a parameter"]),
        ("not a string", {"expression": 3}, "expression", ["must be a string"]),
    ]],
    ("betas out of range", _bad(training={"betas": [0.9, 1.0]}), "training.betas",
     ["betas must each be in [0, 1)"]),
    ("warm-up with onecycle", _bad(training={"warmup_steps": 10, "schedule": "onecycle"}),
     "training", ["onecycle schedule, which has its own warm-up"]),
]


@pytest.mark.parametrize(("case", "spec", "field", "phrases"), BAD_CASES,
                         ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
        client: TestClient, case: str, spec: dict[str, Any], field: str,
        phrases: list[str]) -> None:
    r = client.post("/api/v1/experiments", json=spec)
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    mine = [e for e in errors if e["field"] == field]
    assert mine, f"no error names {field}: {errors}"
    for phrase in phrases:
        assert any(phrase in e["msg"] for e in mine), (phrase, mine)
    assert stored_counts() == (0, 0)


def test_formulas_are_stored_canonically_and_equal_ones_are_one_recipe(
        client: TestClient) -> None:
    def post(expression: str) -> dict[str, Any]:
        r = client.post("/api/v1/experiments", json={"activation": {"name": "formula", "params": {
            "expression": expression, "parameters": {"beta": 1.0}}}, "seeds": [0]})
        assert r.status_code == 202, r.text
        return client.get(f"/api/v1/experiments/{r.json()['id']}").json()

    a, b = post("x * sigmoid(beta * x)"), post("sigmoid(x*beta) * x")
    assert a["spec"]["activation"]["params"] == {"expression": "sigmoid(beta * x) * x",
                                                 "parameters": {"beta": 1.0},
                                                 "per_channel": True}
    assert a["spec_hash"] == b["spec_hash"]
    assert post("x * sigmoid(2 * beta * x)")["spec_hash"] != a["spec_hash"]


def test_the_catalog_lists_the_formula_grammar(client: TestClient) -> None:
    acts = {a["name"]: a for a in client.get("/api/v1/catalog/activations").json()}
    grammar = acts["formula"]["grammar"]
    assert {"relu", "sigmoid", "tanh", "exp", "log", "log1p", "softplus", "abs", "sqrt", "erf",
            "sin", "cos", "min", "max", "clamp", "where"} <= set(grammar["functions"])
    assert grammar["functions"]["clamp"]["arity"] == 3
    assert grammar["limits"] == {"length": 500, "depth": 24, "nodes": 200}
    assert [p["name"] for p in acts["formula"]["params"]] == ["expression", "parameters",
                                                             "per_channel"]


def test_type_errors_and_unknown_names_come_in_one_response(client: TestClient) -> None:
    r = client.post("/api/v1/experiments", json={
        "activation": {"name": "dual_lin"}, "model": {"name": "mlp", "params": {"depth": 0}},
        "training": {"epochs": "ten"}})
    assert r.status_code == 422
    fields = {e["field"]: e["msg"] for e in r.json()["detail"]}
    assert "valid integer" in fields["training.epochs"]
    assert "unknown activation 'dual_lin'" in fields["activation.name"]
    assert "mlp.depth must be >= 1" in fields["model.params.depth"]
    assert stored_counts() == (0, 0)


def test_more_runs_than_the_limit_is_422(client: TestClient, monkeypatch: pytest.MonkeyPatch)\
        -> None:
    from core.domain.settings import get_settings

    monkeypatch.setenv("ACTLAB_MAX_RUNS_PER_REQUEST", "4")
    get_settings.cache_clear()
    r = client.post("/api/v1/experiments", json=_bad(seeds=[0, 1, 2, 3, 4]))
    assert r.status_code == 422
    assert "at most 4 per request" in r.json()["detail"][0]["msg"]
    assert r.json()["detail"][0]["field"] == "seeds"
    assert stored_counts() == (0, 0)


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"text"'])
def test_malformed_json_is_422(client: TestClient, body: bytes) -> None:
    r = client.post("/api/v1/experiments", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], list) and r.json()["detail"][0]["msg"]
    assert stored_counts() == (0, 0)


def test_oversized_body_is_413(client: TestClient) -> None:
    r = client.post("/api/v1/experiments", content=b"x" * 2_000_000,
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "larger than" in r.json()["detail"]


def test_unknown_ids_are_404(client: TestClient) -> None:
    missing = uuid.uuid4()
    for method, path in [("GET", f"/api/v1/experiments/{missing}"),
                         ("POST", f"/api/v1/experiments/{missing}/cancel"),
                         ("POST", f"/api/v1/experiments/{missing}/seeds"),
                         ("GET", f"/api/v1/runs/{missing}"),
                         ("GET", f"/api/v1/runs/{missing}/metrics"),
                         ("GET", f"/api/v1/runs/{missing}/parameters"),
                         ("POST", f"/api/v1/runs/{missing}/cancel"),
                         ("POST", f"/api/v1/runs/{missing}/retry")]:
        r = client.request(method, path, json={"seeds": [9]} if "seeds" in path else None)
        assert r.status_code == 404, (method, path, r.text)
        assert str(missing) in r.json()["detail"]
    assert client.get("/api/v1/runs/not-a-uuid").status_code == 422


def test_list_filters_and_pagination(client: TestClient) -> None:
    for act, tag in [("relu", "a"), ("dual_line", "b"), ("relu", "b")]:
        assert client.post("/api/v1/experiments", json={
            "activation": {"name": act}, "tags": [tag]}).status_code == 202
    assert client.get("/api/v1/experiments").json()["total"] == 3
    assert client.get("/api/v1/experiments?activation=relu").json()["total"] == 2
    assert client.get("/api/v1/experiments?tag=b").json()["total"] == 2
    assert client.get("/api/v1/experiments?tag=b&activation=relu").json()["total"] == 1
    assert client.get("/api/v1/experiments?status=queued").json()["total"] == 3
    assert client.get("/api/v1/experiments?status=succeeded").json()["total"] == 0
    page = client.get("/api/v1/experiments?limit=2&offset=2").json()
    assert len(page["items"]) == 1 and page["total"] == 3
    bad = client.get("/api/v1/experiments?status=bogus")
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "status"


def test_cancel_queued_then_conflict(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json={"activation": {"name": "relu"},
                                                       "seeds": [0, 1]}).json()
    run_id = created["runs"][0]["id"]
    r = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    r = client.post(f"/api/v1/experiments/{created['id']}/cancel")
    assert r.status_code == 200
    assert r.json()["cancelled"] == [created["runs"][1]["id"]]
    assert client.get(f"/api/v1/experiments/{created['id']}").json()["status"] == "cancelled"
    assert client.post(f"/api/v1/experiments/{created['id']}/cancel").status_code == 409


def test_retry_only_unsuccessful_runs(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json={"activation": {"name": "relu"}}).json()
    run_id = created["runs"][0]["id"]
    assert client.post(f"/api/v1/runs/{run_id}/retry").status_code == 409  # still queued
    client.post(f"/api/v1/runs/{run_id}/cancel")
    r = client.post(f"/api/v1/runs/{run_id}/retry")
    assert r.status_code == 202 and r.json()["status"] == "queued"


def test_add_seeds(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json={"activation": {"name": "relu"},
                                                       "seeds": [0]}).json()
    r = client.post(f"/api/v1/experiments/{created['id']}/seeds", json={"seeds": [1, 2]})
    assert r.status_code == 202 and sorted(x["seed"] for x in r.json()["runs"]) == [1, 2]
    stored = client.get(f"/api/v1/experiments/{created['id']}").json()
    assert stored["spec"]["seeds"] == [0, 1, 2]  # the spec says what the experiment holds
    dup = client.post(f"/api/v1/experiments/{created['id']}/seeds", json={"seeds": [2, 3]})
    # a conflict with what exists: 409, like every other state conflict
    assert dup.status_code == 409 and "[2]" in dup.json()["detail"]
    twice = client.post(f"/api/v1/experiments/{created['id']}/seeds", json={"seeds": [5, 5]})
    assert twice.status_code == 422, twice.text
    assert twice.json()["detail"][0]["field"] == "seeds"
    assert "duplicate seeds: [5]" in twice.json()["detail"][0]["msg"]
    missing = client.post(f"/api/v1/experiments/{uuid.uuid4()}/seeds", json={"seeds": [1]})
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    assert stored_counts() == (1, 3)


def test_docs_show_the_schema_of_every_json_response(client: TestClient) -> None:
    """Every GET and POST answering JSON names its response schema (the dashboards, the
    leaderboards and the sweeps included), so /docs shows real fields."""
    spec = client.get("/openapi.json").json()
    untyped = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            answers = op["responses"].get("200", op["responses"].get("202", {})) \
                .get("content", {})
            if "application/json" not in answers and \
                    {"application/octet-stream", "text/event-stream"} & set(answers):
                continue  # a file (the weights), or the event stream
            content = answers.get("application/json", {})
            if not content.get("schema") or content["schema"] == {}:
                untyped.append(f"{method.upper()} {path}")
    assert untyped == []
    schemas = spec["components"]["schemas"]
    assert "p_holm" in schemas["BoardEntry"]["properties"]
    assert "test_accuracy" in schemas["CurvePoint"]["properties"]


def test_catalog_lists_names_formulas_and_params(client: TestClient) -> None:
    acts = {a["name"]: a for a in client.get("/api/v1/catalog/activations").json()}
    assert {"relu", "identity", "prelu", "dual_line", "dp_relu"} <= set(acts)
    assert acts["dual_line"]["formula"]
    assert [p["name"] for p in acts["dual_line"]["params"]] == ["a", "b", "m", "per_channel"]
    assert acts["dual_line"]["params"][2]["default"] == -0.22
    models = {m["name"] for m in client.get("/api/v1/catalog/models").json()}
    assert {"mlp", "lenet5"} <= models
    datasets = {d["name"] for d in client.get("/api/v1/catalog/datasets").json()}
    assert {"digits", "mnist1d"} <= datasets


def test_health_reports_database_and_broker(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["database"] == "ok" and r.json()["broker"] == "ok"


def test_weights_download_and_delete_leaves_nothing_behind(client: TestClient) -> None:
    from safetensors.torch import load

    from core.store.artifacts import get_store
    from worker.runner import execute_run

    created = client.post("/api/v1/experiments", json={
        "activation": {"name": "relu"}, "model": {"name": "mlp", "params": {"hidden": 8}},
        "seeds": [0], "training": {"epochs": 1}}).json()
    run_id = created["runs"][0]["id"]
    queued = client.get(f"/api/v1/runs/{run_id}/weights")
    assert queued.status_code == 404 and "it is queued" in queued.json()["detail"]
    busy = client.delete(f"/api/v1/experiments/{created['id']}")
    assert busy.status_code == 409 and "cancel it first" in busy.json()["detail"]
    assert execute_run(uuid.UUID(run_id)) == "succeeded"
    r = client.get(f"/api/v1/runs/{run_id}/weights")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert set(load(r.content)) == {"net.1.weight", "net.1.bias", "net.3.weight", "net.3.bias",
                                    "net.5.weight", "net.5.bias"}
    # A reused run serves the original's weights.
    again = client.post("/api/v1/experiments", json={
        "activation": {"name": "relu"}, "model": {"name": "mlp", "params": {"hidden": 8}},
        "seeds": [0], "training": {"epochs": 1}}).json()
    reused = client.get(f"/api/v1/runs/{again['runs'][0]['id']}/weights")
    assert reused.status_code == 200 and reused.content == r.content
    client.delete(f"/api/v1/experiments/{again['id']}")

    gone = client.delete(f"/api/v1/experiments/{created['id']}")
    assert gone.status_code == 200 and gone.json()["runs"] == 1
    assert client.get(f"/api/v1/experiments/{created['id']}").status_code == 404
    assert client.get(f"/api/v1/runs/{run_id}").status_code == 404
    assert stored_counts() == (0, 0)
    from core.store.models import ActivationParam, EpochMetric, ResponseCurve

    with session_scope() as session:  # the runs' rows went with them
        for table in (EpochMetric, ActivationParam, ResponseCurve):
            assert session.scalar(select(func.count()).select_from(table)) == 0, table
    assert get_store().list() == []


@pytest.mark.parametrize(("method", "path", "body", "field", "phrase"), [
    ("GET", "/api/v1/experiments?offset=100000000000000000000", None, "offset", "less than"),
    ("GET", "/api/v1/experiments?tag=a%00b", None, "tag", "NUL byte"),
    ("GET", "/api/v1/experiments?activation=a%00b", None, "activation", "NUL byte"),
    ("GET", "/api/v1/leaderboard?tag=a%00b", None, "tag", "NUL byte"),
    ("POST", "/api/v1/experiments",
     '{"activation": {"name": "relu"}, "name": "a\\u0000b"}', "name", "NUL byte"),
    ("POST", "/api/v1/experiments",
     '{"activation": {"name": "relu"}, "tags": ["a\\u0000b"]}', "tags.0", "NUL byte"),
    ("POST", "/api/v1/experiments",
     '{"activation": {"name": "relu"}, "training": {"grad_clip": Infinity}}',
     "training.grad_clip", "finite"),
    ("POST", "/api/v1/experiments",
     '{"activation": {"name": "dual_line", "params": {"a": NaN}}}', "activation.params.a",
     "finite"),
    ("POST", "/api/v1/sweeps",
     '{"activations": [{"name": "relu"}], "grid": {"training.lr": [Infinity]}}',
     "grid.training.lr.0", "finite"),
])
def test_hostile_input_is_a_4xx_naming_it_and_stores_nothing(
        client: TestClient, method: str, path: str, body: str | None, field: str,
        phrase: str) -> None:
    r = client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    mine = [e for e in r.json()["detail"] if e["field"] == field]
    assert mine and any(phrase in e["msg"] for e in mine), r.json()["detail"]
    assert stored_counts() == (0, 0)


def test_run_parameter_filters_are_bounded(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json={"activation": {"name": "relu"}}).json()
    run_id = created["runs"][0]["id"]
    for query in ("epoch=100000000000000000000", "offset=100000000000000000000", "epoch=-1"):
        r = client.get(f"/api/v1/runs/{run_id}/parameters?{query}")
        assert r.status_code == 422, (query, r.text)
