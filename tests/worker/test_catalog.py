"""core/catalog.json (what the API validates against) matches the code that trains."""

from __future__ import annotations

from core.catalog import CATALOG_FILE
from worker.catalog import render_catalog


def test_catalog_file_is_current() -> None:
    assert CATALOG_FILE.read_text() == render_catalog(), \
        "core/catalog.json is stale: run `actlab catalog --write`"
