"""One typed record of everything a training run depends on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    activation: str = "relu"
    activation_params: dict[str, Any] = field(default_factory=dict)
    model: str = "mlp"
    model_params: dict[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    dataset_params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.0  # never applied to activation parameters
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    schedule: str = "constant"  # constant | step | cosine | onecycle (stepped per batch)
    grad_clip: float | None = None  # max global L2 norm of the gradients; None = no clipping
    kind: str = "train"  # train | lr_range
    lr_min: float = 1e-6  # lr_range only: first learning rate
    lr_max: float = 1.0  # lr_range only: last learning rate
    lr_range_steps: int = 100  # lr_range only: steps, lr growing geometrically

    @classmethod
    def from_spec(cls, spec: dict[str, Any], seed: int) -> TrainConfig:
        """Build from a stored experiment spec (core.spec.ExperimentSpec as JSON)."""
        training = dict(spec.get("training", {}))
        known = {f for f in cls.__dataclass_fields__}
        extra = {k: v for k, v in training.items() if k in known}
        return cls(
            activation=spec["activation"]["name"],
            activation_params=dict(spec["activation"].get("params", {})),
            model=spec["model"]["name"],
            model_params=dict(spec["model"].get("params", {})),
            dataset=spec["dataset"]["name"],
            dataset_params=dict(spec["dataset"].get("params", {})),
            seed=seed,
            kind=spec.get("kind", "train"),
            **extra,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
