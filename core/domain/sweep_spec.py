"""The sweep spec: the POST body of /api/v1/sweeps. A grid of activations x models x datasets x
parameter values x seeds, one experiment spec (core/domain/spec.py) per cell; or, with `adaptive`,
a race of seeds until decided (core/store/race.py); with `tuning`, an equal tuning budget first
(core/store/tuned.py). `sweep_cells` expands it into the experiment specs' bodies, each validated
as an `ExperimentSpec` where it is created.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from core.domain import catalog, matching
from core.domain.metrics import (
    DEFAULT_BASELINE,
    DEFAULT_LEADERBOARD_METRIC,
    DEFAULT_SELECTION,
    METRICS,
    SELECTION_METRICS,
)
from core.domain.spec import (
    SEEDS_FIELD,
    TAGS,
    TEXT,
    TUNABLE,
    ComponentRef,
    Gate,
    Kind,
    Match,
    Resources,
    SpecError,
    TrainingSettings,
    check_storable,
    invalid,
    trusted,
    without_empty_slots,
)
from core.domain.status import RunKind


def _names_schema(schema: dict[str, Any], cls: type[_SweepRef]) -> None:
    """A sweep's component: a catalog name (aliases too); its params are checked per cell,
    after the grid is applied."""
    schema["properties"]["name"] = {"type": "string", "enum": sorted(catalog.entries(cls.kind))}


class _SweepRef(ComponentRef):
    model_config = ConfigDict(json_schema_extra=_names_schema)
    kind: ClassVar[str]



class SweepActivation(_SweepRef, Gate):
    kind = "activations"

    # A placement, as an experiment's activation has (ActivationRef.slots): checked per cell,
    # against that cell's model.
    slots: dict[str, ComponentRef] = Field(default_factory=dict, max_length=64)

    @model_serializer(mode="wrap")
    def _without_empty_slots(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_empty_slots(handler(self))

    def label(self) -> str:
        placed = ", ".join(f"{p}={a.name}" for p, a in self.slots.items())
        name = f"{self.name} (gated)" if self.gated else self.name
        return f"{name} [{placed}]" if placed else name


class SweepModel(_SweepRef):
    kind = "models"


class SweepDataset(_SweepRef):
    kind = "datasets"



# Values of one grid key: more could never fit ACTLAB_MAX_RUNS_PER_SWEEP's default, and each
# is read and compared before the cells are counted.
MAX_GRID_VALUES = 10_000
GRID_PREFIXES = ("activation.params.", "model.params.", "dataset.params.", "training.")


# Metrics a race may compare by: a run's results, not its timing or schedule.
RACE_METRICS = tuple(m for m in METRICS if m not in ("lr", "epoch_seconds",
                                                     "samples_per_second"))


class Adaptive(BaseModel):
    """Seeds until decided (core/store/race.py): rounds of `per_round` seeds, every entry
    tested against the baseline after each round (AdaStop, core/statistics/adastop.py), only
    undecided entries topped up, at most `max_rounds` rounds."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    baseline: str = Field(DEFAULT_BASELINE, min_length=1, max_length=100,
                          description="the activation every entry is compared with; it joins "
                                      "the race when the sweep does not list it")
    metric: str = Field(DEFAULT_LEADERBOARD_METRIC, description="compared as the leaderboard "
                                                                "takes it (RACE_METRICS)")
    stat: Literal["final", "best"] = Field("final", description="final: the last epoch's "
                                           "value; best: the value at the best-validation epoch")
    per_round: int = Field(5, ge=2, le=50, description="seeds per entry and round")
    max_rounds: int = Field(6, ge=1, le=20)
    alpha: float = Field(0.05, gt=0, le=0.5, description="family-wise error over all rounds "
                                                         "and entries")
    # No early "no difference" (AdaStop's beta): bench/adaptive.py measures a family-wise
    # error above alpha with it (0.069 at alpha 0.05, beta 0.05), so it is not offered.

    @field_validator("metric")
    @classmethod
    def _metric(cls, metric: str) -> str:
        if metric not in RACE_METRICS:
            raise ValueError(f"unknown metric {metric!r}; a race compares by one of "
                             f"{', '.join(RACE_METRICS)}")
        return metric



class TuningRange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    low: float
    high: float
    log: bool = Field(False, description="spread the points evenly in log space (lr)")

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        return self


class Tuning(BaseModel):
    """An equal tuning budget (AlgoPerf's external ruleset, DeepOBS's selection): every entry
    gets the same `trials` quasi-random points of `space`, each trained on `seed` (one past
    the evaluation seeds by default), and is evaluated at its best point by `select`."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    trials: int = Field(5, ge=1, le=50, description="points per entry (the same for all)")
    space: dict[str, TuningRange] = Field(min_length=1, max_length=len(TUNABLE),
                                          description=f"ranges of {', '.join(TUNABLE)}")
    select: str = Field(DEFAULT_SELECTION, description="the validation metric that chooses "
                                                       "(each trial's best epoch)")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="the trials' seed; "
                                                                   "default: one past the "
                                                                   "evaluation seeds")

    @field_validator("space")
    @classmethod
    def _space(cls, space: dict[str, TuningRange]) -> dict[str, TuningRange]:
        for key, bounds in space.items():
            if key not in TUNABLE:
                raise ValueError(f"{key!r} cannot be tuned; tunable: {', '.join(TUNABLE)}")
            for end in (bounds.low, bounds.high):
                try:
                    TrainingSettings.model_validate({key: end})
                except ValidationError as exc:
                    raise ValueError(f"{key} = {end} is not a valid setting: "
                                     f"{exc.errors()[0]['msg']}") from None
        return space

    @field_validator("select")
    @classmethod
    def _select(cls, select: str) -> str:
        if select not in SELECTION_METRICS:
            raise ValueError(f"unknown selection metric {select!r}; valid: "
                             f"{', '.join(SELECTION_METRICS)}")
        return select


class SweepSpec(BaseModel):
    """POST /sweeps: one experiment per cell of activations x models x datasets x grid."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    name: str = Field("", max_length=200, json_schema_extra=TEXT)
    kind: Kind = RunKind.train
    activations: list[SweepActivation] = Field(min_length=1, max_length=500)
    models: list[SweepModel] = Field(default_factory=lambda: [SweepModel(name="mlp")],
                                     min_length=1, max_length=50)
    datasets: list[SweepDataset] = Field(default_factory=lambda: [SweepDataset(name="digits")],
                                         min_length=1, max_length=50)
    # "training.lr": [1e-3, 1e-2], "activation.params.shift": [-1, 0, 1], ...
    grid: dict[str, Annotated[list[Any], Field(max_length=MAX_GRID_VALUES)]] = Field(
        default_factory=dict, max_length=32)
    seeds: list[int] = Field(default_factory=lambda: [0], **SEEDS_FIELD)
    training: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, max_length=32, json_schema_extra=TAGS)
    priority: int = Field(0, ge=-10, le=10)
    force: bool = False
    resources: Resources = Field(default_factory=Resources)
    # Seeds until decided, in place of `seeds` (its first round's seeds fill `seeds`).
    adaptive: Adaptive | None = None
    # An equal tuning budget before the evaluation (fixed seeds or the race).
    tuning: Tuning | None = None
    # Each model's width solved to a reference's parameters or MACs (core/domain/matching.py).
    match: Match | None = None

    @model_validator(mode="after")
    def _matchable(self, info: ValidationInfo) -> Self:
        """A matched sweep's models each have a width this service can solve, and so does
        its reference."""
        if self.match is None or trusted(info):
            return self
        errors: list[tuple[tuple[str | int, ...], str, str]] = []
        if not matching.countable(self.match.reference.name):
            errors.append((("match", "reference", "name"), "value_error",
                           f"reference model {self.match.reference.name!r} cannot be "
                           f"counted: references are {', '.join(sorted(matching.COUNTERS))}"))
        models = catalog.entries("models")
        for i, model in enumerate(self.models):
            entry = models.get(model.name)
            if entry is not None and not (entry.get("width_param")
                                          and matching.countable(entry["name"])):
                errors.append((("models", i, "name"), "value_error",
                               f"model {model.name!r} cannot be matched: widths are solved "
                               f"for {', '.join(sorted(matching.COUNTERS))}"))
        if errors:
            raise invalid("SweepSpec", errors)
        return self

    @model_validator(mode="after")
    def _tuning(self) -> Self:
        """Tuned settings come from the tuning only: not from `training`, nor a grid."""
        if self.tuning is None:
            return self
        tuned = list(self.tuning.space)
        errors: list[tuple[tuple[str | int, ...], str, str]] = [
            (("training", key), "value_error",
             f"training.{key} is tuned (tuning.space): leave it out of training")
            for key in tuned if key in self.training]
        errors += [(("grid", f"training.{key}"), "value_error",
                    f"training.{key} is tuned (tuning.space): not in the grid too")
                   for key in tuned if f"training.{key}" in self.grid]
        if self.kind != RunKind.train:
            errors.append((("kind",), "value_error", "a tuned sweep trains (kind train)"))
        if errors:
            raise invalid("SweepSpec", errors)
        return self

    def trial_seed(self) -> int:
        """The trials' seed: the tuning's, or one past every evaluation seed (every round of
        a race's)."""
        if self.tuning is not None and self.tuning.seed is not None:
            return self.tuning.seed
        if self.adaptive is not None:
            return self.adaptive.per_round * self.adaptive.max_rounds
        return max(self.seeds) + 1

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return check_storable(data)

    @model_validator(mode="after")
    def _race(self, info: ValidationInfo) -> Self:
        """An adaptive sweep races activations on one task: no seeds of its own, one model,
        one dataset, no grid; its baseline is one of its entries."""
        if self.adaptive is None or trusted(info):
            return self
        errors: list[tuple[tuple[str | int, ...], str, str]] = []
        if "seeds" in self.model_fields_set:
            errors.append((("seeds",), "value_error", "an adaptive sweep chooses its seeds "
                           "(adaptive.per_round per round): give seeds or adaptive, not both"))
        for field, items in (("models", self.models), ("datasets", self.datasets)):
            if len(items) != 1:
                errors.append(((field,), "value_error", f"an adaptive sweep races activations "
                               f"on one task: give one of {field}, not {len(items)}"))
        if self.grid:
            errors.append((("grid",), "value_error", "an adaptive sweep races activations on "
                           "one recipe: no grid (one sweep per grid value)"))
        if self.kind != RunKind.train:
            errors.append((("kind",), "value_error", "an adaptive sweep trains (kind train)"))
        if errors:
            raise invalid("SweepSpec", errors)
        self.seeds = list(range(self.adaptive.per_round))
        known = catalog.entries("activations")
        if self.adaptive.baseline not in known:
            raise invalid("SweepSpec", [(("adaptive", "baseline"), "unknown_name",
                                          f"unknown baseline activation "
                                          f"{self.adaptive.baseline!r}; valid names: "
                                          f"{', '.join(catalog.canonical_names('activations'))}")])
        self.adaptive.baseline = known[self.adaptive.baseline]["name"]  # aliases: its name
        labels = [a.label() for a in _unique(self.activations)]
        if self.adaptive.baseline not in labels:
            self.activations = [*self.activations, SweepActivation(name=self.adaptive.baseline)]
        elif labels.count(self.adaptive.baseline) > 1:
            raise invalid("SweepSpec", [(("activations",), "value_error",
                                          f"the baseline {self.adaptive.baseline!r} is listed "
                                          "with several params: list it once")])
        return self

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in grid.items():
            if not path.startswith(GRID_PREFIXES) or path.endswith("."):
                raise ValueError(f"grid key {path!r} must start with one of "
                                 f"{', '.join(GRID_PREFIXES)}")
            if not values:
                raise ValueError(f"grid key {path!r} has no values")
        return grid


_COMPONENT_KINDS = {"activation": "activations", "model": "models", "dataset": "datasets"}


def _takes(component: ComponentRef, kind: str, param: str) -> bool:
    """Whether the catalog entry of `component` has parameter `param` (unknown names: yes,
    so that validation reports the name)."""
    entry = catalog.entries(kind).get(component.name)
    return entry is None or any(p["name"] == param for p in entry["params"])


def _check_grid_applies(sweep: SweepSpec) -> None:
    """A `<component>.params.X` grid key must fit at least one of the sweep's components."""
    lists: dict[str, Sequence[ComponentRef]] = {
        "activation": sweep.activations, "model": sweep.models, "dataset": sweep.datasets}
    errors = []
    for key in sweep.grid:
        head, _, param = key.partition(".params.")
        if head not in lists or not param:
            continue
        kind = _COMPONENT_KINDS[head]
        if not any(_takes(c, kind, param) for c in lists[head]):
            names = ", ".join(sorted({c.name for c in lists[head]}))
            errors.append({"loc": ("grid", key), "type": "value_error",
                           "msg": f"grid key {key!r}: no {head} of this sweep ({names}) takes "
                                  f"parameter {param!r}"})
    if errors:
        raise SpecError(errors)


def _identity(value: Any) -> Any:
    """What makes two values of a sweep one: their JSON (1 and 1.0 are two), written out for
    containers only (a grid list may hold thousands of numbers)."""
    kind = type(value)
    if kind in (int, float, bool, str) or value is None:
        return kind.__name__, repr(value)
    return json.dumps(value, sort_keys=True, default=str)


def _distinct(values: list[Any]) -> list[Any]:
    """`values` without repeats, in order, compared as JSON (1 and 1.0 are two, so are 0.0 and
    -0.0). Lists of one kind of number or of text take the C path (a grid list may hold
    10,000 values: 2 ms instead of 50)."""
    kinds = set(map(type, values))
    if kinds <= {int, str} or (kinds == {float} and not (
            0.0 in values and any(v == 0.0 and math.copysign(1.0, v) < 0 for v in values))):
        return list(dict.fromkeys(values))
    return list({_identity(v): v for v in values}.values())


def planned_seeds(sweep: SweepSpec) -> int:
    """Runs per cell at most: the list's seeds, or every round of a race, and a tuning
    budget's trials."""
    race = sweep.adaptive
    seeds = len(sweep.seeds) if race is None else race.per_round * race.max_rounds
    return seeds + (sweep.tuning.trials if sweep.tuning is not None else 0)


def count_cells(sweep: SweepSpec) -> int:
    """How many cells `sweep_cells` yields, computed without expanding the grid: a cell is
    one distinct (activation, model, dataset) with one distinct value of every grid key that
    applies to it, and whether a `<component>.params.X` key applies depends on that
    component alone, so the count factors into one sum per component list (linear in the
    sizes of the lists, where the expansion is their product). Exact, but for components
    listed twice with params that a grid value then overwrites alike: an upper bound."""
    _check_grid_applies(sweep)
    distinct = {key: len(_distinct(values)) for key, values in sweep.grid.items()}
    lists: dict[str, Sequence[ComponentRef]] = {
        "activation": sweep.activations, "model": sweep.models, "dataset": sweep.datasets}
    total = math.prod(n for key, n in distinct.items() if ".params." not in key
                      or key.partition(".params.")[0] not in lists)
    for head, components in lists.items():
        unique = _unique(components)
        keys = [(key.partition(".params.")[2], n) for key, n in distinct.items()
                if key.partition(".params.")[0] == head and ".params." in key]
        total *= sum(math.prod(n for param, n in keys
                               if _takes(c, _COMPONENT_KINDS[head], param)) for c in unique)
    return total


def sweep_cells(sweep: SweepSpec) -> Iterator[dict[str, Any]]:
    """The experiment bodies of every cell, in a stable order (not yet validated). A
    `<component>.params.X` grid key applies only to the components that take X (`relu` in
    a sweep over GAAF's `shift` is trained once, not once per value). Repeated components
    and grid values are one: the loops run over `count_cells` cells, never over the product
    of the lists as sent (500 equal activations x 50 x 50 took 38 s to come to one cell).
    Lazy: a caller that stops at the first problems builds no more cells than it reads."""
    import itertools

    _check_grid_applies(sweep)
    values = {key: _distinct(vs) for key, vs in sweep.grid.items()}
    seen: set[str] = set()
    for act, model, dataset in itertools.product(
            _unique(sweep.activations), _unique(sweep.models), _unique(sweep.datasets)):
        components = {"activation": act, "model": model, "dataset": dataset}
        keys = [key for key in values if not _skips(key, components)]
        for combo in itertools.product(*(values[k] for k in keys)):
            body: dict[str, Any] = {
                "kind": sweep.kind, "activation": act.model_dump(), "model": model.model_dump(),
                "dataset": dataset.model_dump(), "seeds": list(sweep.seeds),
                "training": dict(sweep.training), "tags": list(sweep.tags),
                "priority": sweep.priority, "resources": sweep.resources.model_dump()}
            applied = []
            for key, value in zip(keys, combo, strict=True):
                path, _, leaf = key.rpartition(".")
                target = body
                for part in path.split("."):
                    target = target.setdefault(part, {})
                target[leaf] = value
                applied.append(f"{key}={value}")
            identity = _identity(body)
            if identity in seen:
                continue
            seen.add(identity)
            label = ", ".join(applied)
            body["name"] = (f"{sweep.name + ': ' if sweep.name else ''}{act.label()} / "
                            f"{model.name} / {dataset.name}{' [' + label + ']' if label else ''}")
            yield body


_C = TypeVar("_C", bound=ComponentRef)


def _unique(components: Sequence[_C]) -> list[_C]:
    return list({_identity(c.model_dump()): c for c in components}.values())


def _skips(key: str, components: Mapping[str, ComponentRef]) -> bool:
    """Whether grid key `key` does not apply to this cell's component."""
    head, _, param = key.partition(".params.")
    return head in components and bool(param) and \
        not _takes(components[head], _COMPONENT_KINDS[head], param)
