"""A search replayed against a table of functions already trained: each training is looked
up instead of run, so strategies can be compared over many search seeds in seconds
(bench/search_replay.py), and the tests can hold them to toy problems.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from worker.search.strategies import Decision, Pool


@dataclass
class Replay:
    trainings: int
    found: dict[str, int | None]  # goal name -> trainings spent when first met (None: never)
    decisions: list[Decision]


def replay(strategy: object, pool: Pool, observed: Mapping[str, Sequence[float]],
           goals: Mapping[str, set[str]], seed: int, budget: int | None = None) -> Replay:
    """Train one function at a time as `strategy` proposes (concurrency 1); each training
    observes the score of one seed drawn from `observed[key]` (a screening run), and counts
    one. Stops when every goal set has been hit or the budget (default: the whole pool) is
    spent. Same inputs, same seed: the same decisions."""
    rng = random.Random(seed)
    results: dict[str, float] = {}
    found: dict[str, int | None] = {name: None for name in goals}
    decisions: list[Decision] = []
    budget = len(pool.keys) if budget is None else budget
    while len(results) < budget and any(v is None for v in found.values()):
        proposed = strategy.propose(pool, results, set(), 1, rng)  # type: ignore[attr-defined]
        if not proposed:
            break
        decision = proposed[0]
        decisions.append(decision)
        scores = observed[decision.chosen]
        results[decision.chosen] = scores[rng.randrange(len(scores))]
        for name, members in goals.items():
            if found[name] is None and decision.chosen in members:
                found[name] = len(results)
    return Replay(len(results), found, decisions)


def top_fraction(scores: Mapping[str, float], fraction: float) -> set[str]:
    """The functions whose score is at or above the (1 - fraction) quantile: the top
    `fraction` of the table (at least one)."""
    ranked = sorted(scores.values(), reverse=True)
    threshold = ranked[max(0, min(len(ranked), round(len(ranked) * fraction)) - 1)]
    return {k for k, v in scores.items() if v >= threshold}
