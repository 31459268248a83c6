"""core.params (torch-free, used by the API) answers exactly like the activation library."""

from __future__ import annotations

from typing import Any

import pytest

import activations
from activations.registry import check_value as library_check
from core.catalog import entries
from core.params import check_value as api_check

VALUES: list[Any] = [0, 1, -1, 0.5, 1e9, -1e9, float("nan"), float("inf"), True, False, "x",
                     "relu", "none", "tanh", None, [1], 2.0]


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except ValueError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("name", activations.names())
def test_every_param_of_every_activation_is_checked_alike(name: str) -> None:
    nestable = {k: e["name"] for k, e in entries("activations").items()
                if e["channel_multiplier"] == 1}
    catalog_params = {p["name"]: p for p in entries("activations")[name]["params"]}
    for info in activations.get_info(name).params:
        for value in VALUES:
            lib = _outcome(library_check, f"{name}.{info.name}", info, value)
            api = _outcome(api_check, f"{name}.{info.name}", catalog_params[info.name], value,
                           nestable)
            assert lib[0] == api[0], (info.name, value, lib, api)
            if lib[0] == "ok":
                assert lib[1] == api[1]
