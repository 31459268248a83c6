"""GET /searches/{id}: a search read from its rows. The confirmation's tests are computed here,
from the confirmation runs: each candidate against each baseline on the test metric at each
run's best-validation epoch, paired by seed (the same fresh seeds on both sides), Holm over
candidates x baselines. Selection never looked at the test split: screening ranks by
validation accuracy."""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from typing import Any

from scipy.stats import spearmanr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.analytics.verdicts import Verdict, decide
from core.domain.metrics import TEST_ACCURACY_AT_BEST
from core.domain.search_spec import SearchSpec
from core.domain.status import CandidateRole, CandidateStatus, RunStatus
from core.statistics.adastop import replay
from core.statistics.significance import holm, paired
from core.store import race
from core.store.lifecycle import search_trainings
from core.store.models import Run, Search, SearchCandidate, SearchDecision

ALPHA = 0.05
# The driver stores each function's outputs on 41 points of [-5, 5] first in its features.
CURVE_POINTS = 41
CURVE_XS = [-5.0 + 10.0 * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
CONFIRM_METRIC = TEST_ACCURACY_AT_BEST


def _by_seed(session: Session, experiment_id: uuid.UUID | None) -> dict[int, float]:
    if experiment_id is None:
        return {}
    runs = session.scalars(select(Run).where(Run.experiment_id == experiment_id,
                                             Run.status == RunStatus.succeeded))
    return {r.seed: float(r.final_metrics[CONFIRM_METRIC]) for r in runs
            if r.final_metrics and isinstance(r.final_metrics.get(CONFIRM_METRIC), int | float)}


def _confirmation(session: Session, rows: list[SearchCandidate],
                  spec: SearchSpec) -> list[dict[str, Any]]:
    confirmed = [c for c in rows if c.role == CandidateRole.candidate and c.confirm_experiment_id]
    baselines = [c for c in rows if c.role == CandidateRole.baseline and c.confirm_experiment_id]
    scores = {c.key: _by_seed(session, c.confirm_experiment_id) for c in confirmed + baselines}
    raced = _race(session, rows, spec)
    out = [_baseline_row(b, scores[b.key]) for b in baselines]
    tests = [_paired_test(c, b, scores[c.key], scores[b.key])
             for c in confirmed for b in baselines]
    adjusted = holm([t[4] for t in tests])
    for (c, b, mine, theirs, p), p_holm in zip(tests, adjusted, strict=True):
        out.append({"expression": c.expression, "role": CandidateRole.candidate,
                    "baseline": b.expression,
                    "test_mean": statistics.fmean(mine) if mine else None, "n": len(mine),
                    "p_value": p, "p_holm": p_holm,
                    "verdict": _verdict(mine, theirs, p_holm),
                    **(raced.get(c.key, {}) if b is baselines[0] else {})})
    return out


def _race(session: Session, rows: list[SearchCandidate],
          spec: SearchSpec) -> dict[str, dict[str, Any]]:
    """Each confirmed candidate's race against the first baseline (core/store/race.py): its
    decision, the round of it, and its confirmation seeds."""
    racers, values, _ = race.confirmation_values(session, rows)
    if not racers:
        return {}
    outcome = replay(values, race.confirmation_design(spec))
    return {c.key: {"race_decision": race.decision_of(comparison.decision, comparison.forced,
                                                      True),
                    "decided_round": comparison.decided_round, "seeds": len(v)}
            for c, comparison, v in zip(racers[1:], outcome.comparisons, values[1:],
                                        strict=True)}


def _paired_test(c: SearchCandidate, b: SearchCandidate, a: dict[int, float],
                 base: dict[int, float]) -> tuple[SearchCandidate, SearchCandidate, list[float],
                                                  list[float], float | None]:
    """A candidate against a baseline, paired on their common seeds."""
    common = sorted(set(a) & set(base))
    mine, theirs = [a[s] for s in common], [base[s] for s in common]
    result = paired(mine, theirs)
    return c, b, mine, theirs, result.p_value if result else None


def _baseline_row(b: SearchCandidate, seeds: dict[int, float]) -> dict[str, Any]:
    return {"expression": b.expression, "role": CandidateRole.baseline,
            "baseline": b.expression,
            "test_mean": statistics.fmean(seeds.values()) if seeds else None,
            "n": len(seeds), "p_value": None, "p_holm": None, "verdict": Verdict.baseline}


def _verdict(mine: list[float], theirs: list[float], p_holm: float | None) -> Verdict:
    """A candidate against a baseline, on their common seeds (higher is better)."""
    if p_holm is None:
        return Verdict.too_few if len(mine) < 2 else Verdict.paired_undefined
    return decide(p_holm, ALPHA, statistics.fmean(mine) > statistics.fmean(theirs))


def _surrogate(decisions: list[SearchDecision], realised: dict[str, float]) -> dict[str, Any]:
    """The surrogate's model and the rank correlation of what it predicted, when it chose a
    candidate, with what that candidate then scored."""
    pairs = [(d.decision["predicted"], realised[d.decision["chosen"]]) for d in decisions
             if d.decision.get("predicted") is not None and d.decision.get("chosen") in realised]
    model = next((d.decision.get("model") for d in decisions if d.decision.get("model")), None)
    rho = None
    if len(pairs) >= 3 and len({p for p, _ in pairs}) > 1 and len({r for _, r in pairs}) > 1:
        rho = float(spearmanr([p for p, _ in pairs], [r for _, r in pairs]).statistic)
    return {"model": model, "spearman": rho, "n": len(pairs)}


def _pareto(done: list[SearchCandidate]) -> list[dict[str, Any]]:
    """Candidates no other beats on both validation accuracy (higher) and MACs (fewer)."""
    points = [(c, float(c.score["val_mean"]), int(c.score["macs"])) for c in done
              if c.score and c.score.get("macs")]
    front = [(c, v, m) for c, v, m in points
             if not any(v2 >= v and m2 <= m and (v2 > v or m2 < m) for _, v2, m2 in points)]
    return [{"expression": c.expression, "val_mean": v, "macs": m}
            for c, v, m in sorted(front, key=lambda t: t[2])]


def _best_so_far(session: Session, done: list[SearchCandidate],
                 realised: dict[str, float]) -> list[dict[str, Any]]:
    """The best validation score against the trainings spent, in the order chosen."""
    out: list[dict[str, Any]] = []
    best: tuple[str, float] | None = None
    used = 0
    for c in sorted((c for c in done if c.chosen_at_step), key=lambda c: c.chosen_at_step or 0):
        used += int(session.scalar(select(func.count()).select_from(Run).where(
            Run.experiment_id == c.screen_experiment_id, Run.reused_from.is_(None))) or 0)
        if best is None or realised[c.key] > best[1]:
            best = (c.expression, realised[c.key])
        out.append({"trainings": used, "val_mean": best[1], "expression": best[0]})
    return out


def _progress(session: Session, search: Search) -> dict[str, Any]:
    """Trainings spent against the budget."""
    spent = search_trainings(session, search.id)
    budget = int(search.spec["budget"]["trainings"])
    return {"trainings": spent, "budget": budget,
            "fraction": min(1.0, spent / budget) if budget else 0.0}


SCORED = (CandidateStatus.done, CandidateStatus.diverged, CandidateStatus.failed)


def _scored(own: list[SearchCandidate]
            ) -> tuple[list[SearchCandidate], list[SearchCandidate], dict[str, float]]:
    """The candidates that were not filtered, those with a screening score, and the score."""
    candidates = [c for c in own if c.status != CandidateStatus.filtered]
    done = [c for c in candidates if c.status in SCORED and c.score]
    return candidates, done, {c.key: float((c.score or {})["val_mean"]) for c in done}


def search_report(session: Session, search: Search) -> dict[str, Any]:
    rows = list(session.scalars(select(SearchCandidate).where(
        SearchCandidate.search_id == search.id).order_by(SearchCandidate.position)))
    decisions = list(session.scalars(select(SearchDecision).where(
        SearchDecision.search_id == search.id).order_by(SearchDecision.step)))
    own = [c for c in rows if c.role == CandidateRole.candidate]
    candidates, done, realised = _scored(own)
    ranked = sorted(done, key=lambda c: (-realised[c.key], c.key))
    rank = {c.key: i + 1 for i, c in enumerate(ranked)}
    order = ranked + [c for c in candidates if c.key not in rank]
    return {
        "id": search.id, "name": search.name, "status": search.status, "phase": search.phase,
        "created_at": search.created_at, "started_at": search.started_at,
        "finished_at": search.finished_at, "error": search.error, "spec": search.spec,
        "progress": _progress(session, search),
        "counts": dict(Counter(c.status.value for c in own)),
        "candidates": [_candidate(c, rank.get(c.key)) for c in order],
        "filtered": [{"expression": c.expression, "reason": c.reason or ""}
                     for c in rows if c.status == CandidateStatus.filtered],
        "best_so_far": _best_so_far(session, done, realised),
        "confirmation": _confirmation(session, rows, SearchSpec.model_validate(search.spec)),
        "surrogate": _surrogate(decisions, realised),
        "pareto": _pareto(done),
        "steps": len(decisions), "curve_xs": CURVE_XS,
    }


def _candidate(c: SearchCandidate, rank: int | None) -> dict[str, Any]:
    score = c.score or {}
    return {"rank": rank, "expression": c.expression, "canonical": c.expression,
            "parameters": c.parameters, "equivalents": c.equivalents, "status": c.status,
            "reason": c.reason, "experiment_id": c.screen_experiment_id,
            "confirm_experiment_id": c.confirm_experiment_id,
            "val_mean": score.get("val_mean"), "val_std": score.get("val_std"),
            "test_mean": score.get("test_mean"), "n": score.get("n"),
            "macs": score.get("macs"), "chosen_at_step": c.chosen_at_step,
            "curve": list(c.features[:CURVE_POINTS]) if c.features else None}


def decision_log(session: Session, search: Search) -> list[dict[str, Any]]:
    return [{"step": d.step, "at": d.created_at.isoformat(), **d.decision}
            for d in session.scalars(select(SearchDecision).where(
                SearchDecision.search_id == search.id).order_by(SearchDecision.step))]
