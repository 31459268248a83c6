"""core.domain.formula: the grammar, the canonical form, and hostile input refused with a
position."""

from __future__ import annotations

import random

import pytest

from core.domain import formula
from core.domain.formula import FormulaError, canonical


@pytest.mark.parametrize(("a", "b"), [
    ("x * sigmoid(beta * x)", "sigmoid(x*beta)*x"),
    ("x + a + 1", "(1 + a) + x"),
    ("2 * x * 3", "6 * x"),
    ("exp(0) * x", "x * 1"),
    ("-(-x)", "x"),
    ("+x - 1", "x - 1.0"),
    ("sum(x, tanh(x), 1)", "1 + (tanh(x) + x)"),
    ("prod(sigmoid(x), x)", "x * sigmoid(x)"),
])
def test_equal_formulas_have_one_canonical_form(a: str, b: str) -> None:
    params = {"beta": 1.0} if "beta" in a else {"a": 0.5} if " a " in f" {a} " else {}
    assert canonical(a, params) == canonical(b, params)


def _random_expression(rng: random.Random, depth: int = 0) -> str:
    if depth > 3 or rng.random() < 0.25:
        return rng.choice(["x", "a", "2", "0.5", "-1"])
    kind = rng.randrange(6)
    left, right = _random_expression(rng, depth + 1), _random_expression(rng, depth + 1)
    if kind == 0:
        return f"({left} {rng.choice('+-*/')} {right})"
    if kind == 1:
        unary = ['tanh', 'sigmoid', 'relu', 'abs', 'softplus', 'gelu', 'atan', 'square']
        return f"{rng.choice(unary)}({left})"
    if kind == 2:
        return f"where({left} > {right}, {left}, {right})"
    if kind == 3:
        return f"({left}) ** {rng.choice(['2', '3', '-1', '0.5'])}"
    if kind == 4:
        return f"-({left})"
    return f"{rng.choice(['min', 'max', 'div', 'sum', 'prod'])}({left}, {right})"


def test_the_canonical_text_parses_back_to_itself() -> None:
    rng = random.Random(0)
    checked = 0
    for _ in range(400):
        text = f"x * a + {_random_expression(rng)}"
        try:
            once = canonical(text, {"a": 1.0})
        except FormulaError:  # e.g. a constant division by zero
            continue
        assert canonical(once, {"a": 1.0}) == once, text
        checked += 1
    assert checked > 300


@pytest.mark.parametrize(("expression", "params", "message", "position"), [
    ("__import__('os').system('id')", {}, "only the functions", 1),
    ("x.real", {}, "Attribute is not allowed", 1),
    ("(lambda: x)()", {}, "only the functions", 1),
    ("[x for x in y]", {}, "ListComp is not allowed", 1),
    ("x ** 1e9", {}, "outside", 6),
    ("x ** a", {"a": 2.0}, r"exponent of \*\* must be a number", 6),
    ("x + foo(x)", {}, "unknown function 'foo'", 5),
    ("x + y", {}, "unknown name 'y'", 5),
    ("x * b", {"b": 1.0, "c": 2.0}, "c declared but not used", None),
    ("x +", {}, "syntax error", 4),
    ("  x + )", {}, "syntax error", 7),
    ("x > 0", {}, "comparison may only be the first argument of where", 1),
    ("where(x, 1, x)", {}, "must be a comparison", 7),
    ("min(x)", {}, "min takes 2", 1),
    ("sum(x)", {}, "sum takes two or more", 1),
    ("log(-1) * x", {}, "constant part is undefined", None),
    ("2.5", {}, "does not use x", None),
    ("'x'", {}, "only numbers", 1),
    ("x\n+ 1", {}, "one line", 2),
    ("x" + " + x" * 300, {}, "characters; at most", None),
    ("(" * 240 + "x" + ")" * 240, {}, "nested parentheses", None),
    ("sigmoid(" * 30 + "x" + ")" * 30, {}, "nests deeper than", None),
])
def test_hostile_or_wrong_expressions_are_refused(expression: str, params: dict[str, float],
                                                  message: str, position: int | None) -> None:
    with pytest.raises(FormulaError, match=message) as exc:
        canonical(expression, params)
    if position is not None:
        assert exc.value.position == position


def test_a_100_kb_expression_is_refused_before_parsing() -> None:
    with pytest.raises(FormulaError, match="characters"):
        canonical("x+" * 50_000 + "x", {})


@pytest.mark.parametrize("bad", [{"x": 1.0}, {"relu": 1.0}, {"_a": 1.0}, {"training": 1.0},
                                 {"a": True}, {"a": float("inf")}, {"a": 1e9}, [1.0],
                                 {f"p{i}": 1.0 for i in range(17)}])
def test_bad_parameter_declarations(bad: object) -> None:
    with pytest.raises(ValueError, match="parameters"):
        formula.check_parameters(bad)
