"""The experiment spec: the POST body of /api/v1/experiments and the SPEC_FILE of the CLI.

Validating an `ExperimentSpec` checks everything about it in one pass: types and ranges,
component names and params against the catalogs (filling in every default, so equal recipes
hash equal), and whether the model takes the dataset. `check_limits` adds the deployment's
limits (ACTLAB_MAX_EPOCHS, ACTLAB_MAX_RUNS_PER_REQUEST). A spec read back from the database
was validated when it was stored: `stored_spec` rebuilds it without checking the catalog again.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from core.domain import catalog, sizing
from core.domain.params import ParamError, resolve
from core.domain.settings import Settings
from core.domain.status import RunKind

MAX_SEED = 2**31 - 1
# A glob over activation slot names (worker/training/placement.py).
SLOT_PATTERN = r"^[A-Za-z0-9_.*?\[\]!-]{1,100}$"
# Bumped when the same spec starts to mean different numbers. 2: train / validation / test
# splits (version 1 validated on the test split). Part of the recipe hash, so results of one
# version are never reused for, or compared with, another.
RECIPE_VERSION = 2


# Training settings a tuning budget may search over (numbers; the rest are choices).
TUNABLE = ("lr", "weight_decay", "momentum", "grad_clip")

# JSON strings are accepted for the enum (strict mode alone would want an enum instance).
Kind = Annotated[RunKind, Strict(False)]


# A generated dataset needs this many samples per class for every class to reach each split.
MIN_SAMPLES_PER_CLASS = 10

# The error type of a model that cannot take the dataset's inputs (sweeps skip such cells).
INCOMPATIBLE_INPUT = "incompatible_input"


def invalid(title: str,
             errors: Sequence[tuple[tuple[str | int, ...], str, str]]) -> ValidationError:
    """A ValidationError of (loc, type, message) triples; raised inside a validator, pydantic
    nests it under the field being validated, so the loc stays precise."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError(kind, "{reason}", {"reason": msg}), loc=loc,
                         input=None) for loc, kind, msg in errors])


def trusted(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("trusted"))


# C0 and C1 control characters but tab, newline and carriage return.
CONTROL = frozenset(chr(c) for c in [*range(0x01, 0x20), *range(0x7F, 0xA0)]) - set("\t\n\r")
# The same rule (and NUL) for the OpenAPI document; _storable checks it with messages.
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
TEXT: dict[str, Any] = {"pattern": TEXT_PATTERN}
TAGS: dict[str, Any] = {"items": {"type": "string", "minLength": 1, "maxLength": 64,
                                  "pattern": TEXT_PATTERN}}
SEEDS: dict[str, Any] = {"items": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
                         "uniqueItems": True}
# A hard bound on any seed list, far above ACTLAB_MAX_RUNS_PER_REQUEST's default: the list is
# read before the deployment's limit applies, and must be cheap to refuse.
MAX_SEEDS = 10_000
SEEDS_FIELD: dict[str, Any] = {"min_length": 1, "max_length": MAX_SEEDS,
                               "json_schema_extra": SEEDS}


def printable(text: str) -> str:
    """`text` with what UTF-8 cannot encode (lone surrogates) written as \\udXXX escapes: for
    error messages that quote what a request sent."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


Problem = tuple[tuple[str | int, ...], str, str]  # where, error type, message


def _storable(data: Any, loc: tuple[str | int, ...] = ()) -> list[Problem]:
    """Strings no database can hold (a NUL byte: PostgreSQL refuses it in text and JSON) or no
    terminal should print (other control characters but tab and newline), and numbers JSON
    cannot hold (Infinity, NaN: `json.loads` accepts them), anywhere in a body."""
    if isinstance(data, str):
        return _text_problems(data, loc)
    if isinstance(data, float) and not math.isfinite(data):
        # JSON reads a number beyond a double's range (1e999) as inf
        return [(loc, "finite_number", f"must be a finite number, got {data} (numbers beyond "
                                       "about 1.8e308 read as infinite)")]
    if isinstance(data, dict):
        # A key that fails is named escaped: the error itself must be serialisable.
        return [e for k, v in data.items() for e in
                (_storable(k, (*loc, "<key>")) + _storable(v, (*loc, printable(str(k)))))]
    if isinstance(data, list):
        return _list_problems(data, loc)
    return []


def _text_problems(data: str, loc: tuple[str | int, ...]) -> list[Problem]:
    if "\x00" in data:
        return [(loc, "value_error", "text must not contain a NUL byte (\\u0000)")]
    lone = sorted({f"\\u{ord(c):04x}" for c in data if "\ud800" <= c <= "\udfff"})
    if lone:  # valid JSON (\ud800), but no UTF-8 response or database can carry it
        return [(loc, "value_error", f"text must not contain lone UTF-16 surrogates, got "
                                     f"{', '.join(lone)}")]
    bad = sorted({f"\\u{ord(c):04x}" for c in data if c in CONTROL})
    return [(loc, "value_error", f"text must not contain control characters, got "
                                 f"{', '.join(bad)}")] if bad else []


def _list_problems(data: list[Any], loc: tuple[str | int, ...]) -> list[Problem]:
    out = []
    for i, v in enumerate(data):  # numbers inline: a grid list may hold thousands
        kind = type(v)
        if kind is int or kind is bool or v is None:
            continue
        if kind is float and math.isfinite(v):
            continue
        out += _storable(v, (*loc, i))
    return out


def _listed(values: Sequence[int], most: int = 10) -> str:
    shown = ", ".join(map(str, values[:most]))
    return f"[{shown}{', ...' if len(values) > most else ''}] ({len(values)})" \
        if len(values) > most else f"[{shown}]"


def check_seeds(seeds: list[int]) -> list[int]:
    """No repeats, each in [0, MAX_SEED]; linear in the list's length (a message lists at
    most ten of the offenders)."""
    repeated = sorted(seed for seed, n in Counter(seeds).items() if n > 1)
    if repeated:
        raise ValueError(f"duplicate seeds: {_listed(repeated)}")
    bad = [seed for seed in seeds if not 0 <= seed <= MAX_SEED]
    if bad:
        raise ValueError(f"seeds must be in [0, {MAX_SEED}], got {_listed(bad)}")
    return seeds


def check_storable(data: Any) -> Any:
    errors = _storable(data)
    if errors:
        raise invalid("body", errors)
    return data


class ComponentRef(BaseModel):
    """A component by name, with params: only the shape is checked (a sweep's lists)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=64, json_schema_extra=TEXT)
    params: dict[str, Any] = Field(default_factory=dict)


def without_empty_slots(data: dict[str, Any]) -> dict[str, Any]:
    """A dumped activation without an empty placement and without the gate's defaults: a
    spec without them keeps the form (and recipe hash) it always had."""
    if not data.get("slots"):
        data.pop("slots", None)
    if not data.get("gated"):
        data.pop("gated", None)
        data.pop("match_params", None)
    elif data.get("match_params", True):
        data.pop("match_params", None)
    return data


GATED_DOC = ("gate the FFN: act(x W) * (x V) (GLU variants, Shazeer 2020); FFN slots only "
             "(kind ffn: transformers)")
MATCH_PARAMS_DOC = "with gated: scale d_ff by 2/3 so the FFN keeps its parameter count"


class Gate(BaseModel):
    """An activation's gate: `gated` turns each FFN slot into act(x W) * (x V)."""

    gated: bool = Field(False, description=GATED_DOC)
    match_params: bool = Field(True, description=MATCH_PARAMS_DOC)


def _catalog_schema(schema: dict[str, Any], cls: type[_CatalogRef]) -> None:
    """The OpenAPI schema of a component, from the catalog when the document is built: one
    variant per entry, its names (aliases too) as an enum and each parameter with its type,
    bounds and choices."""
    nestable = sorted(catalog.nestable_activations())
    names: dict[str, list[str]] = {}
    for name, entry in catalog.entries(cls.kind).items():
        names.setdefault(entry["name"], []).append(name)
    variants = []
    for canonical in sorted(names):
        params = {p.name: p.json_schema(nestable)
                  for p in catalog.param_infos(cls.kind, canonical)}
        properties: dict[str, Any] = {
            "name": {"type": "string", "enum": sorted(names[canonical])},
            "params": {"type": "object", "properties": params, "additionalProperties": False}}
        if "slots" in cls.model_fields:
            properties["slots"] = {
                "type": "object", "maxProperties": 64,
                "description": "glob patterns over the model's activation slots (GET "
                               "/api/v1/catalog/models) -> the activation placed there "
                               "(identity: none)",
                "propertyNames": {"pattern": SLOT_PATTERN},
                "additionalProperties": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "params": {"type": "object"}}}}
        if "gated" in cls.model_fields:
            properties["gated"] = {"type": "boolean", "description": GATED_DOC}
            properties["match_params"] = {"type": "boolean", "description": MATCH_PARAMS_DOC}
        variants.append({"title": canonical, "type": "object", "required": ["name"],
                         "additionalProperties": False, "properties": properties})
    schema.clear()
    schema.update({"title": cls.__name__, "description": f"a {cls.noun} of the catalog "
                   f"(GET /api/v1/catalog/{cls.kind}) and its params; omitted params take "
                   "their defaults", "oneOf": variants})


class _CatalogRef(ComponentRef):
    """A component checked against its catalog: the name made canonical, every param checked
    and every default filled in."""

    model_config = ConfigDict(json_schema_extra=_catalog_schema)
    kind: ClassVar[str]
    noun: ClassVar[str]

    @model_validator(mode="after")
    def _against_catalog(self, info: ValidationInfo) -> Self:
        if trusted(info):
            return self
        entry = catalog.entries(self.kind).get(self.name)
        if entry is None:
            raise invalid(self.noun, [(("name",), "unknown_name",
                                        f"unknown {self.noun} {self.name!r}; valid names: "
                                        f"{', '.join(catalog.canonical_names(self.kind))}")])
        try:
            params = resolve(self.noun, entry["name"], catalog.param_infos(self.kind, self.name),
                             self.params, catalog.nestable_activations())
        except ParamError as exc:
            loc: tuple[str, ...] = ("params", exc.param) if exc.param else ("params",)
            raise invalid(self.noun, [(loc, "value_error", str(exc))]) from None
        self.name, self.params = entry["name"], params
        return self


class PlacedActivation(_CatalogRef):
    """An activation placed in some slots of the model (`identity`: none there)."""

    kind = "activations"
    noun = "activation"


class ActivationRef(_CatalogRef, Gate):
    kind = "activations"
    noun = "activation"

    # Glob patterns over the model's activation slots (GET /catalog/models, `slots`) mapped to
    # the activation placed there; each slot takes its first matching pattern, the rest keep
    # this activation (worker/training/placement.py).
    slots: dict[str, PlacedActivation] = Field(default_factory=dict, max_length=64)

    @field_validator("slots")
    @classmethod
    def _patterns(cls, slots: dict[str, PlacedActivation]) -> dict[str, PlacedActivation]:
        bad = [p for p in slots if not re.match(SLOT_PATTERN, p)]
        if bad:
            raise ValueError(f"slot patterns are globs over slot names (letters, digits, "
                             f"'_', '.', '-', '*', '?', '[...]'), got {bad}")
        return slots

    @model_serializer(mode="wrap")
    def _without_empty_slots(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_empty_slots(handler(self))


class ModelRef(_CatalogRef):
    kind = "models"
    noun = "model"


class DatasetRef(_CatalogRef):
    kind = "datasets"
    noun = "dataset"


class MatchReference(BaseModel):
    """The model whose size a matched sweep's models are solved to: by name, with params,
    counted with `activation` (the baseline's, ReLU, unless told)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=64, json_schema_extra=TEXT)
    params: dict[str, Any] = Field(default_factory=dict)
    activation: str = Field("relu", min_length=1, max_length=64, json_schema_extra=TEXT)

    @model_validator(mode="after")
    def _against_catalog(self, info: ValidationInfo) -> Self:
        """Names made canonical and the params complete, as a ModelRef's (the activation at
        its defaults)."""
        if trusted(info):
            return self
        model = ModelRef.model_validate({"name": self.name, "params": self.params})
        act = ActivationRef.model_validate({"name": self.activation})
        self.name, self.params, self.activation = model.name, model.params, act.name
        return self


class Match(BaseModel):
    """A sweep's ask: each model's width solved so its parameters (or MACs) equal the
    reference's within 2 % (core/domain/matching.py)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    by: Literal["params", "macs"] = "params"
    reference: MatchReference


class MatchRecord(Match):
    """What an experiment of a matched sweep was solved to, at submit (counted without
    torch; the run's provenance holds the counts of the models as built)."""

    width_param: str = Field(max_length=64, json_schema_extra=TEXT)
    width: int = Field(ge=1)
    count: int = Field(ge=0)
    reference_count: int = Field(ge=0)
    within: bool


# What each spec precision records in a run's provenance (worker/training/provenance.py),
# which reuse compares (core/store/creation.py).
RECORDED_PRECISION = {"fp32": "fp32", "bf16": "bf16-autocast"}


class TrainingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    epochs: int = Field(10, ge=1, description="upper bound: ACTLAB_MAX_EPOCHS")
    batch_size: int = Field(128, ge=1, le=65536)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0, le=10, description="peak learning rate")
    weight_decay: float = Field(0.0, ge=0, le=1, description="not applied to activation params")
    schedule: Literal["constant", "step", "cosine", "onecycle", "warmup_cosine"] = Field(
        "constant", description="warmup_cosine: a linear warm-up over the first 5 % of the "
                                "steps, then cosine to 0 (the transformer recipe)")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    nesterov: bool = False
    grad_clip: float | None = Field(None, gt=0, description="max global gradient norm")
    lr_min: float = Field(1e-6, gt=0, le=10, description="lr_range: first learning rate")
    lr_max: float = Field(1.0, gt=0, le=100, description="lr_range: last learning rate")
    lr_range_steps: int = Field(100, ge=10, le=10000, description="lr_range: steps")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="fp32: float32 throughout; bf16: bfloat16 autocast (CUDA's, or the "
                            "CPU's), faster on GPUs; results are reused only at the same "
                            "precision")
    # The published grokking recipes (Power et al. 2022, Nanda et al. 2023) need these three.
    betas: list[float] = Field(
        default_factory=lambda: [0.9, 0.999], min_length=2, max_length=2,
        description="adam and adamw: the moment decays (beta1, beta2), each in [0, 1)")
    warmup_steps: int = Field(
        0, ge=0, le=1_000_000, description="a linear warm-up of the lr over the first steps, "
                                           "on top of the schedule (not with onecycle, which "
                                           "has its own)")
    decay_all: bool = Field(
        False, description="weight decay on every weight, norms, embeddings and biases too "
                           "(activation parameters are never decayed: decay would change the "
                           "activation); false: the transformer recipe's exemptions")
    sparsity_cett: float = Field(
        0.2, gt=0, lt=1, description="the CETT budget of val_sparsity_cett (models with FFN "
                                     "slots): the share of the FFN output's norm that the "
                                     "truncated units may carry (Zhang et al. 2024: 0.2)")

    @field_validator("betas")
    @classmethod
    def _betas(cls, betas: list[float]) -> list[float]:
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must each be in [0, 1), got {betas}")
        return betas

    @model_validator(mode="after")
    def _warmup(self) -> TrainingSettings:
        if self.warmup_steps and self.schedule == "onecycle":
            raise ValueError("warmup_steps cannot be used with the onecycle schedule, which "
                             "has its own warm-up")
        return self


# Training settings added after recipes were first stored, with their defaults: a recipe at
# the default leaves the key out of its hash and its board recipe, so recipes stored before
# the setting existed keep their identity and still meet their baselines.
LATER_DEFAULTS: dict[str, Any] = {"precision": "fp32", "betas": [0.9, 0.999],
                                  "warmup_steps": 0, "decay_all": False, "sparsity_cett": 0.2}


def without_later_defaults(training: Mapping[str, Any]) -> dict[str, Any]:
    """Stored training settings less the LATER_DEFAULTS keys at their defaults."""
    return {k: v for k, v in training.items()
            if k not in LATER_DEFAULTS or v != LATER_DEFAULTS[k]}


# Model parameters added after recipes were first stored, the same way: a transformer's FFN
# (`ffn`: the MLP one, or KAT's GR-KAN; `groups` only means something for GR-KAN).
FFN_MODELS = ("gpt", "vit")


def without_later_model_defaults(model: Mapping[str, Any]) -> dict[str, Any]:
    """A stored model reference (name, params) less the later parameters at their defaults:
    a transformer with the MLP FFN hashes as it did before `ffn` existed."""
    params = dict(model.get("params") or {})
    if model.get("name") in FFN_MODELS and params.get("ffn", "mlp") == "mlp":
        params.pop("ffn", None)
        params.pop("groups", None)
    return {**model, "params": params}


class Resources(BaseModel):
    """What a run needs of the worker that trains it: part of the record, not of the recipe
    (the same recipe on a CPU and a GPU is one recipe)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    device: Literal["cuda", "cpu", "any"] = Field(
        "any", description="cuda: only a worker with a GPU claims it; cpu: only a worker that "
                           "serves CPU runs (kept off the GPUs); any: every worker")


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    name: str = Field("", max_length=200, json_schema_extra=TEXT)
    kind: Kind = RunKind.train
    activation: ActivationRef
    model: ModelRef = Field(default_factory=lambda: ModelRef(name="mlp"))
    dataset: DatasetRef = Field(default_factory=lambda: DatasetRef(name="digits"))
    seeds: list[int] = Field(default_factory=lambda: [0], **SEEDS_FIELD)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    tags: list[str] = Field(default_factory=list, max_length=32, json_schema_extra=TAGS)
    priority: int = Field(0, ge=-10, le=10)
    resources: Resources = Field(default_factory=Resources)
    # A sweep's tuning budget (core/store/tuned.py): its trials are experiments of role `trial`,
    # which no board, race or export counts; an entry evaluated at its chosen setting names
    # the tuned training keys (`tuned`), left out of the context that matches it to its
    # baseline. Neither is part of the recipe.
    role: Literal["evaluation", "trial"] = "evaluation"
    tuned: list[str] = Field(default_factory=list, max_length=8)
    # A matched sweep's solved width (its `match`): the reference is part of the recipe; the
    # width, which the match chose, is left out of the context that matches the experiment
    # to its baseline.
    match: MatchRecord | None = None

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return check_storable(data)

    @field_validator("tuned")
    @classmethod
    def _tuned(cls, tuned: list[str]) -> list[str]:
        for key in tuned:
            if key.removeprefix("training.") not in TUNABLE or not key.startswith("training."):
                raise ValueError(f"tuned key {key!r} is not one of "
                                 f"{', '.join(f'training.{k}' for k in TUNABLE)}")
        return tuned

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        return check_seeds(seeds)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not 1 <= len(tag) <= 64:
                raise ValueError(f"tags must be 1 to 64 characters, got {tag!r}")
        return tags

    def _placement(self, model: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str,
                                                                   str]]:
        return _placement_errors(self, model) if self.activation.slots else []

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        """Checks across fields: the model takes the dataset's inputs; an lr range rises."""
        if trusted(info):
            return self
        errors: list[tuple[tuple[str | int, ...], str, str]] = []
        model = catalog.entries("models")[self.model.name]
        dataset = catalog.entries("datasets")[self.dataset.name]
        if dataset["input_kind"] not in model["input_kinds"]:
            errors.append((("model", "name"), INCOMPATIBLE_INPUT,
                           f"model {model['name']!r} takes {' or '.join(model['input_kinds'])} "
                           f"inputs, but dataset {dataset['name']!r} is {dataset['input_kind']}"))
        task, tasks = dataset.get("task", "classification"), model.get("tasks", ["classification"])
        if task not in tasks:
            errors.append((("model", "name"), INCOMPATIBLE_INPUT,
                           f"model {model['name']!r} is made for {' or '.join(tasks)}, but "
                           f"dataset {dataset['name']!r} is a {task} dataset"))
        samples, classes = self.dataset.params.get("samples"), self.dataset.params.get("classes")
        if isinstance(samples, int) and isinstance(classes, int) \
                and samples < MIN_SAMPLES_PER_CLASS * classes:
            errors.append((("dataset", "params", "samples"), "value_error",
                           f"{samples} samples over {classes} classes leave fewer than "
                           f"{MIN_SAMPLES_PER_CLASS} per class to split into train, validation "
                           f"and test; use at least {MIN_SAMPLES_PER_CLASS * classes} samples"))
        errors += self._placement(model)
        errors += _gate_errors(self, model)
        errors += _context_errors(self, model, dataset)
        errors += _range_errors(self)
        errors += _edge_errors(self, model)
        errors += _ffn_errors(self)
        if self.kind == RunKind.lr_range and self.training.lr_min >= self.training.lr_max:
            errors.append((("training", "lr_max"), "value_error",
                           f"lr_max ({self.training.lr_max}) must be above lr_min "
                           f"({self.training.lr_min})"))
        if errors:
            raise invalid("ExperimentSpec", errors)
        return self


def _context_errors(spec: ExperimentSpec, model: Mapping[str, Any],
                    dataset: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """A model that attends over at most `context` tokens cannot take longer sequences."""
    defaults = {p["name"]: p["default"] for p in model["params"]}
    if "context" not in defaults or dataset["input_kind"] != "tokens":
        return []
    context = spec.model.params.get("context", defaults["context"])
    length = sizing.input_shape(dataset, spec.dataset.params)[0]
    if not isinstance(context, int) or length <= context:
        return []
    return [(("model", "params", "context"), "value_error",
             f"model {model['name']!r} attends over at most {context} tokens (context), but "
             f"dataset {dataset['name']!r} with these params has sequences of {length}: raise "
             f"the model's context to at least {length} or shorten the dataset's sequences")]


def _ffn_errors(spec: ExperimentSpec) -> list[tuple[tuple[str | int, ...], str, str]]:
    """GR-KAN's rationals are shared by `groups` of channels: the groups must divide both
    widths; and its FFN has no gate."""
    params = spec.model.params
    if params.get("ffn") != "gr_kan":
        return []
    groups = params.get("groups", 8)
    errors: list[tuple[tuple[str | int, ...], str, str]] = []
    for width in ("d_model", "d_ff"):
        value = params.get(width)
        if isinstance(value, int) and isinstance(groups, int) and value % groups:
            errors.append((("model", "params", "groups"), "value_error",
                           f"gr_kan shares a rational per group of channels: groups "
                           f"({groups}) must divide {width} ({value})"))
    if spec.activation.gated:
        errors.append((("activation", "gated"), "value_error",
                       "a gr_kan FFN has no gate: gated needs ffn mlp"))
    return errors


def _edge_errors(spec: ExperimentSpec,
                 model: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """A model built only with some activations (a KAN's edge functions) refuses others."""
    allowed = model.get("activations")
    if not allowed or spec.activation.name in allowed:
        return []
    return [(("activation", "name"), INCOMPATIBLE_INPUT,
             f"model {model['name']!r} takes the activation as its edge function: one of "
             f"{', '.join(allowed)}, not {spec.activation.name!r}")]


def _range_errors(spec: ExperimentSpec) -> list[tuple[tuple[str | int, ...], str, str]]:
    """An activation with a range (`low`, `high`: bspline's grid) needs high above low."""
    params = spec.activation.params
    low, high = params.get("low"), params.get("high")
    if not isinstance(low, int | float) or not isinstance(high, int | float) or high > low:
        return []
    return [(("activation", "params", "high"), "value_error",
             f"{spec.activation.name}: high ({high}) must be above low ({low})")]


def _gate_errors(spec: ExperimentSpec,
                 model: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """A gate needs FFN slots: refused, naming the models that have them, elsewhere."""
    if not spec.activation.gated:
        return []
    slots = model.get("slots", [])
    if any(slot["kind"] == "ffn" for slot in slots):
        return []
    takers = sorted(m["name"] for m in catalog.entries("models").values()
                    if any(slot["kind"] == "ffn" for slot in m.get("slots", [])))
    listed = ", ".join(f"{x['name']} ({x['kind']})" for x in slots) or "no slots"
    return [(("activation", "gated"), "value_error",
             f"a gated activation goes in FFN slots (kind ffn), which {', '.join(takers)} "
             f"have; model {model['name']!r} has {listed}")]


def _placement_errors(spec: ExperimentSpec,
                      model: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Slot patterns that match no slot of the model (checked against the catalog's slots,
    listed for the model's default params: with other params the worker checks them against
    the model it builds), and placed activations that would change the widths."""
    errors: list[tuple[tuple[str | int, ...], str, str]] = []
    names = [slot["name"] for slot in model.get("slots", [])]
    defaults = {p["name"]: p["default"] for p in model["params"]}
    main = catalog.entries("activations")[spec.activation.name]
    for pattern, placed in spec.activation.slots.items():
        loc: tuple[str | int, ...] = ("activation", "slots", pattern)
        if spec.model.params == defaults and not any(fnmatchcase(n, pattern) for n in names):
            errors.append((loc, "unknown_slot",
                           f"slot pattern {pattern!r} matches no activation slot of model "
                           f"{model['name']!r}; its slots: {', '.join(names)}"))
        entry = catalog.entries("activations")[placed.name]
        if entry["channel_multiplier"] != main["channel_multiplier"]:
            errors.append((loc, "value_error",
                           f"{placed.name} multiplies channels by {entry['channel_multiplier']}, "
                           f"{main['name']} by {main['channel_multiplier']}: an activation "
                           "placed in a slot must keep the model's widths"))
    return errors


def stored_spec(data: Mapping[str, Any]) -> ExperimentSpec:
    """A spec as the database holds it, with changes (new seeds) checked for type and range;
    its names and params were checked against the catalog when it was stored, and are not
    checked again (the catalog may have gained defaults since, which would change the hash)."""
    return ExperimentSpec.model_validate(data, context={"trusted": True})


class SpecError(ValueError):
    """A spec beyond the deployment's limits (or a sweep grid that fits nothing): a list of
    {loc, msg, type} like pydantic's, loc without 'body'."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


def check_limits(spec: ExperimentSpec, settings: Settings, *, max_runs: int | None = None) -> None:
    """The deployment's limits on a valid spec; raises SpecError listing every one exceeded."""
    errors: list[dict[str, Any]] = []
    if spec.training.epochs > settings.max_epochs:
        errors.append({"loc": ("training", "epochs"), "type": "value_error",
                       "msg": f"epochs must be <= {settings.max_epochs} (ACTLAB_MAX_EPOCHS), "
                              f"got {spec.training.epochs}"})
    errors += _size_errors(spec, settings)
    limit = settings.max_runs_per_request if max_runs is None else max_runs
    if len(spec.seeds) > limit:
        errors.append({"loc": ("seeds",), "type": "value_error",
                       "msg": f"{len(spec.seeds)} seeds would queue {len(spec.seeds)} runs; at "
                              f"most {limit} per request (ACTLAB_MAX_RUNS_PER_REQUEST)"})
    if errors:
        raise SpecError(errors)


def _size_errors(spec: ExperimentSpec, settings: Settings) -> list[dict[str, Any]]:
    """The model's estimated size (core/domain/sizing.py) against ACTLAB_MAX_MODEL_PARAMS and
    ACTLAB_MAX_ACTIVATION_BYTES."""
    dataset = catalog.entries("datasets").get(spec.dataset.name)
    if dataset is None:
        return []
    classes = int(spec.dataset.params.get("classes", dataset["num_classes"]))
    size = sizing.estimate(spec.model.name, spec.model.params,
                           sizing.input_shape(dataset, spec.dataset.params), classes)
    if size is None:
        return []
    errors = []
    if size.params > settings.max_model_params:
        errors.append({"loc": ("model", "params"), "type": "value_error",
                       "msg": f"model {spec.model.name!r} with these params has about "
                              f"{size.params:.3g} weights; at most "
                              f"{settings.max_model_params:.3g} (ACTLAB_MAX_MODEL_PARAMS)"})
    memory = size.activation_bytes(spec.training.batch_size)
    if memory > settings.max_activation_bytes:
        errors.append({"loc": ("training", "batch_size"), "type": "value_error",
                       "msg": f"one training step of {spec.model.name!r} at batch size "
                              f"{spec.training.batch_size} keeps about {memory / 2**30:.3g} GiB "
                              f"of activations; at most {settings.max_activation_bytes / 2**30:.3g}"
                              f" GiB (ACTLAB_MAX_ACTIVATION_BYTES): a smaller batch or model"})
    return errors


def spec_hash(spec: ExperimentSpec) -> str:
    """Identity of the training recipe: everything but name, tags, priority, seeds and
    resources."""
    recipe = spec.model_dump(mode="json", exclude={"name", "tags", "priority", "seeds",
                                                   "resources", "role", "tuned", "match"})
    if spec.match is not None:  # the budget it was matched to (absent: the hash as it was)
        recipe["match"] = {"by": spec.match.by,
                           "reference": spec.match.reference.model_dump(mode="json")}
    recipe["training"] = without_later_defaults(recipe["training"])
    recipe["model"] = without_later_model_defaults(recipe["model"])
    recipe["recipe_version"] = RECIPE_VERSION
    canonical = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


