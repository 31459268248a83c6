"""The search driver: one step at a time, all state in the database.

`advance(search_id)` takes the search's lease (a conditional UPDATE, so two workers never step
one search at once), does what the state calls for, and commits:
- phase `pool`: the space expanded (sampled above core.domain.search_spec.MAX_POOL), grouped into
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
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.domain.metrics import BEST_VAL_ACCURACY, TEST_ACCURACY_AT_BEST
from core.domain.search_space import canonical_or_reason, parse_schema
from core.domain.search_spec import CONFIRM_SEED_BASE, MAX_POOL, SearchSpec
from core.domain.settings import Settings, get_settings
from core.domain.spec import ExperimentSpec
from core.domain.status import CandidateRole, CandidateStatus, RunStatus, SearchPhase, SearchStatus
from core.domain.timeutil import utcnow
from core.statistics.adastop import Race, replay
from core.store import creation, race
from core.store.db import session_scope
from core.store.lifecycle import (
    cancel_search_runs,
    fail_search_step,
    search_trainings,
    take_search_lease,
)
from core.store.models import Experiment, Run, Search, SearchCandidate, SearchDecision
from core.store.queue import send_run_notices
from worker.search.functions import Candidate, Function, group
from worker.search.strategies import (
    Pool,
    RandomSearch,
    RegularizedEvolution,
    Strategy,
    SurrogateSearch,
)

log = logging.getLogger("actlab.search")

GRID_STEP = 5  # features: every 5th point of functions.GRID (41 values), clipped to +-10
CANDIDATE, BASELINE = CandidateRole.candidate, CandidateRole.baseline


def advance(search_id: uuid.UUID, settings: Settings | None = None) -> str:
    """One driver step, if the search is active and no other step holds it. Returns what it
    did: busy, finished, pooled, proposed, waiting, confirming, succeeded, cancelled,
    failed."""
    settings = settings or get_settings()
    token = uuid.uuid4().hex
    with session_scope() as s:
        if not take_search_lease(s, search_id, token):
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
            fail_search_step(s, search_id, token, f"{type(exc).__name__}: {exc}")
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
    if search.phase == SearchPhase.pool:
        _build_pool(s, search, spec)
        search.phase, search.status = SearchPhase.screen, SearchStatus.running
        search.started_at = utcnow()
        # and go on to propose the first round in the same step
    rows = list(s.scalars(select(SearchCandidate).where(SearchCandidate.search_id == search.id)
                          .order_by(SearchCandidate.position)))
    _sync(s, rows)
    if search.phase == SearchPhase.screen:
        return _screen(s, search, spec, rows, to_queue)
    if search.phase == SearchPhase.confirm:
        return _confirm(s, search, spec, rows, to_queue)
    return "finished"


def _screen(s: Session, search: Search, spec: SearchSpec, rows: list[SearchCandidate],
            to_queue: list[uuid.UUID]) -> str:
    """Wait for the round in flight, propose the next, or start the confirmation."""
    if any(c.role == CANDIDATE and c.status.pending for c in rows):
        return "waiting"
    if _propose(s, search, spec, rows, to_queue):
        return "proposed"
    search.phase = SearchPhase.confirm
    _start_confirmation(s, search, spec, rows, to_queue)
    return "confirming"


def _confirm(s: Session, search: Search, spec: SearchSpec, rows: list[SearchCandidate],
             to_queue: list[uuid.UUID]) -> str:
    """Wait for the confirmation's round; start the next if its race is undecided; the
    search succeeds once all have finished."""
    experiments = [c.confirm_experiment_id for c in rows if c.confirm_experiment_id]
    unfinished = s.scalar(select(func.count()).select_from(Run).where(
        Run.experiment_id.in_(experiments),
        Run.status.in_([RunStatus.queued, RunStatus.running]))) if experiments else 0
    if unfinished:
        return "waiting"
    if _next_confirmation_round(s, search, spec, rows, to_queue):
        return "confirming"
    for c in rows:
        if c.role == BASELINE:
            c.status = CandidateStatus.done
    search.phase, search.status = SearchPhase.done, SearchStatus.succeeded
    search.finished_at = utcnow()
    return "succeeded"


def _next_confirmation_round(s: Session, search: Search, spec: SearchSpec,
                             rows: list[SearchCandidate], to_queue: list[uuid.UUID]) -> bool:
    """The confirmation as a race (core/statistics/adastop.py, as adaptive sweeps run it): the
    confirmed candidates against the first baseline; the undecided ones and the baselines
    get the next round's fresh seeds. False when it is over (decided, at its last round, or
    a round came back without every value)."""
    state = _confirmation_race(s, spec, rows)
    if state is None:
        return False
    racers, outcome, started = state
    n = spec.seeds.confirm
    seeds = list(range(CONFIRM_SEED_BASE + started * n, CONFIRM_SEED_BASE + (started + 1) * n))
    topped = [c for i, c in enumerate(racers) if outcome.needs_more(i)]
    topped += [c for c in rows if c.role == BASELINE and c not in racers]
    for c in topped:
        experiment = s.get_one(Experiment, c.confirm_experiment_id)
        to_queue.extend(creation.top_up(s, experiment, seeds, get_settings()).to_queue)
    search.steps += 1
    s.add(SearchDecision(search_id=search.id, step=search.steps, decision={
        "rule": "confirm_round", "round": started + 1, "seeds": seeds,
        "topped_up": [c.key for c in topped],
        "decided": {c.key: comparison.decision for c, comparison
                    in zip(racers[1:], outcome.comparisons, strict=True)
                    if comparison.decided_round is not None}}))
    return True


def _confirmation_race(s: Session, spec: SearchSpec, rows: list[SearchCandidate]) -> tuple[
        list[SearchCandidate], Race, int] | None:
    """The confirmation's race so far and the rounds started; None when it has no next
    round (one round asked for, every value in and decided or at the cap, or a run that
    ended without its value)."""
    if spec.seeds.confirm_rounds == 1:
        return None
    racers, values, trained = race.confirmation_values(s, rows)
    if not racers or any(len(v) < t for v, t in zip(values, trained, strict=True)):
        return None
    started = trained[0] // spec.seeds.confirm
    outcome = replay(values, race.confirmation_design(spec))
    if outcome.finished or started >= spec.seeds.confirm_rounds:
        return None
    return racers, outcome, started


def _build_pool(s: Session, search: Search, spec: SearchSpec) -> None:
    """Expand, group, filter and featurise the space; one row per function and baseline."""
    expressions, genes = _expand(spec)
    functions, filtered = group(expressions)
    genes_of = _genes_by_function(functions, genes)
    fisher: dict[str, list[float]] = {}
    if spec.strategy == "surrogate":
        fisher = _known_fisher(s, search, spec)
        fisher |= _fisher_features(spec, [f.canonical for f in functions
                                          if not f.parameters and f.canonical not in fisher])
    rows = []
    for f in functions:
        grid = np.clip(np.array(f.outputs[::GRID_STEP]), -10, 10).tolist()
        rows.append(SearchCandidate(
            key=_key(f.canonical, f.parameters), role=CANDIDATE, expression=f.canonical,
            parameters=f.parameters, equivalents=f.equivalents, status=CandidateStatus.pool,
            genes=genes_of.get(f.canonical, []) if not f.parameters else [],
            features=grid + fisher.get(f.canonical, [])))
    for bad in filtered:
        rows.append(SearchCandidate(
            key=f"filtered:{len(rows)}:{bad.expression}"[:1200], role=CANDIDATE,
            expression=bad.expression[:600], parameters={}, equivalents=[],
            status=CandidateStatus.filtered, reason=bad.reason))
    for name in spec.baselines:
        rows.append(SearchCandidate(key=f"baseline:{name}", role=BASELINE, expression=name,
                                    parameters={}, equivalents=[], status=CandidateStatus.pool))
    for position, row in enumerate(rows):
        row.search_id, row.position = search.id, position
        s.add(row)
    s.flush()


def _expand(spec: SearchSpec) -> tuple[list[Candidate], dict[str, list[list[Any]]]]:
    """Every expression of the space (each schema's operator choices, sampled above its share
    of MAX_POOL), its listed candidates and templates; and each expansion's genes
    (expression -> its [schema, ops])."""
    rng = random.Random(spec.seed)
    space = spec.space
    genes: dict[str, list[list[Any]]] = {}
    expressions: list[Candidate] = []
    sampled = spec.summary()["sampled"]
    share = max(1, MAX_POOL // max(1, len(space.schemas)))
    for text in space.schemas:
        schema = parse_schema(text)
        sets = [space.unary if k == "unary" else space.binary for k in schema.slots]
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
    return expressions, genes


def _genes_by_function(functions: list[Function], genes: dict[str, list[list[Any]]]
                       ) -> dict[str, list[list[Any]]]:
    """Each expansion's genes, gathered on the function its canonical form belongs to."""
    function_of = {spelling: f.canonical for f in functions if not f.parameters
                   for spelling in f.spellings}
    genes_of: dict[str, list[list[Any]]] = {}
    for expression, gs in genes.items():
        owner = function_of.get(canonical_or_reason(expression)[0] or "")
        if owner is not None:
            genes_of.setdefault(owner, []).extend(gs)
    return genes_of


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
        SearchCandidate.search_id.in_(same), SearchCandidate.role == CANDIDATE,
        SearchCandidate.status != CandidateStatus.filtered))
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
        if c.role != CANDIDATE or c.screen_experiment_id is None or not c.status.pending:
            continue
        runs = list(s.scalars(select(Run).where(Run.experiment_id == c.screen_experiment_id)))
        c.status = _screened(runs)
        if c.status.pending:
            continue
        if c.status == CandidateStatus.failed:
            c.reason = "; ".join(r.error or r.status for r in runs if r.error)[:500] or None
        c.score = _score(runs)


def _screened(runs: list[Run]) -> CandidateStatus:
    """A screened candidate's status from its runs' statuses."""
    if any(r.status == RunStatus.running for r in runs):
        return CandidateStatus.running
    if any(r.status == RunStatus.queued for r in runs):
        return CandidateStatus.queued
    if all(r.status == RunStatus.succeeded for r in runs):
        return CandidateStatus.done
    if any(r.status == RunStatus.diverged for r in runs):
        return CandidateStatus.diverged
    return CandidateStatus.failed


def _final(runs: list[Run], key: str, statuses: tuple[RunStatus, ...]) -> list[float]:
    """A final metric of the runs that ended in `statuses` and recorded it."""
    return [float(v) for r in runs if r.status in statuses
            and isinstance(v := (r.final_metrics or {}).get(key), int | float)]


def _score(runs: list[Run]) -> dict[str, Any]:
    """A screened candidate's score: validation accuracy at the best epoch over its seeds
    (a diverged seed counts with what it reached), test accuracy of the succeeded ones."""
    vals = _final(runs, BEST_VAL_ACCURACY, (RunStatus.succeeded, RunStatus.diverged))
    tests = _final(runs, TEST_ACCURACY_AT_BEST, (RunStatus.succeeded,))
    return {"val_mean": statistics.fmean(vals) if vals else 0.0,
            "val_std": statistics.stdev(vals) if len(vals) > 1 else None,
            "test_mean": statistics.fmean(tests) if tests else None, "n": len(vals),
            "macs": next((r.macs for r in runs if r.macs), None)}


def _reserve(spec: SearchSpec) -> int:
    return spec.confirmation_trainings()


def _strategy(spec: SearchSpec, pool_size: int) -> Strategy:
    """The strategy object. A small pool starts the surrogate (and evolution's population)
    sooner: a third of the pool, between 3 and their defaults."""
    if spec.strategy == "random":
        return RandomSearch()
    if spec.strategy == "evolution":
        return RegularizedEvolution(population=min(20, max(3, pool_size // 3)))
    return SurrogateSearch(spec.surrogate, initial=min(10, max(3, pool_size // 3)))


def _pool(rows: list[SearchCandidate]) -> Pool:
    usable = [c for c in rows if c.role == CANDIDATE and c.status != CandidateStatus.filtered]
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


def _round_size(s: Session, search: Search, spec: SearchSpec) -> tuple[int, int]:
    """How many candidates the next round may train (0: the screening is over: its time or
    its trainings are spent, the confirmation's reserved), and the trainings spent so far."""
    if spec.budget.seconds and search.started_at and \
            (utcnow() - search.started_at).total_seconds() > spec.budget.seconds:
        return 0, 0
    spent = search_trainings(s, search.id)
    affordable = (spec.budget.trainings - _reserve(spec) - spent) // spec.seeds.screen
    return min(spec.concurrency, affordable), spent


def _results(candidates: list[SearchCandidate]) -> dict[str, float]:
    """The screening scores so far, in the order the candidates were chosen."""
    done = sorted((c for c in candidates if c.chosen_at_step is not None and c.score),
                  key=lambda c: c.chosen_at_step or 0)
    return {c.key: float((c.score or {}).get("val_mean", 0.0)) for c in done}


def _propose(s: Session, search: Search, spec: SearchSpec, rows: list[SearchCandidate],
             to_queue: list[uuid.UUID]) -> bool:
    """Start the next round of screening, if the budget and the pool allow; False when the
    screening is over."""
    k, spent = _round_size(s, search, spec)
    if k <= 0:
        return False
    candidates = [c for c in rows if c.role == CANDIDATE and
                  c.status != CandidateStatus.filtered]
    results = _results(candidates)
    pool = _pool(rows)
    rng = random.Random(f"{spec.seed}:{search.steps}")
    decisions = _strategy(spec, len(pool.keys)).propose(pool, results, set(), k, rng)
    if not decisions:
        return False
    by_key = {c.key: c for c in candidates}
    for decision in decisions:
        _screen_candidate(s, search, spec, by_key[decision.chosen], to_queue, {
            **decision.to_dict(), "strategy": spec.strategy,
            "model": spec.surrogate if spec.strategy == "surrogate" else None,
            "trainings_spent": spent,
            "results": {k: round(v, 6) for k, v in results.items()}})
    # A round that reused every result is already done: sync it so the next step goes on.
    s.flush()
    _sync(s, rows)
    return True


def _screen_candidate(s: Session, search: Search, spec: SearchSpec, c: SearchCandidate,
                      to_queue: list[uuid.UUID], decision: dict[str, Any]) -> None:
    """Start one chosen candidate's screening and log the decision with its experiment."""
    search.steps += 1
    experiment = _experiment(s, search, spec, c.expression, c.parameters, screening=True,
                             to_queue=to_queue)
    c.screen_experiment_id, c.status = experiment.id, CandidateStatus.queued
    c.chosen_at_step = search.steps
    s.add(SearchDecision(search_id=search.id, step=search.steps,
                         decision={**decision, "experiment_id": str(experiment.id)}))


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
    done = [c for c in rows if c.role == CANDIDATE and c.status == CandidateStatus.done and c.score]
    top = sorted(done, key=lambda c: (-float((c.score or {})["val_mean"]), c.key))
    for c in top[:spec.seeds.confirm_top]:
        c.confirm_experiment_id = _experiment(s, search, spec, c.expression, c.parameters,
                                              screening=False, to_queue=to_queue).id
    for c in rows:
        if c.role == BASELINE:
            c.confirm_experiment_id = _experiment(s, search, spec, c.expression, {},
                                                  screening=False, to_queue=to_queue,
                                                  baseline=True).id
            c.status = CandidateStatus.queued
    search.steps += 1
    s.add(SearchDecision(search_id=search.id, step=search.steps, decision={
        "rule": "confirm", "chosen": [c.key for c in top[:spec.seeds.confirm_top]],
        "baselines": list(spec.baselines), "seeds": [
            CONFIRM_SEED_BASE + i for i in range(spec.seeds.confirm)],
        "results": {c.key: round(float((c.score or {})["val_mean"]), 6) for c in done}}))
