"""Seeds until decided: an adaptive sweep is a race. Round k trains seeds
(k - 1) n ... k n - 1 of every entry still undecided and of the baseline; when every run of
the round has ended, AdaStop (core/adastop.py) decides what it can, the undecided entries and
the baseline get the next round's seeds, and the race ends when all are decided or after
`max_rounds` rounds.

A round starts only when the previous one has ended, so the decisions depend on the values,
never on timing. Nothing of the race lives outside the database: `advance` reads the runs,
replays every round from their values and moves `sweeps.race_round` on with a conditional
UPDATE, so any process may call it at any time, any number of times (the worker as a run
ends, the sweeper to recover) and exactly one of them starts each round.
"""

from __future__ import annotations

import math
import statistics
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import creation
from core.adastop import CONTINUE, EQUAL, LARGER, Design, Race, replay
from core.labels import activation_label
from core.metrics import HIGHER_IS_BETTER, TEST_ACCURACY_AT_BEST
from core.models import Experiment, Run, SearchCandidate, Sweep
from core.power import seeds_needed
from core.results import final_rows
from core.settings import Settings
from core.spec import Adaptive, SpecError
from core.status import CandidateRole, RunStatus

# What an entry's comparison with the baseline says, in the contract's words.
BETTER, WORSE, NO_DIFFERENCE, UNDECIDED, BASELINE = (
    "better", "worse", "no_difference", "undecided", "baseline")
# The power a fixed design is sized for, beside the race's seeds.
FIXED_DESIGN_POWER = 0.8


@dataclass
class Entry:
    experiment_id: uuid.UUID
    label: str
    seeds: list[int]  # every seed it has, in order
    values: list[float]  # its succeeded runs' values, in seed order
    unfinished: int  # runs not yet ended
    failed: list[str]  # "seed 3 failed: ..." for runs that ended without a value


def adaptive_of(sweep: Sweep) -> Adaptive | None:
    raw = (sweep.spec or {}).get("adaptive")
    return None if raw is None else Adaptive.model_validate(raw)


def design_of(sweep: Sweep, adaptive: Adaptive) -> Design:
    # The permutations' generator is seeded by the sweep, so a replay draws the same ones.
    return Design(per_round=adaptive.per_round, max_rounds=adaptive.max_rounds,
                  alpha=adaptive.alpha, seed=zlib.crc32(sweep.id.bytes) & 0x7FFFFFFF)


def entries(session: Session, sweep: Sweep, adaptive: Adaptive) -> list[Entry]:
    """The sweep's experiments as race entries, the baseline first, then in creation order."""
    experiments = session.scalars(select(Experiment).where(Experiment.sweep_id == sweep.id,
                                                           Experiment.role == "evaluation")
                                  .order_by(Experiment.created_at, Experiment.id)).all()
    column = f"{adaptive.stat}_{adaptive.metric}"
    values = {r.run_id: getattr(r, column)
              for r in final_rows(session, Experiment.sweep_id == sweep.id)}
    out = []
    for experiment in experiments:
        runs = sorted(experiment.runs, key=lambda r: r.seed)
        failed = [f"seed {r.seed} {r.status.value}" + (f": {r.error}" if r.error else "")
                  for r in runs if r.status.finished and r.status != RunStatus.succeeded]
        failed += [f"seed {r.seed} has no {column}" for r in runs
                   if r.status == RunStatus.succeeded and _missing(values.get(r.id))]
        out.append(Entry(
            experiment_id=experiment.id, label=activation_label(experiment.activation,
                                                                experiment.spec),
            seeds=[r.seed for r in runs],
            values=[float(values[r.id]) for r in runs if not _missing(values.get(r.id))],
            unfinished=sum(not r.status.finished for r in runs), failed=failed))
    # the baseline first (the sweep lists it once, ungated; its label may carry its params),
    # the rest in their order
    base = next((i for i, x in enumerate(experiments) if x.activation == adaptive.baseline
                 and not (x.spec.get("activation") or {}).get("gated")), None)
    return out if base is None else [out[base], *out[:base], *out[base + 1:]]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def advance(session: Session, sweep_id: uuid.UUID, settings: Settings) -> list[uuid.UUID]:
    """Start the race's next round if its current one has ended, or end the race; commits and
    returns the runs to send notices for (after the commit). Any number of callers at once:
    one of them moves the round on, the others change nothing."""
    sweep = session.get(Sweep, sweep_id)
    adaptive = adaptive_of(sweep) if sweep is not None else None
    if sweep is None or adaptive is None or sweep.race_round is None or sweep.race_finished:
        return []
    racers = entries(session, sweep, adaptive)
    if any(e.unfinished for e in racers):
        return []  # the round goes on
    current = sweep.race_round
    failed = [f"{e.label}: {problem}" for e in racers for problem in e.failed]
    race = replay([e.values for e in racers], design_of(sweep, adaptive))
    queued: list[uuid.UUID] = []
    note = None
    try:
        if failed:  # a round without all its values cannot be tested: the race ends here
            note = f"stopped after round {current}: " + "; ".join(failed[:5])
        elif not race.finished:
            try:
                queued = _next_round(session, sweep, racers, race, adaptive, settings)
            except SpecError as exc:  # the deployment's limits changed since the sweep
                session.rollback()
                queued, note = [], f"stopped after round {current}: round {current + 1} " \
                                   f"is beyond the deployment's limits: {exc}"
        moved = session.execute(
            update(Sweep).where(Sweep.id == sweep.id, Sweep.race_round == current,
                                Sweep.race_finished.is_(False))
            .values(race_round=current + 1 if queued else current,
                    race_finished=not queued, race_note=note)
            .execution_options(synchronize_session=False))
    except IntegrityError:  # another caller added this round's seeds first
        session.rollback()
        return []
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()  # another caller moved it on first
        return []
    session.commit()
    return queued


def _next_round(session: Session, sweep: Sweep, racers: list[Entry], race: Race,
                adaptive: Adaptive, settings: Settings) -> list[uuid.UUID]:
    n, k = adaptive.per_round, sweep.race_round or 0
    seeds = list(range(k * n, (k + 1) * n))
    queued: list[uuid.UUID] = []
    for i, entry in enumerate(racers):
        if not race.needs_more(i):
            continue
        experiment = session.get_one(Experiment, entry.experiment_id)
        queued += creation.top_up(session, experiment, seeds, settings).to_queue
    return queued


def decision_of(comparison_decision: str, forced: bool, higher_is_better: bool) -> str:
    """The package's words (the baseline is larger, smaller or equal) as the entry's."""
    if comparison_decision == CONTINUE or forced:
        return UNDECIDED
    if comparison_decision == EQUAL:
        return NO_DIFFERENCE
    baseline_ahead = (comparison_decision == LARGER) == higher_is_better
    return WORSE if baseline_ahead else BETTER


def _interval(values: list[float]) -> dict[str, float | int | None]:
    from scipy import stats

    n = len(values)
    if n < 2:
        return {"n": n, "mean": values[0] if values else None, "low": None, "high": None}
    mean = statistics.fmean(values)
    half = float(stats.t.ppf(0.975, n - 1)) * statistics.stdev(values) / math.sqrt(n)
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half}


def report(session: Session, sweep: Sweep) -> dict[str, Any] | None:
    """`race` of GET /sweeps/{id}: per entry its decision, the round it was decided in, the
    seeds it spent and those a fixed design of the same error rate would need, and per
    round its mean with a 95 % interval (the dashboard draws them narrowing)."""
    adaptive = adaptive_of(sweep)
    if adaptive is None or sweep.race_round is None:
        return None
    racers = entries(session, sweep, adaptive)
    race = replay([e.values for e in racers], design_of(sweep, adaptive))
    higher = HIGHER_IS_BETTER[adaptive.metric]
    base = racers[0].values if racers else []
    # a fixed design tests every entry once at the maximum, Holm's first step at alpha / m
    level = adaptive.alpha / max(1, len(racers) - 1)
    rows = []
    for i, entry in enumerate(racers):
        row: dict[str, Any] = {"label": entry.label, "experiment_id": str(entry.experiment_id),
                               "seeds": len(entry.seeds), "decided_round": None}
        if i == 0:
            row |= {"decision": BASELINE, "fixed_design_seeds": None}
        else:
            comparison = race.comparisons[i - 1]
            row |= {"decision": decision_of(comparison.decision, comparison.forced, higher),
                    "decided_round": comparison.decided_round,
                    "fixed_design_seeds": _fixed(entry.values, base, level)}
        row["rounds"] = [_interval(entry.values[:r * adaptive.per_round])
                         for r in range(1, race.rounds + 1)
                         if len(entry.values) >= r * adaptive.per_round]
        rows.append(row)
    return {"round": sweep.race_round, "finished": sweep.race_finished,
            "note": sweep.race_note, "baseline": adaptive.baseline, "metric": adaptive.metric,
            "stat": adaptive.stat, "alpha": adaptive.alpha, "per_round": adaptive.per_round,
            "max_rounds": adaptive.max_rounds, "rounds_decided": race.rounds,
            "seeds_spent": sum(len(e.seeds) for e in racers),
            "seeds_max": len(racers) * adaptive.per_round * adaptive.max_rounds,
            "entries": rows}


def _fixed(values: list[float], baseline: list[float], alpha: float) -> int | None:
    """Seeds per entry a fixed Welch design needs for FIXED_DESIGN_POWER at the difference
    and scatter observed (None: not measurable yet, or beyond reach)."""
    if len(values) < 2 or len(baseline) < 2:
        return None
    return seeds_needed(statistics.fmean(values) - statistics.fmean(baseline),
                        statistics.stdev(values), statistics.stdev(baseline), alpha,
                        FIXED_DESIGN_POWER)


def active_races(session: Session) -> list[uuid.UUID]:
    """Sweeps whose race has not ended (the sweeper advances them after a restart)."""
    return list(session.scalars(select(Sweep.id).where(Sweep.race_round.is_not(None),
                                                        Sweep.race_finished.is_(False))))


def confirmation_values(session: Session, rows: list[SearchCandidate]) -> tuple[
        list[SearchCandidate], list[list[float]], list[int]]:
    """A search's confirmation as a race (worker/search/driver.py): its entries (the first
    baseline, then the confirmed candidates), each one's values in seed order (test
    accuracy at the best epoch of its succeeded runs) and how many runs it has."""
    baselines = [c for c in rows if c.role == CandidateRole.baseline and c.confirm_experiment_id]
    confirmed = [c for c in rows
                 if c.role == CandidateRole.candidate and c.confirm_experiment_id]
    if not baselines or not confirmed:
        return [], [], []
    racers = [baselines[0], *confirmed]
    values, trained = [], []
    for c in racers:
        runs = list(session.scalars(select(Run).where(Run.experiment_id == c.confirm_experiment_id)
                                    .order_by(Run.seed)))
        values.append([float(v) for r in runs if r.status == RunStatus.succeeded
                       and isinstance(v := (r.final_metrics or {}).get(TEST_ACCURACY_AT_BEST),
                                      int | float)])
        trained.append(len(runs))
    return racers, values, trained
