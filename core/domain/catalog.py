"""The catalogs of activations, models and datasets, read from core/catalog.json.

The file is generated from the activation library and the model/dataset zoo
(`actlab catalog --write`), so this process never needs torch to validate a spec.
"""

from __future__ import annotations

import json
import logging
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from core.domain import plugins
from core.domain.params import ParamInfo

log = logging.getLogger("actlab.catalog")

CATALOG_FILE = Path(__file__).resolve().parent.parent / "catalog.json"  # core/catalog.json


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, list[dict[str, Any]]]:
    """The built-in catalog plus the fragments of installed plugins (core.domain.plugins), each
    plugin entry marked with its distribution under `plugin`."""
    data: dict[str, list[dict[str, Any]]] = json.loads(CATALOG_FILE.read_text())
    for dist, fragment in plugins.catalog_fragments():
        for kind, items in fragment.items():
            if kind not in data:
                log.warning("plugin %s: unknown catalog section %r ignored", dist, kind)
                continue
            taken = {n for e in data[kind] for n in (e["name"], *e.get("aliases", []))}
            for entry in items:
                names = {entry["name"], *entry.get("aliases", [])}
                if names & taken:
                    log.warning("plugin %s: %s %s already exists; ignored", dist, kind,
                                sorted(names & taken))
                    continue
                data[kind].append({**entry, "plugin": dist})
                taken |= names
    for entry in data.get("activations", []):
        entry["exact_zeros"] = _exact_zeros(entry)
    return data


def _exact_zeros(entry: dict[str, Any]) -> bool:
    """Whether the activation outputs exactly 0 somewhere other than at 0 (ReLU, ReLU²,
    hardswish: an exact-zero sparsity means something) or never does (GELU, SiLU, tanh:
    its exact-zero sparsity is 0 by construction), read off its curve at its default
    parameters on [-4, 4]."""
    curve = entry.get("curve") or {}
    return any(y == 0 and x != 0 for x, y in zip(curve.get("xs", []), curve.get("ys", []),
                                                 strict=False))


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
