"""API keys: created, listed and revoked by `actlab keys`, checked by the API on every request.

A key reads `actlab_<id>_<secret>`: the id (32 hex digits) finds its row, the secret (43
url-safe characters, 256 random bits) proves it. Only HMAC-SHA256(server secret, secret) is
stored, so a copy of the database alone cannot be turned into working keys, and a random
256-bit secret needs no slow KDF against guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.domain.timeutil import utcnow
from core.store.models import ApiKey

KEY_PATTERN = re.compile(r"actlab_([0-9a-f]{32})_([A-Za-z0-9_-]{43})")


class Scope(StrEnum):
    """What a key may do: read (GET), write (also create, cancel, retry, delete its own
    work), admin (also change anyone's work)."""

    read = "read"
    write = "write"
    admin = "admin"

    def allows(self, needed: Scope) -> bool:
        order = list(Scope)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Quotas:
    """Per-key overrides; None keeps the deployment's default."""

    max_queued_runs: int | None = None
    max_runs_per_day: int | None = None
    requests_per_minute: int | None = None


def _digest(secret: str, server_secret: bytes) -> str:
    return hmac.new(server_secret, secret.encode(), hashlib.sha256).hexdigest()


def create_key(session: Session, name: str, scope: Scope, server_secret: bytes,
               quotas: Quotas = Quotas()) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plain text, which is never stored or shown
    again. The caller commits."""
    secret = secrets.token_urlsafe(32)
    row = ApiKey(id=uuid.uuid4(), name=name, scope=scope.value,
                 secret_hash=_digest(secret, server_secret), created_at=utcnow(),
                 max_queued_runs=quotas.max_queued_runs,
                 max_runs_per_day=quotas.max_runs_per_day,
                 requests_per_minute=quotas.requests_per_minute)
    session.add(row)
    session.flush()
    return row, f"actlab_{row.id.hex}_{secret}"


def verify_key(session: Session, key: str, server_secret: bytes) -> ApiKey | None:
    """The live key row `key` names, or None (malformed, unknown, wrong secret, revoked)."""
    match = KEY_PATTERN.fullmatch(key)
    if match is None:
        return None
    row = session.get(ApiKey, uuid.UUID(match.group(1)))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _digest(match.group(2), server_secret)):
        return None
    return row


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def find_key(session: Session, prefix: str) -> ApiKey:
    """The key whose id (32 hex digits, dashes allowed) starts with `prefix`; LookupError
    when none or several do."""
    wanted = prefix.replace("-", "").lower()
    matches = [k for k in list_keys(session) if k.id.hex.startswith(wanted)]
    if len(matches) != 1:
        raise LookupError(f"{'no' if not matches else len(matches)} key ids start with "
                          f"{prefix!r}")
    return matches[0]


def revoke_key(session: Session, key_id: uuid.UUID) -> bool:
    """Revoke at once (the next request with it is a 401). False when already revoked."""
    result = session.execute(update(ApiKey).where(ApiKey.id == key_id,
                                                  ApiKey.revoked_at.is_(None))
                             .values(revoked_at=utcnow()))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
