"""The sweeper: a loop that re-sends notices for lost messages and recovers runs of dead
workers. Every step is a conditional UPDATE, so several sweepers may run at once."""

from __future__ import annotations

import logging
import threading

from core.domain.settings import Settings, get_settings
from core.store import race, tuned
from core.store.db import session_scope
from core.store.lifecycle import SweepOutcome, searches_to_step, sweep
from core.store.queue import send_run_notices, send_search_notices

log = logging.getLogger("actlab.sweeper")


def sweep_once(settings: Settings | None = None) -> SweepOutcome:
    settings = settings or get_settings()
    with session_scope() as session:
        outcome = sweep(session, stale_after=settings.stale_after_seconds,
                        requeue_after=settings.requeue_after_seconds,
                        max_attempts=settings.max_attempts)
        # Recovery only (the runner steps a search as its runs end): as patient as the
        # re-sending of a queued run's lost notice.
        searches = searches_to_step(session, settings.requeue_after_seconds)
        # a race whose round ended while no worker was there to start the next (a restart)
        raced = [run_id for sweep_id in race.active_races(session)
                 for run_id in race.advance(session, sweep_id, settings)]
        # a tuning whose last trial ended while no worker was there to choose (a restart)
        raced += [run_id for sweep_id in tuned.active(session)
                  for run_id in tuned.advance(session, sweep_id, settings)]
    if raced:
        send_run_notices(raced, settings)
    if outcome.resend:
        send_run_notices(outcome.resend, settings)
    if searches:
        send_search_notices(searches, settings)
    for label, ids in (("re-queued", outcome.requeued), ("failed", outcome.failed),
                       ("cancelled", outcome.cancelled)):
        if ids:
            log.warning("sweeper %s %d stale run(s): %s", label, len(ids), ids)
    for change in outcome.changes:
        log.warning("%s", change)
    return outcome


def run_sweeper(stop: threading.Event, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    while not stop.wait(settings.sweeper_interval_seconds):
        try:
            sweep_once(settings)
        except Exception:  # the database or broker may be briefly away: try next round
            log.exception("sweep failed; retrying in %.0f s", settings.sweeper_interval_seconds)


def start_sweeper_thread(settings: Settings | None = None) -> tuple[threading.Thread,
                                                                    threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_sweeper, args=(stop, settings), name="actlab-sweeper",
                              daemon=True)
    thread.start()
    return thread, stop
