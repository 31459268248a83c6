"""The parameter schema of every component (activation, model, dataset): one description of a
parameter and one check of a value against it, used by the activation library, the model and
dataset zoo, and the API (which reads the same descriptions back from core/catalog.json).

Standard library only, so the torch-free API process and the torch library share it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from core.domain import formula

ParamKind = Literal["float", "int", "ints", "bool", "choice", "activation", "expression",
                    "parameters"]
# An `ints` parameter (a list of integers: a KAN's hidden widths) holds at most this many.
MAX_INTS = 16


class ParamError(ValueError):
    """A bad parameter; `param` names it (None when the problem is not one parameter's)."""

    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ParamInfo:
    """One constructor parameter; `learnable` ones become nn.Parameters initialised to `default`."""

    name: str
    default: Any
    kind: ParamKind = "float"
    learnable: bool = False
    min: float | None = None
    max: float | None = None
    # True when `min` itself is not allowed (K > 0, not K >= 0).
    min_exclusive: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.default,
                               "learnable": self.learnable, "doc": self.doc}
        if self.min is not None:
            out["min"] = self.min
            out["min_exclusive"] = self.min_exclusive
        if self.max is not None:
            out["max"] = self.max
        if self.choices:
            out["choices"] = list(self.choices)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParamInfo:
        """The inverse of `to_dict` (how the API reads a catalog entry)."""
        return cls(name=data["name"], default=data["default"],
                   kind=cast(ParamKind, data.get("kind", "float")),
                   learnable=data.get("learnable", False), min=data.get("min"),
                   max=data.get("max"), min_exclusive=data.get("min_exclusive", False),
                   choices=tuple(data.get("choices", ())), doc=data.get("doc", ""))

    def json_schema(self, nestable: Sequence[str] = ()) -> dict[str, Any]:
        """This parameter as JSON Schema (the API's OpenAPI document): type, bounds, choices.
        An expression's grammar, and its agreement with the declared parameters, are beyond
        JSON Schema: those are checked by `resolve` and answered with a 422."""
        schema: dict[str, Any]
        if self.kind == "expression":
            schema = {"type": "string", "minLength": 1, "maxLength": formula.MAX_LENGTH}
        elif self.kind == "parameters":
            schema = {"type": "object", "maxProperties": formula.MAX_PARAMETERS,
                      "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                      "additionalProperties": {"type": "number",
                                               "minimum": -formula.MAX_CONSTANT,
                                               "maximum": formula.MAX_CONSTANT}}
        elif self.kind == "ints":
            item: dict[str, Any] = {"type": "integer"}
            if self.min is not None:
                item["minimum"] = self.min
            if self.max is not None:
                item["maximum"] = self.max
            schema = {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_INTS}
        elif self.kind == "bool":
            schema = {"type": "boolean"}
        elif self.kind == "choice":
            schema = {"type": "string", "enum": list(self.choices)}
        elif self.kind == "activation":
            schema = {"type": "string", "enum": sorted(nestable)}
        else:
            schema = {"type": "integer" if self.kind == "int" else "number"}
            if self.min is not None:
                schema["exclusiveMinimum" if self.min_exclusive else "minimum"] = self.min
            if self.max is not None:
                schema["maximum"] = self.max
        if self.doc:
            schema["description"] = self.doc
        return {**schema, "default": self.default}

    def check(self, where: str, value: Any, nestable: Mapping[str, str] | None = None) -> Any:
        """`value` coerced to this parameter's kind, or a ValueError naming `where`.
        `nestable` maps the activation names an `activation` parameter may take to their
        canonical names."""
        if self.kind == "expression":  # checked against its parameters by `resolve`
            if not isinstance(value, str):
                raise ValueError(f"{where} must be a string, got {value!r}")
            if len(value) > formula.MAX_LENGTH:
                raise ValueError(f"{where} is {len(value)} characters; at most "
                                 f"{formula.MAX_LENGTH}")
            return value
        if self.kind == "parameters":
            return formula.check_parameters(value, where)
        if self.kind == "ints":
            return self._check_ints(where, value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{where} must be true or false, got {value!r}")
            return value
        if self.kind in ("choice", "activation"):
            if not isinstance(value, str):
                raise ValueError(f"{where} must be a string, got {value!r}")
            if self.kind == "activation":
                valid = nestable or {}
                if value not in valid:
                    raise ValueError(
                        f"{where}: {value!r} is unknown or changes the channel count, and "
                        f"cannot be nested; valid names: {', '.join(sorted(set(valid)))}")
                return valid[value]
            if value not in self.choices:
                raise ValueError(f"{where} must be one of {', '.join(self.choices)}; "
                                 f"got {value!r}")
            return value
        return self._check_number(where, value)

    def _check_ints(self, where: str, value: Any) -> list[int]:
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_INTS:
            raise ValueError(f"{where} must be a list of 1 to {MAX_INTS} integers, got "
                             f"{value!r}")
        number = ParamInfo(self.name, 0, kind="int", min=self.min, max=self.max)
        return [int(number._check_number(f"{where}[{i}]", v)) for i, v in enumerate(value)]

    def _check_number(self, where: str, value: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where} must be a number, got {value!r}")
        number: int | float
        if self.kind == "int":
            if not math.isfinite(value) or float(value) != int(value):
                raise ValueError(f"{where} must be an integer, got {value!r}")
            number = int(value)
        else:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"{where} must be finite, got {value!r}")
        if self.min is not None:
            if number < self.min or (self.min_exclusive and number == self.min):
                op = ">" if self.min_exclusive else ">="
                raise ValueError(f"{where} must be {op} {self.min}, got {number!r}")
        if self.max is not None and number > self.max:
            raise ValueError(f"{where} must be <= {self.max}, got {number!r}")
        return number


def resolve(noun: str, name: str, infos: Sequence[ParamInfo], params: Mapping[str, Any],
            nestable: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every parameter of component `name` (a `noun`: "activation", "model", "dataset"), with
    defaults filled in and values checked; raises ParamError naming the offending param."""
    known = {p.name: p for p in infos}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ParamError(unknown[0], f"unknown parameter(s) {', '.join(unknown)} for {noun} "
                                     f"{name!r}; valid parameters: {', '.join(known) or 'none'}")
    out: dict[str, Any] = {}
    for key, info in known.items():
        try:
            out[key] = info.check(f"{name}.{key}", params.get(key, info.default), nestable)
        except ValueError as exc:
            raise ParamError(key, str(exc)) from None
    for key, info in known.items():
        if info.kind == "expression":
            # Written back canonically: equal formulas are one recipe (`beta*x`, `x*beta`).
            declared: dict[str, float] = next(
                (out[k] for k, i in known.items() if i.kind == "parameters"), {})
            try:
                out[key] = formula.canonical(out[key], declared)
            except formula.FormulaError as exc:
                raise ParamError(key, f"{name}.{key}: {exc}") from None
    return out
