"""Every change of a run's status, each one conditional UPDATE (docs/explanation/reliability.md).

queued -> running (claim) -> succeeded | failed | cancelled | diverged (finish, only by the
claim's owner); running -> queued (sweeper, stale heartbeat, attempt cap); queued -> cancelled;
running -> cancel_requested; finished -> queued (retry). A statement that matches no row means
another process got there first, and the caller learns it from the return value.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core.domain.status import RunStatus, SearchStatus
from core.domain.timeutil import utcnow
from core.store.models import RUN_RESULT_TABLES, Experiment, Run, Search

# A worker that does not say what it serves claims every run.
ANY_DEVICE = ("any", "cpu", "cuda")


class IllegalTransition(Exception):
    """The run is not in a state that allows the change (HTTP 409)."""


def claim_run(session: Session, run_id: uuid.UUID, token: str,
              devices: Sequence[str] = ANY_DEVICE) -> bool:
    """queued -> running for `token`, if the run needs one of `devices` (resources.device).
    False means a duplicate delivery, a cancelled run or one this worker cannot serve."""
    now = utcnow()
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.queued,
               Run.cancel_requested.is_(False),
               Run.experiment_id.in_(select(Experiment.id)
                                     .where(Experiment.device.in_(devices))))
        .values(status=RunStatus.running, attempt=Run.attempt + 1, claimed_by=token,
                heartbeat_at=now, started_at=now, error=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def claim_next(session: Session, token: str, attempts: int = 8,
               devices: Sequence[str] = ANY_DEVICE) -> uuid.UUID | None:
    """Claim the queued run that should start next among those this worker can serve
    (`devices`: what resources.device may ask): the highest experiment priority, then the
    longest queued, then the lowest seed. A notice only wakes a worker, whichever run it
    names, so priority orders the work on every broker (the embedded one has no priorities
    of its own), and routing by hardware is this query, not broker queues. None when
    nothing is left to claim."""
    for _ in range(attempts):  # another worker may claim the same run first: take the next
        run_id = session.scalar(
            select(Run.id).join(Experiment, Experiment.id == Run.experiment_id)
            .where(Run.status == RunStatus.queued, Run.cancel_requested.is_(False),
                   Experiment.device.in_(devices))
            .order_by(Experiment.priority.desc(), Run.queued_at, Run.seed).limit(1))
        if run_id is None:
            return None
        if claim_run(session, run_id, token, devices):
            return run_id
    return None


def hand_over(session: Session, run_id: uuid.UUID, token: str) -> bool:
    """running -> queued at once, for a worker that stops (SIGTERM, a SLURM time limit): the
    next claim resumes it from its checkpoint, and the attempt is not counted (a hand-over is
    not a failure). False when the claim is no longer ours."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.claimed_by == token, Run.status == RunStatus.running)
        .values(status=RunStatus.queued, claimed_by=None, enqueued_at=utcnow(),
                heartbeat_at=None, attempt=Run.attempt - 1)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def claim_group(session: Session, leader_id: uuid.UUID, token_for: Callable[[uuid.UUID], str],
                limit: int) -> list[uuid.UUID]:
    """Claim up to `limit` more queued runs of the leader's experiment to train together with
    it (worker/group_run.py), each under its own token: with a fresh leader, runs never started
    before; with a leader resuming a group, that group's other queued members. A leader that
    is neither (a retry, a run resuming alone) gets none."""
    leader = session.get_one(Run, leader_id)
    fresh = leader.epochs_done == 0 and not leader.provenance and leader.attempt == 1
    group = (leader.provenance or {}).get("group") if leader.epochs_done > 0 else None
    if limit <= 0 or not (fresh or group):
        return []
    waiting = session.execute(
        select(Run.id, Run.provenance).where(
            Run.experiment_id == leader.experiment_id, Run.id != leader_id,
            Run.status == RunStatus.queued, Run.cancel_requested.is_(False),
            Run.attempt == 0 if fresh else Run.epochs_done > 0)
        .order_by(Run.seed)).all()
    chosen = [run_id for run_id, origin in waiting
              if (not origin if fresh else (origin or {}).get("group") == group)]
    return [run_id for run_id in chosen[:limit] if claim_run(session, run_id, token_for(run_id))]


def group_in_use(session: Session, experiment_id: uuid.UUID, group: str) -> bool:
    """Whether a queued or running run still counts on group `group`'s checkpoint."""
    rows = session.scalars(select(Run.provenance).where(
        Run.experiment_id == experiment_id, Run.epochs_done > 0,
        Run.status.in_((RunStatus.queued, RunStatus.running))))
    return any((origin or {}).get("group") == group for origin in rows)


def touch(session: Session, run_id: uuid.UUID, token: str,
          **values: Any) -> tuple[bool, bool]:
    """Heartbeat (plus any `values`) if the claim is still ours.
    Returns (still ours, cancel requested)."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.claimed_by == token, Run.status == RunStatus.running)
        .values(heartbeat_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False, False
    cancel = session.scalar(select(Run.cancel_requested).where(Run.id == run_id))
    return True, bool(cancel)


def finish_run(session: Session, run_id: uuid.UUID, token: str, status: RunStatus,
               **values: Any) -> bool:
    """running -> a final status, only while the claim is still ours."""
    assert status.finished
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.claimed_by == token, Run.status == RunStatus.running)
        .values(status=status, finished_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def cancel_run(session: Session, run: Run) -> None:
    """Cancel a queued run at once; flag a running one (the worker stops within an epoch)."""
    for _ in range(3):  # the status may move under us; re-read and try again
        session.refresh(run)
        if run.status == RunStatus.queued:
            result = session.execute(
                update(Run).where(Run.id == run.id, Run.status == RunStatus.queued)
                .values(status=RunStatus.cancelled, cancel_requested=True,
                        finished_at=utcnow())
                .execution_options(synchronize_session=False))
        elif run.status == RunStatus.running:
            result = session.execute(
                update(Run).where(Run.id == run.id, Run.status == RunStatus.running)
                .values(cancel_requested=True)
                .execution_options(synchronize_session=False))
        else:
            raise IllegalTransition(f"run {run.id} is already {run.status}; only queued or "
                                    "running runs can be cancelled")
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(run)
            return
    raise IllegalTransition(f"run {run.id} changed state while cancelling; try again")


def retry_run(session: Session, run: Run) -> None:
    """A finished, unsuccessful run starts again from scratch (its rows are removed)."""
    retryable = (RunStatus.failed, RunStatus.cancelled, RunStatus.diverged)
    result = session.execute(
        update(Run).where(Run.id == run.id, Run.status.in_(retryable))
        .values(status=RunStatus.queued, attempt=0, claimed_by=None, heartbeat_at=None,
                cancel_requested=False, queued_at=utcnow(), enqueued_at=utcnow(),
                started_at=None, finished_at=None, error=None, epochs_done=0,
                final_metrics=None, best_epoch=None, result=None, device=None)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(run)
        raise IllegalTransition(f"run {run.id} is {run.status}; only failed, cancelled or "
                                "diverged runs can be retried")
    for table in RUN_RESULT_TABLES:
        rows = cast(Table, table.__table__)
        session.execute(delete(rows).where(rows.c.run_id == run.id))
    session.refresh(run)


@dataclass
class SweepOutcome:
    resend: list[uuid.UUID] = field(default_factory=list)
    requeued: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    cancelled: list[uuid.UUID] = field(default_factory=list)
    # One line per run whose state changed: id, new state, attempt and the worker it left.
    changes: list[str] = field(default_factory=list)


def sweep(session: Session, *, stale_after: float, requeue_after: float,
          max_attempts: int) -> SweepOutcome:
    """Recover from lost workers and lost messages. The caller sends `resend` after commit."""
    now = utcnow()
    out = SweepOutcome()
    stale = now - timedelta(seconds=stale_after)
    dead = select(Run.id, Run.attempt, Run.cancel_requested, Run.claimed_by).where(
        Run.status == RunStatus.running, Run.heartbeat_at < stale)
    for run_id, attempt, cancel, worker in session.execute(dead).all():
        base = update(Run).where(Run.id == run_id, Run.status == RunStatus.running,
                                 Run.heartbeat_at < stale)
        if cancel:
            values: dict[str, Any] = {"status": RunStatus.cancelled, "finished_at": now}
            bucket = out.cancelled
        elif attempt >= max_attempts:
            values = {"status": RunStatus.failed, "finished_at": now,
                      "error": f"worker lost: no heartbeat for {stale_after:.0f} s on attempt "
                               f"{attempt} of {max_attempts}"}
            bucket = out.failed
        else:
            values = {"status": RunStatus.queued, "claimed_by": None, "enqueued_at": now}
            bucket = out.requeued
        result = session.execute(base.values(**values).execution_options(
            synchronize_session=False))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            bucket.append(run_id)
            out.changes.append(f"run {run_id} {values['status'].value}: attempt {attempt}, "
                               f"worker {worker} stopped beating")
            if bucket is out.requeued:
                out.resend.append(run_id)
    lost = now - timedelta(seconds=requeue_after)
    waiting = select(Run.id).where(
        Run.status == RunStatus.queued,
        or_(Run.enqueued_at.is_(None), and_(Run.enqueued_at < lost)))
    ids = list(session.scalars(waiting))
    if ids:
        session.execute(update(Run).where(Run.id.in_(ids)).values(enqueued_at=now)
                        .execution_options(synchronize_session=False))
        out.resend.extend(ids)
    return out


# A search's driver holds a lease while it steps (worker/search/driver.py): one step at a time.
SEARCH_LEASE_SECONDS = 900  # a step (a pool build included) holds the search at most this long
ACTIVE_SEARCH = (SearchStatus.queued, SearchStatus.running)


def _lease_free(now: datetime) -> ColumnElement[bool]:
    """No step holds the search: never leased, or its lease ran out."""
    return or_(Search.lease_until.is_(None), Search.lease_until < now)


def take_search_lease(session: Session, search_id: uuid.UUID, token: str) -> bool:
    """Lease an active search no step holds to `token`; False when it is busy or finished."""
    now = utcnow()
    taken = session.execute(
        update(Search).where(Search.id == search_id, Search.status.in_(ACTIVE_SEARCH),
                             _lease_free(now))
        .values(lease_token=token, lease_until=now + timedelta(seconds=SEARCH_LEASE_SECONDS))
        .execution_options(synchronize_session=False))
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def fail_search_step(session: Session, search_id: uuid.UUID, token: str, error: str) -> None:
    """A step that raised: the search fails, if the lease is still `token`'s."""
    session.execute(update(Search).where(Search.id == search_id, Search.lease_token == token)
                    .values(status=SearchStatus.failed, error=error, finished_at=utcnow(),
                            lease_token=None, lease_until=None)
                    .execution_options(synchronize_session=False))


def cancel_search(session: Session, search: Search) -> None:
    """Ask a search to stop: its queued runs cancelled, its running ones told to stop, and
    the search itself cancelled now unless a driver step holds it (that step then ends it).
    IllegalTransition once it has finished."""
    if search.status.finished:
        raise IllegalTransition(f"search {search.id} is already {search.status}")
    search.cancel_requested = True
    cancel_search_runs(session, search.id)
    session.execute(update(Search).where(
        Search.id == search.id, Search.status.in_(ACTIVE_SEARCH), _lease_free(utcnow()))
        .values(status=SearchStatus.cancelled, finished_at=utcnow())
        .execution_options(synchronize_session=False))


def searches_to_step(session: Session, idle_seconds: float) -> list[uuid.UUID]:
    """Active searches whose driver has not stepped (or, never stepped, that were not created)
    for `idle_seconds` and that no step holds:
    the sweeper sends each a step notice (the runner steps a search whenever one of its runs
    ends; this covers lost notices, dead workers and a restarted API)."""
    now = utcnow()
    cutoff = now - timedelta(seconds=idle_seconds)
    return list(session.scalars(select(Search.id).where(
        Search.status.in_(ACTIVE_SEARCH), _lease_free(now),
        func.coalesce(Search.stepped_at, Search.created_at) < cutoff)))


def search_trainings(session: Session, search_id: uuid.UUID) -> int:
    """Trainings a search has committed: runs of its experiments that train (queued, running
    or finished), not results reused from earlier runs."""
    return int(session.scalar(select(func.count()).select_from(Run).join(
        Experiment, Experiment.id == Run.experiment_id).where(
        Experiment.search_id == search_id, Run.reused_from.is_(None))) or 0)


def cancel_search_runs(session: Session, search_id: uuid.UUID) -> None:
    """Cancel a search's queued runs and tell its running ones to stop."""
    runs = session.scalars(select(Run).join(Experiment, Experiment.id == Run.experiment_id)
                           .where(Experiment.search_id == search_id,
                                  Run.status.in_([RunStatus.queued, RunStatus.running])))
    for run in list(runs):
        try:
            cancel_run(session, run)
        except IllegalTransition:
            continue
