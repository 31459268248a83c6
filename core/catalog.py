"""The catalogs of activations, models and datasets, read from core/catalog.json.

The file is generated from the activation library and the model/dataset zoo
(`actlab catalog --write`), so this process never needs torch to validate a spec.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOG_FILE = Path(__file__).resolve().parent / "catalog.json"


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(CATALOG_FILE.read_text())
    return data


def entries(kind: str) -> dict[str, dict[str, Any]]:
    """name -> entry; activation aliases map to their entry too."""
    out: dict[str, dict[str, Any]] = {}
    for entry in load_catalog()[kind]:
        out[entry["name"]] = entry
        for alias in entry.get("aliases", []):
            out[alias] = entry
    return out


def canonical_names(kind: str) -> list[str]:
    return sorted(e["name"] for e in load_catalog()[kind])
