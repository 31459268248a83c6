"""The status vocabulary: a run's status, an experiment's status, and the one rule that
derives the second from the first; a search's and its candidates'; a race's decisions.
Every reader of an experiment's status (SQL list filters, the detail endpoint, the creation
response, the command line) goes through `experiment_status`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import SimpleNamespace
from typing import Any


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    diverged = "diverged"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.queued, RunStatus.running)


class RunKind(StrEnum):
    """What a run does: train the recipe, or sweep the learning rate (one short pass)."""

    train = "train"
    lr_range = "lr_range"


class TrainStatus(StrEnum):
    """How one seed's training ended, as the trainer reports it (the runner maps it onto a
    RunStatus: completed -> succeeded, stopped -> cancelled)."""

    completed = "completed"  # every epoch trained
    diverged = "diverged"  # a loss stopped being finite
    stopped = "stopped"  # a cancel, a lost claim, or a caller's StopRequested


class SearchStatus(StrEnum):
    queued = "queued"  # submitted, no driver step yet
    running = "running"
    succeeded = "succeeded"  # screened and confirmed (or said plainly that nothing was)
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (SearchStatus.queued, SearchStatus.running)


class SearchPhase(StrEnum):
    """Where a search's driver is (worker/search/driver.py)."""

    pool = "pool"  # the space not yet expanded into candidates
    screen = "screen"  # rounds of screening trainings
    confirm = "confirm"  # the best candidates and the baselines on the full recipe
    done = "done"


class CandidateStatus(StrEnum):
    """One candidate's (or baseline's) state in its search."""

    pool = "pool"  # not chosen yet
    filtered = "filtered"  # unfit before training (its reason says why)
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    diverged = "diverged"

    @property
    def pending(self) -> bool:
        """Its trainings have not all finished."""
        return self in (CandidateStatus.queued, CandidateStatus.running)


class CandidateRole(StrEnum):
    candidate = "candidate"  # a function of the search space
    baseline = "baseline"  # a named activation every candidate is tested against


class Decision(StrEnum):
    """What a race (core/store/race.py) says of an entry against its baseline."""

    better = "better"
    worse = "worse"
    no_difference = "no_difference"  # equal at the race's alpha
    undecided = "undecided"  # not yet, or still not at the last round
    baseline = "baseline"  # the entry every other is compared with

    @property
    def tone(self) -> str:
        """How a display marks it: good, bad, neutral, open or reference."""
        return _TONES[self]


_TONES = {Decision.better: "good", Decision.worse: "bad", Decision.no_difference: "neutral",
          Decision.undecided: "open", Decision.baseline: "reference"}


class ExperimentStatus(StrEnum):
    queued = "queued"  # nothing started
    running = "running"  # some work left
    succeeded = "succeeded"  # every run succeeded
    partial = "partial"  # finished, some runs succeeded
    failed = "failed"  # finished, none succeeded (and not all cancelled)
    cancelled = "cancelled"  # every run cancelled

    @property
    def finished(self) -> bool:
        return self not in (ExperimentStatus.queued, ExperimentStatus.running)


def _rules(c: Any) -> list[tuple[Any, ExperimentStatus]]:
    """First match wins. `c` has `n` (runs) and one count per RunStatus; the same
    expressions work on integers (Python) and on SQL columns (a CASE)."""
    return [
        (c.running > 0, ExperimentStatus.running),
        (c.queued == c.n, ExperimentStatus.queued),
        (c.queued > 0, ExperimentStatus.running),
        (c.succeeded == c.n, ExperimentStatus.succeeded),
        (c.cancelled == c.n, ExperimentStatus.cancelled),
        (c.succeeded > 0, ExperimentStatus.partial),
    ]


FALLBACK = ExperimentStatus.failed


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    """Runs per status, every status present (0 where none)."""
    counts = {s.value: 0 for s in RunStatus}
    for status in statuses:
        counts[status] += 1
    return counts


def experiment_status(counts: Mapping[str, int]) -> ExperimentStatus:
    """The experiment's status from its runs' counts by status."""
    values = {s.value: int(counts.get(s.value, 0)) for s in RunStatus}
    c = SimpleNamespace(n=sum(values.values()), **values)
    return next((status for matched, status in _rules(c) if matched), FALLBACK)


def experiment_status_rules(columns: Any) -> list[tuple[Any, ExperimentStatus]]:
    """The same rules over SQL columns (for a CASE in a query)."""
    return _rules(columns)
