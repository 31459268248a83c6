"""The kan model: each layer is pykan's KANLayer (the same coefficients and scales give the
same outputs, and the same trainable parameter count), its edges are recorded like any
per-channel activation, it trains through the trainer, and the spec refuses an activation
that cannot be an edge function."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from activations import activation_parameters
from worker.training import TrainConfig, train
from worker.training.kan import KANLayer
from worker.training.models import ActFactory, build_model


@pytest.mark.parametrize(("n_in", "n_out", "grid", "order"), [(3, 2, 5, 3), (4, 5, 3, 2)])
def test_a_layer_is_pykan_s(n_in: int, n_out: int, grid: int, order: int) -> None:
    from kan.KANLayer import KANLayer as PykanLayer

    torch.manual_seed(0)
    theirs = PykanLayer(n_in, n_out, num=grid, k=order)
    ours = KANLayer(n_in, n_out, ActFactory("bspline"), 1, {"grid": grid, "order": order,
                                                             "per_channel": True})
    with torch.no_grad():  # edge (i, j) is channel i * n_out + j
        ours.edges.w_b.copy_(theirs.scale_base.reshape(-1))
        ours.edges.w_s.copy_(theirs.scale_sp.reshape(-1))
        for c in range(grid + order):
            getattr(ours.edges, f"c{c}").copy_(theirs.coef[:, :, c].reshape(-1))
    x = torch.rand(64, n_in) * 2.4 - 1.2  # across the grid and past its ends
    torch.testing.assert_close(ours(x), theirs(x)[0], atol=1e-5, rtol=1e-5)
    trainable = sum(p.numel() for p in theirs.parameters() if p.requires_grad)
    assert sum(p.numel() for p in ours.parameters()) == trainable \
        == n_in * n_out * (grid + order + 2)


def test_a_kan_trains_and_records_every_edge(tmp_path: Path) -> None:
    config = TrainConfig(activation="bspline", model="kan",
                         model_params={"widths": [4], "grid": 3, "order": 2},
                         dataset="digits")
    config = replace(config, training=config.training.model_copy(update={"epochs": 3,
                                                                         "lr": 1e-2}))
    result = train(config, data_root=tmp_path)
    accuracy = [h["val_accuracy"] for h in result.history]
    assert len(accuracy) == 3 and accuracy[-1] > max(0.3, accuracy[0])
    model = build_model("kan", {"widths": [4], "grid": 3, "order": 2}, (64,), 10,
                        ActFactory("bspline"))
    recorded = activation_parameters(model)
    # two layers (64 -> 4 -> 10), each edge a channel with w_b, w_s and G + k coefficients
    assert {(r.block, r.name) for r in recorded} >= {(1, "w_b"), (2, "c4")}
    assert {len(r.values) for r in recorded if r.block == 1} == {64 * 4}


def test_the_spec_takes_only_edge_functions(client: TestClient) -> None:
    body = {"activation": {"name": "relu"}, "model": {"name": "kan",
                                                      "params": {"widths": [8, 4]}},
            "seeds": [0], "training": {"epochs": 1}}
    refused = client.post("/api/v1/experiments", json=body)
    assert refused.status_code == 422
    assert any(d["field"] == "activation.name" and "edge function" in d["msg"]
               for d in refused.json()["detail"])
    for bad, where in (({"widths": []}, "widths"), ({"widths": [0]}, "widths[0]")):
        wrong = client.post("/api/v1/experiments", json={
            **body, "activation": {"name": "bspline"}, "model": {"name": "kan", "params": bad}})
        assert wrong.status_code == 422 and where in wrong.text, wrong.text
    ok = client.post("/api/v1/experiments", json={**body, "activation": {"name": "pau"}})
    assert ok.status_code == 202, ok.text
