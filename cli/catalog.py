"""Export the activation, model and dataset catalogs to core/catalog.json (or, for a plugin
package, the fragment of its own entries: `actlab catalog --plugin DIST`).

The API validates specs and serves the catalog from that file so it never imports torch;
tests/cli/test_catalog.py fails when the file is out of date with the code.
Regenerate with `actlab catalog --write`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import activations
from activations import native
from core.domain.catalog import CATALOG_FILE
from worker.training.datasets import dataset_catalog
from worker.training.models import ActFactory, build_model, model_catalog
from worker.training.placement import slots

CATALOG_PATH = CATALOG_FILE  # the file the API reads (core/catalog.json)


# A representative input per kind: slot names do not depend on the input's size.
_SAMPLE_SHAPES = {"image": (3, 32, 32), "sequence": (1, 40), "vector": (64,), "tokens": (8,)}


def _with_slots(model: dict[str, Any]) -> dict[str, Any]:
    """The model's activation slots at its default params (names and the layer each
    follows), which the API checks a spec's placement against."""
    shape = _SAMPLE_SHAPES[model["input_kinds"][0]]
    # a model built only with some activations (a KAN's edges) with the first of them
    built = build_model(model["name"], {}, shape, 10,
                        ActFactory(model.get("activations", ["relu"])[0]))
    return {**model, "slots": slots(built)}


def build_catalog(plugin: str | None = None) -> dict[str, Any]:
    """actlab's own catalog, or (`plugin`: a distribution name) the fragment of the entries
    that plugin registers, which it ships for the API (core.domain.plugins)."""
    # The curves come from each activation's plain PyTorch formula, so the file does not
    # depend on whether this machine built the fused kernels (they round differently).
    with native.disabled():
        curves = activations.catalog(plugin)
    return {"activations": curves,
            "models": [_with_slots(m) for m in model_catalog(plugin)],
            "datasets": dataset_catalog(plugin)}


def render_catalog(plugin: str | None = None) -> str:
    return json.dumps(build_catalog(plugin), indent=1, sort_keys=True) + "\n"


def write_catalog(path: Path = CATALOG_PATH) -> Path:
    path.write_text(render_catalog())
    return path
