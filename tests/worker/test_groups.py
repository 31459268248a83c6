"""Seeds of one experiment claimed and trained together by execute_run: one claim per run
(own token, attempt and heartbeat), numbers equal to the seeds trained one by one, one
seed's cancel or lost claim leaves the others, a lost group resumes from its checkpoint, a
retried seed trains alone and is recorded so."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from core.domain.settings import get_settings
from core.store.db import session_scope
from core.store.lifecycle import cancel_run, retry_run
from core.store.models import EpochMetric, Run
from tests.backends import Backend
from tests.factories import get_run, make_experiment
from worker.runner import execute_run

SPEC = {"model": {"name": "mlp", "params": {"hidden": 16}}, "activation": {"name": "dual_line"}}


def _metrics(run_ids: list[uuid.UUID]) -> list[dict[str, float] | None]:
    numbers = []
    for run_id in run_ids:
        final = dict(get_run(run_id).final_metrics or {})
        for timing in ("epoch_seconds", "samples_per_second"):
            final.pop(timing, None)
        numbers.append(final)
    return numbers


def _rows(run_id: uuid.UUID) -> list[int]:
    with session_scope() as s:
        return list(s.scalars(select(EpochMetric.epoch).where(EpochMetric.run_id == run_id)
                              .order_by(EpochMetric.epoch)))


def _setting(monkeypatch: pytest.MonkeyPatch, name: str, value: object) -> None:
    monkeypatch.setenv(f"ACTLAB_{name}", str(value))
    get_settings.cache_clear()


def _in_thread(run_id: uuid.UUID) -> tuple[threading.Thread, list[str]]:
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(execute_run(run_id)))
    thread.start()
    return thread, outcome


def _wait_for_epoch(run_id: uuid.UUID, epoch: int) -> None:
    deadline = time.monotonic() + 60
    while get_run(run_id).epochs_done < epoch:
        assert time.monotonic() < deadline, f"epoch {epoch} not reached in 60 s"
        time.sleep(0.02)


def test_seeds_train_together_and_agree_with_seeds_one_by_one(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    _, together = make_experiment(seeds=(0, 1, 2), training={"epochs": 3}, **SPEC)
    assert execute_run(together[0]) == "succeeded"
    runs = [get_run(r) for r in together]
    assert [r.status for r in runs] == ["succeeded"] * 3
    assert [r.attempt for r in runs] == [1, 1, 1]
    assert len({r.claimed_by for r in runs}) == 3  # each its own claim
    for run in runs:
        assert run.provenance is not None
        assert (run.provenance["mode"], run.provenance["batching"], run.provenance["kernels"],
                run.provenance["group"], run.provenance["group_size"]) == (
            "batched", "vmap", "batched", str(together[0]), 3)
        assert _rows(run.id) == [1, 2, 3]
    assert all(execute_run(r) == "duplicate" for r in together)  # nothing trains twice

    _setting(monkeypatch, "SEED_BATCHING", "lockstep")
    _, lockstep = make_experiment(seeds=(0, 1, 2), training={"epochs": 3}, **SPEC)
    assert execute_run(lockstep[0]) == "succeeded"
    assert {get_run(r).provenance["batching"] for r in lockstep} == {"lockstep"}  # type: ignore[index]

    _setting(monkeypatch, "GROUP_SEEDS", 1)
    _, alone = make_experiment(seeds=(0, 1, 2), training={"epochs": 3}, **SPEC)
    assert [execute_run(r) for r in alone] == ["succeeded"] * 3
    assert {get_run(r).provenance["mode"] for r in alone} == {"single"}  # type: ignore[index]
    assert _metrics(lockstep) == _metrics(alone)  # each seed its own model: bit for bit
    for vmapped, one in zip(_metrics(together), _metrics(alone), strict=True):
        assert vmapped is not None and one is not None
        assert vmapped == pytest.approx(one, rel=2e-3, abs=2e-3)  # one model: float tolerance


def test_a_group_that_cannot_be_one_model_trains_in_lockstep_and_says_why(
        backend: Backend) -> None:
    _, run_ids = make_experiment(seeds=(0, 1), training={"epochs": 1},
                                 model={"name": "mlp", "params": {"hidden": 16}},
                                 activation={"name": "rrelu"})
    assert execute_run(run_ids[0]) == "succeeded"
    origin = get_run(run_ids[1]).provenance
    assert origin is not None and origin["batching"] == "lockstep"
    assert "draws random numbers in training" in origin["batching_reason"]


def test_group_size_is_capped(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    _setting(monkeypatch, "GROUP_SEEDS", 2)
    _, run_ids = make_experiment(seeds=(0, 1, 2), training={"epochs": 1}, **SPEC)
    assert execute_run(run_ids[0]) == "succeeded"
    assert [get_run(r).status for r in run_ids] == ["succeeded", "succeeded", "queued"]
    assert execute_run(run_ids[2]) == "succeeded"
    assert get_run(run_ids[2]).provenance["mode"] == "single"  # type: ignore[index]


def test_cancelling_one_seed_leaves_the_others(backend: Backend) -> None:
    _, run_ids = make_experiment(seeds=(0, 1, 2), training={"epochs": 500}, **SPEC)
    thread, outcome = _in_thread(run_ids[0])
    _wait_for_epoch(run_ids[1], 2)
    with session_scope() as s:
        cancel_run(s, s.get_one(Run, run_ids[1]))
    deadline = time.monotonic() + 60
    while get_run(run_ids[1]).status != "cancelled":  # recorded at once, not at the group's end
        assert time.monotonic() < deadline, "the cancelled seed still shows as running"
        time.sleep(0.02)
    assert [get_run(r).status for r in (run_ids[0], run_ids[2])] == ["running", "running"]
    stopped_at = get_run(run_ids[1]).epochs_done
    _wait_for_epoch(run_ids[2], stopped_at + 2)  # the others go on
    with session_scope() as s:
        for run_id in (run_ids[0], run_ids[2]):
            cancel_run(s, s.get_one(Run, run_id))
    thread.join(120)
    assert outcome == ["cancelled"]
    assert [get_run(r).status for r in run_ids] == ["cancelled"] * 3
    assert get_run(run_ids[1]).epochs_done == stopped_at < get_run(run_ids[2]).epochs_done
    assert _rows(run_ids[1]) == list(range(1, stopped_at + 1))


def test_a_lost_group_resumes_together_from_its_checkpoint(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    _setting(monkeypatch, "CHECKPOINT_SECONDS", 0)
    _, reference = make_experiment(seeds=(0, 1), training={"epochs": 8}, **SPEC)
    assert execute_run(reference[0]) == "succeeded"
    _, run_ids = make_experiment(seeds=(0, 1), training={"epochs": 8}, **SPEC)
    thread, outcome = _in_thread(run_ids[0])
    _wait_for_epoch(run_ids[1], 3)
    with session_scope() as s:  # what the sweeper does to runs whose worker went silent
        s.execute(update(Run).where(Run.id.in_(run_ids))
                  .values(status="queued", claimed_by=None))
    thread.join(120)
    assert outcome == ["lost"]
    assert [get_run(r).status for r in run_ids] == ["queued", "queued"]
    assert execute_run(run_ids[0]) == "succeeded"
    runs = [get_run(r) for r in run_ids]
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert [r.attempt for r in runs] == [2, 2]
    assert runs[1].provenance["group"] == str(run_ids[0])  # type: ignore[index]
    assert [_rows(r) for r in run_ids] == [list(range(1, 9))] * 2
    assert _metrics(run_ids) == _metrics(reference)
    from core.store.artifacts import get_store
    assert get_store().list("checkpoints/") == []


def test_a_retried_seed_trains_alone(backend: Backend) -> None:
    _, run_ids = make_experiment(seeds=(0, 1, 2), training={"epochs": 2},
                                 raw_training={"lr": 1e9, "optimizer": "sgd"}, **SPEC)
    assert execute_run(run_ids[0]) == "diverged"
    assert {get_run(r).status for r in run_ids} == {"diverged"}
    with session_scope() as s:
        for run_id in run_ids[:2]:
            retry_run(s, s.get_one(Run, run_id))
    assert execute_run(run_ids[0]) == "diverged"
    assert get_run(run_ids[0]).provenance["mode"] == "single"  # type: ignore[index]
    assert get_run(run_ids[1]).status == "queued"
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Run)
                        .where(Run.status == "queued")) == 1


def test_provenance_shows_in_the_leaderboard_and_its_export(client: TestClient) -> None:
    _, run_ids = make_experiment(seeds=(0, 1), training={"epochs": 1}, **SPEC)
    assert execute_run(run_ids[0]) == "succeeded"
    origin = get_run(run_ids[0]).provenance or {}
    board = client.get("/api/v1/leaderboard?model=mlp&dataset=digits").json()
    (entry,) = board["entries"]
    assert entry["modes"] == "batched" and entry["precision"] == "fp32"
    assert entry["devices"] == origin["device_name"]
    assert entry["versions"] == f"actlab {origin['actlab']} torch {origin['torch']}"
    csv = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&format=csv").text
    header, row = csv.splitlines()[:2]
    assert {"devices", "precision", "modes", "kernels", "versions"} <= set(header.split(","))
    assert "batched" in row
