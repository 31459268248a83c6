"""Search strategies on toy pools where the answer is known: no repeats, the same
decisions from the same seed, evolution's children one operator away from their parent,
a surrogate that ranks by the features when the score follows them."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest

from core.domain.search_space import parse_schema
from worker.search.replay import replay, top_fraction
from worker.search.strategies import (
    Pool,
    RandomSearch,
    RegularizedEvolution,
    SurrogateSearch,
    held_out_spearman,
)

UNARY = ["identity", "neg", "abs", "square", "relu", "tanh", "sigmoid", "sin", "cos", "exp"]


def _pool() -> tuple[Pool, dict[str, list[float]]]:
    """unary(unary(x)) over 10 operators, every expansion its own function (keyed by the
    operator pair); one feature, and a score that grows with it (plus seed noise)."""
    schema = parse_schema("unary(unary(x))")
    keys, genes, function_of, observed = [], {}, {}, {}
    rng = np.random.default_rng(0)
    values = rng.permutation(len(UNARY) ** 2) / len(UNARY) ** 2
    for i, ops in enumerate(itertools.product(UNARY, repeat=2)):
        key = ",".join(ops)
        keys.append(key)
        genes[key] = (schema, ops)
        function_of[(schema.text, ops)] = key
        observed[key] = [values[i] + 0.002 * s for s in range(3)]
    features = np.array([[statistics.fmean(observed[k])] for k in keys])
    return Pool(keys, features, genes, function_of), observed


def _goals(observed: dict[str, list[float]]) -> dict[str, set[str]]:
    means = {k: statistics.fmean(v) for k, v in observed.items()}
    return {"top5": top_fraction(means, 0.05), "top1": top_fraction(means, 0.01)}


def test_top_fraction() -> None:
    scores = {str(i): float(i) for i in range(100)}
    assert top_fraction(scores, 0.05) == {"95", "96", "97", "98", "99"}
    assert top_fraction(scores, 0.001) == {"99"}


@pytest.mark.parametrize("strategy", [RandomSearch(), RegularizedEvolution(population=10),
                                      SurrogateSearch(initial=5)])
def test_no_repeats_and_the_same_decisions_from_the_same_seed(strategy: object) -> None:
    pool, observed = _pool()
    first = replay(strategy, pool, observed, {"all": set()}, seed=4, budget=40)
    chosen = [d.chosen for d in first.decisions]
    assert len(chosen) == len(set(chosen)) == 40
    again = replay(strategy, pool, observed, {"all": set()}, seed=4, budget=40)
    assert [d.to_dict() for d in again.decisions] == [d.to_dict() for d in first.decisions]
    other = replay(strategy, pool, observed, {"all": set()}, seed=5, budget=40)
    assert [d.chosen for d in other.decisions] != chosen


def test_evolution_mutates_one_operator_of_a_good_parent() -> None:
    pool, observed = _pool()
    run = replay(RegularizedEvolution(population=10, sample=3), pool, observed,
                 {"all": set()}, seed=1, budget=60)
    mutations = [d for d in run.decisions if d.rule == "mutation"]
    assert len(mutations) > 30
    for d in mutations:
        assert d.parent is not None
        child, parent = pool.genes[d.chosen][1], pool.genes[d.parent][1]
        assert sum(a != b for a, b in zip(child, parent, strict=True)) == 1


def test_a_surrogate_finds_the_top_sooner_when_the_features_predict_the_score() -> None:
    pool, observed = _pool()
    goals = _goals(observed)
    spent = {}
    for name, strategy in (("random", RandomSearch()), ("surrogate", SurrogateSearch())):
        spent[name] = statistics.median(
            replay(strategy, pool, observed, goals, seed=s).found["top5"] or len(pool.keys)
            for s in range(9))
    # 10 random, then straight to the best predicted
    assert spent["surrogate"] <= 15 < spent["random"]
    assert held_out_spearman(pool, {k: statistics.fmean(v) for k, v in observed.items()}) \
        > 0.95
