"""A claimed run's heartbeat: a background thread that keeps each member's claim alive and
notices, per member, a cancel request or a claim taken over, which training reads between
steps."""

from __future__ import annotations

import logging
import threading
import uuid

from core.store.db import session_scope
from core.store.lifecycle import touch

log = logging.getLogger("actlab.runner")


class Heartbeat:
    """Background thread: keeps each member's claim alive and notices, per member, a cancel
    request or a claim taken over, between steps."""

    def __init__(self, claims: dict[uuid.UUID, str], interval: float) -> None:
        self.claims, self.interval = dict(claims), interval
        self._claims_lock = threading.Lock()
        self.cancelled: set[uuid.UUID] = set()
        self.lost: set[uuid.UUID] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="actlab-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._claims_lock:
                live = {r: t for r, t in self.claims.items() if r not in self.lost}
            try:
                with session_scope() as session:
                    beats = {r: touch(session, r, t) for r, t in live.items()}
            except Exception:  # a missed beat is fine; the sweeper tolerates several
                log.warning("heartbeat for run(s) %s failed", ", ".join(map(str, live)),
                            exc_info=True)
                continue
            for run_id, (ours, cancel) in beats.items():
                self.mark(run_id, ours, cancel)

    def mark(self, run_id: uuid.UUID, ours: bool, cancel: bool) -> None:
        if not ours:
            self.lost.add(run_id)
        if cancel:
            self.cancelled.add(run_id)

    def release(self, run_id: uuid.UUID) -> None:
        """Stop beating for a run that has ended."""
        with self._claims_lock:
            self.claims.pop(run_id, None)

    def should_stop(self, run_id: uuid.UUID) -> bool:
        return run_id in self.cancelled or run_id in self.lost
