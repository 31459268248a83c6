"""core/catalog.json (what the API validates against) matches the code that trains."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli.catalog import render_catalog
from core.domain.catalog import CATALOG_FILE

# The sample curves are rounded to 1e-5 from float32 math, whose last bit differs between
# CPUs (vectorised erf, exp): a value near a rounding boundary moves by one last digit.
CURVE_DIGIT = 1.5e-5


def _same(stored: Any, built: Any, where: str = "") -> None:
    if isinstance(built, dict):
        assert isinstance(stored, dict) and stored.keys() == built.keys(), where
        for key in built:
            _same(stored[key], built[key], f"{where}.{key}")
    elif isinstance(built, list):
        assert isinstance(stored, list) and len(stored) == len(built), where
        for i, (a, b) in enumerate(zip(stored, built, strict=True)):
            _same(a, b, f"{where}[{i}]")
    elif isinstance(built, float):
        assert stored == pytest.approx(built, abs=CURVE_DIGIT), where
    else:
        assert stored == built, where


def test_catalog_file_is_current() -> None:
    """Everything equal, but the last digit of a curve sample."""
    stored, built = json.loads(CATALOG_FILE.read_text()), json.loads(render_catalog())
    try:
        _same(stored, built)
    except AssertionError as exc:
        raise AssertionError(f"core/catalog.json is stale at {exc}: run "
                             "`actlab catalog --write`") from None


def test_catalog_learnable_names_are_the_recorded_names() -> None:
    """What the catalog lists as learnable is what the parameter rows are labelled with
    (PReLU's `init` sets `b`; APL and SLAF record a1, b1, ... and c0, c1, ...)."""
    import torch

    from activations import activation_parameters
    from core.domain.catalog import load_catalog
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
