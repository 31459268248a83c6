"""Send run notices after the rows are committed; a failed send is left to the sweeper."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.domain.settings import Settings
from core.store.models import Run
from core.store.queue import send_run_notices

log = logging.getLogger("actlab.api")


def notify(session: Session, run_ids: Sequence[uuid.UUID], settings: Settings) -> None:
    """Call after commit. On broker failure the runs stay queued with no notice on record, and
    the sweeper sends one on its next round: the request still succeeded, nothing is lost."""
    if not run_ids:
        return
    for run_id in run_ids:
        log.info("run %s queued: attempt 0, no worker yet", run_id)
    try:
        send_run_notices(run_ids, settings)
    except Exception as exc:
        log.warning("broker unavailable, %d run(s) left for the sweeper: %s", len(run_ids), exc)
        session.execute(update(Run).where(Run.id.in_(list(run_ids))).values(enqueued_at=None))
        session.commit()
