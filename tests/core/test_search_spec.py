"""A search spec is checked at submit like an experiment: every problem names its field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.domain.search_spec import MAX_POOL, SearchSpec

GOOD: dict[str, Any] = {
    "name": "beat relu on digits",
    "task": {"model": {"name": "mlp"}, "dataset": {"name": "digits"},
             "training": {"epochs": 5, "batch_size": 128, "optimizer": "adam", "lr": 0.003}},
    "space": {"schemas": ["unary(unary(x))", "binary(unary(x), unary(x))"],
              "candidates": ["x * tanh(softplus(x))"],
              "templates": [{"expression": "x * sigmoid(p * x)", "parameters": {"p": 1.0}}]},
    "baselines": ["relu"], "strategy": "surrogate",
    "budget": {"trainings": 300, "seconds": 7200}, "screen_epochs": 2,
    "seeds": {"screen": 1, "confirm": 5, "confirm_top": 3}, "concurrency": 4,
}


def _with(**changes: Any) -> dict[str, Any]:
    body = {**GOOD}
    for key, value in changes.items():
        head, _, leaf = key.partition("__")
        body[head] = {**body[head], leaf: value} if leaf else value
    return body


def test_the_designs_example_is_valid_and_its_space_is_sampled() -> None:
    spec = SearchSpec.model_validate(GOOD)
    assert spec.space.unary and spec.space.binary  # documented defaults
    summary = spec.summary()
    assert summary["space_size"] == 25 * 25 + 10 * 25 * 25 + 2
    assert summary["sampled"] and summary["pool"] == MAX_POOL
    small = SearchSpec.model_validate(_with(space={"candidates": ["tanh(x)", "relu(x)"]}))
    assert small.summary() == {"space_size": 2, "sampled": False, "pool": 2}


@pytest.mark.parametrize(("body", "field", "phrase"), [
    (_with(space__unary=["tanh", "tahn"]), "space.unary", "unknown unary operator(s) 'tahn'"),
    (_with(space__binary=["add", "pow"]), "space.binary", "binary operators: add"),
    (_with(space__schemas=["tanh(unary(x))"]), "space.schemas",
     "only x, unary(...) and binary(..., ...)"),
    (_with(space__candidates=["x * k"]), "space.candidates", "candidate 0 ('x * k')"),
    (_with(space={"templates": [{"expression": "x * p", "parameters": {"q": 1.0}}]}),
     "space.templates.0", "unknown name 'p'"),
    (_with(space={}), "space", "the space is empty"),
    (_with(baselines=["rleu"]), "baselines", "unknown baseline activation(s) ['rleu']"),
    (_with(budget={"trainings": 10**6}), "budget.trainings", "less than or equal to 5000"),
    (_with(budget={"trainings": 20}), "", "cannot hold one screen"),
    (_with(screen_epochs=9), "", "screen_epochs (9) must not exceed the task's epochs (5)"),
    (_with(strategy="bayes"), "strategy", "'random', 'evolution' or 'surrogate'"),
    (_with(task={"model": {"name": "lenet5"}, "dataset": {"name": "mnist1d"}}), "task",
     "takes image inputs"),
    (_with(concurrency=0), "concurrency", "greater than or equal to 1"),
    (_with(transfer_tasks=[{"model": {"name": "mlp"}}]), "transfer_tasks", "not implemented"),
])
def test_bad_searches_name_the_field(body: dict[str, Any], field: str, phrase: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SearchSpec.model_validate(body)
    errors = caught.value.errors()
    assert any(".".join(map(str, e["loc"])).startswith(field) and phrase in e["msg"]
               for e in errors), errors
