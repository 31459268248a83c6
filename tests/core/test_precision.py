"""Precision is part of what a result means: the spec names it, the run records it, and a
result is reused only for a request at the same precision."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import update

from core.domain.settings import get_settings
from core.domain.spec import RECIPE_VERSION, ExperimentSpec, spec_hash
from core.store.creation import create_experiment
from core.store.db import session_scope
from core.store.models import Run
from tests.backends import Backend
from tests.factories import add_finished_run, make_experiment


def _spec(**training: object) -> ExperimentSpec:
    return ExperimentSpec.model_validate({"activation": {"name": "relu"}, "seeds": [0, 1],
                                          "training": {"epochs": 1, **training}})


def test_float32_keeps_the_recipe_identity_it_had_before_precision_was_named() -> None:
    spec = _spec()
    # (resources and a matched sweep's match came later, and are not part of the recipe either)
    recipe = spec.model_dump(mode="json", exclude={"name", "tags", "priority", "seeds",
                                                   "resources", "role", "tuned", "match"})
    for later in ("precision", "betas", "warmup_steps", "decay_all", "sparsity_cett"):
        del recipe["training"][later]  # settings added later, all at their defaults
    recipe["recipe_version"] = RECIPE_VERSION
    before = hashlib.sha256(json.dumps(recipe, sort_keys=True, separators=(",", ":"))
                            .encode()).hexdigest()
    assert spec_hash(spec) == before == spec_hash(_spec(precision="fp32"))
    assert spec_hash(_spec(precision="bf16")) != before


def test_a_result_is_reused_only_at_the_precision_it_was_trained_at(backend: Backend) -> None:
    experiment_id, _ = make_experiment(seeds=(), training={"epochs": 1})
    # seed 0 trained in float32; seed 1 under the same recipe in bf16 (a CUDA run from
    # before the spec named a precision)
    fp32 = add_finished_run(experiment_id, 0, [0.9])
    bf16 = add_finished_run(experiment_id, 1, [0.8])
    with session_scope() as s:
        s.execute(update(Run).where(Run.id == fp32).values(provenance={"precision": "fp32"}))
        s.execute(update(Run).where(Run.id == bf16).values(
            provenance={"precision": "bf16-autocast"}))
    with session_scope() as s:
        created = create_experiment(s, _spec(), get_settings())
        runs = {r.seed: r for r in created.experiment.runs}
        assert runs[0].reused_from == fp32 and runs[1].reused_from is None
        assert [r.id for r in runs.values() if r.reused_from is None] == created.to_queue
    # a bf16 request is another recipe, and reuses what trained under it in bf16
    bf16_experiment, _ = make_experiment(seeds=(), training={"epochs": 1, "precision": "bf16"})
    earlier = add_finished_run(bf16_experiment, 0, [0.85])
    with session_scope() as s:
        s.execute(update(Run).where(Run.id == earlier).values(
            provenance={"precision": "bf16-autocast"}))
    with session_scope() as s:
        created = create_experiment(s, _spec(precision="bf16"), get_settings())
        runs = {r.seed: r for r in created.experiment.runs}
        assert runs[0].reused_from == earlier and runs[1].reused_from is None
