"""Execute one run: claim it, train it, write its rows, finish it. Usable without Celery.

Exactly-once effect from at-least-once delivery: the claim is a conditional UPDATE
(worker/claims.py), every row write is an upsert on its unique key, and every write after
the claim checks that the claim is still ours (the sweeper may have handed the run to
another worker). A group of seeds trains as worker/group_run.py::GroupRun; its end is
recorded by worker/outcomes.py.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
import uuid

from sqlalchemy import select

from core.domain.settings import Settings, get_settings
from core.domain.status import RunKind, RunStatus
from core.store.db import in_transaction, session_scope
from core.store.lifecycle import touch
from core.store.migrate import SchemaMismatch, check_revision
from core.store.models import Experiment, Run
from worker import handover
from worker.claims import Claimed, claim, run_kind
from worker.devices import served
from worker.group_run import HANDED_OVER, LOST, device_for, train_group_of
from worker.heartbeat import Heartbeat
from worker.outcomes import Outcome, record_end

log = logging.getLogger("actlab.runner")
# What execute_run answers when this worker's code and the database's schema differ.
REFUSED = "refused"


def _lr_range(member: Claimed, settings: Settings) -> str:
    """The LR range test: one seed, one pass, no checkpoint."""
    from worker.training import StopRequested, TrainConfig, lr_range_test
    from worker.training.provenance import provenance

    run_id, token, patience = member.run_id, member.token, settings.db_retry_seconds
    device = device_for(settings, member.spec)
    config = TrainConfig.from_stored(member.spec, member.seed)
    origin = provenance(device, config.training.precision)
    in_transaction(lambda session: touch(session, run_id, token, device=str(device),
                                         epochs_total=1, provenance=origin),
                   patience=patience, what=f"start of run {run_id}")
    with Heartbeat({run_id: token}, settings.heartbeat_seconds) as beat:
        try:
            curve = lr_range_test(config, device=device,
                                  should_stop=lambda: beat.should_stop(run_id),
                                  data_root=settings.datasets_dir)
            outcome = Outcome(RunStatus.succeeded, {"result": curve.to_dict(), "epochs_done": 1})
        except StopRequested:
            outcome = Outcome(RunStatus.cancelled)
        except Exception as exc:
            log.error("run %s failed:\n%s", run_id, traceback.format_exc())
            outcome = Outcome(RunStatus.failed, {"error": f"{type(exc).__name__}: {exc}"})
    if run_id in beat.lost:
        log.warning("run %s was taken over; stopping", run_id)
        return LOST
    return record_end(member, outcome, settings)


def execute_run(run_id: uuid.UUID, worker: str | None = None,
                settings: Settings | None = None, *, by_priority: bool = False) -> str:
    """Train run `run_id` if it can be claimed (with `by_priority`, as a broker notice does:
    whichever queued run should start next), together with the queued seeds of its
    experiment that can join it (`ACTLAB_GROUP_SEEDS`). Returns the claimed run's final
    status, "duplicate" (nothing claimable) or "lost" (another worker took it over)."""
    settings = settings or get_settings()
    if handover.requested.is_set():  # this child is leaving: the notice is for another
        from core.store.queue import send_run_notices

        # after this child is gone: sent now, it could come straight back here
        send_run_notices([run_id], settings, countdown=handover.LEAVE_AFTER + 1.0)
        return HANDED_OVER
    try:  # a worker of another version must not claim rows whose meaning it does not know
        check_revision()
    except SchemaMismatch as exc:
        log.error("run %s not claimed: %s", run_id, exc)
        return REFUSED
    base = f"{worker or socket.gethostname()}:{os.getpid()}"
    devices = served(settings)
    members = claim(run_id, base, settings.db_retry_seconds, by_priority,
                    settings.group_seeds, devices)
    if not members:
        log.info("run %s not claimable here (duplicate delivery, not queued, or needing a "
                 "device this worker does not serve, and no other run waiting): skipped by "
                 "%s", run_id, base)
        _pass_on(run_id, devices, settings)
        return "duplicate"
    leader = members[0]
    if leader.run_id != run_id:
        log.info("notice for run %s: run %s comes first (priority, then age)", run_id,
                 leader.run_id)
    for m in members:
        log.info("run %s running: attempt %d, worker %s, from epoch %d", m.run_id, m.attempt,
                 m.token, m.epochs_done)
    if run_kind(leader.spec) == RunKind.lr_range:
        return _lr_range(leader, settings)
    status = train_group_of(members, settings)[leader.run_id]
    _step_search(leader.experiment_id, settings)
    _step_race(leader.experiment_id, settings)
    return status


def _step_race(experiment_id: uuid.UUID, settings: Settings) -> None:
    """A sweep's run ended: a tuned sweep whose trials have all ended gets its evaluation
    now, and a raced sweep starts its next round if this one is complete."""
    from core.store import race, tuned
    from core.store.queue import send_run_notices

    try:
        with session_scope() as session:
            sweep_id = session.scalar(select(Experiment.sweep_id)
                                      .where(Experiment.id == experiment_id))
            queued = tuned.advance(session, sweep_id, settings) if sweep_id else []
            queued += race.advance(session, sweep_id, settings) if sweep_id else []
        if queued:
            send_run_notices(queued, settings)
    except Exception:  # the sweeper advances it later
        log.exception("race of experiment %s: step after run failed", experiment_id)


def _pass_on(run_id: uuid.UUID, devices: list[str], settings: Settings) -> None:
    """A notice for a queued run this worker cannot serve: sent again for a worker that
    can, if one is alive (else the run waits, and its experiment says for what)."""
    from core.store.queue import send_run_notices
    from core.store.workers import live_devices, serves

    with session_scope() as session:
        needed = session.scalar(select(Experiment.device).join(Run).where(
            Run.id == run_id, Run.status == RunStatus.queued))
        live = live_devices(session, settings.stale_after_seconds)
    if needed is None or serves(devices, needed) or not serves(sorted(live), needed):
        return
    log.info("run %s needs a %s worker: its notice is passed on", run_id, needed)
    send_run_notices([run_id], settings)


def _step_search(experiment_id: uuid.UUID, settings: Settings) -> None:
    """A search's run ended: let its driver take the next step now, in this process."""
    with session_scope() as session:
        search_id = session.scalar(select(Experiment.search_id)
                                   .where(Experiment.id == experiment_id))
    if search_id is None:
        return
    from worker.search.driver import advance

    try:
        advance(search_id, settings)
    except Exception:  # the sweeper steps it again later
        log.exception("search %s: step after run failed", search_id)
