"""Equal tuning budgets' arithmetic (core/statistics/tuning.py): the same quasi-random points
for every entry, spread over the range (log where asked), the best trial chosen with a
diverged one ranked worst, and a choice at the space's edge flagged."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import qmc

from core.statistics.tuning import Dimension, Trial, choose, on_edge, points

SPACE = {"lr": Dimension(1e-4, 0.1, log=True), "weight_decay": Dimension(0.0, 0.01)}


def test_the_same_seed_draws_the_same_points_within_the_space() -> None:
    first, again = points(SPACE, 16, seed=7), points(SPACE, 16, seed=7)
    assert first == again and first != points(SPACE, 16, seed=8)
    lrs = [p["lr"] for p in first]
    assert all(1e-4 <= lr <= 0.1 for lr in lrs)
    assert all(0 <= p["weight_decay"] <= 0.01 for p in first)
    # log: evenly spread in log space, so the decades each get about a third
    decades = np.histogram(np.log10(lrs), bins=[-4, -3, -2, -1])[0]
    assert decades.min() >= 4
    # quasi-random: more even than the same number of pseudo-random points
    units = np.array([[(math.log(p["lr"]) - math.log(1e-4)) / math.log(1e3),
                       p["weight_decay"] / 0.01] for p in first])
    random = np.random.default_rng(0).random((16, 2))
    assert qmc.discrepancy(units) < qmc.discrepancy(random)


def test_the_best_trial_is_chosen_and_a_diverged_one_ranks_worst() -> None:
    trials = [Trial({"lr": 0.1}, None), Trial({"lr": 0.01}, 0.91), Trial({"lr": 0.001}, 0.93),
              Trial({"lr": 0.0001}, 0.93)]
    assert choose(trials, higher_is_better=True) == 2  # the earliest of the tied best
    assert choose(trials, higher_is_better=False) == 1  # a loss: the lowest
    assert choose([Trial({}, None), Trial({}, math.nan)], higher_is_better=True) is None


@pytest.mark.parametrize(("lr", "edge"), [(1.2e-4, ["lr"]), (0.09, ["lr"]), (3e-3, [])])
def test_a_choice_at_the_edge_is_flagged(lr: float, edge: list[str]) -> None:
    assert on_edge(SPACE, {"lr": lr, "weight_decay": 0.005}) == edge
