"""Activation slots: where a model's non-linearities sit, and a spec's placement of other
activations (or none) in some of them.

A slot is an activation module's path in the model (`features.1`, `stage3.0.act2`), with the
kind of layer it follows (a convolution, a transposed convolution, a linear layer). A spec's
`activation.slots` maps glob patterns to activation specs; each slot takes the first
pattern that matches it, the others keep the spec's activation. Built after the model, so
every model of the zoo (and of plugins) has slots without naming them itself.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from torch import nn

from activations import activation_modules
from worker.training.models import ActFactory

_LAYER_KINDS: tuple[tuple[tuple[type[nn.Module], ...], str], ...] = (
    ((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), "conv_transpose"),
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), "conv"),
    ((nn.Linear,), "linear"),
)


def slots(model: nn.Module) -> list[dict[str, str]]:
    """Each activation slot of `model` in forward order: its name (module path) and its kind:
    the kind its parent module declares (`slot_kind`: a transformer's `ffn`), else the kind
    of the last layer before it (`after_linear`, ...)."""
    outer = {path for path, _ in activation_modules(model)}
    modules = dict(model.named_modules())
    out, kind = [], "input"
    for path, module in modules.items():
        for types, name in _LAYER_KINDS:
            if isinstance(module, types):
                kind = name
                break
        if path in outer:
            parent = modules.get(path.rpartition(".")[0])
            declared = getattr(parent, "slot_kind", None)
            out.append({"name": path, "kind": declared or f"after_{kind}"})
    return out


def place(model: nn.Module, main: ActFactory, placement: dict[str, dict[str, Any]],
          checked: bool = False) -> dict[str, str]:
    """Put the activation of the first matching pattern of `placement` in each slot of
    `model` (built with `main` everywhere). Returns every slot's activation name. ValueError
    for a pattern that matches no slot, or an activation that would change the widths."""
    factories = _factories(model, main, placement, checked)
    filled: dict[str, str] = {}
    for path, module in activation_modules(model):
        pattern: str | None = next((p for p in placement if fnmatchcase(path, p)), None)
        if pattern is None:
            filled[path] = main.name
            continue
        assert module.channels is not None, f"slot {path} was not built by an ActFactory"
        replacement = factories[pattern](module.channels, module.block or 0,
                                         module.position or 0)
        model.set_submodule(path, replacement)
        filled[path] = factories[pattern].name
    return filled


def _factories(model: nn.Module, main: ActFactory, placement: dict[str, dict[str, Any]],
               checked: bool) -> dict[str, ActFactory]:
    """The factory of each pattern, once every pattern is known to match a slot and keep the
    model's widths."""
    names = [s["name"] for s in slots(model)]
    unmatched = [p for p in placement if not any(fnmatchcase(n, p) for n in names)]
    if unmatched:
        raise ValueError(f"activation slot pattern(s) {', '.join(map(repr, unmatched))} match "
                         f"no slot of this model; its slots: {', '.join(names)}")
    factories = {p: ActFactory(s["name"], s.get("params", {}), checked=checked)
                 for p, s in placement.items()}
    for key, factory in factories.items():
        if factory.multiplier != main.multiplier:
            raise ValueError(f"slot pattern {key!r}: {factory.name} multiplies channels by "
                             f"{factory.multiplier}, the model's activation {main.name} by "
                             f"{main.multiplier}; placed activations must keep the widths")
    return factories
