"""Per-key quotas on queued work: runs unfinished at once, and runs queued per day.

Checked inside the transaction that adds the runs, after they are flushed and before the
commit, so reused results (which train nothing) cost nothing and a refused request leaves
nothing behind. The key's row is locked first, so two concurrent requests of one key cannot
both slip under a limit (SQLite's write transactions are serial anyway).
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import QuotaExceeded
from core.domain.settings import Settings
from core.domain.status import RunStatus
from core.domain.timeutil import utcnow
from core.store.models import ApiKey, Experiment, Run

DAY = timedelta(days=1)
# A queued-runs quota frees up as runs finish: a client should look again after about this.
QUEUED_RETRY_SECONDS = 60


def _owned_runs(principal: Principal) -> Select[int]:
    return (select(func.count()).select_from(Run)
            .join(Experiment, Experiment.id == Run.experiment_id)
            .where(Experiment.owner_key_id == principal.key_id, Run.reused_from.is_(None)))


def hold_key(session: Session, principal: Principal) -> None:
    """Lock the key's row for the rest of this transaction, before it writes anything: the
    writes of one key then run one after another, each waiting for the last to commit, and
    the quota check sees every run the key's earlier requests added. Taken after the first
    insert, the lock deadlocked on PostgreSQL: each transaction's new rows hold a share lock
    on the key (their foreign key) that the other's FOR UPDATE waits for."""
    if principal.key_id is not None:
        session.execute(select(ApiKey.id).where(ApiKey.id == principal.key_id)
                        .with_for_update())


def enforce_quotas(session: Session, principal: Principal, settings: Settings) -> None:
    """Raise QuotaExceeded when the runs this transaction added (flushed, not committed) take
    the key over a quota. A request without a key (auth off) has none. The caller holds the
    key (`hold_key`) since before its first write."""
    if principal.key_id is None:
        return
    base = _owned_runs(principal)
    unfinished = session.scalar(base.where(
        Run.status.in_([RunStatus.queued, RunStatus.running]))) or 0
    limit = principal.max_queued_runs or settings.quota_queued_runs
    if unfinished > limit:
        raise QuotaExceeded(f"quota: this key would have {unfinished} runs queued or running; "
                            f"at most {limit} at once (wait for some to finish)",
                            QUEUED_RETRY_SECONDS)
    since = utcnow() - DAY
    day = session.execute(base.with_only_columns(
        func.count(), func.min(Run.queued_at)).where(Run.queued_at >= since)).one()
    limit = principal.max_runs_per_day or settings.quota_runs_per_day
    if day[0] > limit:
        oldest = day[1]
        wait = (oldest + DAY - utcnow()).total_seconds() if oldest is not None else 3600
        raise QuotaExceeded(f"quota: this key would have queued {day[0]} runs in 24 hours; "
                            f"at most {limit} a day", max(1, math.ceil(wait)))
