"""Rows for tests, written straight to the database (bypassing the API where a test needs
states or specs the API would not produce)."""

from __future__ import annotations

import uuid
from typing import Any

from core.domain.settings import get_settings
from core.domain.spec import ExperimentSpec, check_limits, spec_hash
from core.store.db import session_scope
from core.store.keys import Quotas, Scope, create_key
from core.store.models import Experiment, Run


def make_experiment(seeds: tuple[int, ...] = (0,), raw_training: dict[str, Any] | None = None,
                    **spec: Any) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Store a validated experiment with queued runs. `raw_training` overrides training
    settings after validation (e.g. an lr the API would refuse, to force divergence)."""
    # seeds=() stores an experiment without runs (tests add finished runs themselves)
    body = {"activation": {"name": "relu"}, "training": {"epochs": 2}, **spec,
            "seeds": list(seeds) or [0]}
    valid = ExperimentSpec.model_validate(body)
    check_limits(valid, get_settings())
    stored = valid.model_dump(mode="json")
    stored["training"].update(raw_training or {})
    with session_scope() as s:
        exp = Experiment(name="t", kind=valid.kind, spec=stored, spec_hash=spec_hash(valid),
                         activation=valid.activation.name, model=valid.model.name,
                         dataset=valid.dataset.name, tags=[], priority=valid.priority)
        exp.runs = [Run(seed=seed, epochs_total=valid.training.epochs) for seed in seeds]
        s.add(exp)
        s.flush()
        return exp.id, [r.id for r in exp.runs]


def get_run(run_id: uuid.UUID) -> Run:
    with session_scope() as s:
        run = s.get(Run, run_id)
        assert run is not None
        s.expunge(run)
        return run


def add_finished_run(experiment_id: uuid.UUID, seed: int, val_accuracy: list[float],
                     status: str = "succeeded", macs: int = 1_000_000,
                     params: dict[tuple[int, str], list[list[float]]] | None = None,
                     curve: tuple[list[float], list[list[float]]] | None = None,
                     test_accuracy: list[float] | None = None) -> uuid.UUID:
    """A run with one metrics row per value of val_accuracy (other metrics derived from it;
    test_accuracy equal to it unless given),
    optional parameter snapshots {(block, name): [values at epoch 1, at epoch 2, ...]} and an
    optional response curve (xs, ys per channel) on layer "act"."""
    from core.store.models import ActivationParam, EpochMetric, ResponseCurve

    with session_scope() as s:
        run = Run(experiment_id=experiment_id, seed=seed, status=status, attempt=1,
                  epochs_done=len(val_accuracy), epochs_total=len(val_accuracy),
                  num_params=1000, macs=macs,
                  final_metrics={"val_accuracy": val_accuracy[-1]} if val_accuracy else None)
        s.add(run)
        s.flush()
        tests = test_accuracy if test_accuracy is not None else val_accuracy
        for epoch, (acc, test) in enumerate(zip(val_accuracy, tests, strict=True), start=1):
            s.add(EpochMetric(run_id=run.id, epoch=epoch, val_accuracy=acc, val_top5=1.0,
                              val_loss=1 - acc, test_accuracy=test, test_top5=1.0,
                              test_loss=1 - test, train_loss=1.1 - acc, train_accuracy=acc,
                              lr=0.001, epoch_seconds=2.0 + seed, samples_per_second=100.0))
        for (block, name), per_epoch in (params or {}).items():
            for epoch, values in enumerate(per_epoch, start=1):
                s.add(ActivationParam(run_id=run.id, epoch=epoch, layer=f"b{block}",
                                      block=block, position=1, name=name, values=values))
        if curve is not None:
            s.add(ResponseCurve(run_id=run.id, layer="act", block=1, position=1,
                                xs=curve[0], ys=curve[1]))
        return run.id


def new_key(scope: Scope, **quotas: int) -> tuple[uuid.UUID, dict[str, str]]:
    """A key of `scope` (quotas as `Quotas` fields) and the header that sends it."""
    with session_scope() as s:
        row, key = create_key(s, f"{scope.value} key", scope,
                              get_settings().resolved_secret(), Quotas(**quotas))
        return row.id, {"Authorization": f"Bearer {key}"}
