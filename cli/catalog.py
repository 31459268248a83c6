"""Export the activation, model and dataset catalogs to core/catalog.json.

The API validates specs and serves the catalog from that file so it never imports torch;
tests/cli/test_catalog.py fails when the file is out of date with the code.
Regenerate with `actlab catalog --write`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import activations
from core.catalog import CATALOG_FILE
from worker.training.datasets import dataset_catalog
from worker.training.models import model_catalog

CATALOG_PATH = CATALOG_FILE  # the file the API reads (core/catalog.json)


def build_catalog() -> dict[str, Any]:
    return {"activations": activations.catalog(), "models": model_catalog(),
            "datasets": dataset_catalog()}


def render_catalog() -> str:
    return json.dumps(build_catalog(), indent=1, sort_keys=True) + "\n"


def write_catalog(path: Path = CATALOG_PATH) -> Path:
    path.write_text(render_catalog())
    return path
