"""/api/v1/catalog: what can be named in a spec, with formulas, parameters and defaults."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.analytics.verdicts import Verdict
from api.reports import DecisionInfo, Defaults, MetricInfo, StatusSets, Vocabulary
from core.domain.catalog import load_catalog
from core.domain.metrics import (
    DEFAULT_BASELINE,
    DEFAULT_LEADERBOARD_METRIC,
    DEFAULT_SELECTION,
    METRIC_TABLE,
    SELECTION_METRICS,
)
from core.domain.spec import ExperimentSpec, TrainingSettings
from core.domain.status import CandidateStatus, Decision, ExperimentStatus, RunStatus, SearchStatus

router = APIRouter(prefix="/catalog", tags=["catalog"])


@router.get("/activations")
def activations() -> list[dict[str, Any]]:
    return load_catalog()["activations"]


@router.get("/models")
def models() -> list[dict[str, Any]]:
    return load_catalog()["models"]


@router.get("/datasets")
def datasets() -> list[dict[str, Any]]:
    return load_catalog()["datasets"]


def _statuses(finished: bool) -> StatusSets:
    def names(enum: type[RunStatus] | type[ExperimentStatus] | type[SearchStatus]) -> list[str]:
        return [m.value for m in enum if not finished or m.finished]

    return StatusSets(run=names(RunStatus), experiment=names(ExperimentStatus),
                      search=names(SearchStatus),
                      candidate=[m.value for m in CandidateStatus
                                 if not finished or not m.pending and m != CandidateStatus.pool])


@router.get("/vocabulary", response_model=Vocabulary)
def vocabulary() -> Vocabulary:
    """Statuses (and which end the work, and which have results), a race's decisions and a
    leaderboard's verdicts, metrics with their split and direction, and the defaults of a
    spec and of the leaderboard."""
    spec = ExperimentSpec.model_fields
    return Vocabulary(
        statuses=_statuses(False), finished=_statuses(True),
        with_results=[RunStatus.succeeded.value],
        decisions=[DecisionInfo(name=d, tone=d.tone) for d in Decision],
        verdicts=[v.value for v in Verdict],
        metrics=[MetricInfo(name=m.name, split=m.split, higher_is_better=m.higher_is_better,
                            averaged=m.averaged, doc=m.doc) for m in METRIC_TABLE],
        selection_metrics=list(SELECTION_METRICS),
        defaults=Defaults(
            model=spec["model"].get_default(call_default_factory=True).name,
            dataset=spec["dataset"].get_default(call_default_factory=True).name,
            seeds=spec["seeds"].get_default(call_default_factory=True),
            epochs=TrainingSettings.model_fields["epochs"].get_default(),
            baseline=DEFAULT_BASELINE, metric=DEFAULT_LEADERBOARD_METRIC,
            select_by=DEFAULT_SELECTION))
