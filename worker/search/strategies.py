"""How a search chooses what to train next: random search, regularised evolution on the
operator choices of a schema (Real et al. 2019's aging tournament), and a surrogate fitted
to the candidates' zero-cost features (Bingham & Miikkulainen 2023).

A strategy sees only the pool of distinct functions (functions.py), their features, and the
validation scores realised so far; it never sees a test metric. Every choice is made with the
random generator it is given, so the same results give the same decisions, and each
decision says what it was made from (`Decision`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.stats import spearmanr

from core.domain.search_space import BINARY_OPS, UNARY_OPS, Schema


@dataclass
class Pool:
    """The functions a search may train: `keys` (canonical forms, a fixed order), their
    feature rows, and for evolution each function's genes (schema and operator choices) and
    the function every expansion of a schema computes."""

    keys: list[str]
    features: np.ndarray  # len(keys) x d
    genes: dict[str, tuple[Schema, tuple[str, ...]]] = field(default_factory=dict)
    function_of: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {k: i for i, k in enumerate(self.keys)}


@dataclass(frozen=True)
class Decision:
    """One choice: what was chosen, by which rule, from how many results, and what the
    surrogate predicted for it (None for other rules)."""

    chosen: str
    rule: str  # random | mutation | tournament-fallback | surrogate
    results_seen: int
    predicted: float | None = None
    parent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "rule": self.rule, "results_seen": self.results_seen,
                "predicted": self.predicted, "parent": self.parent}


class Strategy(Protocol):
    """What the driver asks of a strategy: the next `k` functions to train, chosen from the
    pool with `rng` given the validation scores so far (`results`) and the ones in flight
    (`pending`)."""

    name: str

    def propose(self, pool: Pool, results: Mapping[str, float], pending: set[str], k: int,
                rng: random.Random) -> list[Decision]: ...


def _open(pool: Pool, results: Mapping[str, float], pending: set[str]) -> list[str]:
    return [k for k in pool.keys if k not in results and k not in pending]


class RandomSearch:
    name = "random"

    def propose(self, pool: Pool, results: Mapping[str, float], pending: set[str], k: int,
                rng: random.Random) -> list[Decision]:
        remaining = _open(pool, results, pending)
        chosen = rng.sample(remaining, min(k, len(remaining)))
        return [Decision(c, "random", len(results)) for c in chosen]


class RegularizedEvolution:
    """Random until `population` results exist; then each child mutates one operator of the
    best of `sample` members drawn from the `population` most recent results (the oldest age
    out). A child already trained, pending or filtered is redrawn a few times, then the
    choice falls back to a random open function."""

    name = "evolution"

    def __init__(self, population: int = 20, sample: int = 5) -> None:
        self.population, self.sample = population, sample

    def propose(self, pool: Pool, results: Mapping[str, float], pending: set[str], k: int,
                rng: random.Random) -> list[Decision]:
        if len(results) < self.population:
            return RandomSearch().propose(pool, results, pending, k, rng)
        recent = list(results)[-self.population:]
        taken = set(results) | set(pending)
        out: list[Decision] = []
        for _ in range(k):
            decision = self._child(pool, results, recent, taken, rng)
            if decision is None:
                remaining = [c for c in pool.keys if c not in taken]
                if not remaining:
                    break
                decision = Decision(rng.choice(remaining), "tournament-fallback", len(results))
            taken.add(decision.chosen)
            out.append(decision)
        return out

    def _child(self, pool: Pool, results: Mapping[str, float], recent: list[str],
               taken: set[str], rng: random.Random) -> Decision | None:
        for _ in range(10):
            contestants = rng.sample(recent, min(self.sample, len(recent)))
            parent = max(contestants, key=lambda c: (results[c], c))
            if parent not in pool.genes:
                return None
            schema, ops = pool.genes[parent]
            slot = rng.randrange(len(ops))
            kinds = schema.slots
            choices = [o for o in (UNARY_OPS if kinds[slot] == "unary" else BINARY_OPS)
                       if o != ops[slot]]
            child_ops = (*ops[:slot], rng.choice(choices), *ops[slot + 1:])
            child = pool.function_of.get((schema.text, child_ops))
            if child is not None and child not in taken:
                return Decision(child, "mutation", len(results), parent=parent)
        return None


def _regressor(model: str, n: int) -> Any:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "gp":
        inner = GaussianProcessRegressor(RBF(length_scale=10.0) + WhiteKernel(1e-2),
                                         normalize_y=True, random_state=0)
    else:
        inner = KNeighborsRegressor(n_neighbors=min(5, n), weights="distance")
    return make_pipeline(StandardScaler(), inner)


class SurrogateSearch:
    """Random for the first `initial` results; then a regressor (`knn`: k-nearest
    neighbours, or `gp`: a Gaussian process) fitted on the features of the functions trained
    so far predicts every open function's score, and the best predicted are chosen."""

    name = "surrogate"

    def __init__(self, model: str = "knn", initial: int = 10) -> None:
        self.model, self.initial = model, initial

    def propose(self, pool: Pool, results: Mapping[str, float], pending: set[str], k: int,
                rng: random.Random) -> list[Decision]:
        if len(results) < self.initial:
            return RandomSearch().propose(pool, results, pending, k, rng)
        remaining = _open(pool, results, pending)
        if not remaining:
            return []
        predicted = fit_predict(pool, results, remaining, self.model)
        # Best predicted first; exact ties broken by the generator.
        jitter = {c: rng.random() for c in remaining}
        order = sorted(remaining, key=lambda c: (-predicted[c], jitter[c]))
        return [Decision(c, "surrogate", len(results), predicted=predicted[c])
                for c in order[:k]]


def fit_predict(pool: Pool, results: Mapping[str, float], targets: Sequence[str],
                model: str = "knn") -> dict[str, float]:
    """The surrogate's predicted score of each of `targets`, fitted on `results`."""
    trained = list(results)
    x = pool.features[[pool.index[c] for c in trained]]
    y = np.array([results[c] for c in trained])
    regressor = _regressor(model, len(trained)).fit(x, y)
    out = regressor.predict(pool.features[[pool.index[c] for c in targets]])
    return {c: float(v) for c, v in zip(targets, out, strict=True)}


def held_out_spearman(pool: Pool, scores: Mapping[str, float], model: str = "knn",
                      train_fraction: float = 0.5, seed: int = 0) -> float:
    """Spearman's rank correlation between the surrogate's predictions and the realised
    scores on functions it was not fitted on (a random `train_fraction` fits it)."""
    keys = sorted(scores)
    random.Random(seed).shuffle(keys)
    cut = max(2, int(len(keys) * train_fraction))
    fitted = {k: scores[k] for k in keys[:cut]}
    held = keys[cut:]
    predicted = fit_predict(pool, fitted, held, model)
    rho = spearmanr([predicted[k] for k in held], [scores[k] for k in held]).statistic
    return float(rho)


STRATEGIES = {"random": RandomSearch, "evolution": RegularizedEvolution,
              "surrogate": SurrogateSearch}
