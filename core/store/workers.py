"""The workers that train runs, as the database knows them: each worker process registers
the devices it serves (resources.device) and refreshes its row while it lives, so the API can
say why a queued run waits ("waiting for a cuda worker") and a worker handed a notice for a
run it cannot serve knows whether another can."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.domain.timeutil import utcnow
from core.store.models import Worker

DEVICES = ("cuda", "cpu")


def serves(devices: list[str], needed: str) -> bool:
    return needed == "any" or needed in devices


def seen(session: Session, name: str, devices: list[str]) -> None:
    """Register worker `name` (serving `devices`), or refresh its row."""
    now = utcnow()
    if session.execute(update(Worker).where(Worker.name == name)
                       .values(seen_at=now, devices=devices)).rowcount == 0:  # type: ignore[attr-defined]
        session.add(Worker(name=name, devices=devices, started_at=now, seen_at=now))


def gone(session: Session, name: str) -> None:
    session.execute(delete(Worker).where(Worker.name == name))


def live_devices(session: Session, stale_after: float) -> set[str]:
    """The devices served by the workers seen within `stale_after` seconds."""
    since = utcnow() - timedelta(seconds=stale_after)
    return {d for (devices,) in session.execute(select(Worker.devices)
                                                .where(Worker.seen_at >= since))
            for d in devices}


def waiting_for(needed: str, live: set[str]) -> str | None:
    """Why a queued run needing `needed` waits, when no live worker serves it."""
    if not live:
        return "a worker" if needed == "any" else f"a {needed} worker"
    return None if serves(sorted(live), needed) else f"a {needed} worker"
