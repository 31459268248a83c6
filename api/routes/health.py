"""/health: is the database reachable, is the broker reachable."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from api.deps import SessionDep, SettingsDep
from core import API_VERSION, __version__
from core.store.queue import broker_reachable

router = APIRouter(tags=["health"])

State = Literal["ok", "unavailable"]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: State
    broker: State
    mode: Literal["embedded", "production"]
    api_version: int = Field(API_VERSION, description="the HTTP API's version (/api/v1)")
    version: str = Field(__version__, description="actlab's release")


@router.get("/health", response_model=Health,
            responses={503: {"model": Health, "description": "database or broker unavailable"}})
def health(session: SessionDep, settings: SettingsDep, response: Response) -> Health:
    try:
        session.execute(text("SELECT 1"))
        database: State = "ok"
    except Exception:
        database = "unavailable"
    broker: State = "ok" if broker_reachable(settings) else "unavailable"
    ok = database == "ok" and broker == "ok"
    response.status_code = 200 if ok else 503
    return Health(status="ok" if ok else "degraded", database=database, broker=broker,
                  mode="embedded" if settings.embedded else "production")
