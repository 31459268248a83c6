"""The audit log: every write request to /api/v1 (POST, PUT, PATCH, DELETE), refused ones
included, as one row with the key's id (never the key), the method, the path and the status
code. Written after the response, so it never delays or changes an answer; a database that is
down loses the entry and logs a warning instead."""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import READ_METHODS
from core.store.db import session_scope
from core.store.models import AuditEntry

log = logging.getLogger("actlab.audit")


def _record(key_id: Any, method: str, path: str, status: int) -> None:
    try:
        with session_scope() as session:
            session.add(AuditEntry(key_id=key_id, method=method, path=path[:400],
                                   status_code=status))
    except Exception as exc:  # the answer has gone out; the entry is all that is lost
        log.warning("audit entry not written (%s %s -> %d): %s", method, path, status, exc)


class AuditLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_METHODS \
                or not scope["path"].startswith("/api/v1/"):
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            principal = scope.get("state", {}).get("principal")
            key_id = getattr(principal, "key_id", None)
            await run_in_threadpool(_record, key_id, scope["method"], scope["path"], status)
            log.info("write %s %s -> %d by key %s", scope["method"], scope["path"], status,
                     key_id or "-")
