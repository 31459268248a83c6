"""execute_run against a real database, without Celery: claim, train, write, finish."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.store.db import session_scope
from core.store.models import ActivationParam, EpochMetric, ResponseCurve, Run
from tests.backends import Backend
from tests.factories import get_run, make_experiment
from worker.runner import execute_run


def count(model: type, run_id: object) -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(model)
                        .where(model.run_id == run_id)) or 0  # type: ignore[attr-defined]


def test_success_writes_metrics_and_parameter_snapshots(backend: Backend) -> None:
    _, (run_id,) = make_experiment(activation={"name": "dual_line"}, model={"name": "mlp"},
                                   training={"epochs": 2})
    assert execute_run(run_id, worker="t") == "succeeded"
    run = get_run(run_id)
    assert run.status == "succeeded" and run.attempt == 1 and run.epochs_done == 2
    assert run.final_metrics and 0.5 < run.final_metrics["val_accuracy"] <= 1.0
    assert run.num_params and run.macs and run.device == "cpu"
    import torch

    from core import __version__

    assert run.provenance == {**run.provenance, "actlab": __version__,
                              "torch": torch.__version__, "device": "cpu", "precision": "fp32",
                              "mode": "single"}
    assert run.provenance["kernels"] in ("native", "fallback") and run.provenance["device_name"]
    assert count(EpochMetric, run_id) == 2
    # mlp depth 2: two dual_line slots x (a, b, m) x 2 epochs
    assert count(ActivationParam, run_id) == 12
    with session_scope() as s:
        row = s.scalars(select(ActivationParam).where(
            ActivationParam.run_id == run_id, ActivationParam.epoch == 2,
            ActivationParam.name == "a")).first()
        assert row is not None and row.block in (1, 2) and row.position == 1
        assert len(row.values) == 256  # per channel
    assert count(ResponseCurve, run_id) == 2


def test_second_delivery_trains_nothing(backend: Backend) -> None:
    _, (run_id,) = make_experiment()
    assert execute_run(run_id) == "succeeded"
    assert execute_run(run_id) == "duplicate"
    run = get_run(run_id)
    assert run.attempt == 1 and count(EpochMetric, run_id) == 2


def test_divergence_keeps_earlier_rows(backend: Backend) -> None:
    # An lr the API refuses: SGD at 1e6 overflows in the first steps of the second epoch or
    # sooner; whatever finished before is kept.
    _, (run_id,) = make_experiment(training={"epochs": 3, "optimizer": "sgd"},
                                   raw_training={"lr": 1e6})
    assert execute_run(run_id) == "diverged"
    run = get_run(run_id)
    assert run.status == "diverged"
    assert "loss became" in (run.error or "")
    assert count(EpochMetric, run_id) == run.epochs_done < 3


def test_failure_keeps_a_readable_error(backend: Backend) -> None:
    _, (run_id,) = make_experiment(raw_training={"optimizer": "lbfgs"})
    assert execute_run(run_id) == "failed"
    run = get_run(run_id)
    assert run.status == "failed"
    assert run.error == "ValueError: unknown optimizer 'lbfgs'; valid: adam, adamw, sgd"


def test_cancel_flag_stops_a_running_run_within_an_epoch(backend: Backend) -> None:
    import threading
    import time

    from core.store.lifecycle import cancel_run

    _, (run_id,) = make_experiment(training={"epochs": 1000})
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(execute_run(run_id)))
    thread.start()
    deadline = time.monotonic() + 60
    while get_run(run_id).epochs_done < 1:
        assert time.monotonic() < deadline, "no epoch finished in 60 s"
        time.sleep(0.05)
    with session_scope() as s:
        cancel_run(s, s.get_one(Run, run_id))
        s.flush()
        seen = s.get_one(Run, run_id).epochs_done
    thread.join(60)
    assert outcome == ["cancelled"]
    run = get_run(run_id)
    # Within an epoch of the cancel being seen, which is at the next epoch write: the writer
    # thread may run a few epochs behind the training on a loaded machine (and `seen` is the
    # database's count), so a margin of a few epochs, not the 1000 asked for.
    assert run.status == "cancelled" and run.epochs_done <= seen + 10
    assert count(EpochMetric, run_id) == run.epochs_done


def test_lr_range_run_stores_the_curve_and_suggestion(backend: Backend) -> None:
    _, (run_id,) = make_experiment(kind="lr_range",
                                   training={"lr_range_steps": 40, "lr_min": 1e-4,
                                             "lr_max": 10.0})
    assert execute_run(run_id) == "succeeded"
    run = get_run(run_id)
    assert run.result is not None
    assert 1e-4 <= run.result["suggested_lr"] <= 10.0
    assert len(run.result["lrs"]) == len(run.result["losses"]) <= 40
    assert run.epochs_done == run.epochs_total == 1
    assert count(EpochMetric, run_id) == 0


def test_weights_of_the_reported_epoch_are_kept_and_load_into_a_model(backend: Backend) -> None:
    import torch

    from core.store.artifacts import get_store, weights_key
    from worker.training.datasets import load_dataset
    from worker.training.objectives import evaluate
    from worker.training.weights import load_model, metadata

    _, (run_id,) = make_experiment(activation={"name": "dual_line"}, model={"name": "mlp"},
                                   training={"epochs": 3})
    assert execute_run(run_id) == "succeeded"
    run = get_run(run_id)
    data = get_store().get(weights_key(run_id))
    meta = metadata(data)
    assert meta["epoch"] == str(run.best_epoch) and meta["seed"] == "0"
    model = load_model(data)
    splits = load_dataset("digits", {}, backend.data_dir / "datasets")
    with torch.no_grad():
        test = evaluate(model, splits.test_x, splits.test_y, prefix="test")
    assert run.final_metrics is not None
    assert test["test_accuracy"] == run.final_metrics["test_accuracy_at_best"]
    # The checkpoint is gone once the run has finished.
    assert get_store().list("checkpoints/") == []


def test_keep_weights_best_keeps_one_run_per_experiment(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.domain.settings import get_settings
    from core.store.artifacts import get_store, weights_key

    monkeypatch.setenv("ACTLAB_KEEP_WEIGHTS", "best")
    get_settings.cache_clear()
    _, run_ids = make_experiment(seeds=(0, 1, 2), model={"name": "mlp",
                                                         "params": {"hidden": 16}},
                                 training={"epochs": 2})
    assert execute_run(run_ids[0]) == "succeeded"  # the three seeds train together
    assert {get_run(r).status for r in run_ids} == {"succeeded"}
    kept = [r for r in run_ids if get_store().exists(weights_key(r))]
    # The highest best-validation accuracy; on ties, the earliest seed.
    best = max(enumerate(run_ids), key=lambda sr: (
        (get_run(sr[1]).final_metrics or {})["best_val_accuracy"], -sr[0]))[1]
    assert kept == [best]


def test_keep_weights_none_stores_no_weights(backend: Backend,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from core.domain.settings import get_settings
    from core.store.artifacts import get_store

    monkeypatch.setenv("ACTLAB_KEEP_WEIGHTS", "none")
    get_settings.cache_clear()
    _, (run_id,) = make_experiment(training={"epochs": 1})
    assert execute_run(run_id) == "succeeded"
    assert get_store().list() == []


def test_epochs_are_written_off_the_training_thread(backend: Backend,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import worker.group_run

    threads: list[str] = []
    real = worker.group_run.upsert

    def recording(session: object, table: object, *args: object, **kwargs: object) -> None:
        if table is EpochMetric.__table__:
            threads.append(threading.current_thread().name)
        real(session, table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worker.group_run, "upsert", recording)
    _, (run_id,) = make_experiment(model={"name": "mlp"}, training={"epochs": 3})
    assert execute_run(run_id) == "succeeded"
    assert threads == ["actlab-epoch-writes"] * 3
    assert count(EpochMetric, run_id) == 3 and get_run(run_id).epochs_done == 3
