"""The FastAPI application: routers, middleware, error handlers and the lifespan (sweeper).

Serve with `uvicorn --factory api.main:create_app` (what `actlab api` runs)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi_offline import FastAPIOffline

from api.audit import AuditLog
from api.auth import authenticate
from api.deps import reject_unknown_query
from api.errors import EVERY, install_error_handlers
from api.middleware import Admission, Authenticate, BodyGate
from api.openapi import install_openapi
from api.routes import (
    catalog,
    dashboards,
    experiments,
    health,
    leaderboard,
    runs,
    searches,
    sweeps,
)
from api.routes.ui import install_ui
from core import __version__
from core.domain.settings import get_settings
from core.store.sweeper import start_sweeper_thread

log = logging.getLogger("actlab.api")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    stop = None
    if settings.sweeper:
        # Conditional UPDATEs make several sweepers (several API processes) safe.
        _, stop = start_sweeper_thread(settings)
    try:
        yield
    finally:
        if stop is not None:
            stop.set()


def _log_to_stderr() -> None:
    """actlab's own lines (run state changes, writes by key id) at INFO beside uvicorn's."""
    ours = logging.getLogger("actlab")
    if not ours.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                               "%(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)
        ours.propagate = False


def create_app() -> FastAPI:
    settings = get_settings()
    _log_to_stderr()
    if settings.auth:
        settings.resolved_secret()  # no secret, no start: better now than at the first request
    # /docs and /redoc with Swagger UI and ReDoc served from the package: no CDN, so they
    # render on a machine without internet.
    app = FastAPIOffline(title="actlab", version=__version__, lifespan=lifespan,
                         description="Training-experiment service for activation-function "
                                     "research")
    # Who is asking comes first: without a key, nothing else about the request is answered.
    v1 = APIRouter(prefix="/api/v1", responses=EVERY,
                   dependencies=[Depends(authenticate), Depends(reject_unknown_query)])
    for module in (experiments, dashboards, runs, sweeps, searches, leaderboard, catalog):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(health.router)
    install_ui(app)
    install_openapi(app)
    install_error_handlers(app)
    # Added innermost first: Admission, then the audit log, then the key, then the body.
    app.add_middleware(BodyGate, max_bytes=settings.max_body_bytes)
    app.add_middleware(Authenticate)
    app.add_middleware(AuditLog)
    app.add_middleware(Admission, limit=settings.api_concurrency)
    return app

