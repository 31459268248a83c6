"""Plugin packages: installed distributions that add activations, models or datasets through
entry points, with no fork of actlab.

    [project.entry-points."actlab.activations"]   # imported by the activation library
    mine = "my_package.activations"              # a module that calls register(...)
    [project.entry-points."actlab.catalog"]       # read by the API, which never imports torch
    mine = "my_package.catalog:entries"          # () -> {"activations": [...], ...}

The groups `actlab.models` and `actlab.datasets` work like `actlab.activations`. A plugin's
catalog fragment is written by `actlab catalog --plugin DIST`. Standard library only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from typing import Any

log = logging.getLogger("actlab.plugins")

GROUPS = {"activations": "actlab.activations", "models": "actlab.models",
          "datasets": "actlab.datasets"}
CATALOG_GROUP = "actlab.catalog"

_loading: list[str] = []  # the distribution whose entry point is being loaded


def current() -> str | None:
    """The plugin distribution registering components right now (None: actlab itself)."""
    return _loading[-1] if _loading else None


def _dist(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else ep.name


@contextmanager
def _as(dist: str) -> Iterator[None]:
    _loading.append(dist)
    try:
        yield
    finally:
        _loading.pop()


def load(kind: str) -> list[str]:
    """Import every installed plugin of `kind` ("activations", "models", "datasets"); their
    modules register on import (or the entry point is a function that does). A plugin that
    fails to load is logged and skipped: the runs that need it fail naming what is missing.
    Returns the distributions loaded."""
    loaded = []
    for ep in entry_points(group=GROUPS[kind]):
        dist = _dist(ep)
        try:
            with _as(dist):
                target = ep.load()
                if callable(target):
                    target()
        except Exception:
            log.warning("plugin %s (%s = %s) failed to load", dist, ep.name, ep.value,
                        exc_info=True)
            continue
        loaded.append(dist)
    return loaded


def catalog_fragments() -> list[tuple[str, dict[str, list[dict[str, Any]]]]]:
    """(distribution, its catalog entries) for every installed plugin, read without torch."""
    out = []
    for ep in entry_points(group=CATALOG_GROUP):
        dist = _dist(ep)
        try:
            target = ep.load()
            fragment = target() if callable(target) else target
            if not isinstance(fragment, dict):
                raise TypeError(f"expected a dict of catalog entries, got {type(fragment)}")
        except Exception:
            log.warning("plugin catalog %s (%s) failed to load", dist, ep.value, exc_info=True)
            continue
        out.append((dist, fragment))
    return out
