"""Checks a component's params against its catalog description (torch-free mirror of
activations.registry.check_value; tests/core/test_params.py holds the two to the same answers)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class ParamError(ValueError):
    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param


def check_value(where: str, info: Mapping[str, Any], value: Any,
                nestable: Mapping[str, Any] | None = None) -> Any:
    kind = info["kind"]
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if kind in ("choice", "activation"):
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string, got {value!r}")
        if kind == "activation":
            valid = dict(nestable or {})
            if value not in valid:
                raise ValueError(f"{where}: unknown or non-nestable activation {value!r}; "
                                 f"valid names: {', '.join(sorted(set(valid)))}")
            return valid[value]
        if value not in info["choices"]:
            raise ValueError(f"{where} must be one of {', '.join(info['choices'])}; got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if kind == "int":
        if not math.isfinite(value) or float(value) != int(value):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{where} must be finite, got {value!r}")
    low = info.get("min")
    if low is not None:
        exclusive = info.get("min_exclusive", False)
        if value < low or (exclusive and value == low):
            raise ValueError(f"{where} must be {'>' if exclusive else '>='} {low}, got {value!r}")
    high = info.get("max")
    if high is not None and value > high:
        raise ValueError(f"{where} must be <= {high}, got {value!r}")
    return value


def resolve(what: str, label: str, infos: list[Mapping[str, Any]], params: Mapping[str, Any],
            nestable: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults filled in and values checked; raises ParamError naming the offending param."""
    known = {p["name"]: p for p in infos}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ParamError(unknown[0], f"unknown parameter(s) {', '.join(unknown)} for {what}; "
                                     f"valid parameters: {', '.join(known) or 'none'}")
    out: dict[str, Any] = {}
    for name, info in known.items():
        try:
            out[name] = check_value(f"{label}.{name}", info, params.get(name, info["default"]),
                                    nestable)
        except ValueError as exc:
            raise ParamError(name, str(exc)) from None
    return out
