"""The search driver: one step at a time, all state in the database.

`advance(search_id)` takes the search's lease (a conditional UPDATE, so two workers never step
one search at once), does what the state calls for, and commits:
- phase `pool`: the space expanded (sampled above core.search_spec.MAX_POOL), grouped into
  distinct functions (functions.py; unfit ones `filtered` with the reason), features computed
  (the outputs on the grid; with the surrogate strategy also the Fisher spectrum of the task's
  network at initialisation, features.py, reused from earlier searches of the same task and
  seed), one row per function and baseline;
- phase `screen`: rounds of `concurrency` candidates. A round is proposed only when the
  previous one has finished, so every decision depends on results, never on timing: the
  same search replays to the same decisions, and a killed worker or a restarted API only
  delays it. Each candidate is an ordinary experiment (tagged `search:<id>`, `search_id`
  set) with the screening recipe; results already in the database for the same recipe are
  reused by experiment creation and cost nothing. Each choice is logged with what it saw;
- phase `confirm`: the best `confirm_top` candidates by validation accuracy, and every
  baseline, trained on the task's full recipe with fresh seeds (never the screening ones);
  the search succeeds when they have all finished. The tests (paired by seed, Holm over
  candidates x baselines) are computed where they are read (api/analytics/search.py).

Steps are sent by the API on submit, by the runner when a search's run ends, and by the
sweeper for any active search not stepped for a while, so a lost message only delays.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import statistics
import uuid
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import creation
from core.db import session_scope
from core.lifecycle import cancel_search_runs, search_trainings
from core.models import Experiment, Run, Search, SearchCandidate, SearchDecision
from core.queue import send_run_notices
from core.search_space import canonical_or_reason, parse_schema
from core.search_spec import CONFIRM_SEED_BASE, MAX_POOL, SearchSpec
from core.settings import Settings, get_settings
from core.spec import ExperimentSpec
from core.status import RunStatus, SearchStatus
from core.timeutil import utcnow
from worker.search.functions import Candidate, group
from worker.search.strategies import (
    Pool,
    RandomSearch,
    RegularizedEvolution,
    SurrogateSearch,
)

log = logging.getLogger("actlab.search")

LEASE_SECONDS = 900  # a step (a pool build included) holds the search at most this long
GRID_STEP = 5  # features: every 5th point of functions.GRID (41 values), clipped to +-10
ACTIVE = ("queued", "running")


def advance(search_id: uuid.UUID, settings: Settings | None = None) -> str:
    """One driver step, if the search is active and no other step holds it. Returns what it
    did: busy, finished, pooled, proposed, waiting, confirming, succeeded, cancelled,
    failed."""
    settings = settings or get_settings()
    token = uuid.uuid4().hex
    with session_scope() as s:
        now = utcnow()
        taken = s.execute(
            update(Search).where(
                Search.id == search_id, Search.status.in_(ACTIVE),
                (Search.lease_until.is_(None)) | (Search.lease_until < now))
            .values(lease_token=token, lease_until=now + timedelta(seconds=LEASE_SECONDS))
            .execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return "busy"
    to_queue: list[uuid.UUID] = []
    try:
        with session_scope() as s:
            search = s.get(Search, search_id)
            assert search is not None
            outcome = _step(s, search, to_queue)
            search.stepped_at = utcnow()
            search.lease_token, search.lease_until = None, None
    except Exception as exc:
        log.exception("search %s: step failed", search_id)
        with session_scope() as s:
            s.execute(update(Search).where(Search.id == search_id, Search.lease_token == token)
                      .values(status=SearchStatus.failed, error=f"{type(exc).__name__}: {exc}",
                              finished_at=utcnow(), lease_token=None, lease_until=None)
                      .execution_options(synchronize_session=False))
        return "failed"
    if to_queue:
        try:
            send_run_notices(to_queue, settings)
        except Exception as exc:  # the sweeper re-sends notices of queued runs
            log.warning("search %s: broker unavailable, runs left for the sweeper: %s",
                        search_id, exc)
    log.info("search %s: %s", search_id, outcome)
    return outcome


def _step(s: Session, search: Search, to_queue: list[uuid.UUID]) -> str:
    spec = SearchSpec.model_validate(search.spec)
    if search.cancel_requested:
        cancel_search_runs(s, search.id)
        search.status, search.finished_at = SearchStatus.cancelled, utcnow()
        return "cancelled"
    if search.phase == "pool":
        _build_pool(s, search, spec)
        search.phase, search.status, search.started_at = "screen", SearchStatus.running, utcnow()
        # and go on to propose the first round in the same step
    rows = list(s.scalars(select(SearchCandidate).where(SearchCandidate.search_id == search.id)
                          .order_by(SearchCandidate.position)))
    _sync(s, rows)
    if search.phase == "screen":
        pending = [c for c in rows if c.role == "candidate" and c.status in ("queued", "running")]
        if pending:
            return "waiting"
        proposed = _propose(s, search, spec, rows, to_queue)
        if proposed:
            return "proposed"
        search.phase = "confirm"
        _start_confirmation(s, search, spec, rows, to_queue)
        return "confirming"
    if search.phase == "confirm":
        experiments = [c.confirm_experiment_id for c in rows if c.confirm_experiment_id]
        unfinished = s.scalar(select(func.count()).select_from(Run).where(
            Run.experiment_id.in_(experiments),
            Run.status.in_([RunStatus.queued, RunStatus.running]))) if experiments else 0
        if unfinished:
            return "waiting"
        for c in rows:
            if c.role == "baseline":
                c.status = "done"
        search.phase, search.status, search.finished_at = "done", SearchStatus.succeeded, \
            utcnow()
        return "succeeded"
    return "finished"


def _build_pool(s: Session, search: Search, spec: SearchSpec) -> None:
    """Expand, group, filter and featurise the space; one row per function and baseline."""
    rng = random.Random(spec.seed)
    space = spec.space
    genes: dict[str, list[list[Any]]] = {}  # expression -> its [schema, ops]
    expressions: list[Candidate] = []
    sampled = spec.summary()["sampled"]
    for text in space.schemas:
        schema = parse_schema(text)
        sets = [space.unary if k == "unary" else space.binary for k in schema.slots]
        share = max(1, MAX_POOL // max(1, len(space.schemas)))
        if sampled or schema.size(space.unary, space.binary) > share:
            choices = {tuple(rng.choice(o) for o in sets) for _ in range(share * 3)}
            ops_list = sorted(choices)[:share]
        else:
            ops_list = list(itertools.product(*sets))
        for ops in ops_list:
            expression = schema.expand(ops)
            genes.setdefault(expression, []).append([schema.text, list(ops)])
            expressions.append(Candidate(expression))
    expressions += [Candidate(c) for c in space.candidates]
    expressions += [Candidate(t.expression, dict(t.parameters)) for t in space.templates]
    functions, filtered = group(expressions)
    # Each expansion's genes go to the function its canonical form belongs to.
    function_of = {spelling: f.canonical for f in functions if not f.parameters
                   for spelling in f.spellings}
    genes_of: dict[str, list[list[Any]]] = {}
    for expression, gs in genes.items():
        owner = function_of.get(canonical_or_reason(expression)[0] or "")
        if owner is not None:
            genes_of.setdefault(owner, []).extend(gs)
    fisher: dict[str, list[float]] = {}
    if spec.strategy == "surrogate":
        fisher = _known_fisher(s, search, spec)
        fisher |= _fisher_features(spec, [f.canonical for f in functions
                                          if not f.parameters and f.canonical not in fisher])
    position = 0
    for f in functions:
        spelled = genes_of.get(f.canonical, []) if not f.parameters else []
        grid = np.clip(np.array(f.outputs[::GRID_STEP]), -10, 10).tolist()
        s.add(SearchCandidate(
            search_id=search.id, key=_key(f.canonical, f.parameters), position=position,
            role="candidate", expression=f.canonical, parameters=f.parameters,
            equivalents=f.equivalents, status="pool", genes=spelled,
            features=grid + fisher.get(f.canonical, [])))
        position += 1
    for bad in filtered:
        key = f"filtered:{position}:{bad.expression}"[:1200]
        s.add(SearchCandidate(search_id=search.id, key=key, position=position, role="candidate",
                              expression=bad.expression[:600], parameters={}, equivalents=[],
                              status="filtered", reason=bad.reason))
        position += 1
    for name in spec.baselines:
        s.add(SearchCandidate(search_id=search.id, key=f"baseline:{name}", position=position,
                              role="baseline", expression=name, parameters={}, equivalents=[],
                              status="pool"))
        position += 1
    s.flush()


def _key(expression: str, parameters: dict[str, float]) -> str:
    return expression if not parameters else \
        f"{expression} {json.dumps(parameters, sort_keys=True)}"


def _known_fisher(s: Session, search: Search, spec: SearchSpec) -> dict[str, list[float]]:
    """Fisher features earlier searches measured on the same task and seed (the same
    network at initialisation), by canonical form: measured once, reused."""
    task = search.spec["task"]
    same = [other.id for other in s.scalars(select(Search).where(Search.id != search.id))
            if other.spec.get("task") == task and other.spec.get("seed") == spec.seed]
    if not same:
        return {}
    rows = s.execute(select(SearchCandidate.expression, SearchCandidate.features).where(
        SearchCandidate.search_id.in_(same), SearchCandidate.role == "candidate",
        SearchCandidate.status != "filtered"))
    grid = len(range(0, 201, GRID_STEP))
    return {expression: list(features[grid:]) for expression, features in rows
            if features and len(features) > grid}


def _fisher_features(spec: SearchSpec, expressions: list[str]) -> dict[str, list[float]]:
    """The Fisher spectrum histograms of each fixed function on the task's network at
    initialisation (the search's seed), on one batch of its training split."""
    from worker.search.features import BATCH, fisher_features
    from worker.training import TrainConfig
    from worker.training.datasets import load_dataset
    from worker.training.setup import DATA_ROOT, prepare

    task = spec.task
    data = load_dataset(task.dataset.name, task.dataset.params, DATA_ROOT, checked=True)
    out: dict[str, list[float]] = {}
    for expression in expressions:
        config = TrainConfig(activation="formula", activation_params={"expression": expression},
                             model=task.model.name, model_params=dict(task.model.params),
                             dataset=task.dataset.name, dataset_params=dict(task.dataset.params),
                             seed=spec.seed, training=task.training)
        prep = prepare(config, "cpu", DATA_ROOT, data)
        try:
            layers = fisher_features(prep.model, prep.train_x[:BATCH], prep.train_y[:BATCH])
        except (RuntimeError, ValueError):  # an activation torch.func cannot batch
            continue
        out[expression] = [v for layer in layers.values() for v in layer]
    return out


def _sync(s: Session, rows: list[SearchCandidate]) -> None:
    """Each screened candidate's status and score from its experiment's runs."""
    for c in rows:
        if c.role != "candidate" or c.screen_experiment_id is None or \
                c.status not in ("queued", "running"):
            continue
        runs = list(s.scalars(select(Run).where(Run.experiment_id == c.screen_experiment_id)))
        if any(r.status in (RunStatus.queued, RunStatus.running) for r in runs):
            c.status = "running" if any(r.status == RunStatus.running for r in runs) \
                else "queued"
            continue
        vals: list[float] = [
            float(v) for r in runs if r.status in (RunStatus.succeeded, RunStatus.diverged)
            and isinstance(v := (r.final_metrics or {}).get("best_val_accuracy"), int | float)]
        tests: list[float] = [
            float(v) for r in runs if r.status == RunStatus.succeeded
            and isinstance(v := (r.final_metrics or {}).get("test_accuracy_at_best"), int | float)]
        if all(r.status == RunStatus.succeeded for r in runs):
            c.status = "done"
        elif any(r.status == RunStatus.diverged for r in runs):
            c.status = "diverged"
        else:
            c.status = "failed"
            c.reason = "; ".join(r.error or r.status for r in runs if r.error)[:500] or None
        c.score = {"val_mean": statistics.fmean(vals) if vals else 0.0,
                   "val_std": statistics.stdev(vals) if len(vals) > 1 else None,
                   "test_mean": statistics.fmean(tests) if tests else None, "n": len(vals),
                   "macs": next((r.macs for r in runs if r.macs), None)}


def _reserve(spec: SearchSpec) -> int:
    return (spec.seeds.confirm_top + len(spec.baselines)) * spec.seeds.confirm


def _strategy(spec: SearchSpec, pool_size: int) -> Any:
    """The strategy object. A small pool starts the surrogate (and evolution's population)
    sooner: a third of the pool, between 3 and their defaults."""
    if spec.strategy == "random":
        return RandomSearch()
    if spec.strategy == "evolution":
        return RegularizedEvolution(population=min(20, max(3, pool_size // 3)))
    return SurrogateSearch(spec.surrogate, initial=min(10, max(3, pool_size // 3)))


def _pool(rows: list[SearchCandidate]) -> Pool:
    usable = [c for c in rows if c.role == "candidate" and c.status != "filtered"]
    width = max((len(c.features or []) for c in usable), default=0)
    # A function without the Fisher part (torch.func could not batch it) gets zeros there.
    features = np.array([list(c.features or []) + [0.0] * (width - len(c.features or []))
                         for c in usable]) if usable else np.zeros((0, 0))
    genes: dict[str, tuple[Any, tuple[str, ...]]] = {}
    function_of: dict[tuple[str, tuple[str, ...]], str] = {}
    for c in usable:
        for schema_text, ops in c.genes or []:
            genes.setdefault(c.key, (parse_schema(schema_text), tuple(ops)))
            function_of[(schema_text, tuple(ops))] = c.key
    return Pool([c.key for c in usable], features, genes, function_of)


def _propose(s: Session, search: Search, spec: SearchSpec, rows: list[SearchCandidate],
             to_queue: list[uuid.UUID]) -> bool:
    """Start the next round of screening, if the budget and the pool allow; False when the
    screening is over."""
    if spec.budget.seconds and search.started_at and \
            (utcnow() - search.started_at).total_seconds() > spec.budget.seconds:
        return False
    spent = search_trainings(s, search.id)
    affordable = (spec.budget.trainings - _reserve(spec) - spent) // spec.seeds.screen
    k = min(spec.concurrency, affordable)
    if k <= 0:
        return False
    candidates = [c for c in rows if c.role == "candidate" and c.status != "filtered"]
    done = sorted((c for c in candidates if c.chosen_at_step is not None and c.score),
                  key=lambda c: c.chosen_at_step or 0)
    results = {c.key: float((c.score or {}).get("val_mean", 0.0)) for c in done}
    pool = _pool(rows)
    rng = random.Random(f"{spec.seed}:{search.steps}")
    decisions = _strategy(spec, len(pool.keys)).propose(pool, results, set(), k, rng)
    if not decisions:
        return False
    by_key = {c.key: c for c in candidates}
    for decision in decisions:
        c = by_key[decision.chosen]
        search.steps += 1
        experiment = _experiment(s, search, spec, c.expression, c.parameters,
                                 screening=True, to_queue=to_queue)
        c.screen_experiment_id, c.status, c.chosen_at_step = experiment.id, "queued", search.steps
        s.add(SearchDecision(search_id=search.id, step=search.steps, decision={
            **decision.to_dict(), "strategy": spec.strategy,
            "model": spec.surrogate if spec.strategy == "surrogate" else None,
            "trainings_spent": spent, "experiment_id": str(experiment.id),
            "results": {k: round(v, 6) for k, v in results.items()}}))
    # A round that reused every result is already done: sync it so the next step goes on.
    s.flush()
    _sync(s, rows)
    return True


def _experiment(s: Session, search: Search, spec: SearchSpec, expression: str,
                parameters: dict[str, Any], *, screening: bool, to_queue: list[uuid.UUID],
                baseline: bool = False) -> Experiment:
    activation: dict[str, Any] = {"name": expression} if baseline else {
        "name": "formula", "params": {"expression": expression, "parameters": parameters}}
    stage = "screen" if screening else "confirm"
    body = spec.trial(f"{search.name or 'search'} [{stage}]: {expression}", activation,
                      screening=screening, tags=[f"search:{search.id}", f"search-{stage}"])
    # The deployment's limits again: they may have changed since the search was accepted.
    created = creation.create_experiment(s, ExperimentSpec.model_validate(body),
                                         get_settings(), owner_key_id=search.owner_key_id)
    created.experiment.search_id = search.id
    to_queue.extend(created.to_queue)
    return created.experiment


def _start_confirmation(s: Session, search: Search, spec: SearchSpec,
                        rows: list[SearchCandidate], to_queue: list[uuid.UUID]) -> None:
    """The best candidates by validation accuracy, and every baseline, on the full recipe
    with fresh seeds."""
    done = [c for c in rows if c.role == "candidate" and c.status == "done" and c.score]
    top = sorted(done, key=lambda c: (-float((c.score or {})["val_mean"]), c.key))
    for c in top[:spec.seeds.confirm_top]:
        c.confirm_experiment_id = _experiment(s, search, spec, c.expression, c.parameters,
                                              screening=False, to_queue=to_queue).id
    for c in rows:
        if c.role == "baseline":
            c.confirm_experiment_id = _experiment(s, search, spec, c.expression, {},
                                                  screening=False, to_queue=to_queue,
                                                  baseline=True).id
            c.status = "queued"
    search.steps += 1
    s.add(SearchDecision(search_id=search.id, step=search.steps, decision={
        "rule": "confirm", "chosen": [c.key for c in top[:spec.seeds.confirm_top]],
        "baselines": list(spec.baselines), "seeds": [
            CONFIRM_SEED_BASE + i for i in range(spec.seeds.confirm)],
        "results": {c.key: round(float((c.score or {})["val_mean"]), 6) for c in done}}))
