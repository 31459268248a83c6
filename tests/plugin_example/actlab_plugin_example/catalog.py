"""What the API validates specs against, without importing torch: the catalog entries of
this plugin, written by `actlab catalog --plugin actlab-plugin-example --write catalog.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def entries() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(__file__).parent / "catalog.json").read_text())
    return data
