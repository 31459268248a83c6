"""Each fact has one home: the metric table and the status enums are what the ORM, the
trainer and the HTTP schemas use."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from api.schemas import MetricRow, RunPublic
from core.domain.metrics import METRICS
from core.domain.status import RunKind, RunStatus
from core.store.models import EpochMetric, Experiment, Run
from worker.training import TrainConfig, train


def test_metric_columns_and_schema_are_the_metric_table() -> None:
    columns = [c.name for c in EpochMetric.__table__.columns if c.name not in ("run_id", "epoch")]
    assert columns == list(METRICS)
    assert list(MetricRow.model_fields) == ["epoch", *METRICS]


def test_the_trainer_reports_every_metric_and_no_other(tmp_path: Path) -> None:
    """Every task reports every metric but those of the other tasks (segmentation's mean
    IoU, a language model's perplexity, a regression's RMSE and R^2, which has no accuracy)
    and of other models (CETT sparsity: FFN slots)."""
    config = TrainConfig(activation="relu")
    config = replace(config, training=config.training.model_copy(update={"epochs": 1}))
    history = train(config, data_root=tmp_path).history
    segmentation_only = {m for m in METRICS if m.endswith("_miou")}
    language_only = {m for m in METRICS if m.endswith("_perplexity")}
    ffn_only = {"val_sparsity_cett"}
    regression_only = {m for m in METRICS if m.endswith(("_rmse", "_r2"))}
    labels_only = {m for m in METRICS if m.endswith(("_accuracy", "_top5"))}
    assert segmentation_only and language_only and len(regression_only) == 5
    others = segmentation_only | language_only | regression_only
    assert set(history[0]) == set(METRICS) - others - ffn_only
    unet = replace(config, model="unet", model_params={"width": 2}, dataset="shapes",
                   dataset_params={"samples": 60, "size": 8})
    assert set(train(unet, data_root=tmp_path).history[0]) == \
        set(METRICS) - language_only - regression_only - ffn_only
    gpt = replace(config, model="gpt", model_params={"n_layer": 1, "d_model": 16, "d_ff": 32},
                  dataset="modular", dataset_params={"p": 7})
    assert set(train(gpt, data_root=tmp_path).history[0]) == \
        set(METRICS) - segmentation_only - regression_only
    kan = replace(config, activation="bspline", model="kan", model_params={"widths": [3]},
                  dataset="symbolic", dataset_params={"formula": "product", "n": 100})
    assert set(train(kan, data_root=tmp_path).history[0]) == \
        set(METRICS) - segmentation_only - language_only - labels_only - ffn_only


def test_status_and_kind_columns_are_the_enums() -> None:
    assert Run.__table__.c.status.type.enum_class is RunStatus
    assert Experiment.__table__.c.kind.type.enum_class is RunKind
    assert RunPublic.model_fields["status"].annotation is RunStatus
