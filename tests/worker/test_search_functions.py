"""Candidates grouped by the function they compute: equal spellings trained once, templates
kept apart from fixed functions, unfit candidates filtered with their reason."""

from __future__ import annotations

from core.domain.search_space import DEFAULT_BINARY, DEFAULT_UNARY, parse_schema
from worker.search.functions import Candidate, group


def test_spellings_of_one_function_are_one_candidate() -> None:
    functions, filtered = group([Candidate("min(tanh(x), selu(x))"),
                                 Candidate("min(selu(x), tanh(x))"),
                                 Candidate("relu(x)"), Candidate("max(x, 0)"),
                                 Candidate("x * sigmoid(x)"), Candidate("silu(x)")])
    assert not filtered
    by_name = {f.canonical: f for f in functions}
    assert len(functions) == 3
    assert by_name["min(selu(x), tanh(x))"].equivalents == ["min(tanh(x), selu(x))"]
    assert by_name["relu(x)"].equivalents == ["max(x, 0.0)"]
    assert by_name["silu(x)"].equivalents == ["sigmoid(x) * x"]


def test_grouping_does_not_depend_on_the_order() -> None:
    pool = [Candidate(e) for e in ("abs(x)", "abs(-x)", "relu(x) + relu(-x)", "tanh(x)",
                                   "-tanh(-x)", "x")]
    one, _ = group(pool)
    two, _ = group(pool[::-1])
    assert [(f.canonical, f.spellings) for f in one] == [(f.canonical, f.spellings) for f in two]


def test_templates_never_merge_with_fixed_functions() -> None:
    functions, _ = group([Candidate("silu(x)"),
                          Candidate("x * sigmoid(p * x)", {"p": 1.0}),
                          Candidate("x * sigmoid(x * p)", {"p": 1.0}),
                          Candidate("x * sigmoid(p * x)", {"p": 2.0})])
    fixed = [f for f in functions if not f.parameters]
    learnable = [f for f in functions if f.parameters]
    assert [f.canonical for f in fixed] == ["silu(x)"] and fixed[0].equivalents == []
    # the same template spelled twice is one; other initial values are another
    assert sorted(f.parameters["p"] for f in learnable) == [1.0, 2.0]


def test_unfit_candidates_are_filtered_with_the_reason() -> None:
    _, filtered = group([Candidate("exp(exp(x))"), Candidate("min(exp(x), 0)"),
                         Candidate("log(x)"), Candidate("log(-1) * x"), Candidate("tanh(x)")])
    reasons = {f.expression: f.reason for f in filtered}
    assert reasons["exp(exp(x))"].startswith("explodes: |f(x)| reaches")
    assert reasons["min(exp(x), 0)"].startswith("constant: f(x) = 0")
    assert reasons["log(x)"].startswith("not finite at x = -5")
    assert reasons["log(-1) * x"].startswith("refused by the grammar: a constant part")
    assert "tanh(x)" not in reasons


def test_the_default_unary_unary_space_has_a_few_hundred_functions() -> None:
    schema = parse_schema("unary(unary(x))")
    expansions = list(schema.enumerate(DEFAULT_UNARY, DEFAULT_BINARY))
    functions, filtered = group([Candidate(e) for e in expansions])
    assert 300 <= len(functions) < len(expansions)
    assert sum(len(f.spellings) for f in functions) + len(filtered) <= len(expansions)
    assert all(f.reason.split(":")[0] in ("explodes", "constant", "not finite at x = -5")
               or f.reason.startswith("not finite") for f in filtered)
