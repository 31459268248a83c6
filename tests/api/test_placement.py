"""A spec's activation placement over the API: checked at submit against the model's slots
(every problem a 422 naming it, nothing stored), part of the recipe, shown on the run and in
the leaderboard's label."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from core.domain.spec import ExperimentSpec, spec_hash
from tests.factories import get_run, make_experiment
from worker.runner import execute_run

LENET = {"model": {"name": "lenet5"}, "dataset": {"name": "digits"}}


def _spec(slots: dict[str, Any] | None = None) -> dict[str, Any]:
    activation: dict[str, Any] = {"name": "dual_line"}
    if slots is not None:
        activation["slots"] = slots
    return {"activation": activation, **LENET, "training": {"epochs": 1}}


def test_the_catalog_lists_each_models_slots(client: TestClient) -> None:
    models = {m["name"]: m for m in client.get("/api/v1/catalog/models").json()}
    assert [s["name"] for s in models["lenet5"]["slots"]] == [
        "features.1", "features.4", "classifier.1", "classifier.3"]
    assert models["mnist1d_cnn"]["slots"][0] == {"name": "features.1", "kind": "after_conv"}


def test_a_placement_is_part_of_the_recipe_and_an_empty_one_is_not() -> None:
    plain = ExperimentSpec.model_validate(_spec())
    assert spec_hash(plain) == spec_hash(ExperimentSpec.model_validate(_spec({})))
    assert "slots" not in plain.model_dump()["activation"]  # stored specs keep their form
    placed = ExperimentSpec.model_validate(_spec({"classifier.*": {"name": "linear"}}))
    assert spec_hash(placed) != spec_hash(plain)
    assert placed.model_dump()["activation"]["slots"] == {
        "classifier.*": {"name": "identity", "params": {}}}  # the canonical name


def test_bad_placements_are_422s_naming_the_problem(client: TestClient) -> None:
    cases = [
        ({"up*.post": {"name": "identity"}},
         "matches no activation slot of model 'lenet5'; its slots: features.1, features.4, "
         "classifier.1, classifier.3"),
        ({"features.*": {"name": "inverse"}}, "must keep the model's widths"),
        ({"features.*": {"name": "nope"}}, "unknown activation 'nope'"),
        ({"features/1": {"name": "relu"}}, "slot patterns are globs over slot names"),
    ]
    before = client.get("/api/v1/experiments").json()["total"]
    for slots, message in cases:
        r = client.post("/api/v1/experiments", json=_spec(slots))
        assert r.status_code == 422 and message in r.text, (slots, r.text)
        assert "slots" in r.text
    assert client.get("/api/v1/experiments").json()["total"] == before


def test_the_run_shows_each_slots_activation_and_the_board_the_placement(
        client: TestClient) -> None:
    _, (run_id,) = make_experiment(**_spec({"classifier.*": {"name": "relu"}}))
    assert execute_run(run_id) == "succeeded"
    shown = client.get(f"/api/v1/runs/{run_id}").json()["provenance"]["slots"]
    assert shown == {"features.1": "dual_line", "features.4": "dual_line",
                     "classifier.1": "relu", "classifier.3": "relu"}
    assert get_run(run_id).provenance["slots"] == shown  # type: ignore[index]
    board = client.get("/api/v1/leaderboard?model=lenet5&dataset=digits").json()
    assert [e["label"] for e in board["entries"]] == ["dual_line [classifier.*=relu]"]


def test_a_sweep_places_activations_per_cell(client: TestClient) -> None:
    """The U-Net question as one sweep: ReLU everywhere against nothing after the
    up-convolutions; a pattern no model has refuses the sweep and names the cell."""
    body = {"activations": [{"name": "relu"},
                            {"name": "relu", "slots": {"up*.post": {"name": "identity"}}}],
            "models": [{"name": "unet", "params": {"width": 4}}],
            "datasets": [{"name": "shapes", "params": {"samples": 60, "size": 16}}],
            "seeds": [0], "training": {"epochs": 1}}
    created = client.post("/api/v1/sweeps", json=body)
    assert created.status_code == 202, created.text
    names = [e["name"] for e in created.json()["experiments"]]
    assert names == ["relu / unet / shapes", "relu [up*.post=identity] / unet / shapes"]
    specs = [client.get(f"/api/v1/experiments/{e['id']}").json()
             for e in created.json()["experiments"]]
    assert "slots" not in specs[0]["spec"]["activation"]
    assert specs[1]["spec"]["activation"]["slots"] == {
        "up*.post": {"name": "identity", "params": {}}}
    assert specs[0]["spec_hash"] != specs[1]["spec_hash"]
    # (checked at submit against the slots of the model at its default params)
    body["activations"] = [{"name": "relu", "slots": {"stage9.*": {"name": "identity"}}}]
    body["models"] = [{"name": "unet"}]
    refused = client.post("/api/v1/sweeps", json=body)
    assert refused.status_code == 422
    assert "stage9.*" in refused.text and "up1.post" in refused.text
