"""The catalogs of activations, models and datasets, read from core/catalog.json.

The file is generated from the activation library and the model/dataset zoo
(`actlab catalog --write`), so this process never needs torch to validate a spec.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from core.params import ParamInfo

CATALOG_FILE = Path(__file__).resolve().parent / "catalog.json"


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(CATALOG_FILE.read_text())
    return data


@cache
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


@cache
def param_infos(kind: str, name: str) -> tuple[ParamInfo, ...]:
    """The parameter schema of entry `name` (or an alias) of `kind`."""
    return tuple(ParamInfo.from_dict(p) for p in entries(kind)[name]["params"])


@lru_cache(maxsize=1)
def nestable_activations() -> dict[str, str]:
    """Names and aliases an `activation` parameter may take -> canonical names (the
    activations that keep the channel count), as activations.nestable() answers."""
    return {key: entry["name"] for key, entry in entries("activations").items()
            if entry["channel_multiplier"] == 1}


def clear_caches() -> None:
    """Forget what was read from the file (after it was rewritten)."""
    for cached in (load_catalog, entries, param_infos, nestable_activations):
        cached.cache_clear()
