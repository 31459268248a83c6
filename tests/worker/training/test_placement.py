"""Activation slots and placement: every model lists its slots; a placement puts another
activation (or none) in the slots its patterns match, and says what it cannot do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from activations import activation_parameters
from core.domain.spec import TrainingSettings
from worker.training import TrainConfig, train
from worker.training.models import ActFactory, build_model
from worker.training.placement import place, slots
from worker.training.setup import prepare


def _lenet() -> tuple[object, ActFactory]:
    act = ActFactory("dual_line")
    return build_model("lenet5", {}, (1, 8, 8), 10, act), act


def test_slots_are_named_by_path_with_the_layer_they_follow() -> None:
    model, _ = _lenet()
    assert slots(model) == [  # type: ignore[arg-type]
        {"name": "features.1", "kind": "after_conv"},
        {"name": "features.4", "kind": "after_conv"},
        {"name": "classifier.1", "kind": "after_linear"},
        {"name": "classifier.3", "kind": "after_linear"}]


def test_first_matching_pattern_fills_a_slot() -> None:
    model, act = _lenet()
    filled = place(model, act, {"classifier.1": {"name": "identity"},  # type: ignore[arg-type]
                                "classifier.*": {"name": "relu"}})
    assert filled == {"features.1": "dual_line", "features.4": "dual_line",
                      "classifier.1": "identity", "classifier.3": "relu"}
    learned = {p.layer for p in activation_parameters(model)}  # type: ignore[arg-type]
    assert learned == {"features.1", "features.4"}


def test_a_pattern_that_matches_nothing_names_the_slots() -> None:
    model, act = _lenet()
    with pytest.raises(ValueError, match=r"'up\*' match no slot of this model; its slots: "
                                         r"features.1, features.4, classifier.1, classifier.3"):
        place(model, act, {"up*": {"name": "relu"}})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must keep the widths"):
        place(model, act, {"features.*": {"name": "inverse"}})  # type: ignore[arg-type]


def test_training_with_a_placement(tmp_path: Path) -> None:
    config = TrainConfig(activation="dual_line", model="lenet5", dataset="digits", seed=1,
                         activation_slots={"classifier.*": {"name": "relu", "params": {}}},
                         training=TrainingSettings(epochs=1, batch_size=128))
    assert prepare(config, "cpu", tmp_path).slots["classifier.3"] == "relu"
    placed = train(config, data_root=tmp_path)
    plain = train(replace(config, activation_slots={}), data_root=tmp_path)
    assert placed.history[0]["train_loss"] != plain.history[0]["train_loss"]
    assert {p.layer for p in activation_parameters(prepare(config, "cpu", tmp_path).model)} \
        == {"features.1", "features.4"}
