"""Run status transitions are conditional UPDATEs: a second claimant gets nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core.domain.status import RunStatus
from core.domain.timeutil import utcnow
from core.store.db import session_scope
from core.store.lifecycle import (
    IllegalTransition,
    cancel_run,
    claim_next,
    claim_run,
    finish_run,
    retry_run,
    sweep,
    touch,
)
from core.store.models import Run
from tests.backends import Backend
from tests.factories import get_run, make_experiment


def test_claim_is_exclusive(backend: Backend) -> None:
    _, (run_id,) = make_experiment()
    with session_scope() as s:
        assert claim_run(s, run_id, "worker-a")
    with session_scope() as s:
        assert not claim_run(s, run_id, "worker-b")  # duplicate delivery: nothing happens
    run = get_run(run_id)
    assert run.status == "running" and run.attempt == 1 and run.claimed_by == "worker-a"


def test_claim_next_takes_priority_then_age(backend: Backend) -> None:
    _, low = make_experiment(seeds=(0, 1), priority=-5)
    _, (mid,) = make_experiment(priority=0)
    _, high = make_experiment(seeds=(3, 2), priority=5)
    with session_scope() as s:  # a cancelled queued run is never claimed
        s.execute(update(Run).where(Run.id == mid).values(cancel_requested=True))
    order = []
    with session_scope() as s:
        while (run_id := claim_next(s, "w")) is not None:
            order.append(run_id)
    assert set(order[:2]) == set(high) and set(order[2:]) == set(low) and len(order) == 4
    queued = [get_run(r).queued_at for r in order]
    assert queued[0] <= queued[1] and queued[2] <= queued[3]  # the longest waiting first


def test_only_the_owner_finishes(backend: Backend) -> None:
    _, (run_id,) = make_experiment()
    with session_scope() as s:
        claim_run(s, run_id, "worker-a")
    with session_scope() as s:
        assert not finish_run(s, run_id, "worker-b", RunStatus.succeeded)
        assert touch(s, run_id, "worker-b") == (False, False)
    with session_scope() as s:
        assert finish_run(s, run_id, "worker-a", RunStatus.succeeded)
    assert get_run(run_id).status == "succeeded"
    with session_scope() as s:
        assert not finish_run(s, run_id, "worker-a", RunStatus.failed)  # already final


def test_cancel_queued_running_and_finished(backend: Backend) -> None:
    _, (queued, running) = make_experiment(seeds=(0, 1))
    with session_scope() as s:
        claim_run(s, running, "w")
    with session_scope() as s:
        cancel_run(s, s.get_one(Run, queued))
        cancel_run(s, s.get_one(Run, running))
    assert get_run(queued).status == "cancelled"
    run = get_run(running)
    assert run.status == "running" and run.cancel_requested
    with session_scope() as s:
        assert touch(s, running, "w") == (True, True)  # the worker learns on its next beat
        finish_run(s, running, "w", RunStatus.cancelled)
    with session_scope() as s, pytest.raises(IllegalTransition, match="already cancelled"):
        cancel_run(s, s.get_one(Run, running))


def test_cancelled_queued_run_cannot_be_claimed(backend: Backend) -> None:
    _, (run_id,) = make_experiment()
    with session_scope() as s:
        cancel_run(s, s.get_one(Run, run_id))
    with session_scope() as s:
        assert not claim_run(s, run_id, "w")


def _age_heartbeat(run_id: object, seconds: float) -> None:
    with session_scope() as s:
        s.execute(update(Run).where(Run.id == run_id)
                  .values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))


def test_sweeper_requeues_stale_runs_up_to_the_attempt_cap(backend: Backend) -> None:
    _, (run_id,) = make_experiment()
    for attempt in (1, 2):
        with session_scope() as s:
            assert claim_run(s, run_id, f"w{attempt}")
        _age_heartbeat(run_id, 600)
        with session_scope() as s:
            out = sweep(s, stale_after=60, requeue_after=300, max_attempts=2)
        if attempt == 1:
            assert out.requeued == [run_id] and run_id in out.resend
            assert get_run(run_id).status == "queued"
        else:
            assert out.failed == [run_id]
            run = get_run(run_id)
            assert run.status == "failed" and "attempt 2 of 2" in (run.error or "")


def test_sweeper_leaves_fresh_heartbeats_alone(backend: Backend) -> None:
    _, (run_id,) = make_experiment()
    with session_scope() as s:
        claim_run(s, run_id, "w")
    with session_scope() as s:
        out = sweep(s, stale_after=60, requeue_after=300, max_attempts=3)
    assert out.requeued == [] and out.failed == [] and get_run(run_id).status == "running"


def test_sweeper_resends_queued_runs_without_a_recent_notice(backend: Backend) -> None:
    _, (never_sent, recently_sent) = make_experiment(seeds=(0, 1))
    with session_scope() as s:
        s.execute(update(Run).where(Run.id == recently_sent).values(enqueued_at=utcnow()))
    with session_scope() as s:
        out = sweep(s, stale_after=60, requeue_after=300, max_attempts=3)
    assert out.resend == [never_sent]
    with session_scope() as s:  # the notice is now on record: not sent again next round
        assert sweep(s, stale_after=60, requeue_after=300, max_attempts=3).resend == []


def test_stale_run_with_cancel_requested_ends_cancelled(backend: Backend) -> None:
    _, (run_id,) = make_experiment()
    with session_scope() as s:
        claim_run(s, run_id, "w")
        s.flush()
        cancel_run(s, s.get_one(Run, run_id))
    _age_heartbeat(run_id, 600)
    with session_scope() as s:
        assert sweep(s, stale_after=60, requeue_after=300, max_attempts=3).cancelled == [run_id]
    assert get_run(run_id).status == "cancelled"


def test_retry_resets_a_failed_run(backend: Backend) -> None:
    _, (run_id,) = make_experiment()
    with session_scope() as s:
        claim_run(s, run_id, "w")
    with session_scope() as s:
        finish_run(s, run_id, "w", RunStatus.failed, error="boom", epochs_done=1)
    with session_scope() as s:
        retry_run(s, s.get_one(Run, run_id))
    run = get_run(run_id)
    assert (run.status, run.attempt, run.error, run.epochs_done) == ("queued", 0, None, 0)


@pytest.mark.parametrize(("counts", "expected"), [
    ({"queued": 3}, "queued"),
    ({"queued": 2, "succeeded": 1}, "running"),  # part reused, part queued
    ({"running": 1, "failed": 2}, "running"),
    ({"succeeded": 3}, "succeeded"),
    ({"cancelled": 2}, "cancelled"),
    ({"succeeded": 1, "diverged": 1}, "partial"),
    ({"failed": 1, "cancelled": 1}, "failed"),
    ({"diverged": 2}, "failed"),
])
def test_one_experiment_status_rule_in_python_and_sql(backend: Backend, counts: dict[str, int],
                                                     expected: str) -> None:
    """core.domain.status's rule gives the same answer in Python and as the SQL CASE the list
    filters use."""
    from api.experiment_rows import experiment_rows
    from core.domain.status import experiment_status
    from tests.factories import add_finished_run

    assert experiment_status(counts) == expected
    exp_id, _ = make_experiment(seeds=())
    seed = 0
    for status, n in counts.items():
        for _ in range(n):
            add_finished_run(exp_id, seed, [0.5], status=status)
            seed += 1
    with session_scope() as s:
        stmt, _ = experiment_rows(s)
        row = s.execute(stmt).one()  # the only experiment
        assert row.status == expected


def test_the_sweeper_steps_only_idle_unheld_active_searches(backend: Backend) -> None:
    from core.store.lifecycle import searches_to_step
    from core.store.models import Search

    now = utcnow()
    old = now - timedelta(minutes=10)
    rows = {
        "new": Search(name="new", spec={}, created_at=now),
        "never stepped": Search(name="a", spec={}, created_at=old),
        "stepped long ago": Search(name="b", spec={}, created_at=old, status="running",
                                   stepped_at=old),
        "stepped just now": Search(name="c", spec={}, created_at=old, status="running",
                                   stepped_at=now),
        "held": Search(name="d", spec={}, created_at=old, lease_token="x",
                       lease_until=now + timedelta(minutes=5)),
        "finished": Search(name="e", spec={}, created_at=old, status="succeeded"),
    }
    with session_scope() as s:
        s.add_all(rows.values())
        s.flush()
        ids = {name: row.id for name, row in rows.items()}
    with session_scope() as s:
        due = set(searches_to_step(s, idle_seconds=60))
    assert due == {ids["never stepped"], ids["stepped long ago"]}
