"""POST /searches: an activation search's spec (the shape is in DESIGN.md), checked at submit
like an experiment's: every problem a 422 naming the field.

The task is an experiment without an activation; the space is schemas over operator sets
(core/domain/search_space.py), explicit candidate formulas and templates with learnable parameters.
Standard library and pydantic only: the API checks a search without torch.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from core.domain import catalog, formula
from core.domain.search_space import (
    DEFAULT_BINARY,
    DEFAULT_UNARY,
    SpaceError,
    check_operators,
    parse_schema,
)
from core.domain.spec import (
    TEXT,
    DatasetRef,
    ExperimentSpec,
    ModelRef,
    TrainingSettings,
    check_storable,
)

MAX_TRAININGS = 5000  # a search's budget of runs
MAX_CANDIDATES = 500  # explicit candidate formulas
MAX_TEMPLATES = 50
MAX_SCHEMAS = 8
MAX_CONCURRENCY = 64
# Above this many expansions in all, a space is sampled (never enumerated): the driver draws
# its pool from it with the search's seed.
MAX_POOL = 5000


class SearchTask(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    model: ModelRef = Field(default_factory=lambda: ModelRef(name="mlp"))
    dataset: DatasetRef = Field(default_factory=lambda: DatasetRef(name="digits"))
    training: TrainingSettings = Field(default_factory=TrainingSettings)

    @model_validator(mode="after")
    def _compatible(self, info: ValidationInfo) -> Self:
        # The checks of an experiment with this task (model takes the dataset, size...).
        ExperimentSpec.model_validate(
            {"activation": {"name": "relu"}, "model": self.model.model_dump(),
             "dataset": self.dataset.model_dump(), "training": self.training.model_dump()},
            context=info.context)
        return self


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    expression: str = Field(min_length=1, max_length=formula.MAX_LENGTH, json_schema_extra=TEXT)
    parameters: dict[str, float] = Field(min_length=1, max_length=formula.MAX_PARAMETERS)

    @model_validator(mode="after")
    def _parses(self) -> Self:
        params = formula.check_parameters(self.parameters)
        try:
            formula.parse(self.expression, params)
        except formula.FormulaError as exc:
            raise ValueError(str(exc)) from None
        return self


class SearchSpace(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    schemas: list[str] = Field(default_factory=list, max_length=MAX_SCHEMAS)
    unary: list[str] = Field(default_factory=lambda: list(DEFAULT_UNARY),
                             description="unary core units (default: all of them)")
    binary: list[str] = Field(default_factory=lambda: list(DEFAULT_BINARY),
                              description="binary core units (default: all of them)")
    candidates: list[str] = Field(default_factory=list, max_length=MAX_CANDIDATES)
    templates: list[Template] = Field(default_factory=list, max_length=MAX_TEMPLATES)

    @field_validator("schemas")
    @classmethod
    def _schemas(cls, schemas: list[str]) -> list[str]:
        for text in schemas:
            try:
                parse_schema(text)
            except SpaceError as exc:
                raise ValueError(str(exc)) from None
        return schemas

    @field_validator("unary", "binary")
    @classmethod
    def _operators(cls, names: list[str], info: ValidationInfo) -> list[str]:
        try:
            return check_operators(names, str(info.field_name))
        except SpaceError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, candidates: list[str]) -> list[str]:
        for i, text in enumerate(candidates):
            try:
                formula.parse(text, {})
            except formula.FormulaError as exc:
                raise ValueError(f"candidate {i} ({text[:60]!r}): {exc}") from None
        return candidates

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not (self.schemas or self.candidates or self.templates):
            raise ValueError("the space is empty: give schemas, candidates or templates")
        return self

    def size(self) -> int:
        """Expansions of the schemas plus the explicit candidates and templates."""
        return sum(parse_schema(s).size(self.unary, self.binary) for s in self.schemas) \
            + len(self.candidates) + len(self.templates)


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    trainings: int = Field(100, ge=1, le=MAX_TRAININGS,
                           description="runs, one seed of one candidate or baseline each")
    seconds: int | None = Field(None, ge=1, le=30 * 86400, description="wall-clock limit")


class SearchSeeds(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    screen: int = Field(1, ge=1, le=10, description="seeds per candidate while screening")
    confirm: int = Field(5, ge=2, le=20, description="fresh seeds in the confirmation round")
    confirm_top: int = Field(3, ge=1, le=20, description="candidates confirmed")
    confirm_rounds: int = Field(
        1, ge=1, le=10, description="rounds of `confirm` seeds at most: after each, AdaStop "
                                    "against the first baseline decides what it can (as an "
                                    "adaptive sweep does) and only undecided candidates, with "
                                    "the baselines, get the next round")


CONFIRM_SEED_BASE = 1000  # confirmation seeds: 1000, 1001, ... (screening: 0, 1, ...)
# The family-wise error of the confirmation (its race, and the paired tests on its report).
CONFIRM_ALPHA = 0.05


class SearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    name: str = Field("", max_length=200, json_schema_extra=TEXT)
    task: SearchTask = Field(default_factory=SearchTask)
    space: SearchSpace
    baselines: list[str] = Field(default_factory=lambda: ["relu"], min_length=1, max_length=10)
    strategy: Literal["random", "evolution", "surrogate"] = "surrogate"
    surrogate: Literal["knn", "gp"] = "knn"
    budget: Budget = Field(default_factory=Budget)
    screen_epochs: int | None = Field(None, ge=1, description="screen on this many epochs, "
                                                              "confirm on the task's own")
    seeds: SearchSeeds = Field(default_factory=SearchSeeds)
    transfer_tasks: list[SearchTask] = Field(
        default_factory=list, max_length=5,
        description="confirmation on other tasks: not trained yet, so it must stay empty")
    concurrency: int = Field(4, ge=1, le=MAX_CONCURRENCY)
    seed: int = Field(0, ge=0, le=2**31 - 1, description="the driver's random seed")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return check_storable(data)

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, names: list[str]) -> list[str]:
        known = catalog.entries("activations")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown baseline activation(s) {unknown}; valid names: "
                             f"{', '.join(catalog.canonical_names('activations'))}")
        return [known[n]["name"] for n in names]

    @field_validator("transfer_tasks")
    @classmethod
    def _no_transfer_yet(cls, tasks: list[SearchTask]) -> list[SearchTask]:
        # Refused rather than accepted and ignored: a search must not promise a check it
        # does not make.
        if tasks:
            raise ValueError("confirming winners on transfer_tasks is not implemented yet; "
                             "leave it empty and submit a search per task")
        return tasks

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.screen_epochs is not None and self.screen_epochs > self.task.training.epochs:
            raise ValueError(f"screen_epochs ({self.screen_epochs}) must not exceed the task's "
                             f"epochs ({self.task.training.epochs})")
        least = self.confirmation_trainings()
        if self.budget.trainings < least + self.seeds.screen:
            raise ValueError(f"a budget of {self.budget.trainings} trainings cannot hold one "
                             f"screen ({self.seeds.screen}) and the confirmation "
                             f"({least}: {self.seeds.confirm_top} candidates and "
                             f"{len(self.baselines)} baselines x {self.seeds.confirm} seeds x "
                             f"{self.seeds.confirm_rounds} round(s) at most)")
        return self

    def confirmation_trainings(self) -> int:
        """What the confirmation may spend at most (reserved from the budget)."""
        return (self.seeds.confirm_top + len(self.baselines)) * self.seeds.confirm \
            * self.seeds.confirm_rounds

    def trial(self, name: str, activation: dict[str, Any], *, screening: bool,
              tags: list[str]) -> dict[str, Any]:
        """The experiment body of one candidate or baseline: the screening recipe (seeds 0,
        1, ...; screen_epochs when set) or the confirmation's (fresh seeds from
        CONFIRM_SEED_BASE, the task's own epochs)."""
        training = self.task.training.model_dump()
        seeds = list(range(self.seeds.screen)) if screening else \
            list(range(CONFIRM_SEED_BASE, CONFIRM_SEED_BASE + self.seeds.confirm))
        if screening and self.screen_epochs:
            training["epochs"] = self.screen_epochs
        return {"name": name[:200], "activation": activation,
                "model": self.task.model.model_dump(), "dataset": self.task.dataset.model_dump(),
                "training": training, "seeds": seeds, "tags": tags}

    def summary(self) -> dict[str, Any]:
        """What the driver will do with the space: its size, and whether it is sampled."""
        size = self.space.size()
        return {"space_size": size, "sampled": size > MAX_POOL,
                "pool": min(size, MAX_POOL)}
