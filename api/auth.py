"""Who is asking: the API key behind a request, its scope, its rate limit, and ownership.

With ACTLAB_AUTH off (the embedded default, bound to 127.0.0.1) every request is the anonymous
admin. With it on, every /api/v1 request needs `Authorization: Bearer <key>`: 401 without a
valid one, 403 for a write with a read key or on another key's work, 429 over the key's
request rate. The key itself never reaches a log, an error or a response.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update

from core.domain.settings import Settings
from core.domain.timeutil import utcnow
from core.store.db import session_scope
from core.store.keys import Scope, verify_key
from core.store.models import ApiKey

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_used_at is a convenience for `actlab keys list`, not worth a write per request.
LAST_USED_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID | None
    scope: Scope
    max_queued_runs: int | None = None
    max_runs_per_day: int | None = None
    requests_per_minute: int | None = None

    def may_change(self, owner_key_id: uuid.UUID | None) -> bool:
        return self.scope == Scope.admin or (self.key_id is not None
                                             and owner_key_id == self.key_id)


ANONYMOUS = Principal(key_id=None, scope=Scope.admin)

_bearer = HTTPBearer(auto_error=False, description="an API key from `actlab keys create`; "
                                                   "needed when the service runs with "
                                                   "ACTLAB_AUTH=true")


class RateLimiter:
    """A token bucket per key in this API process: `per_minute` requests a minute, bursts
    up to the same number. Several API processes each allow that rate
    (docs/how-to/security.md, "Quotas")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}

    def take(self, key_id: uuid.UUID, per_minute: int) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        now = time.monotonic()
        rate = per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate


_limiter = RateLimiter()


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _principal_of(row: ApiKey) -> Principal:
    return Principal(key_id=row.id, scope=Scope(row.scope), max_queued_runs=row.max_queued_runs,
                     max_runs_per_day=row.max_runs_per_day,
                     requests_per_minute=row.requests_per_minute)


def check_key(key: str | None, settings: Settings) -> Principal:
    """The principal of an API key (auth on); 401 without a valid one. Blocking: one short
    transaction of its own."""
    if key is None:
        raise unauthorized("this service needs an API key: send 'Authorization: Bearer <key>' "
                           "(an administrator creates one with `actlab keys create`)")
    with session_scope() as session:
        row = verify_key(session, key, settings.resolved_secret())
        if row is None:
            raise unauthorized("the API key is not valid: unknown, malformed or revoked")
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
            session.execute(update(ApiKey).where(ApiKey.id == row.id)
                            .values(last_used_at=now))
        return _principal_of(row)


def admit(principal: Principal, method: str, settings: Settings) -> None:
    """429 over the key's request rate, 403 for a write with a read key."""
    if principal.key_id is not None:
        per_minute = principal.requests_per_minute or settings.quota_requests_per_minute
        wait = _limiter.take(principal.key_id, per_minute)
        if wait > 0:
            raise HTTPException(429, f"rate limit: {per_minute} requests a minute for this "
                                     f"key; retry in {math.ceil(wait)} s",
                                headers={"Retry-After": str(math.ceil(wait))})
    if method not in READ_METHODS and not principal.scope.allows(Scope.write):
        raise HTTPException(403, f"this key's scope is {principal.scope.value}; "
                                 f"{method} needs a write or admin key")


async def authenticate(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The principal of this request, as api/middleware.py::Authenticate found it before
    the body was read (401/403/429 are answered there). `_scheme` is unused: the bearer
    dependency declares the scheme in the OpenAPI document (removed when auth is off:
    api/openapi.py)."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # an app built without the middleware
        raise RuntimeError("api.middleware.Authenticate is not installed")
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require_owner(principal: Principal, kind: str, ident: object,
                  owner_key_id: uuid.UUID | None) -> None:
    """403 unless `principal` created the thing or is an admin."""
    if not principal.may_change(owner_key_id):
        raise HTTPException(403, f"{kind} {ident} belongs to another key; only its owner or "
                                 "an admin key may change it")
