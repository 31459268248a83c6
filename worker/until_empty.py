"""`actlab worker --until-empty` (ACTLAB_UNTIL_EMPTY): the worker exits once nothing it can
serve is queued and it trains nothing, as a SLURM job that should give its GPU back when
the queue is drained. The main process checks the database every few seconds; idle twice in
a row (so a race's next round, queued as the last one ends, is not missed), it starts the
same warm shutdown as SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

from sqlalchemy import func, select

from core.domain.settings import Settings
from core.domain.status import RunStatus
from core.store.db import session_scope
from core.store.models import Experiment, Run, Worker
from worker.handover import children

log = logging.getLogger("actlab.until_empty")
CHECK_SECONDS = 5.0


def idle(hostname: str) -> bool:
    """No queued run that this worker's children serve, and none of theirs running."""
    with session_scope() as s:
        mine = [f"{socket.gethostname()}:{pid}" for pid in children()]  # their rows
        rows = s.scalars(select(Worker.devices).where(Worker.name.in_(mine))).all()
        devices = {d for row in rows for d in row}
        if not devices:  # the children have not registered yet
            return False
        queued = s.scalar(select(func.count()).select_from(Run).join(Experiment).where(
            Run.status == RunStatus.queued, Run.cancel_requested.is_(False),
            Experiment.device.in_(devices))) or 0
        running = s.scalar(select(func.count()).select_from(Run).where(
            Run.status == RunStatus.running, Run.claimed_by.like(f"{hostname}:%"))) or 0
    return queued == 0 and running == 0


def watch(hostname: str, settings: Settings) -> None:
    """Start the watcher thread in the worker's main process."""
    def loop() -> None:
        streak = 0
        while True:
            threading.Event().wait(CHECK_SECONDS)
            try:
                streak = streak + 1 if idle(hostname) else 0
            except Exception:  # the database may be briefly away: not idle then
                log.warning("until-empty check failed", exc_info=True)
                streak = 0
            if streak >= 2:
                log.warning("nothing left that this worker serves: stopping (--until-empty)")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=loop, name="actlab-until-empty", daemon=True).start()
