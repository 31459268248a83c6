"""/health: is the database reachable, is the broker reachable."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import SessionDep, SettingsDep
from core.queue import broker_reachable

router = APIRouter(tags=["health"])


@router.get("/health")
def health(session: SessionDep, settings: SettingsDep) -> JSONResponse:
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "unavailable"
    broker = "ok" if broker_reachable(settings) else "unavailable"
    ok = database == "ok" and broker == "ok"
    body = {"status": "ok" if ok else "degraded", "database": database, "broker": broker,
            "mode": "embedded" if settings.embedded else "production"}
    return JSONResponse(status_code=200 if ok else 503, content=body)
