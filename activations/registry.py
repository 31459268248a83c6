"""Registry, catalog and factory: every activation is described once and built by `create`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor, nn

ParamKind = Literal["float", "int", "bool", "choice", "activation"]


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


@dataclass(frozen=True)
class ActivationInfo:
    name: str
    builder: Callable[..., nn.Module]
    formula: str
    reference: str
    params: tuple[ParamInfo, ...] = ()
    family: str = "builtin"
    channel_multiplier: int = 1
    aliases: tuple[str, ...] = ()
    # Stateless activations have a plain function form `fn(x, **params)`.
    functional: Callable[..., Tensor] | None = None
    # Whether learnable parameters exist one per channel (chosen by the `per_channel` param).
    per_channel_capable: bool = False
    notes: str = ""

    @property
    def learnable(self) -> bool:
        return bool(self.learnable_params)

    @property
    def learnable_params(self) -> list[str]:
        """The names the learnable parameters are recorded under (the module's own
        `named_parameters()` at the default settings: PReLU's `init` sets `b`)."""
        return [name for name, _ in self.build_default().named_parameters()]

    def build_default(self, num_channels: int = 4) -> nn.Module:
        defaults = {p.name: p.default for p in self.params}
        return self.builder(num_channels, **defaults)

    def to_dict(self) -> dict[str, Any]:
        from activations.cost import ops_per_element

        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "family": self.family,
            "formula": self.formula,
            "reference": self.reference,
            "learnable": self.learnable,
            "learnable_params": self.learnable_params,
            "per_channel_capable": self.per_channel_capable,
            "channel_multiplier": self.channel_multiplier,
            "functional": self.functional is not None,
            "params": [p.to_dict() for p in self.params],
            # Arithmetic operations per input element at the default settings (the MACs
            # the service adds for every activation slot are counted on the real inputs).
            "ops_per_element": round(ops_per_element(self.build_default()), 3),
            "notes": self.notes,
        }


_REGISTRY: dict[str, ActivationInfo] = {}
_ALIASES: dict[str, str] = {}


def register(info: ActivationInfo) -> ActivationInfo:
    for key in (info.name, *info.aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"activation name {key!r} is registered twice")
    _REGISTRY[info.name] = info
    for alias in info.aliases:
        _ALIASES[alias] = info.name
    return info


def names() -> list[str]:
    return sorted(_REGISTRY)


def get_info(name: str) -> ActivationInfo:
    key = _ALIASES.get(name, name)
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid names: {', '.join(names())}"
        ) from None


def check_value(where: str, info: ParamInfo, value: Any) -> Any:
    """Return `value` coerced to the parameter's kind, or raise a ValueError naming `where`."""
    if info.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if info.kind in ("choice", "activation"):
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string, got {value!r}")
        if info.kind == "activation":
            inner = get_info(value)  # raises with the valid names
            if inner.channel_multiplier != 1:
                raise ValueError(
                    f"{where}: {value!r} changes the channel count and cannot be nested")
            return inner.name
        if value not in info.choices:
            raise ValueError(f"{where} must be one of {', '.join(info.choices)}; got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if info.kind == "int":
        if not math.isfinite(value) or float(value) != int(value):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{where} must be finite, got {value!r}")
    if info.min is not None:
        if value < info.min or (info.min_exclusive and value == info.min):
            op = ">" if info.min_exclusive else ">="
            raise ValueError(f"{where} must be {op} {info.min}, got {value!r}")
    if info.max is not None and value > info.max:
        raise ValueError(f"{where} must be <= {info.max}, got {value!r}")
    return value


def resolve_against(what: str, infos: tuple[ParamInfo, ...],
                    params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults and check every value of `params` against `infos`; `what` names the owner
    in error messages (e.g. "activation 'dual_line'"). Unknown names raise listing valid ones."""
    known = {p.name: p for p in infos}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for {what}; "
            f"valid parameters: {', '.join(known) or 'none'}"
        )
    label = what.split(" ", 1)[-1].strip("'")
    return {p.name: check_value(f"{label}.{p.name}", p, params.get(p.name, p.default))
            for p in infos}


def resolve_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in, every value checked; unknown parameter names raise listing valid ones."""
    info = get_info(name)
    return resolve_against(f"activation {info.name!r}", info.params, params)


def create(name: str, num_channels: int | None = None, **params: Any) -> nn.Module:
    """Build the activation `name`; `num_channels` sizes per-channel learnable parameters."""
    info = get_info(name)
    resolved = resolve_params(info.name, params)
    if num_channels is not None and num_channels <= 0:
        raise ValueError(f"num_channels must be positive, got {num_channels}")
    module = info.builder(num_channels, **resolved)
    setattr(module, "activation_name", info.name)  # noqa: B010  (nn.Module typing)
    return module


def get_fn(name: str) -> Callable[..., Tensor]:
    """The functional form of a stateless activation, with parameters as keyword arguments."""
    info = get_info(name)
    if info.functional is None:
        raise ValueError(f"activation {info.name!r} has learnable state; use create() instead")
    return info.functional


def catalog() -> list[dict[str, Any]]:
    return [_REGISTRY[n].to_dict() for n in names()]
