"""The OpenAPI document, finished when it is first asked for: the catalog names a query
parameter accepts become enums (the catalog, plugins included, is known by then), and with
auth off it says so (no security scheme, no 401, 403 or 429)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import AUTH_ONLY
from core.domain import catalog
from core.domain.settings import get_settings

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
            if not get_settings().auth:
                _without_auth(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def _without_auth(document: dict[str, Any]) -> None:
    """The document of a service running with auth off: no security scheme, and no
    answers that only a key can get (401, 403, 429)."""
    document.get("components", {}).pop("securitySchemes", None)
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            operation.pop("security", None)
            for code in AUTH_ONLY:
                operation.get("responses", {}).pop(str(code), None)
