"""The registry pattern shared by activations, models and datasets: each component is
described once (a name, aliases, a parameter schema) and looked up by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from core.domain import plugins
from core.domain.params import ParamInfo, resolve


class Described(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def params(self) -> Sequence[ParamInfo]: ...


InfoT = TypeVar("InfoT", bound=Described)


class Registry(Generic[InfoT]):
    """name (or alias) -> description, for one kind of component (`noun` names it in errors)."""

    def __init__(self, noun: str) -> None:
        self.noun = noun
        self._infos: dict[str, InfoT] = {}
        self._aliases: dict[str, str] = {}
        self._origins: dict[str, str] = {}  # name -> plugin distribution that registered it

    def register(self, info: InfoT, aliases: Sequence[str] = ()) -> InfoT:
        for key in (info.name, *aliases):
            if key in self._infos or key in self._aliases:
                raise ValueError(f"{self.noun} name {key!r} is registered twice")
        self._infos[info.name] = info
        origin = plugins.current()
        if origin is not None:
            self._origins[info.name] = origin
        for alias in aliases:
            self._aliases[alias] = info.name
        return info

    def names(self) -> list[str]:
        """Canonical names, sorted."""
        return sorted(self._infos)

    def origin(self, name: str) -> str | None:
        """The plugin distribution that registered `name` (None: actlab itself)."""
        return self._origins.get(self.get(name).name)

    def get(self, name: str) -> InfoT:
        try:
            return self._infos[self._aliases.get(name, name)]
        except KeyError:
            raise ValueError(f"unknown {self.noun} {name!r}; valid names: "
                             f"{', '.join(self.names())}. If a plugin package provides it, "
                             f"install that plugin here (entry point group "
                             f"actlab.{self.noun}s)") from None

    def resolve(self, name: str, params: Mapping[str, Any],
                nestable: Mapping[str, str] | None = None) -> dict[str, Any]:
        """`params` of component `name` with defaults filled in and every value checked;
        raises core.domain.params.ParamError (a ValueError) naming the parameter."""
        info = self.get(name)
        return resolve(self.noun, info.name, info.params, params, nestable)

    def __iter__(self) -> Iterator[InfoT]:
        return (self._infos[n] for n in self.names())
