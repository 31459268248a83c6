"""The OpenAPI document, finished when it is first asked for: the catalog names a query
parameter accepts become enums (the catalog, plugins included, is known by then)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from core import catalog

# query parameter -> the catalog whose names (aliases included) it takes
CATALOG_QUERIES = {"model": "models", "dataset": "datasets", "baseline": "activations"}
NAMED_BY_CATALOG = ("/api/v1/leaderboard", "/api/v1/leaderboard/lr")


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version,
                                   description=app.description, routes=app.routes)
            for path in NAMED_BY_CATALOG:
                for operation in document["paths"].get(path, {}).values():
                    for param in operation.get("parameters", []):
                        kind = CATALOG_QUERIES.get(param["name"])
                        if kind is None or param["in"] != "query":
                            continue
                        names = sorted(catalog.entries(kind))
                        schema = param["schema"]
                        target = next((s for s in schema.get("anyOf", [])
                                       if s.get("type") == "string"), schema)
                        target["enum"] = names
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
