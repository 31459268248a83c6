"""Every error leaves as JSON {"detail": ...}: 404, 409, 413, 415, 422, 503; never a stack
trace."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.domain.spec import SpecError, printable
from core.store.lifecycle import IllegalTransition

log = logging.getLogger("actlab.api")


class QuotaExceeded(Exception):
    """A key's quota is used up (api/quotas.py): HTTP 429 with Retry-After."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ErrorBody(BaseModel):
    """Every error: a sentence, or for 422 the list of problems by field."""

    detail: str | list[dict[str, Any]]


_MEANING = {
    400: "the body cannot be read: not UTF-8, or JSON nested too deeply",
    401: "no API key, or one that is unknown, malformed or revoked (auth on)",
    403: "the key's scope does not allow this, or the work belongs to another key",
    404: "no such experiment, run or sweep",
    409: "conflicts with the current state (finished runs, seeds already there, ...)",
    413: "the body is larger than this operation takes (at most ACTLAB_MAX_BODY_BYTES; 4 kB "
         "where it takes none)",
    415: "the body is not sent as JSON: 'Content-Type: application/json' expected",
    422: "invalid input; each problem names its field",
    429: "a quota or the rate limit of this key; Retry-After says when to try again",
    503: "the database is unavailable",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for these error codes (the document lists every code an operation
    can return)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _MEANING[code]}
        if code == 429:
            entry["headers"] = {"Retry-After": {"description": "seconds to wait",
                                                "schema": {"type": "integer"}}}
        if code == 401:
            entry["headers"] = {"WWW-Authenticate": {"description": "Bearer",
                                                     "schema": {"type": "string"}}}
        out[code] = entry
    return out


# Every /api/v1 operation; those with a body add WITH_BODY, those naming a row by id add 404.
EVERY = responses(401, 403, 422, 429, 503)
WITH_BODY = responses(400, 413, 415)
# Only a key can be refused, rate-limited or held to quotas: with auth off the OpenAPI
# document leaves these out (api/openapi.py).
AUTH_ONLY = frozenset({401, 403, 429})


def not_found(kind: str, ident: object) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{kind} {ident} not found")


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path") else \
        [str(p) for p in loc]
    return ".".join(parts) or "body"


def _clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        # A location or message may quote what the request sent (a key with a lone surrogate):
        # escaped, so that the refusal itself can be written as UTF-8.
        loc = [printable(p) if isinstance(p, str) else p for p in e.get("loc", ())]
        msg = printable(str(e.get("msg", "invalid value")))
        field = _field(loc)
        if e.get("type") == "json_invalid":
            msg = f"request body is not valid JSON: {e.get('ctx', {}).get('error', msg)}"
            field = "body"
        out.append({"loc": loc, "field": field, "msg": msg, "type": e.get("type", "")})
    return out


def validation_error(errors: list[dict[str, Any]], prefix: tuple[str, ...] = ("body",)) -> \
        RequestValidationError:
    return RequestValidationError([{**e, "loc": (*prefix, *e["loc"])} for e in errors])


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    return JSONResponse(status_code=422, content={"detail": _clean(errors)})


async def _on_model_error(request: Request, exc: ValidationError) -> JSONResponse:
    # A body checked again inside a route (a seed top-up against the stored spec).
    errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": _clean(errors)})


async def _on_spec_error(request: Request, exc: SpecError) -> JSONResponse:
    errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors]
    return JSONResponse(status_code=422, content={"detail": _clean(errors)})


async def _on_conflict(request: Request, exc: IllegalTransition) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc)})


async def _on_quota(request: Request, exc: QuotaExceeded) -> JSONResponse:
    return JSONResponse(status_code=429, content={"detail": str(exc)},
                        headers={"Retry-After": str(exc.retry_after)})


async def _on_database(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable for %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(status_code=503, content={"detail": "database unavailable; try again"})


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(status_code=500, content={"detail": "internal server error"})


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _documented_methods(app: Any, path: str) -> list[str]:
    """The methods the OpenAPI document lists for `path` (its templates matched)."""
    for template, item in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\{[^/}]+\}", "[^/]+", template), path):
            return sorted(m.upper() for m in item if m.upper() in HTTP_METHODS)
    return []


async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
    """405 names every method the path takes (Starlette names only the first route's); a
    path no route matches (after percent-decoding) is a 404 that says so, not a bare "Not
    Found"."""
    if exc.status_code == 404 and exc.detail == "Not Found":  # the router's, not a row's
        path = printable(str(request.scope.get("path", request.url.path)))[:300]
        return JSONResponse(status_code=404, content={
            "detail": f"no such path: {path} (the API is under /api/v1; /docs lists it)"})
    if exc.status_code == 405:
        methods = _documented_methods(request.app, request.url.path)
        if methods:
            return JSONResponse(status_code=405, content={"detail": exc.detail},
                                headers={"Allow": ", ".join(methods)})
    return await http_exception_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    handlers: dict[Any, Callable[[Request, Any], Awaitable[Response]]] = {
        StarletteHTTPException: _on_http,
        RequestValidationError: _on_validation,
        SpecError: _on_spec_error,
        ValidationError: _on_model_error,
        IllegalTransition: _on_conflict,
        QuotaExceeded: _on_quota,
        OperationalError: _on_database,
        InterfaceError: _on_database,
        Exception: _on_unexpected,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)
