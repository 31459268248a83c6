"""What each KAN edge learned, served per run: the learned functions (every channel of every
activation slot on the response grid) and, per function, its best symbolic fits from the
formula grammar, each one submittable as a formula activation."""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.statistics.symbolic import fit
from worker.runner import execute_run


def test_a_kan_run_serves_its_edges_and_their_fits(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json={
        "activation": {"name": "bspline"},
        "model": {"name": "kan", "params": {"widths": [3], "grid": 3}},
        "dataset": {"name": "digits"}, "seeds": [0], "training": {"epochs": 1}})
    assert created.status_code == 202, created.text
    run_id = created.json()["runs"][0]["id"]
    execute_run(uuid.UUID(run_id))
    functions = client.get(f"/api/v1/runs/{run_id}/functions", params={"limit": 4096}).json()
    # 64 -> 3 -> 10: 192 + 30 edges, each its own function on the 101-point grid
    assert len(functions) == 64 * 3 + 3 * 10
    assert {f["layer"] for f in functions} == {"layers.0.edges", "layers.1.edges"}
    assert all(len(f["x"]) == len(f["y"]) == 101 and f["epoch"] == 1 for f in functions)
    page = client.get(f"/api/v1/runs/{run_id}/functions",
                      params={"layer": "layers.1.edges", "limit": 5, "offset": 2}).json()
    assert [f["index"] for f in page] == [2, 3, 4, 5, 6]
    fits = client.get(f"/api/v1/runs/{run_id}/symbolic",
                      params={"layer": "layers.1.edges", "index": 7, "top": 2}).json()
    assert [(f["layer"], f["index"]) for f in fits] == [("layers.1.edges", 7)]
    best = fits[0]["fits"][0]
    assert len(fits[0]["fits"]) == 2 and best["r2"] >= fits[0]["fits"][1]["r2"]
    # a fit is a formula activation as it is
    spec = {"activation": {"name": "formula", "params": {"expression": best["expression"]}},
            "seeds": [0], "training": {"epochs": 1}}
    assert client.post("/api/v1/experiments", json=spec).status_code == 202


@pytest.mark.parametrize("edge,params", [("bspline", {"grid": 4, "order": 2}), ("pau", {})])
def test_functions_at_every_recorded_epoch(client: TestClient, edge: str,
                                           params: dict[str, Any]) -> None:
    """Any epoch's edge functions, evaluated from that epoch's parameter snapshot without
    torch, are the curves the worker sampled with torch at the last epoch; earlier epochs
    differ from it (the edges learned)."""
    created = client.post("/api/v1/experiments", json={
        "activation": {"name": edge}, "model": {"name": "kan", "params": {"widths": [2], **params}},
        "dataset": {"name": "symbolic", "params": {"formula": "product", "n": 200}},
        "seeds": [0], "training": {"epochs": 3, "lr": 0.02}})
    assert created.status_code == 202, created.text
    run_id = created.json()["runs"][0]["id"]
    execute_run(uuid.UUID(run_id))
    url = f"/api/v1/runs/{run_id}/functions"
    last = client.get(url, params={"limit": 4096}).json()
    evaluated = client.get(url, params={"epoch": 3, "limit": 4096}).json()
    # 2 -> 2 -> 1: 4 + 2 edges
    assert [(f["layer"], f["index"]) for f in evaluated] == [(f["layer"], f["index"])
                                                            for f in last] and len(last) == 6
    for torch_made, numpy_made in zip(last, evaluated, strict=True):
        assert numpy_made["epoch"] == 3
        assert numpy_made["x"] == pytest.approx(torch_made["x"], abs=1e-6)  # float32 grid
        assert numpy_made["y"] == pytest.approx(torch_made["y"], rel=1e-4, abs=1e-5)
    every = client.get(url, params=[("epoch", 1), ("epoch", 2), ("epoch", 3),
                                    ("layer", "layers.1.edges")]).json()
    assert [(f["epoch"], f["index"]) for f in every] == [(e, i) for e in (1, 2, 3)
                                                         for i in range(2)]
    assert every[0]["y"] != pytest.approx(every[4]["y"], rel=1e-3)
    assert client.get(url, params={"epoch": 9}).json() == []  # no such epoch: nothing
    assert client.get(url, params={"epoch": 0}).status_code == 422


def test_fits_recover_known_functions_and_evaluate_as_written() -> None:
    import torch

    import activations

    x = np.linspace(-5, 5, 101)
    for y, family in ((2 * np.sin(1.5 * x + 0.3) - 0.5, ("sin", "cos")),
                      (np.tanh(2 * x), ("tanh", "sigmoid")),
                      (0.3 * (x - 1) ** 2 + 2, ("square",))):
        best = fit(x.tolist(), y.tolist(), top=1)[0]
        assert best.r2 > 0.9999 and any(f"{name}(" in best.expression for name in family), best
        # the expression, read by the formula activation, is the function it fitted
        module = activations.create("formula", expression=best.expression)
        got = module(torch.tensor(x, dtype=torch.float32)).double().numpy()
        assert np.abs(got - y).max() < 1e-2 * (1 + np.abs(y).max()), best.expression
    assert math.isclose(fit([0, 1, 2], [1, 3, 5], top=1)[0].r2, 1.0)
