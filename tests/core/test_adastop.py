"""core/statistics/adastop.py against the `adastop` package (0.1.3, a dev dependency) on the same
numbers: the same decisions, in the same rounds, with the same level spent, whether the
permutations are enumerated (few seeds per round) or drawn (the package's generator, seeded).
And the race's rules: replayed from values alone, a round is played only when complete."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.statistics.adastop import CONTINUE, EQUAL, LARGER, SMALLER, Design, replay

adastop = pytest.importorskip("adastop")


def _package(values: list[np.ndarray], design: Design) -> list[dict[str, Any]]:
    """The package's comparator driven as its docs say; per round its decisions and level."""
    comparator = adastop.MultipleAgentsComparator(
        n=design.per_round, K=design.max_rounds, B=design.permutations,
        comparisons=np.array([(0, i) for i in range(1, len(values))]), alpha=design.alpha,
        beta=design.beta, seed=design.seed)
    names = [f"a{i}" for i in range(len(values))]
    seen = {name: np.array([]) for name in names}
    rounds = []
    for k in range(design.max_rounds):
        for i, name in enumerate(names):  # only entries still compared get more values
            if i in comparator.current_comparisons.ravel() or k == 0:
                upto = (k + 1) * design.per_round
                seen[name] = values[i][:upto]
        comparator.partial_compare(dict(seen), verbose=False)
        rounds.append({"decisions": [comparator.decisions[str(np.array([0, i]))]
                                     for i in range(1, len(values))],
                       "level": comparator.level_spent})
        if comparator.is_finished:
            break
    return rounds


def _ours(values: list[np.ndarray], design: Design) -> list[dict[str, Any]]:
    rounds = []
    for k in range(design.max_rounds):
        upto = (k + 1) * design.per_round
        race = replay([v[:upto] for v in values], design)
        rounds.append({"decisions": [c.decision for c in race.comparisons],
                       "level": race.level_spent})
        if race.finished:
            break
    return rounds


CASES = [  # (effects of the entries against the baseline, seeds per round, rounds, beta)
    ([0.0, 0.0, 0.0], 5, 4, 0.0), ([0.0, 0.5, 1.5, -2.0], 5, 6, 0.0),
    ([0.2, -0.3, 3.0], 3, 5, 0.0), ([0.0, 1.0, -1.0, 0.3, 0.0], 2, 6, 0.0),
    ([0.0, 0.1, 2.5], 4, 4, 0.05), ([0.0, 0.8], 6, 3, 0.0)]


@pytest.mark.parametrize("effects,n,rounds,beta", CASES)
@pytest.mark.parametrize("draw", [0, 1, 2])
def test_decisions_are_the_package_s(effects: list[float], n: int, rounds: int, beta: float,
                                     draw: int) -> None:
    rng = np.random.default_rng(100 * draw + n)
    values = [rng.normal(0.0, 1.0, n * rounds)] + \
        [rng.normal(e, 1.0, n * rounds) for e in effects]
    design = Design(per_round=n, max_rounds=rounds, alpha=0.05, beta=beta,
                    permutations=2_000, seed=draw, package=True)
    ours, theirs = _ours(values, design), _package(values, design)
    assert [r["decisions"] for r in ours] == [r["decisions"] for r in theirs]
    assert [r["level"] for r in ours] == pytest.approx([r["level"] for r in theirs])


def test_clear_differences_are_decided_early_and_the_rest_at_the_cap() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0.9, 0.01, 30)
    values = [base, rng.normal(0.7, 0.01, 30), rng.normal(0.95, 0.01, 30), base.copy()]
    race = replay(values, Design(per_round=5, max_rounds=6, alpha=0.05))
    worse, better, same = race.comparisons
    assert (worse.decision, worse.decided_round) == (LARGER, 1)  # the baseline is larger
    assert (better.decision, better.decided_round) == (SMALLER, 1)
    assert same.forced and same.decision == EQUAL and same.decided_round is None
    assert race.finished and race.rounds == 6


def test_a_round_is_played_only_when_every_compared_entry_has_it() -> None:
    rng = np.random.default_rng(1)
    values = [rng.normal(0, 1, 10), rng.normal(0, 1, 10), rng.normal(0, 1, 7)]
    race = replay(values, Design(per_round=5, max_rounds=6, alpha=0.05))
    assert race.rounds == 1 and not race.finished  # the second round waits for entry 2
    assert [c.decision for c in race.comparisons] == [CONTINUE, CONTINUE]
    assert race.needs_more(0) and race.needs_more(1) and race.needs_more(2)
    again = replay(values, Design(per_round=5, max_rounds=6, alpha=0.05))
    assert again == race  # values alone decide


def test_the_service_s_test_keeps_alpha_where_the_package_s_spends_it_twice() -> None:
    """One look, one comparison, 1,000 null races (fixed draws): the share declared
    different. The package's reference (the largest signed difference) for a two-sided
    statistic rejects about 2 alpha; the service's about alpha (bench/adaptive.py measures
    whole races)."""
    rng = np.random.default_rng(5)
    draws = [[rng.normal(0, 1, 5), rng.normal(0, 1, 5)] for _ in range(1000)]

    def rate(package: bool) -> float:
        design = Design(per_round=5, max_rounds=1, alpha=0.05, package=package)
        return float(np.mean([replay(v, design).comparisons[0].decision in (LARGER, SMALLER)
                              for v in draws]))

    assert rate(False) < 0.06 < 0.08 < rate(package=True)
