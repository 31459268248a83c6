"""GET /catalog/vocabulary: the names the dashboard shows and filters by come from the
service's own tables (core/domain/status.py, core/domain/metrics.py, the spec's defaults)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.analytics.verdicts import Verdict
from core.domain.metrics import METRICS, SELECTION_METRICS
from core.domain.spec import ExperimentSpec
from core.domain.status import Decision, ExperimentStatus, RunStatus, SearchStatus


def test_the_vocabulary_is_the_service_s_own(client: TestClient) -> None:
    got = client.get("/api/v1/catalog/vocabulary")
    assert got.status_code == 200
    body = got.json()
    assert body["statuses"]["experiment"] == [s.value for s in ExperimentStatus]
    assert body["statuses"]["run"] == [s.value for s in RunStatus]
    assert body["finished"]["experiment"] == ["succeeded", "partial", "failed", "cancelled"]
    assert body["finished"]["search"] == [s.value for s in SearchStatus if s.finished]
    assert "queued" not in body["finished"]["candidate"]
    assert [m["name"] for m in body["metrics"]] == list(METRICS)
    assert body["selection_metrics"] == list(SELECTION_METRICS)
    spec = ExperimentSpec.model_validate({"activation": {"name": "relu"}})
    defaults = body["defaults"]
    assert (defaults["model"], defaults["dataset"], defaults["seeds"], defaults["epochs"]) == \
        (spec.model.name, spec.dataset.name, spec.seeds, spec.training.epochs)
    assert (defaults["baseline"], defaults["metric"]) == ("relu", "test_accuracy")
    # a race's decisions (with how a display marks them) and a leaderboard's verdicts
    assert [d["name"] for d in body["decisions"]] == [d.value for d in Decision]
    assert {d["name"]: d["tone"] for d in body["decisions"]}["worse"] == "bad"
    assert body["verdicts"] == [v.value for v in Verdict]
    assert body["with_results"] == ["succeeded"]


def test_the_summary_schema_is_what_describe_computes() -> None:
    from dataclasses import fields

    from api.reports import Described
    from core.statistics.significance import Describe

    assert list(Described.model_fields) == [f.name for f in fields(Describe)]
