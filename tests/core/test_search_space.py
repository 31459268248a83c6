"""Search spaces: schemas over operator sets, their sizes, enumeration and sampling (a
large space is sampled, never enumerated), and every operator a formula of the grammar."""

from __future__ import annotations

import random
import time

import pytest

from core.domain.formula import canonical
from core.domain.search_space import (
    BINARY_OPS,
    DEFAULT_BINARY,
    DEFAULT_UNARY,
    MAX_ENUMERATE,
    UNARY_OPS,
    SpaceError,
    check_operators,
    parse_schema,
)


def test_the_default_sets_are_large_and_every_operator_is_a_formula() -> None:
    assert len(DEFAULT_UNARY) >= 20 and len(DEFAULT_BINARY) >= 8
    for template in UNARY_OPS.values():
        canonical(template.format("x"), {})
    for template in BINARY_OPS.values():
        canonical(template.format("x", "tanh(x)"), {})


def test_schemas_expand_in_a_fixed_order() -> None:
    schema = parse_schema("binary(unary(x), unary(x))")
    assert schema.slots == ["binary", "unary", "unary"]
    assert schema.size(["tanh", "relu"], ["min", "add"]) == 8
    expansions = list(schema.enumerate(["tanh", "relu"], ["min", "add"]))
    assert expansions[:2] == ["min(tanh(x), tanh(x))", "min(tanh(x), relu(x))"]
    assert len(set(expansions)) == 8
    assert parse_schema("unary(unary(x))").size(DEFAULT_UNARY, DEFAULT_BINARY) == \
        len(DEFAULT_UNARY) ** 2


def test_a_huge_space_is_sampled_not_enumerated() -> None:
    schema = parse_schema("binary(binary(unary(x), unary(x)), binary(unary(x), unary(x)))")
    size = schema.size(DEFAULT_UNARY, DEFAULT_BINARY)
    assert size > 10**8
    with pytest.raises(SpaceError, match=f"above {MAX_ENUMERATE} it is sampled"):
        next(schema.enumerate(DEFAULT_UNARY, DEFAULT_BINARY))
    started = time.perf_counter()
    drawn = schema.sample(DEFAULT_UNARY, DEFAULT_BINARY, random.Random(3), 200)
    assert time.perf_counter() - started < 1.0
    assert len(drawn) == len(set(drawn)) == 200
    assert drawn == schema.sample(DEFAULT_UNARY, DEFAULT_BINARY, random.Random(3), 200)
    # a small space sampled for more than it holds gives all of it
    small = parse_schema("unary(x)")
    assert len(small.sample(["tanh", "relu"], [], random.Random(0), 10)) == 2


@pytest.mark.parametrize(("text", "phrase"), [
    ("unary(x, x)", "unary takes 1 argument"),
    ("binary(x)", "binary takes 2 argument"),
    ("tanh(unary(x))", "only x, unary(...) and binary(..., ...)"),
    ("x", "no placeholder"),
    ("unary(", "syntax error"),
    ("unary(" * 9 + "x" + ")" * 9, "more than 8 placeholders"),
    ("", "non-empty"),
])
def test_bad_schemas_name_the_problem(text: str, phrase: str) -> None:
    with pytest.raises(SpaceError, match=phrase.replace("(", r"\(").replace(")", r"\)")
                       .replace(".", r"\.")):
        parse_schema(text)


def test_unknown_operators_list_the_valid_ones() -> None:
    with pytest.raises(SpaceError, match="unknown unary operator.*'tahn'.*unary operators: "
                                         "identity"):
        check_operators(["tanh", "tahn"], "unary")
    with pytest.raises(SpaceError, match="repeat"):
        check_operators(["add", "add"], "binary")
