"""Creating experiments (from POST /experiments, seed top-ups and sweeps): one run per seed,
reusing the results of an earlier succeeded run with the same recipe and seed unless forced."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, Uuid, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.domain.search_spec import SearchSpec
from core.domain.settings import Settings
from core.domain.spec import (
    RECIPE_VERSION,
    RECORDED_PRECISION,
    ExperimentSpec,
    SpecError,
    check_limits,
    spec_hash,
    stored_spec,
)
from core.domain.status import RunKind, RunStatus
from core.domain.timeutil import utcnow
from core.store.lifecycle import IllegalTransition, retry_run
from core.store.models import RUN_RESULT_TABLES, Experiment, Run

COPIED_RUN_FIELDS = ("attempt", "device", "epochs_done", "epochs_total", "final_metrics",
                     "best_epoch", "num_params", "macs", "activation_macs",
                     "peak_memory_bytes", "result", "started_at", "finished_at", "provenance")


@dataclass
class Created:
    experiment: Experiment
    to_queue: list[uuid.UUID] = field(default_factory=list)
    reused: list[uuid.UUID] = field(default_factory=list)


def epochs_total(spec: ExperimentSpec) -> int:
    # An lr range test is one pass of lr_range_steps steps: progress is 0 or 1 of 1.
    return 1 if spec.kind == RunKind.lr_range else spec.training.epochs


def previous_successes(session: Session, recipe: str, seeds: list[int],
                       precision: str = "fp32") -> dict[int, Run]:
    """The newest succeeded run of this recipe for each seed (original runs only) that was
    trained at this precision: before the spec named one, CUDA runs trained in bf16 under
    the same recipe, and their numbers must not answer a float32 request."""
    rows = session.scalars(
        select(Run).join(Experiment, Experiment.id == Run.experiment_id)
        .where(Experiment.spec_hash == recipe, Run.seed.in_(seeds),
               Run.status == RunStatus.succeeded, Run.reused_from.is_(None))
        .order_by(Run.finished_at)).all()
    wanted = RECORDED_PRECISION[precision]
    return {run.seed: run for run in rows
            if (run.provenance or {}).get("precision", "fp32") == wanted}


def add_runs(session: Session, experiment: Experiment, spec: ExperimentSpec, seeds: list[int],
             force: bool, out: Created, settings: Settings, *,
             max_runs: int | None = None) -> None:
    """Queue a run per seed, or copy a finished one (rows included) when the recipe and seed
    already succeeded. Flushes; the caller commits, then sends notices for out.to_queue.

    Every run is created here (tests/core/test_creation_paths.py holds every caller to it),
    so the deployment's limits are applied here, to every way of creating one: experiments,
    sweeps, top-ups, search rounds and confirmations. Retries go through `retry`."""
    check_limits(spec.model_copy(update={"seeds": seeds}), settings, max_runs=max_runs)
    now = utcnow()
    done = {} if force else previous_successes(session, experiment.spec_hash, seeds,
                                               spec.training.precision)
    for seed in seeds:
        source = done.get(seed)
        run = Run(experiment_id=experiment.id, seed=seed, epochs_total=epochs_total(spec),
                  queued_at=now, enqueued_at=now)
        if source is not None:
            run.status = RunStatus.succeeded
            run.reused_from = source.id
            for name in COPIED_RUN_FIELDS:
                setattr(run, name, getattr(source, name))
        session.add(run)
        session.flush()
        if source is None:
            out.to_queue.append(run.id)
            continue
        out.reused.append(run.id)
        for table in RUN_RESULT_TABLES:
            src = cast(Table, table.__table__)
            # every column but the run (replaced) and surrogate keys (generated)
            columns = [c.name for c in src.columns if c.name not in ("id", "run_id")]
            rows = select(literal(run.id, Uuid()), *[src.c[c] for c in columns]) \
                .where(src.c.run_id == source.id)
            session.execute(insert(src).from_select(["run_id", *columns], rows))


def create_experiment(session: Session, spec: ExperimentSpec, settings: Settings, *,
                      force: bool = False, sweep_id: uuid.UUID | None = None,
                      owner_key_id: uuid.UUID | None = None,
                      max_runs: int | None = None) -> Created:
    """Store the experiment and a run per seed (flushed, not committed); SpecError beyond
    the deployment's limits (max_runs: the seeds allowed, ACTLAB_MAX_RUNS_PER_REQUEST by
    default)."""
    experiment = Experiment(
        name=spec.name or f"{spec.activation.name} / {spec.model.name} / {spec.dataset.name}",
        kind=spec.kind, spec=spec.model_dump(mode="json"), spec_hash=spec_hash(spec),
        activation=spec.activation.name, model=spec.model.name, dataset=spec.dataset.name,
        tags=spec.tags, priority=spec.priority, device=spec.resources.device,
        role=spec.role, created_at=utcnow(), sweep_id=sweep_id,
        owner_key_id=owner_key_id)
    session.add(experiment)
    session.flush()
    out = Created(experiment)
    add_runs(session, experiment, spec, spec.seeds, force, out, settings, max_runs=max_runs)
    return out


def top_up(session: Session, experiment: Experiment, seeds: list[int], settings: Settings,
           *, force: bool = False) -> Created:
    """A run per new seed of `experiment` (or a reused result), flushed, not committed: a
    seed top-up, a race's next round, a confirmation's next round."""
    out = Created(experiment)
    add_runs(session, experiment, stored_spec({**experiment.spec, "seeds": seeds}), seeds,
             force, out, settings)
    # The stored spec lists every seed the experiment has, so a re-submission of it (or an
    # export) describes what was trained. A new dict: JSON columns track assignment.
    experiment.spec = {**experiment.spec,
                       "seeds": sorted({r.seed for r in experiment.runs} | set(seeds))}
    return out


def add_seeds(session: Session, experiment: Experiment, seeds: list[int], settings: Settings,
              *, force: bool = False, before_commit: Callable[[], None] = lambda: None) -> Created:
    """Top `experiment` up with `seeds` (one new run each, or a reused result) and commit.
    Refused: seeds it already has (422), a recipe of an older version (409: new seeds would
    train on other data), seeds added concurrently (409)."""
    if experiment.recipe_version != RECIPE_VERSION:
        raise IllegalTransition(
            f"experiment {experiment.id} was trained before the validation split existed "
            f"(recipe version {experiment.recipe_version}); new seeds would train on other "
            f"data. Submit the spec again as a new experiment")
    existing = sorted({r.seed for r in experiment.runs} & set(seeds))
    if existing:  # a conflict with what exists, not a malformed request
        raise IllegalTransition(f"seeds already in experiment {experiment.id}: {existing}")
    try:
        out = top_up(session, experiment, seeds, settings, force=force)
        before_commit()
        session.commit()
    except IntegrityError:  # a concurrent request added one of these seeds first
        session.rollback()
        raise IllegalTransition("some of these seeds were added concurrently; re-read and retry")\
            from None
    return out


def retry(session: Session, run: Run, settings: Settings) -> None:
    """Queue a finished, unsuccessful run again, within the deployment's limits as they are
    now (they may have changed since the run was created). Flushes; the caller commits."""
    check_limits(stored_spec({**run.experiment.spec, "seeds": [run.seed]}), settings)
    retry_run(session, run)


# Screening and confirmation stand for every candidate: a formula has the widths of the
# model (its channel multiplier is 1); a baseline brings its own.
_ANY_CANDIDATE: dict[str, Any] = {"name": "formula",
                                  "params": {"expression": "x", "parameters": {}}}


def check_search(spec: SearchSpec, settings: Settings) -> None:
    """The deployment's limits on every experiment a search will create (screening and
    confirmation, candidates and baselines), at the door: SpecError with the search's own
    field names."""
    errors: dict[tuple[tuple[str | int, ...], str], dict[str, Any]] = {}
    for screening in (True, False):
        baselines: list[dict[str, Any]] = [{"name": b} for b in spec.baselines]
        for activation in [_ANY_CANDIDATE, *baselines]:
            body = spec.trial("limits", activation, screening=screening, tags=[])
            try:
                check_limits(ExperimentSpec.model_validate(body), settings)
            except SpecError as exc:
                for e in exc.errors:
                    loc = _SEARCH_LOC.get((e["loc"], screening), ("task", *e["loc"]))
                    if loc == ("screen_epochs",) and spec.screen_epochs is None:
                        loc = ("task", *e["loc"])
                    errors.setdefault((loc, e["msg"]), {**e, "loc": loc})
    if errors:
        raise SpecError(list(errors.values()))


# Where a limit of an experiment a search creates comes from in the search's own spec.
_SEARCH_LOC: dict[tuple[tuple[str | int, ...], bool], tuple[str | int, ...]] = {
    (("training", "epochs"), True): ("screen_epochs",),
    (("seeds",), True): ("seeds", "screen"),
    (("seeds",), False): ("seeds", "confirm"),
}
