"""What every request passes before a route sees it, outermost first: `Admission` (how many
are inside at once), the audit log (api/audit.py), `Authenticate` (who is asking: 401, 403 and
429 before anything about the body is answered) and `BodyGate` (the body's size, content type
and JSON, each refusal naming its cause)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import ANONYMOUS, admit, check_key
from core.domain.settings import get_settings
from core.domain.spec import printable

API = "/api/v1"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Admission:
    """At most `limit` requests inside the app at once; the rest wait in the event loop.
    Sync routes and their dependencies run on a thread pool and hold a pooled database
    connection from the first query to the session's close, across several thread-pool hops:
    with more requests inside than connections, every thread can end up waiting for a
    connection held by a request that is waiting for a thread (a deadlock until the pool's
    timeout). Admitting fewer requests than there are connections rules that out."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # An event stream lasts minutes and holds no connection between its reads: it must
        # not hold a slot either.
        if scope["type"] != "http" or scope["path"].endswith("/events"):
            await self.app(scope, receive, send)
            return
        async with self.slots:
            await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    value = next((v for k, v in scope.get("headers", []) if k == name), None)
    return None if value is None else value.decode("latin-1")


async def _reject(send: Send, status: int, detail: Any,
                  headers: Mapping[str, str] | None = None) -> None:
    response = JSONResponse(status_code=status, content={"detail": detail}, headers=headers)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


class Authenticate:
    """The principal of every /api/v1 request, found before its body is read: without a
    valid key nothing else about the request is answered (not even that its JSON is
    malformed), and the audit log has the key of every write that presented one. Routes read
    it through `api.auth.authenticate`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (scope["path"] == API
                                           or scope["path"].startswith(API + "/")):
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        try:
            principal = ANONYMOUS
            if settings.auth:
                principal = await run_in_threadpool(check_key, _bearer(scope), settings)
            admit(principal, scope["method"], settings)
        except HTTPException as exc:
            await _reject(send, exc.status_code, exc.detail, exc.headers)
            return
        except (OperationalError, InterfaceError):
            await _reject(send, 503, "database unavailable; try again")
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    """The key of `Authorization: Bearer <key>` (the scheme in any case), else None."""
    scheme, _, key = (_header(scope, b"authorization") or "").strip().partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


# Bodies the routes take, and how large each may be (never above ACTLAB_MAX_BODY_BYTES): a
# spec with 10,000 seeds is about 120 kB; a search's 500 candidates of 500 characters 250 kB;
# a sweep of 500 activations with params and grid lists of thousands of values stays under
# 512 kB (reading a 1 MB one held the process for 100 ms). Every other write takes no body.
ROUTE_BODIES: list[tuple[str, re.Pattern[str], int]] = [
    ("POST", re.compile(rf"^{API}/experiments$"), 256 * 1024),
    ("POST", re.compile(rf"^{API}/experiments/[^/]+/seeds$"), 256 * 1024),
    ("POST", re.compile(rf"^{API}/sweeps$"), 512 * 1024),
    ("POST", re.compile(rf"^{API}/searches$"), 512 * 1024),
]
NO_BODY_BYTES = 4096
# Python refuses to convert integers of more than 4,300 digits (its message names the count).
LONG_INTEGER = re.compile(r"value has (\d+) digits")
JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")


def body_cap(method: str, path: str, default: int) -> tuple[int, bool]:
    """How many bytes a request's body may have, and whether the route takes a JSON body."""
    for m, pattern, cap in ROUTE_BODIES:
        if m == method and pattern.match(path):
            return min(cap, default), True
    return min(NO_BODY_BYTES, default), False


class BodyProblem(ValueError):
    """A JSON body that parses but that no route should see: its status and detail."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail


class BodyGate:
    """Reads a write's body before the app does and refuses, naming the cause:
    413 above the route's size (announced by Content-Length or streamed in chunks), 415 for
    a body that is not sent as JSON, 400 for JSON that is not UTF-8 or nests deeper than a
    parser follows, 422 for a key repeated in one object (which would silently pick the
    last) and for an integer too long to convert (5,000 digits; 1e999 reads as infinite,
    which the spec's check of every number names). Malformed JSON is left to the route's own
    422, which gives the position. The body is then handed on."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        cap, json_body = body_cap(scope["method"], scope["path"], self.max_bytes)
        too_large = f"request body larger than {cap} bytes, the most " \
                    f"{scope['method']} {scope['path']} takes"
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > cap:
            await _reject(send, 413, too_large)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > cap:
                await _reject(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and json_body:
            try:
                _check_json(_header(scope, b"content-type"), body)
            except BodyProblem as problem:
                await _reject(send, problem.status, problem.detail)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _check_json(content_type: str | None, body: bytes) -> None:
    media = (content_type or "").split(";")[0].strip().lower()
    if not JSON_TYPE.match(media):
        got = f"got {media!r}" if media else "no Content-Type was sent"
        raise BodyProblem(415, f"the request body must be JSON, sent with 'Content-Type: "
                               f"application/json' ({got})")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyProblem(400, f"request body is not valid UTF-8: byte "
                               f"0x{body[exc.start]:02x} at offset {exc.start}") from None
    try:
        # numbers by the parser's own C path: a hook per number costs more than the check
        json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise BodyProblem(400, "request body nests JSON arrays or objects too deeply to read "
                               "(a spec needs fewer than 10 levels)") from None
    except BodyProblem:
        raise
    except ValueError as exc:
        digits = LONG_INTEGER.search(str(exc))
        if digits:  # Python's own limit on converting long integers
            raise _invalid("number_too_large", f"a number of {digits[1]} digits; no field "
                                               "takes a number that long") from None
        return  # malformed: the route's 422 says where


def _invalid(kind: str, msg: str) -> BodyProblem:
    return BodyProblem(422, [{"loc": ["body"], "field": "body", "msg": msg, "type": kind}])


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _invalid("duplicate_key", f"key {printable(key)[:100]!r} appears twice in "
                                            "one JSON object; give each key once")
        seen.add(key)
    return dict(pairs)
