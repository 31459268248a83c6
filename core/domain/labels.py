"""How an activation is named on boards and in races: its name, the parameters that differ
from its defaults, its gate and its placement."""

from __future__ import annotations

from typing import Any

from core.domain.catalog import entries


def activation_label(activation: str, spec: dict[str, Any]) -> str:
    """`name` or `name(param=value, ...)` for parameters that differ from the defaults, the
    gate if any (`relu (gated)`: ReGLU), then the placement if any:
    `dual_line [stage3.*=relu, up*.post=identity]`."""
    slots = spec.get("activation", {}).get("slots") or {}
    label = _one_label(activation, spec.get("activation", {}).get("params", {}))
    if spec.get("activation", {}).get("gated"):  # a GLU variant (Shazeer 2020)
        kept = spec["activation"].get("match_params", True) is False
        label += " (gated, d_ff kept)" if kept else " (gated)"
    if not slots:
        return label
    placed = ", ".join(f"{p}={_one_label(a['name'], a.get('params', {}))}"
                       for p, a in slots.items())
    return f"{label} [{placed}]"


def _one_label(activation: str, params: dict[str, Any]) -> str:
    entry = entries("activations").get(activation)
    if activation == "formula":
        # The canonical expression is the name; initial values and per-channel follow.
        inits = ", ".join(f"{k}={v}" for k, v in sorted(params.get("parameters", {}).items()))
        scalar = "" if params.get("per_channel", True) else ", scalar"
        return f"formula({params.get('expression', 'x')}{'; ' + inits if inits else ''}{scalar})"
    defaults = {p["name"]: p["default"] for p in entry["params"]} if entry else {}
    changed = {k: v for k, v in sorted(params.items()) if defaults.get(k) != v}
    if not changed:
        return activation
    return f"{activation}({', '.join(f'{k}={v}' for k, v in changed.items())})"
