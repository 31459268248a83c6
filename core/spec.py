"""The experiment spec: the POST body of /api/v1/experiments and the SPEC_FILE of the CLI.

Types and ranges are checked by pydantic; names and params against the catalogs by
`validate_spec`, which also fills in every default so equal recipes hash equal.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from core import catalog
from core.params import ParamError, resolve
from core.settings import Settings
from core.status import RunKind

MAX_SEED = 2**31 - 1
# Bumped when the same spec starts to mean different numbers. 2: train / validation / test
# splits (version 1 validated on the test split). Part of the recipe hash, so results of one
# version are never reused for, or compared with, another.
RECIPE_VERSION = 2


# JSON strings are accepted for the enum (strict mode alone would want an enum instance).
Kind = Annotated[RunKind, Strict(False)]


class ComponentRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class TrainingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    epochs: int = Field(10, ge=1, description="upper bound: ACTLAB_MAX_EPOCHS")
    batch_size: int = Field(128, ge=1, le=65536)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0, le=10, description="peak learning rate")
    weight_decay: float = Field(0.0, ge=0, le=1, description="not applied to activation params")
    schedule: Literal["constant", "step", "cosine", "onecycle"] = "constant"
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    nesterov: bool = False
    grad_clip: float | None = Field(None, gt=0, description="max global gradient norm")
    lr_min: float = Field(1e-6, gt=0, le=10, description="lr_range: first learning rate")
    lr_max: float = Field(1.0, gt=0, le=100, description="lr_range: last learning rate")
    lr_range_steps: int = Field(100, ge=10, le=10000, description="lr_range: steps")


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field("", max_length=200)
    kind: Kind = RunKind.train
    activation: ComponentRef
    model: ComponentRef = ComponentRef(name="mlp")
    dataset: ComponentRef = ComponentRef(name="digits")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    training: TrainingSettings = TrainingSettings()
    tags: list[str] = Field(default_factory=list, max_length=32)
    priority: int = Field(0, ge=-10, le=10)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        dupes = sorted({s for s in seeds if seeds.count(s) > 1})
        if dupes:
            raise ValueError(f"duplicate seeds: {dupes}")
        bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
        if bad:
            raise ValueError(f"seeds must be in [0, {MAX_SEED}], got {bad}")
        return seeds

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not 1 <= len(tag) <= 64:
                raise ValueError(f"tags must be 1 to 64 characters, got {tag!r}")
        return tags


# The error type of a model that cannot take the dataset's inputs (sweeps skip such cells).
INCOMPATIBLE_INPUT = "incompatible_input"


class SpecError(ValueError):
    """Catalog-level problems: a list of {loc, msg, type} like pydantic's, loc without 'body'."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


def _nestable_activations() -> dict[str, str]:
    return {key: entry["name"] for key, entry in catalog.entries("activations").items()
            if entry["channel_multiplier"] == 1}


def validate_spec(spec: ExperimentSpec, settings: Settings,
                  *, max_runs: int | None = None) -> ExperimentSpec:
    """Check names, params and limits against the catalogs and settings. Returns a copy with
    canonical names and every default filled in; raises SpecError listing every problem."""
    errors: list[dict[str, Any]] = []

    def error(loc: tuple[Any, ...], msg: str, kind: str = "value_error") -> None:
        errors.append({"loc": loc, "msg": msg, "type": kind})

    resolved: dict[str, ComponentRef] = {}
    entries: dict[str, dict[str, Any]] = {}
    for field, kind, noun in (("activation", "activations", "activation"),
                              ("model", "models", "model"), ("dataset", "datasets", "dataset")):
        ref: ComponentRef = getattr(spec, field)
        known = catalog.entries(kind)
        entry = known.get(ref.name)
        if entry is None:
            error((field, "name"), f"unknown {noun} {ref.name!r}; valid names: "
                                   f"{', '.join(catalog.canonical_names(kind))}", "unknown_name")
            continue
        entries[field] = entry
        try:
            params = resolve(f"{noun} {entry['name']!r}", entry["name"], entry["params"],
                             ref.params, _nestable_activations())
        except ParamError as exc:
            loc = (field, "params", exc.param) if exc.param else (field, "params")
            error(loc, str(exc))
            continue
        resolved[field] = ComponentRef(name=entry["name"], params=params)

    if "model" in entries and "dataset" in entries:
        accepted = entries["model"]["input_kinds"]
        got = entries["dataset"]["input_kind"]
        if got not in accepted:
            error(("model", "name"), f"model {entries['model']['name']!r} takes "
                                     f"{' or '.join(accepted)} inputs, but dataset "
                                     f"{entries['dataset']['name']!r} is {got}",
                  INCOMPATIBLE_INPUT)
    if spec.kind == RunKind.lr_range and spec.training.lr_min >= spec.training.lr_max:
        error(("training", "lr_max"), f"lr_max ({spec.training.lr_max}) must be above lr_min "
                                      f"({spec.training.lr_min})")
    if spec.training.epochs > settings.max_epochs:
        error(("training", "epochs"), f"epochs must be <= {settings.max_epochs} "
                                      f"(ACTLAB_MAX_EPOCHS), got {spec.training.epochs}")
    limit = settings.max_runs_per_request if max_runs is None else max_runs
    if len(spec.seeds) > limit:
        error(("seeds",), f"{len(spec.seeds)} seeds would queue {len(spec.seeds)} runs; at most "
                          f"{limit} per request (ACTLAB_MAX_RUNS_PER_REQUEST)")
    if errors:
        raise SpecError(errors)
    return spec.model_copy(update=resolved)


def raw_catalog_errors(raw: Any) -> list[dict[str, Any]]:
    """Name and parameter problems found in a body that failed type validation, so one
    response lists them together with the type errors (best effort: parts that are not
    shaped like a component are left to the type errors)."""
    if not isinstance(raw, dict):
        return []
    errors = []
    for field, kind, noun in (("activation", "activations", "activation"),
                              ("model", "models", "model"), ("dataset", "datasets", "dataset")):
        ref = raw.get(field)
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
            continue
        entry = catalog.entries(kind).get(ref["name"])
        if entry is None:
            errors.append({"loc": (field, "name"), "type": "unknown_name",
                           "msg": f"unknown {noun} {ref['name']!r}; valid names: "
                                  f"{', '.join(catalog.canonical_names(kind))}"})
            continue
        params = ref.get("params", {})
        if isinstance(params, dict):
            try:
                resolve(f"{noun} {entry['name']!r}", entry["name"], entry["params"], params,
                        _nestable_activations())
            except ParamError as exc:
                loc = (field, "params", exc.param) if exc.param else (field, "params")
                errors.append({"loc": loc, "msg": str(exc), "type": "value_error"})
    return errors


def spec_hash(spec: ExperimentSpec) -> str:
    """Identity of the training recipe: everything but name, tags, priority and seeds."""
    recipe = spec.model_dump(mode="json", exclude={"name", "tags", "priority", "seeds"})
    recipe["recipe_version"] = RECIPE_VERSION
    canonical = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


GRID_PREFIXES = ("activation.params.", "model.params.", "dataset.params.", "training.")


class SweepSpec(BaseModel):
    """POST /sweeps: one experiment per cell of activations x models x datasets x grid."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field("", max_length=200)
    kind: Kind = RunKind.train
    activations: list[ComponentRef] = Field(min_length=1, max_length=500)
    models: list[ComponentRef] = Field(default_factory=lambda: [ComponentRef(name="mlp")],
                                       min_length=1, max_length=50)
    datasets: list[ComponentRef] = Field(default_factory=lambda: [ComponentRef(name="digits")],
                                         min_length=1, max_length=50)
    # "training.lr": [1e-3, 1e-2], "activation.params.shift": [-1, 0, 1], ...
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    training: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, max_length=32)
    priority: int = Field(0, ge=-10, le=10)
    force: bool = False

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
    lists = {"activation": sweep.activations, "model": sweep.models,
             "dataset": sweep.datasets}
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


def sweep_cells(sweep: SweepSpec) -> list[dict[str, Any]]:
    """The experiment bodies of every cell, in a stable order (not yet validated). A
    `<component>.params.X` grid key applies only to the components that take X (`relu` in
    a sweep over GAAF's `shift` is trained once, not once per value)."""
    import itertools

    _check_grid_applies(sweep)
    keys = list(sweep.grid)
    cells = []
    seen: set[str] = set()
    for act, model, dataset in itertools.product(sweep.activations, sweep.models,
                                                 sweep.datasets):
        components = {"activation": act, "model": model, "dataset": dataset}
        for combo in itertools.product(*(sweep.grid[k] for k in keys)):
            body: dict[str, Any] = {
                "kind": sweep.kind, "activation": act.model_dump(), "model": model.model_dump(),
                "dataset": dataset.model_dump(), "seeds": list(sweep.seeds),
                "training": dict(sweep.training), "tags": list(sweep.tags),
                "priority": sweep.priority}
            applied = []
            for key, value in zip(keys, combo, strict=True):
                head, _, param = key.partition(".params.")
                if head in components and param and \
                        not _takes(components[head], _COMPONENT_KINDS[head], param):
                    continue
                path, _, leaf = key.rpartition(".")
                target = body
                for part in path.split("."):
                    target = target.setdefault(part, {})
                target[leaf] = value
                applied.append(f"{key}={value}")
            identity = json.dumps(body, sort_keys=True, default=str)
            if identity in seen:
                continue
            seen.add(identity)
            label = ", ".join(applied)
            body["name"] = (f"{sweep.name + ': ' if sweep.name else ''}{act.name} / "
                            f"{model.name} / {dataset.name}{' [' + label + ']' if label else ''}")
            cells.append(body)
    return cells
