"""/api/v1/catalog: what can be named in a spec, with formulas, parameters and defaults."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from core.catalog import load_catalog

router = APIRouter(prefix="/catalog", tags=["catalog"])


@router.get("/activations")
def activations() -> list[dict[str, Any]]:
    return load_catalog()["activations"]


@router.get("/models")
def models() -> list[dict[str, Any]]:
    return load_catalog()["models"]


@router.get("/datasets")
def datasets() -> list[dict[str, Any]]:
    return load_catalog()["datasets"]
