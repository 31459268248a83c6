"""HTTP schemas, one family per entity (Create / Public / List). ORM rows stay in core."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from core.domain.metrics import METRIC_TABLE
from core.domain.spec import SEEDS_FIELD, check_seeds
from core.domain.status import ExperimentStatus, RunKind, RunStatus


class RunBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seed: int
    status: RunStatus


class Progress(BaseModel):
    epoch: int = Field(description="epochs finished")
    epochs: int = Field(description="epochs asked")
    fraction: float


class SparsityRow(BaseModel):
    """One activation slot's outputs on the validation split at the end of one epoch."""

    model_config = ConfigDict(from_attributes=True)

    epoch: int
    layer: str
    zero_fraction: float = Field(description="exactly zero")
    small_fraction: float = Field(description="below 1e-6 in magnitude")


class LearnedFunction(BaseModel):
    """One learned univariate function: a channel of an activation slot (a KAN edge, a
    bspline channel), sampled on its response grid at the run's last epoch."""

    epoch: int
    layer: str = Field(description="the activation slot's module path")
    block: int | None
    index: int = Field(description="the channel (a KAN edge (i, j): i * n_out + j)")
    x: list[float]
    y: list[float]


class SymbolicFit(BaseModel):
    expression: str = Field(description="a f(b x + c) + d in the formula grammar: submit it "
                                        "as a `formula` activation as it is")
    r2: float
    a: float
    b: float
    c: float
    d: float


class SymbolicFits(BaseModel):
    layer: str
    index: int
    fits: list[SymbolicFit] = Field(description="best R² first")


class ParameterRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    epoch: int
    layer: str
    block: int | None
    position: int | None
    name: str
    values: list[float]


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    experiment_id: uuid.UUID
    seed: int
    status: RunStatus
    attempt: int
    cancel_requested: bool
    progress: Progress
    device: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    duration_seconds: float | None
    error: str | None
    final_metrics: dict[str, float | None] | None
    best_epoch: int | None
    num_params: int | None
    macs: int | None = Field(description="one forward pass on one example: layers and "
                                         "the activations' own operations")
    activation_macs: int | None = Field(description="the activations' share of macs")
    peak_memory_bytes: int | None
    result: dict[str, Any] | None
    reused_from: uuid.UUID | None = Field(
        description="the earlier run of the same recipe and seed whose results were copied")
    provenance: dict[str, Any] | None = Field(
        None, description="actlab and torch versions, device and device_name, precision, "
                          "mode (single), kernels (native or fallback); null for runs "
                          "trained before it was recorded")
    waiting_for: str | None = Field(
        None, description="a queued run that no live worker can serve: what it waits for "
                          "(\"a cuda worker\", or \"a worker\" when none is alive)")
    parameters: list[ParameterRow] | None = Field(
        None, description="GET /runs/{id} only: the learned activation parameters at the "
                          "last recorded epoch (every epoch: /runs/{id}/parameters)")


class ExperimentCreated(BaseModel):
    id: uuid.UUID
    status: ExperimentStatus
    runs: list[RunBrief]


class ExperimentBrief(BaseModel):
    id: uuid.UUID
    name: str
    kind: RunKind
    activation: str
    model: str
    dataset: str
    tags: list[str]
    priority: int
    status: ExperimentStatus
    counts: dict[str, int]
    created_at: datetime


class ExperimentPublic(ExperimentBrief):
    spec: dict[str, Any]
    spec_hash: str
    recipe_version: int = Field(description="1: recorded before the validation split "
                                            "existed (its test_* were its val_*); 2: current")
    sweep_id: uuid.UUID | None
    runs: list[RunPublic]


class ExperimentList(BaseModel):
    items: list[ExperimentBrief]
    total: int
    limit: int
    offset: int


class CancelResult(BaseModel):
    cancelled: list[uuid.UUID] = Field(description="queued runs now cancelled")
    stopping: list[uuid.UUID] = Field(description="running runs told to stop within an epoch")


class Deleted(BaseModel):
    id: uuid.UUID
    runs: int = Field(description="runs removed with it")


class SeedsAdd(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    seeds: list[int] = Field(**SEEDS_FIELD)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        return check_seeds(seeds)


class _MetricRowBase(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    epoch: int


# One field per metric of core.domain.metrics, documented there.
MetricRow = create_model(  # type: ignore[call-overload]
    "MetricRow", __base__=_MetricRowBase,
    **{m.name: (float | None, Field(description=m.doc)) for m in METRIC_TABLE})


class ParameterPage(BaseModel):
    items: list[ParameterRow]
    total: int
    limit: int
    offset: int


class InputSpaceLayer(BaseModel):
    layer: str = Field(description="the activation slot (`input`: the plane itself)")
    activation: str | None = Field(description="the activation in that slot")
    width: int = Field(description="the layer's width")
    projection: str = Field(description="`identity` (2 wide or less) or `pca` (the plane of "
                                        "the two principal components of this image)")
    explained: float = Field(description="share of the image's variance the projection keeps")
    lines: list[list[list[float]]] = Field(
        description="the image of each grid line: vertical lines (x fixed) first, then "
                    "horizontal ones; each a list of [x, y] points")


class InputSpaceEpoch(BaseModel):
    epoch: int
    classes: list[list[int]] = Field(description="predicted class per grid cell, rows from "
                                                 "the bottom of the plane (lowest y) up")
    layers: list[InputSpaceLayer]


class InputSpaceBounds(BaseModel):
    x: list[float]
    y: list[float]


class InputSpacePoints(BaseModel):
    x: list[float]
    y: list[float]
    label: list[int]


class InputSpacePublic(BaseModel):
    run_id: uuid.UUID
    seed: int
    status: RunStatus
    activation: str = Field(description="the experiment's activation label, placement "
                                        "included, as on the leaderboard")
    dataset: str
    bounds: InputSpaceBounds | None = Field(description="the plane drawn (the training "
                                                        "data's extent and a margin)")
    grid_cells: int | None = Field(description="cells per side of `classes`")
    points: InputSpacePoints | None = Field(description="a sample of the training points")
    recorded: list[int] = Field(description="every epoch with a picture")
    epochs: list[InputSpaceEpoch] = Field(description="the pictures asked for (all by default)")
