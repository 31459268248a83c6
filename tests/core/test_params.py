"""One parameter schema: the API reads back, from core/catalog.json, exactly the ParamInfo the
library and the zoo declare, and checks values with the same code."""

from __future__ import annotations

from typing import Any

import pytest

import activations
from core.domain import catalog
from core.domain.params import ParamError, ParamInfo, resolve
from core.domain.registry import Registry
from worker.training.datasets import dataset_names, get_dataset_info
from worker.training.models import get_model_info, model_names


def _declared() -> list[tuple[str, str, tuple[ParamInfo, ...]]]:
    return ([("activations", n, activations.get_info(n).params) for n in activations.names()]
            + [("models", n, get_model_info(n).params) for n in model_names()]
            + [("datasets", n, get_dataset_info(n).params) for n in dataset_names()])


@pytest.mark.parametrize(("kind", "name", "declared"), _declared(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_the_catalog_holds_the_declared_schema(kind: str, name: str,
                                               declared: tuple[ParamInfo, ...]) -> None:
    # Defaults of kind "float" may be written as ints in the declaration (1 vs 1.0).
    assert catalog.param_infos(kind, name) == declared


def test_nestable_names_agree() -> None:
    assert catalog.nestable_activations() == activations.nestable()
    assert "inverse" not in activations.nestable()  # doubles the channels


FLOAT = ParamInfo("k", 1.0, min=0.0, min_exclusive=True, max=10.0)


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1.0), (10, 10.0), (0.5, 0.5),
    (0, "must be > 0.0"), (11, "must be <= 10.0"), (float("nan"), "must be finite"),
    (True, "must be a number"), ("1", "must be a number"), (None, "must be a number"),
])
def test_number_checks(value: Any, expected: Any) -> None:
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            FLOAT.check("f.k", value)
    else:
        out = FLOAT.check("f.k", value)
        assert out == expected and isinstance(out, float)


def test_int_bool_choice_and_activation_checks() -> None:
    n = ParamInfo("n", 2, kind="int", min=1)
    assert n.check("m.n", 3.0) == 3 and isinstance(n.check("m.n", 3.0), int)
    with pytest.raises(ValueError, match="must be an integer"):
        n.check("m.n", 2.5)
    with pytest.raises(ValueError, match="true or false"):
        ParamInfo("b", True, kind="bool").check("m.b", 1)
    choice = ParamInfo("c", "a", kind="choice", choices=("a", "b"))
    with pytest.raises(ValueError, match="must be one of a, b"):
        choice.check("m.c", "z")
    base = ParamInfo("base", "relu", kind="activation")
    assert base.check("g.base", "linear", {"linear": "identity"}) == "identity"
    with pytest.raises(ValueError, match="cannot be nested"):
        base.check("g.base", "inverse", {"linear": "identity"})


def test_resolve_names_the_parameter() -> None:
    infos = (FLOAT, ParamInfo("n", 2, kind="int"))
    assert resolve("activation", "f", infos, {"n": 3}) == {"k": 1.0, "n": 3}
    with pytest.raises(ParamError, match="unknown parameter\\(s\\) z for activation 'f'") as e:
        resolve("activation", "f", infos, {"z": 1})
    assert e.value.param == "z"
    with pytest.raises(ParamError) as e:
        resolve("activation", "f", infos, {"k": -1})
    assert e.value.param == "k"


def test_registry_lookup_and_aliases() -> None:
    reg: Registry[Any] = Registry("widget")
    info = type("W", (), {"name": "w", "params": (FLOAT,)})()
    reg.register(info, aliases=("w2",))
    assert reg.get("w2") is info and reg.names() == ["w"] and list(reg) == [info]
    with pytest.raises(ValueError, match="unknown widget 'x'; valid names: w"):
        reg.get("x")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register(info)
    assert reg.resolve("w2", {}) == {"k": 1.0}
