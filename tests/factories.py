"""Rows for tests, written straight to the database (bypassing the API where a test needs
states or specs the API would not produce)."""

from __future__ import annotations

import uuid
from typing import Any

from core.db import session_scope
from core.models import Experiment, Run
from core.settings import get_settings
from core.spec import ExperimentSpec, spec_hash, validate_spec


def make_experiment(seeds: tuple[int, ...] = (0,), raw_training: dict[str, Any] | None = None,
                    **spec: Any) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Store a validated experiment with queued runs. `raw_training` overrides training
    settings after validation (e.g. an lr the API would refuse, to force divergence)."""
    body = {"activation": {"name": "relu"}, "training": {"epochs": 2}, **spec,
            "seeds": list(seeds)}
    valid = validate_spec(ExperimentSpec.model_validate(body), get_settings())
    stored = valid.model_dump(mode="json")
    stored["training"].update(raw_training or {})
    with session_scope() as s:
        exp = Experiment(name="t", kind=valid.kind, spec=stored, spec_hash=spec_hash(valid),
                         activation=valid.activation.name, model=valid.model.name,
                         dataset=valid.dataset.name, tags=[], priority=0)
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
