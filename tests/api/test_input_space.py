"""Input-space pictures: the grid and the projection against answers known by
construction, then a run trained by the worker code and read back over HTTP."""

from __future__ import annotations

import itertools

import pytest
import torch
from fastapi.testclient import TestClient
from torch import Tensor, nn

from activations import build
from tests.factories import make_experiment
from worker.runner import execute_run
from worker.training.datasets import DataSplits
from worker.training.input_space import (
    GRID_CELLS,
    GRID_LINES,
    LINE_POINTS,
    InputSpace,
    picture_epochs,
)


def test_picture_epochs_double_then_end_at_the_last() -> None:
    assert picture_epochs(1) == [1]
    assert picture_epochs(5) == [1, 2, 4, 5]
    assert picture_epochs(8) == [1, 2, 4, 8]


def _plane() -> DataSplits:
    x = torch.tensor([[-1.0, -2.0], [1.0, 2.0], [0.5, -0.5], [-0.5, 0.5]])
    y = torch.tensor([0, 1, 1, 0])
    return DataSplits(x, y, x, y, x, y, num_classes=2)


class _Embed(nn.Module):
    """x -> an orthonormal embedding in 4-D -> identity activation -> class (x0 > 0)."""

    def __init__(self) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(4, 2, generator=torch.Generator().manual_seed(0)))
        self.embed = nn.Linear(2, 4, bias=False)
        self.embed.weight.data = q
        self.act = build("identity", 4, {})
        self.act.block, self.act.position = 1, 1

    def forward(self, x: Tensor) -> Tensor:
        self.act(self.embed(x))
        return torch.stack([-x[:, 0], x[:, 0]], 1)


def test_regions_and_an_isometric_layer_by_construction() -> None:
    space = InputSpace(_plane(), torch.device("cpu"))
    header = space.header()
    # the data's extent and a 10 % margin on each side
    assert header["bounds"] == {"x": pytest.approx([-1.2, 1.2]), "y": pytest.approx([-2.4, 2.4])}
    picture = space.at(_Embed(), epoch=3)
    classes = torch.tensor(picture["classes"])
    assert classes.shape == (GRID_CELLS, GRID_CELLS) and picture["epoch"] == 3
    # class 1 exactly right of x = 0: the right half of every row
    assert classes[:, GRID_CELLS // 2:].eq(1).all() and classes[:, :GRID_CELLS // 2].eq(0).all()
    plane, layer = picture["layers"]
    assert plane["layer"] == "input" and layer["layer"] == "act"
    assert layer["activation"] == "identity" and layer["width"] == 4
    # An orthonormal embedding keeps all variance in two principal components, and its
    # projection keeps every distance between points of the grid.
    assert layer["projection"] == "pca" and layer["explained"] == pytest.approx(1.0)
    lines_in, lines_out = torch.tensor(plane["lines"]), torch.tensor(layer["lines"])
    assert lines_out.shape == (2 * GRID_LINES, LINE_POINTS, 2)
    a, b = lines_in.reshape(-1, 2), lines_out.reshape(-1, 2)
    for i, j in itertools.combinations(range(0, len(a), 97), 2):
        assert float((b[i] - b[j]).norm()) == pytest.approx(float((a[i] - a[j]).norm()),
                                                           abs=2e-3)


def test_a_trained_run_serves_its_pictures(client: TestClient) -> None:
    _, (run_id,) = make_experiment(
        activation={"name": "tanh"}, model={"name": "mlp", "params": {"hidden": 8}},
        dataset={"name": "synthetic", "params": {"samples": 300}},
        training={"epochs": 5, "batch_size": 32, "lr": 0.03})
    assert execute_run(run_id, worker="t") == "succeeded"
    body = client.get(f"/api/v1/runs/{run_id}/input-space").json()
    assert body["recorded"] == [1, 2, 4, 5] and [e["epoch"] for e in body["epochs"]] == \
        [1, 2, 4, 5]
    assert body["activation"] == "tanh" and body["dataset"] == "synthetic"
    assert body["grid_cells"] == GRID_CELLS and len(body["points"]["x"]) == 192
    assert set(body["points"]["label"]) == {0, 1, 2}
    last = body["epochs"][-1]
    assert [(la["layer"], la["activation"], la["projection"]) for la in last["layers"]] == [
        ("input", None, "identity"), ("net.2", "tanh", "pca"), ("net.4", "tanh", "pca")]
    # A trained network predicts more than one class over the plane.
    assert len({c for row in last["classes"] for c in row}) > 1
    only = client.get(f"/api/v1/runs/{run_id}/input-space", params={"epoch": [2, 5, 9]})
    assert [e["epoch"] for e in only.json()["epochs"]] == [2, 5]


def test_runs_on_other_datasets_have_none_and_say_why(client: TestClient) -> None:
    _, (run_id,) = make_experiment()  # digits
    response = client.get(f"/api/v1/runs/{run_id}/input-space")
    assert response.status_code == 404
    assert "'digits' is not a 2-D classification dataset (synthetic are)" in \
        response.json()["detail"]
