"""Matched sizes through the service: a sweep's models each solved to the reference's
parameters (or MACs) at submit, the solution in each experiment's spec, both counts as
built in each run's provenance, and the board of the dataset testing a KAN against the
MLP baseline of the budget it was matched to."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_races import _drain

REFERENCE = {"name": "mlp", "params": {"hidden": 64}}
BODY: dict[str, Any] = {
    "name": "matched", "activations": [{"name": "relu"}, {"name": "bspline"}],
    "models": [{"name": "mlp"}, {"name": "kan", "params": {"widths": [1]}}],
    "datasets": [{"name": "digits"}], "seeds": [0, 1],
    "training": {"epochs": 2, "batch_size": 64}, "match": {"reference": REFERENCE}}
# 64 -> 64 -> 64 -> 10 with biases.
REFERENCE_PARAMS = 64 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10


def _experiments(client: TestClient, sweep_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    sweep = client.get(f"/api/v1/sweeps/{sweep_id}").json()
    out = {}
    for brief in sweep["experiments"]:
        exp = client.get(f"/api/v1/experiments/{brief['id']}").json()
        out[(exp["spec"]["model"]["name"], exp["spec"]["activation"]["name"])] = exp
    return out


def test_a_matched_sweep_solves_records_and_tests_across_models(client: TestClient) -> None:
    created = client.post("/api/v1/sweeps", json=BODY)
    assert created.status_code == 202, created.text
    assert [s["reason"] for s in created.json()["skipped"]] == [
        "model 'kan' takes the activation as its edge function: one of bspline, pau, not "
        "'relu'"]
    sweep_id = created.json()["id"]
    experiments = _experiments(client, sweep_id)
    assert set(experiments) == {("mlp", "relu"), ("mlp", "bspline"), ("kan", "bspline")}
    solved = {key: e["spec"]["match"] for key, e in experiments.items()}
    assert all(m["reference_count"] == REFERENCE_PARAMS and m["within"] for m in solved.values())
    # the reference itself; bspline's 10 parameters per channel cost the MLP width; a KAN
    # edge from 64 inputs and to 10 outputs costs 10 each: 740 per hidden unit
    assert experiments[("mlp", "relu")]["spec"]["model"]["params"]["hidden"] == 64
    assert experiments[("mlp", "bspline")]["spec"]["model"]["params"]["hidden"] == 58
    assert experiments[("kan", "bspline")]["spec"]["model"]["params"]["widths"] == [12]
    assert solved[("kan", "bspline")]["count"] == 740 * 12

    assert _drain(client, sweep_id) == 6
    for key, exp in experiments.items():
        for brief in exp["runs"]:
            run = client.get(f"/api/v1/runs/{brief['id']}").json()
            built = run["provenance"]["match"]
            assert built["count"] == run["num_params"] == solved[key]["count"], key
            assert built["reference_count"] == REFERENCE_PARAMS and built["within"]

    board = client.get("/api/v1/leaderboard", params={"dataset": "digits",
                                                      "sweep": sweep_id}).json()
    assert board["model"] is None
    by_label = {e["label"]: e for e in board["entries"]}
    assert set(by_label) == {"relu / mlp", "bspline / mlp", "bspline / kan"}
    baseline = by_label["relu / mlp"]["spec_hash"]
    for label in ("bspline / mlp", "bspline / kan"):
        assert by_label[label]["baseline_spec_hash"] == baseline, label
        assert by_label[label]["p_value"] is not None, label
    assert by_label["bspline / kan"]["num_params"] == 740 * 12


def test_a_match_by_macs_solves_to_the_references_macs(client: TestClient) -> None:
    wide = {"name": "mlp", "params": {"hidden": 256}}
    created = client.post("/api/v1/sweeps", json={
        **BODY, "activations": [{"name": "bspline"}], "models": [{"name": "kan",
                                                                  "params": {"widths": [1]}}],
        "match": {"by": "macs", "reference": wide}})
    assert created.status_code == 202, created.text
    [exp] = _experiments(client, created.json()["id"]).values()
    match = exp["spec"]["match"]
    # the reference's MACs: its layers and its 512 ReLU outputs
    assert match["by"] == "macs" and match["reference_count"] == 64 * 256 + 256 * 256 + 2560 + 512
    # a KAN 64 -> w -> 10 with bspline edges (G 5, k 3): each edge's G + k basis products
    # and its SiLU branch (9), and the basis of each layer's inputs: 3 * 11 + 7 * 27 = 222
    # operations per input and 2 * 27 on the knots; 888 per hidden unit, 14316 fixed
    assert match["width"] == 80 and match["count"] == 888 * 80 + 14316 and match["within"]
    # by the reference's parameters, the same KAN is far narrower: MACs and parameters differ
    by_params = client.post("/api/v1/sweeps", json={
        **BODY, "activations": [{"name": "bspline"}], "models": [{"name": "kan",
                                                                  "params": {"widths": [1]}}],
        "match": {"reference": {"name": "mlp", "params": {"hidden": 16}}}}).json()
    [narrow] = _experiments(client, by_params["id"]).values()
    # 64 -> 16 -> 16 -> 10 with biases: 1482 parameters; 740 per KAN unit: 2 units, 1480
    assert narrow["spec"]["match"]["width"] == 2 and narrow["spec"]["match"]["within"]


@pytest.mark.parametrize("change,field,words", [
    ({"models": [{"name": "lenet5"}]}, "models.0.name", "cannot be matched"),
    ({"match": {"reference": {"name": "resnet_v1"}}}, "match.reference.name",
     "cannot be counted"),
    ({"match": {"by": "flops", "reference": REFERENCE}}, "match.by", "params"),
])
def test_what_cannot_be_matched_is_refused_by_name(client: TestClient, change: dict[str, Any],
                                                   field: str, words: str) -> None:
    refused = client.post("/api/v1/sweeps", json={**BODY, **change})
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert any(d["field"] == field and words in d["msg"] for d in detail), detail
