"""Seeds until decided: an adaptive sweep is a race. Round k trains seeds (k - 1) n ... k n - 1
of every entry still undecided and of the baseline; when every run of the round has ended,
AdaStop (core/statistics/adastop.py) decides what it can, the undecided entries and the
baseline get the next round's seeds, and the race ends when all are decided or after
`max_rounds` rounds.

A diverged seed is an outcome, not a gap: it is tested as a value below every run's reached
by the end of its round (`race_values`), so an entry that diverges loses the race instead
of stopping it. A run that failed (the infrastructure gave up on it) has no
outcome to test, and the race stops there with a note.

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

from core.domain.labels import activation_label
from core.domain.metrics import HIGHER_IS_BETTER, TEST_ACCURACY_AT_BEST
from core.domain.search_spec import CONFIRM_ALPHA, SearchSpec
from core.domain.settings import Settings
from core.domain.spec import SpecError
from core.domain.status import CandidateRole, Decision, RunStatus
from core.domain.sweep_spec import Adaptive
from core.statistics.adastop import CONTINUE, EQUAL, LARGER, Design, Race, replay
from core.statistics.power import seeds_needed
from core.store import creation
from core.store.models import Experiment, Run, SearchCandidate, Sweep
from core.store.results import final_rows

# The power a fixed design is sized for, beside the race's seeds.
FIXED_DESIGN_POWER = 0.8


@dataclass
class Entry:
    experiment_id: uuid.UUID
    label: str
    seeds: list[int]  # every seed it has, in order
    outcomes: list[float | None]  # its ended runs' values in seed order; None: diverged
    unfinished: int  # runs not yet ended
    failed: list[str]  # "seed 3 failed: ..." for runs that ended without an outcome

    @property
    def diverged(self) -> int:
        return sum(v is None for v in self.outcomes)


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
    out = [_entry(experiment, values, column) for experiment in experiments]
    # the baseline first (the sweep lists it once, ungated; its label may carry its params),
    # the rest in their order
    base = next((i for i, x in enumerate(experiments) if x.activation == adaptive.baseline
                 and not (x.spec.get("activation") or {}).get("gated")), None)
    return out if base is None else [out[base], *out[:base], *out[base + 1:]]


def _entry(experiment: Experiment, values: dict[uuid.UUID, Any], column: str) -> Entry:
    """One experiment's runs as a race entry: `values` holds each succeeded run's value."""
    runs = sorted(experiment.runs, key=lambda r: r.seed)
    failed = [f"seed {r.seed} {r.status.value}" + (f": {r.error}" if r.error else "")
              for r in runs if r.status.finished
              and r.status not in (RunStatus.succeeded, RunStatus.diverged)]
    failed += [f"seed {r.seed} has no {column}" for r in runs
               if r.status == RunStatus.succeeded and _missing(values.get(r.id))]
    outcomes: list[float | None] = [
        None if r.status == RunStatus.diverged else float(values[r.id]) for r in runs
        if r.status == RunStatus.diverged or not _missing(values.get(r.id))]
    return Entry(experiment_id=experiment.id,
                 label=activation_label(experiment.activation, experiment.spec),
                 seeds=[r.seed for r in runs], outcomes=outcomes,
                 unfinished=sum(not r.status.finished for r in runs), failed=failed)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def race_values(racers: list[Entry], per_round: int,
                higher_is_better: bool) -> list[list[float]] | None:
    """Each entry's values as the race tests them, in seed order: a diverged seed is ranked
    below every run that has a value. It takes the worst value any run of any entry had
    reached by the end of its round (seeds are handed out a round of `per_round` at a time),
    moved one spread of those values further (the spread between the best and the worst), and
    kept at or above 0 for the higher-is-better metrics a race compares by (accuracies, mIoU,
    sparsity: none below 0). A tie with the worst run would let an entry diverge on every
    seed and not lose at 5 seeds a round (6 of the 252 splits are as extreme); one spread
    further is the least that ranks it last without a made-up scale. A round's values depend
    on that round and the ones before it only, so a replay decides every round as it was
    decided. None while no run has a value (every one so far diverged)."""
    out: list[list[float]] = [[] for _ in racers]
    rounds = max((math.ceil(len(e.outcomes) / per_round) for e in racers), default=0)
    for r in range(rounds):
        end = (r + 1) * per_round
        seen = [v for e in racers for v in e.outcomes[:end] if v is not None]
        if not seen:
            return None
        low, high = min(seen), max(seen)
        spread = (high - low) or abs(low) or 1.0
        floor = max(0.0, low - spread) if higher_is_better else high + spread
        for tested, entry in zip(out, racers, strict=True):
            tested += [floor if v is None else v for v in entry.outcomes[r * per_round:end]]
    return out


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
    try:
        queued, note = _next_or_end(session, sweep, racers, adaptive, settings)
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


def _next_or_end(session: Session, sweep: Sweep, racers: list[Entry], adaptive: Adaptive,
                 settings: Settings) -> tuple[list[uuid.UUID], str | None]:
    """The next round's runs (added, not committed), or none and why the race stopped early
    (None where it ended because everything is decided or the cap was reached)."""
    current = sweep.race_round or 0
    failed = [f"{e.label}: {problem}" for e in racers for problem in e.failed]
    if failed:  # a round without all its outcomes cannot be tested: the race ends here
        return [], f"stopped after round {current}: " + "; ".join(failed[:5])
    values = race_values(racers, adaptive.per_round, HIGHER_IS_BETTER[adaptive.metric])
    if values is None:
        return [], f"stopped after round {current}: every run diverged, nothing to compare"
    race = replay(values, design_of(sweep, adaptive))
    if race.finished:
        return [], None
    try:
        return _next_round(session, sweep, racers, race, adaptive, settings), None
    except SpecError as exc:  # the deployment's limits changed since the sweep
        session.rollback()
        return [], f"stopped after round {current}: round {current + 1} is beyond the " \
                   f"deployment's limits: {exc}"


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


def decision_of(comparison_decision: str, forced: bool, higher_is_better: bool) -> Decision:
    """The package's words (the baseline is larger, smaller or equal) as the entry's."""
    if comparison_decision == CONTINUE or forced:
        return Decision.undecided
    if comparison_decision == EQUAL:
        return Decision.no_difference
    baseline_ahead = (comparison_decision == LARGER) == higher_is_better
    return Decision.worse if baseline_ahead else Decision.better


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
    higher = HIGHER_IS_BETTER[adaptive.metric]
    values = race_values(racers, adaptive.per_round, higher) or [[] for _ in racers]
    race = replay(values, design_of(sweep, adaptive))
    base = values[0] if racers else []
    # a fixed design tests every entry once at the maximum, Holm's first step at alpha / m
    level = adaptive.alpha / max(1, len(racers) - 1)
    rows = []
    for i, entry in enumerate(racers):
        row: dict[str, Any] = {"label": entry.label, "experiment_id": str(entry.experiment_id),
                               "seeds": len(entry.seeds), "diverged": entry.diverged,
                               "decided_round": None}
        if i == 0:
            row |= {"decision": Decision.baseline, "fixed_design_seeds": None}
        else:
            comparison = race.comparisons[i - 1]
            row |= {"decision": decision_of(comparison.decision, comparison.forced, higher),
                    "decided_round": comparison.decided_round,
                    "fixed_design_seeds": _fixed(values[i], base, level)}
        row["rounds"] = [_interval(values[i][:r * adaptive.per_round])
                         for r in range(1, race.rounds + 1)
                         if len(values[i]) >= r * adaptive.per_round]
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


def confirmation_design(spec: SearchSpec) -> Design:
    """A search's confirmation race: rounds of `confirm` seeds, permutations seeded by the
    search."""
    return Design(per_round=spec.seeds.confirm, max_rounds=spec.seeds.confirm_rounds,
                  alpha=CONFIRM_ALPHA, seed=spec.seed)


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
