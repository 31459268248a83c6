"""Registry, catalog and factory: every activation is described once and built by `create`.

Parameters are described and checked by the schema the API uses too (core.domain.params)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from core.domain.params import ParamInfo
from core.domain.registry import Registry


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
    # What the catalog lists beside the parameters (the formula activation's grammar).
    grammar: Mapping[str, Any] | None = None

    @property
    def learnable(self) -> bool:
        return bool(self.learnable_params)

    @property
    def learnable_params(self) -> list[str]:
        """The names the learnable parameters are recorded under (the module's own
        `named_parameters()` at the default settings: PReLU's `init` sets `b`)."""
        return [name for name, _ in self.build_default().named_parameters()]

    def build_default(self, num_channels: int = 4, **overrides: Any) -> nn.Module:
        defaults = {p.name: p.default for p in self.params}
        return self.builder(num_channels, **(defaults | overrides))

    def default_curve(self, points: int = 41, span: float = 4.0) -> dict[str, list[float]]:
        """f(x) at the default settings on [-span, span] (a channel-multiplying activation:
        its first half of channels, f(x) itself)."""
        import torch

        xs = torch.linspace(-span, span, points)
        module = self.build_default(num_channels=1).eval()
        with torch.no_grad():
            ys = module(xs.reshape(-1, 1))[:, 0]
        return {"xs": [round(float(v), 4) for v in xs],
                "ys": [round(float(v), 5) for v in ys]}

    def _ops_line(self, overrides: dict[str, Any]) -> dict[str, float]:
        from activations.cost import ops_per_element

        small, large = (ops_per_element(self.build_default(c, **overrides), channels=c, batch=1)
                        * c for c in (4, 8))
        return {"per_element": round((large - small) / 4, 3),
                "per_slot": round(2 * small - large, 3)}

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
            # One slot's operations on one example as a line in its channels c: per_element
            # * c + per_slot, with the default settings and, where the activation can have
            # them, with parameters per channel (a KAN's edges are); what core/domain/
            # matching.py counts MACs with.
            "ops": self._ops_line({}) | ({f"{k}_per_channel": v for k, v in self._ops_line(
                {"per_channel": True}).items()} if self.per_channel_capable else {}),
            # The curve at the defaults, so the torch-free API can draw it.
            "curve": self.default_curve(),
            "notes": self.notes,
            **({"grammar": dict(self.grammar)} if self.grammar is not None else {}),
        }


_ACTIVATIONS: Registry[ActivationInfo] = Registry("activation")


def register(info: ActivationInfo) -> ActivationInfo:
    return _ACTIVATIONS.register(info, info.aliases)


def names() -> list[str]:
    return _ACTIVATIONS.names()


def get_info(name: str) -> ActivationInfo:
    """The description of `name` (or an alias); unknown names raise listing the valid ones."""
    return _ACTIVATIONS.get(name)


def nestable() -> dict[str, str]:
    """Names (and aliases) an `activation` parameter may take -> canonical names: every
    activation that keeps the channel count."""
    out = {}
    for info in _ACTIVATIONS:
        if info.channel_multiplier == 1:
            out.update({key: info.name for key in (info.name, *info.aliases)})
    return out


def resolve_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in, every value checked; unknown parameter names raise listing valid ones."""
    return _ACTIVATIONS.resolve(name, params, nestable())


def build(name: str, num_channels: int | None, params: Mapping[str, Any]) -> nn.Module:
    """Build `name` from params already checked by `resolve_params` (a validated spec): no
    second check, so a model with many activation slots validates its activation once."""
    info = get_info(name)
    if num_channels is not None and num_channels <= 0:
        raise ValueError(f"num_channels must be positive, got {num_channels}")
    module = info.builder(num_channels, **params)
    setattr(module, "activation_name", info.name)  # noqa: B010  (nn.Module typing)
    return module


def create(name: str, num_channels: int | None = None, **params: Any) -> nn.Module:
    """Build the activation `name`; `num_channels` sizes per-channel learnable parameters."""
    return build(name, num_channels, resolve_params(name, params))


def get_fn(name: str) -> Callable[..., Tensor]:
    """The functional form of a stateless activation, with parameters as keyword arguments."""
    info = get_info(name)
    if info.functional is None:
        raise ValueError(f"activation {info.name!r} has learnable state; use create() instead")
    return info.functional


def catalog(plugin: str | None = None) -> list[dict[str, Any]]:
    """The catalog entries of actlab's own activations, or of one plugin distribution's."""
    return [info.to_dict() for info in _ACTIVATIONS if _ACTIVATIONS.origin(info.name) == plugin]
