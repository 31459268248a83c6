"""One typed record of everything a training run depends on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.domain.spec import ExperimentSpec, TrainingSettings
from core.domain.status import RunKind


@dataclass(frozen=True)
class TrainConfig:
    """A recipe and one seed. The training fields are the spec's own `TrainingSettings`, so
    the spec and the trainer declare them once."""

    activation: str = "relu"
    activation_params: dict[str, Any] = field(default_factory=dict)
    # Slot pattern -> {"name", "params"} of the activation placed there (placement.py).
    activation_slots: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The FFN gate (transformers): act(x W) * (x V), d_ff scaled by 2/3 with match_params.
    gated: bool = False
    match_params: bool = True
    model: str = "mlp"
    model_params: dict[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    dataset_params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    kind: RunKind = RunKind.train
    training: TrainingSettings = field(default_factory=TrainingSettings)
    # True when the component params come from a validated spec (canonical names, every
    # default filled in, every value checked): the trainer builds with them as they are.
    checked: bool = False

    @classmethod
    def from_spec(cls, spec: ExperimentSpec, seed: int) -> TrainConfig:
        """A validated spec, through the one mapping a stored spec takes: its JSON form is
        what the database holds, so a spec trained here and one trained by a worker are the
        same configuration."""
        return cls.from_stored(spec.model_dump(mode="json"), seed)

    @classmethod
    def from_stored(cls, spec: Mapping[str, Any], seed: int) -> TrainConfig:
        """From a spec as the database holds it: validated and made canonical when it was
        stored, so it is trusted as it is (fields added since take their defaults)."""
        return cls(activation=spec["activation"]["name"],
                   activation_params=dict(spec["activation"].get("params", {})),
                   activation_slots=dict(spec["activation"].get("slots", {})),
                   gated=bool(spec["activation"].get("gated", False)),
                   match_params=bool(spec["activation"].get("match_params", True)),
                   model=spec["model"]["name"], model_params=dict(spec["model"].get("params", {})),
                   dataset=spec["dataset"]["name"],
                   dataset_params=dict(spec["dataset"].get("params", {})),
                   seed=seed, kind=RunKind(spec.get("kind", RunKind.train)),
                   training=TrainingSettings.model_construct(**spec.get("training", {})),
                   checked=True)

    def to_dict(self) -> dict[str, Any]:
        return {"activation": self.activation, "activation_params": self.activation_params,
                **({"activation_slots": self.activation_slots} if self.activation_slots else {}),
                **({"gated": True, "match_params": self.match_params} if self.gated else {}),
                "model": self.model, "model_params": self.model_params,
                "dataset": self.dataset, "dataset_params": self.dataset_params,
                "seed": self.seed, "kind": self.kind.value,
                "training": self.training.model_dump(mode="json")}
