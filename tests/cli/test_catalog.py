"""core/catalog.json (what the API validates against) matches the code that trains."""

from __future__ import annotations

from cli.catalog import render_catalog
from core.catalog import CATALOG_FILE


def test_catalog_file_is_current() -> None:
    assert CATALOG_FILE.read_text() == render_catalog(), \
        "core/catalog.json is stale: run `actlab catalog --write`"


def test_catalog_learnable_names_are_the_recorded_names() -> None:
    """What the catalog lists as learnable is what the parameter rows are labelled with
    (PReLU's `init` sets `b`; APL and SLAF record a1, b1, ... and c0, c1, ...)."""
    import torch

    from activations import activation_parameters
    from core.catalog import load_catalog
    from worker.training.models import ActFactory, build_model

    for entry in load_catalog()["activations"]:
        model = build_model("mlp", {"depth": 1, "hidden": 8}, (2,), 3, ActFactory(entry["name"]))
        model(torch.randn(4, 2))
        recorded = []
        for p in activation_parameters(model):
            if p.name not in recorded:
                recorded.append(p.name)
        assert recorded == entry["learnable_params"], entry["name"]
        declared = [p["name"] for p in entry["params"] if p["learnable"]]
        assert set(declared) <= set(entry["learnable_params"]), entry["name"]
