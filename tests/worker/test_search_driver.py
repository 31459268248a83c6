"""The search driver against a real database, runs trained in-process by the runner (which
steps the search as each run ends): pool, screening rounds, confirmation, reuse across
searches, the same decisions from the same spec."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from core.domain.search_spec import SearchSpec
from core.store.db import session_scope
from core.store.models import Experiment, Run, Search, SearchCandidate, SearchDecision
from tests.backends import Backend
from worker.runner import execute_run
from worker.search.driver import CONFIRM_SEED_BASE, advance

SPEC: dict[str, Any] = {
    "name": "ci search",
    "task": {"model": {"name": "mlp", "params": {"hidden": 16}},
             "dataset": {"name": "digits"}, "training": {"epochs": 2, "lr": 0.01}},
    "space": {"candidates": ["tanh(x)", "relu(x)", "max(x, 0)", "x * sigmoid(x)", "silu(x)",
                             "exp(exp(x))", "abs(x)", "softsign(x)"]},
    "strategy": "random", "concurrency": 2, "budget": {"trainings": 12},
    "seeds": {"screen": 1, "confirm": 2, "confirm_top": 1}, "seed": 7,
}


def _submit(spec: dict[str, Any]) -> uuid.UUID:
    valid = SearchSpec.model_validate(spec)
    with session_scope() as s:
        search = Search(name=valid.name, spec=valid.model_dump(mode="json"))
        s.add(search)
        s.flush()
        return search.id


def _drive(search_id: uuid.UUID) -> None:
    """Step, then train every queued run of the search (the runner steps it after each)."""
    advance(search_id)
    for _ in range(50):
        with session_scope() as s:
            queued = s.scalars(select(Run.id).join(Experiment).where(
                Experiment.search_id == search_id, Run.status == "queued")).all()
            status = s.scalar(select(Search.status).where(Search.id == search_id))
        if status != "running" and status != "queued":
            return
        if not queued:
            assert advance(search_id) in ("proposed", "confirming", "succeeded", "waiting")
            continue
        for run_id in queued:
            execute_run(run_id, worker="t")
    raise AssertionError("the search did not finish in 50 rounds")


def _decisions(search_id: uuid.UUID) -> list[dict[str, Any]]:
    with session_scope() as s:
        rows = s.scalars(select(SearchDecision).where(SearchDecision.search_id == search_id)
                         .order_by(SearchDecision.step))
        # what a replay must repeat: everything but the ids and the money spent
        return [{k: v for k, v in r.decision.items()
                 if k not in ("experiment_id", "trainings_spent")} for r in rows]


def test_a_search_screens_dedupes_and_confirms(backend: Backend) -> None:
    search_id = _submit(SPEC)
    _drive(search_id)
    with session_scope() as s:
        search = s.get(Search, search_id)
        assert search is not None and search.status == "succeeded", search.error
        rows = {c.expression: c for c in s.scalars(
            select(SearchCandidate).where(SearchCandidate.search_id == search_id))}
        spent = s.scalar(select(func.count()).select_from(Run).join(Experiment).where(
            Experiment.search_id == search_id, Run.reused_from.is_(None)))
        assert spent is not None and spent <= 12
        # spellings of one function are one candidate
        assert rows["relu(x)"].equivalents == ["max(x, 0.0)"]
        assert rows["silu(x)"].equivalents == ["sigmoid(x) * x"]
        assert "max(x, 0)" not in rows and "sigmoid(x) * x" not in rows
        assert rows["exp(exp(x))"].status == "filtered"
        assert rows["exp(exp(x))"].reason.startswith("explodes")
        screened = [c for c in rows.values() if c.screen_experiment_id]
        assert all(c.status == "done" and c.score and 0 < c.score["val_mean"] <= 1
                   for c in screened)
        # budget 12 - confirmation (1 candidate + relu) x 2 seeds = 8 screening trainings,
        # at most 5 distinct functions here: all screened, in rounds of 2
        assert len(screened) == 5
        confirmed = [c for c in rows.values() if c.confirm_experiment_id]
        assert sorted(c.role for c in confirmed) == ["baseline", "candidate"]
        best = max(screened, key=lambda c: (c.score["val_mean"], c.key))
        assert any(c.expression == best.expression for c in confirmed if c.role == "candidate")
        for c in confirmed:
            seeds = s.scalars(select(Run.seed).where(
                Run.experiment_id == c.confirm_experiment_id)).all()
            assert sorted(seeds) == [CONFIRM_SEED_BASE, CONFIRM_SEED_BASE + 1]
    decisions = _decisions(search_id)
    assert [d["rule"] for d in decisions] == ["random"] * 5 + ["confirm"]
    assert decisions[2]["results_seen"] == 2 and len(decisions[2]["results"]) == 2

    # The same spec again: every training reused (nothing trained twice), same decisions.
    again = _submit(SPEC)
    _drive(again)
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Run).join(Experiment).where(
            Experiment.search_id == again, Run.reused_from.is_(None))) == 0
    assert _decisions(again) == decisions


def test_fisher_features_are_measured_once_per_task_and_seed(
        backend: Backend, monkeypatch: Any) -> None:
    import worker.search.driver as driver

    measured: list[list[str]] = []
    real = driver._fisher_features

    def counting(spec: SearchSpec, expressions: list[str]) -> dict[str, list[float]]:
        measured.append(sorted(expressions))
        return real(spec, expressions)

    monkeypatch.setattr(driver, "_fisher_features", counting)
    spec = {**SPEC, "strategy": "surrogate", "space": {"candidates": ["tanh(x)", "relu(x)"]}}
    first = _submit(spec)
    assert advance(first) == "proposed"
    second = _submit({**spec, "space": {"candidates": ["tanh(x)", "elu(x)"]}})
    assert advance(second) == "proposed"
    other_seed = _submit({**spec, "seed": 8})
    assert advance(other_seed) == "proposed"
    assert measured == [["relu(x)", "tanh(x)"], ["elu(x)"], ["relu(x)", "tanh(x)"]]
    with session_scope() as s:
        features = {c.search_id: c.features for c in s.scalars(
            select(SearchCandidate).where(SearchCandidate.expression == "tanh(x)"))}
    assert features[first] == features[second] and len(features[first]) > 41


def test_a_confirmation_in_rounds_races_the_candidates_against_the_baseline(
        backend: Backend) -> None:
    """seeds.confirm_rounds: the confirmation is a race (core/statistics/adastop.py). With 2 seeds a
    round nothing can be decided before the last (6 permutations), so every round is played:
    each one started only when the previous has ended, with fresh seeds, and logged."""
    spec = {**SPEC, "space": {"candidates": ["tanh(x)", "silu(x)"]}, "budget": {"trainings": 14},
            "seeds": {"screen": 1, "confirm": 2, "confirm_top": 1, "confirm_rounds": 3}}
    search_id = _submit(spec)
    _drive(search_id)
    with session_scope() as s:
        search = s.get(Search, search_id)
        assert search is not None and search.status == "succeeded", search.error
        confirmed = [c for c in s.scalars(select(SearchCandidate).where(
            SearchCandidate.search_id == search_id)) if c.confirm_experiment_id]
        for c in confirmed:
            seeds = s.scalars(select(Run.seed).where(
                Run.experiment_id == c.confirm_experiment_id)).all()
            assert sorted(seeds) == [CONFIRM_SEED_BASE + i for i in range(6)]
    decisions = _decisions(search_id)
    rounds = [d for d in decisions if d["rule"] == "confirm_round"]
    assert [(d["round"], d["seeds"]) for d in rounds] == [
        (2, [CONFIRM_SEED_BASE + 2, CONFIRM_SEED_BASE + 3]),
        (3, [CONFIRM_SEED_BASE + 4, CONFIRM_SEED_BASE + 5])]
    assert all(len(d["topped_up"]) == 2 and d["decided"] == {} for d in rounds)
    with session_scope() as s:
        from api.analytics.search import search_report

        report = search_report(s, s.get_one(Search, search_id))
    (row,) = [r for r in report["confirmation"] if r["role"] == "candidate"]
    assert (row["seeds"], row["n"]) == (6, 6)
    assert row["decided_round"] == (None if row["race_decision"] == "undecided" else 3)
