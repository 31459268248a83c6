"""A transformer spec through the service: accepted, trained by the runner, its per-token
loss and perplexity in the metric rows, the summary and the leaderboard; a transformer on an
image dataset is refused with the reason."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from worker.runner import execute_run

SPEC = {"activation": {"name": "relu"},
        "model": {"name": "gpt", "params": {"n_layer": 1, "n_head": 2, "d_model": 16,
                                            "d_ff": 32, "context": 8}},
        "dataset": {"name": "modular", "params": {"p": 7, "operation": "add"}},
        "seeds": [0], "training": {"epochs": 2, "batch_size": 16, "optimizer": "adamw"}}


def test_a_transformer_trains_through_the_service(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json=SPEC)
    assert created.status_code == 202, created.text
    (run,) = created.json()["runs"]
    run_id = uuid.UUID(run["id"])
    assert execute_run(run_id) == "succeeded"
    rows = client.get(f"/api/v1/runs/{run_id}/metrics").json()
    assert len(rows) == 2 and all(r["val_perplexity"] > 1 for r in rows)
    assert all(r["val_miou"] is None for r in rows)  # another task's metric
    summary = client.get(f"/api/v1/experiments/{created.json()['id']}/summary").json()
    assert summary["metrics"]["test_perplexity"]["final"]["n"] == 1
    board = client.get("/api/v1/leaderboard", params={
        "model": "gpt", "dataset": "modular", "metric": "test_perplexity"}).json()
    assert [e["label"] for e in board["entries"]] == ["relu"]
    assert board["higher_is_better"] is False
    # the FFN's sparsity: per slot and epoch, and its mean over slots as a metric
    sparsity = client.get(f"/api/v1/runs/{run_id}/sparsity").json()
    assert [(r["epoch"], r["layer"]) for r in sparsity] == [(1, "block0.ffn.act"),
                                                           (2, "block0.ffn.act")]
    for row, metrics in zip(sparsity, rows, strict=True):
        assert 0 < row["zero_fraction"] <= row["small_fraction"] < 1
        assert metrics["val_sparsity"] == row["zero_fraction"]  # one slot: its mean
    board = client.get("/api/v1/leaderboard", params={
        "model": "gpt", "dataset": "modular", "metric": "val_sparsity"}).json()
    assert board["entries"][0]["mean"] == rows[-1]["val_sparsity"]
    # ranked by perplexity, the loss and the sparsity beside it (JSON and markdown)
    query = {"model": "gpt", "dataset": "modular", "metric": "test_perplexity"}
    (entry,) = client.get("/api/v1/leaderboard", params=query).json()["entries"]
    assert (entry["val_loss"], entry["val_sparsity"]) == (rows[-1]["val_loss"],
                                                          rows[-1]["val_sparsity"])
    markdown = client.get("/api/v1/leaderboard", params={**query, "format": "markdown"}).text
    assert "| verdict | val_loss | val_sparsity |" in markdown
    assert f"| {rows[-1]['val_sparsity']:.4f} |" in markdown


def test_a_transformer_takes_token_datasets_only(client: TestClient) -> None:
    refused = client.post("/api/v1/experiments", json={**SPEC, "dataset": {"name": "digits"}})
    assert refused.status_code == 422
    assert "tokens" in refused.text and "gpt" in refused.text
    refused = client.post("/api/v1/experiments", json={**SPEC, "model": {"name": "mlp"}})
    assert refused.status_code == 422 and "modular" in refused.text


def test_a_sequence_longer_than_the_context_is_refused(client: TestClient) -> None:
    refused = client.post("/api/v1/experiments", json={
        **SPEC, "model": {"name": "gpt", "params": {"context": 16}},
        "dataset": {"name": "chars", "params": {"context": 32}}})
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert [d["field"] for d in detail] == ["model.params.context"]
    assert "at most 16 tokens" in detail[0]["msg"] and "sequences of 32" in detail[0]["msg"]
    recall = {"name": "recall", "params": {"pairs": 10}}  # 2 x 10 + 2 tokens
    assert client.post("/api/v1/experiments", json={
        **SPEC, "model": {"name": "gpt", "params": {"context": 21}},
        "dataset": recall}).status_code == 422
    fits = client.post("/api/v1/experiments", json={
        **SPEC, "model": {"name": "gpt", "params": {"context": 22}}, "dataset": recall})
    assert fits.status_code == 202, fits.text


def test_a_gate_is_part_of_the_recipe_and_ffn_slots_only(client: TestClient) -> None:
    from core.domain.spec import ExperimentSpec, spec_hash

    plain = ExperimentSpec.model_validate(SPEC)
    same = ExperimentSpec.model_validate(
        {**SPEC, "activation": {"name": "relu", "gated": False, "match_params": True}})
    assert spec_hash(same) == spec_hash(plain)  # an ungated spec keeps its recipe
    assert "gated" not in plain.model_dump(mode="json")["activation"]
    gated = ExperimentSpec.model_validate({**SPEC, "activation": {"name": "relu",
                                                                  "gated": True}})
    assert spec_hash(gated) != spec_hash(plain)
    refused = client.post("/api/v1/experiments", json={
        "activation": {"name": "relu", "gated": True}, "model": {"name": "mlp"}})
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert [d["field"] for d in detail] == ["activation.gated"]
    assert "FFN slots" in detail[0]["msg"] and "gpt" in detail[0]["msg"]


def test_the_glu_variants_as_one_sweep(client: TestClient) -> None:
    """Shazeer's table as a sweep: each variant a gated activation, labelled as such."""
    variants = [{"name": "relu"}, {"name": "squared_relu"}, {"name": "sigmoid", "gated": True},
                {"name": "identity", "gated": True}, {"name": "silu", "gated": True}]
    created = client.post("/api/v1/sweeps", json={
        "activations": variants, "models": [SPEC["model"]], "datasets": [SPEC["dataset"]],
        "seeds": [0], "training": SPEC["training"]})
    assert created.status_code == 202, created.text
    sweep = client.get(f"/api/v1/sweeps/{created.json()['id']}").json()
    names = sorted(e["name"] for e in sweep["experiments"])
    assert len(names) == 5
    for experiment in [client.get(f"/api/v1/experiments/{e['id']}").json()
                       for e in sweep["experiments"]]:
        run = experiment["runs"][0]
        assert execute_run(uuid.UUID(run["id"])) == "succeeded"
        recorded = client.get(f"/api/v1/runs/{run['id']}").json()
        counts = recorded["provenance"].get("parameters")
        if experiment["spec"]["activation"].get("gated"):  # d_ff x 2/3: the counts match
            assert counts["built"] == recorded["num_params"]
            assert abs(counts["built"] - counts["ungated"]) <= 0.01 * counts["ungated"]
        else:
            assert counts is None
    board = client.get("/api/v1/leaderboard", params={"model": "gpt",
                                                      "dataset": "modular"}).json()
    assert sorted(e["label"] for e in board["entries"]) == [
        "identity (gated)", "relu", "sigmoid (gated)", "silu (gated)", "squared_relu"]


def test_a_corpus_s_hash_is_in_the_run_s_provenance(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json={
        **SPEC, "dataset": {"name": "chars", "params": {"context": 8, "max_chars": 3000}},
        "training": {"epochs": 1, "batch_size": 32}})
    assert created.status_code == 202, created.text
    run_id = uuid.UUID(created.json()["runs"][0]["id"])
    assert execute_run(run_id) == "succeeded"
    data = client.get(f"/api/v1/runs/{run_id}").json()["provenance"]["data"]
    assert data["corpus"] == "python" and len(data["sha256"]) == 64
    assert data["characters"] == 3000
