"""ORM models: the database is the source of truth for experiments, runs and their results."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from core.domain.metrics import METRICS
from core.domain.spec import RECIPE_VERSION
from core.domain.status import (
    CandidateRole,
    CandidateStatus,
    RunKind,
    RunStatus,
    SearchPhase,
    SearchStatus,
)
from core.domain.timeutil import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on every backend (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value is not None and dialect.name == "sqlite":
            # SQLite compares timestamps as text: store them all in one zone.
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _vocabulary(enum: type[StrEnum]) -> sa.Enum:
    """A column of one of core.domain.status's enums: stored as its value in a VARCHAR(16) (no
    database enum type, so adding a member needs no migration), read back as the enum."""
    return sa.Enum(enum, native_enum=False, create_constraint=False, length=16,
                   values_callable=lambda members: [m.value for m in members],
                   validate_strings=True)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


class ApiKey(Base):
    """A key for the HTTP API (core/store/keys.py). Only an HMAC of its secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    scope: Mapped[str] = mapped_column(sa.String(16))
    # HMAC-SHA256 of the key's secret under the server secret (ACTLAB_SECRET_KEY), hex.
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    # Per-key quotas; NULL means the deployment's default (ACTLAB_QUOTA_*).
    max_queued_runs: Mapped[int | None]
    max_runs_per_day: Mapped[int | None]
    requests_per_minute: Mapped[int | None]


class AuditEntry(Base):
    """One write request through the API: who (the key's id), what, and how it ended."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    key_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    method: Mapped[str] = mapped_column(sa.String(8))
    path: Mapped[str] = mapped_column(sa.String(400))
    status_code: Mapped[int]


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    spec: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The key that created it (NULL: created with auth off).
    owner_key_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("api_keys.id", ondelete="SET NULL"), index=True)
    # An adaptive sweep's race (core/store/race.py): the rounds started (NULL: not a race), whether
    # it has ended, and why it ended early (a run that failed). Its decisions are not stored:
    # they are replayed from the runs' values.
    race_round: Mapped[int | None]
    race_finished: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    race_note: Mapped[str | None] = mapped_column(sa.Text)
    # A tuning budget's state (core/store/tuned.py): the points, each cell's spec and trial
    # experiments, and once every trial has ended each cell's choice (NULL: no tuning); the
    # flag that exactly one caller turns when it creates the evaluation experiments.
    tuning: Mapped[dict[str, Any] | None]
    tuning_finished: Mapped[bool | None]


class Worker(Base):
    """A worker process that trains runs, and the devices it serves (resources.device): what
    the API reads to say why a queued run waits ("waiting for a cuda worker")."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)  # host:pid
    devices: Mapped[list[str]] = mapped_column(sa.JSON)  # e.g. ["cuda", "any"]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Search(Base):
    """An activation search (core/domain/search_spec.py); its driver (worker/search/driver.py) holds
    all its state here and in search_candidates / search_decisions."""

    __tablename__ = "searches"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    spec: Mapped[dict[str, Any]]
    status: Mapped[SearchStatus] = mapped_column(_vocabulary(SearchStatus),
                                                 default=SearchStatus.queued, index=True)
    phase: Mapped[SearchPhase] = mapped_column(_vocabulary(SearchPhase), default=SearchPhase.pool)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    # One driver step at a time: a step holds the lease until it commits.
    lease_token: Mapped[str | None] = mapped_column(sa.String(64))
    lease_until: Mapped[datetime | None]
    stepped_at: Mapped[datetime | None]
    steps: Mapped[int] = mapped_column(default=0)
    # The confirmation round's tests and the surrogate's record, once computed.
    result: Mapped[dict[str, Any] | None]
    owner_key_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("api_keys.id", ondelete="SET NULL"), index=True)


class SearchCandidate(Base):
    """One distinct function of a search's pool (or one of its baselines), every spelling of
    it, its features, and the experiments that screened and confirmed it."""

    __tablename__ = "search_candidates"
    __table_args__ = (sa.UniqueConstraint("search_id", "key"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    search_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("searches.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(sa.String(1200))  # canonical form (+ initial values)
    position: Mapped[int]  # order in the pool
    role: Mapped[CandidateRole] = mapped_column(_vocabulary(CandidateRole))
    expression: Mapped[str] = mapped_column(sa.String(600))  # canonical, or baseline name
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    equivalents: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[CandidateStatus] = mapped_column(_vocabulary(CandidateStatus))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    features: Mapped[list[Any] | None]
    # Every [schema, [operator, ...]] that spells it (evolution mutates these).
    genes: Mapped[list[Any]] = mapped_column(default=list)
    screen_experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("experiments.id", ondelete="SET NULL"))
    confirm_experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("experiments.id", ondelete="SET NULL"))
    # Screening: {"val_mean", "val_std", "test_mean", "n", "macs"}.
    score: Mapped[dict[str, Any] | None]
    chosen_at_step: Mapped[int | None]


class SearchDecision(Base):
    """One choice of the driver, with what it was made from."""

    __tablename__ = "search_decisions"

    search_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(primary_key=True)
    decision: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[RunKind] = mapped_column(_vocabulary(RunKind), default=RunKind.train)
    spec: Mapped[dict[str, Any]]
    # Hash of the canonical spec without seeds/name/tags: same hash = same training recipe.
    spec_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    activation: Mapped[str] = mapped_column(sa.String(64), index=True)
    model: Mapped[str] = mapped_column(sa.String(64), index=True)
    dataset: Mapped[str] = mapped_column(sa.String(64), index=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    priority: Mapped[int] = mapped_column(default=0)
    # spec.resources.device, where the claim reads it: cuda, cpu or any.
    device: Mapped[str] = mapped_column(sa.String(8), default="any", server_default="any")
    # spec.role: a tuning trial (no board, race or export counts it) or an evaluation.
    role: Mapped[str] = mapped_column(sa.String(16), default="evaluation",
                                      server_default="evaluation")
    sweep_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("sweeps.id"), index=True)
    # Set when an activation search created it (a candidate's or a baseline's training).
    search_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("searches.id", ondelete="SET NULL"), index=True)
    # 1: trained before the validation split existed (its val_* were measured on the test
    # split and are stored as test_*); 2: train / validation / test. Part of the recipe.
    recipe_version: Mapped[int] = mapped_column(default=RECIPE_VERSION, server_default="2")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The key that created it (NULL: created with auth off); it or an admin may change it.
    owner_key_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("api_keys.id", ondelete="SET NULL"), index=True)

    runs: Mapped[list[Run]] = relationship(
        back_populates="experiment", order_by="Run.seed", cascade="all, delete-orphan"
    )


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (sa.UniqueConstraint("experiment_id", "seed"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    seed: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[RunStatus] = mapped_column(_vocabulary(RunStatus), default=RunStatus.queued,
                                              index=True)
    attempt: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(200))
    heartbeat_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the last broker message for this run was sent; the sweeper re-sends old ones.
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    device: Mapped[str | None] = mapped_column(sa.String(64))
    error: Mapped[str | None] = mapped_column(sa.Text)
    epochs_done: Mapped[int] = mapped_column(default=0)
    epochs_total: Mapped[int] = mapped_column(default=0)
    final_metrics: Mapped[dict[str, Any] | None]
    best_epoch: Mapped[int | None]
    num_params: Mapped[int | None] = mapped_column(sa.BigInteger)
    macs: Mapped[int | None] = mapped_column(sa.BigInteger)
    # The activations' own per-element work inside `macs` (one op counted as one MAC).
    activation_macs: Mapped[int | None] = mapped_column(sa.BigInteger)
    peak_memory_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    # What produced the numbers (worker/training/provenance.py): actlab and torch versions,
    # device and its name, precision, execution mode, kernel path.
    provenance: Mapped[dict[str, Any] | None]
    # Kind-specific output, e.g. the lr range test's curve and suggestion.
    result: Mapped[dict[str, Any] | None]
    # Set when this run's results were copied from an earlier run of the same recipe and seed.
    reused_from: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="SET NULL"))

    experiment: Mapped[Experiment] = relationship(back_populates="runs")


class EpochMetric(Base):
    """One run's metrics at the end of one epoch: a nullable float column per metric of
    core/domain/metrics.py, added below in the table's order (a new metric is a row there and a
    migration)."""

    __tablename__ = "epoch_metrics"

    run_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(primary_key=True)


for _metric in METRICS:
    setattr(EpochMetric, _metric, mapped_column(_metric, sa.Double, nullable=True))


def metric_column(name: str) -> Any:
    """EpochMetric's column of one metric of core/domain/metrics.py, for queries."""
    if name not in METRICS:
        raise KeyError(f"unknown metric {name!r}")
    return getattr(EpochMetric, name)


class ActivationParam(Base):
    """One learnable activation parameter of one layer at the end of one epoch."""

    __tablename__ = "activation_params"
    __table_args__ = (sa.UniqueConstraint("run_id", "epoch", "layer", "name"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    epoch: Mapped[int]
    layer: Mapped[str] = mapped_column(sa.String(200))
    block: Mapped[int | None]
    position: Mapped[int | None]
    name: Mapped[str] = mapped_column(sa.String(64))
    # A float array on PostgreSQL, so distributions are computed in SQL (unnest) without
    # shipping JSON; JSON elsewhere.
    values: Mapped[list[Any]] = mapped_column(
        sa.JSON().with_variant(postgresql.ARRAY(sa.Double()), "postgresql"))


class ResponseCurve(Base):
    """A layer's learned activation sampled on a grid at the end of a run (per channel)."""

    __tablename__ = "response_curves"
    __table_args__ = (sa.UniqueConstraint("run_id", "layer"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    layer: Mapped[str] = mapped_column(sa.String(200))
    block: Mapped[int | None]
    position: Mapped[int | None]
    xs: Mapped[list[Any]]
    # One list of ys per channel (a single list when the activation has no per-channel state).
    ys: Mapped[list[Any]]


class InputSpacePicture(Base):
    """2-D datasets: one epoch's picture of the input space (predicted class per grid cell,
    each hidden layer's image of the grid lines; worker/training/input_space.py). Epoch 0
    holds the run's fixed part: the plane's bounds and a sample of the training points."""

    __tablename__ = "input_space"

    run_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(primary_key=True)
    picture: Mapped[dict[str, Any]]


class SlotSparsity(Base):
    """One activation slot's outputs on the validation split at the end of one epoch: the
    fraction exactly zero (what inference can skip) and the fraction below SMALL in
    magnitude. Their mean over slots is the epoch's `val_sparsity`."""

    __tablename__ = "slot_sparsity"

    run_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(primary_key=True)
    layer: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    zero_fraction: Mapped[float]
    small_fraction: Mapped[float]


# What a run wrote while training, row by row: copied when a result is reused, cleared when a
# run is retried.
RUN_RESULT_TABLES: tuple[type[Base], ...] = (EpochMetric, ActivationParam, ResponseCurve,
                                             InputSpacePicture, SlotSparsity)
