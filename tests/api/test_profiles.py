"""Performance profiles (Dolan & Moré) and their AlgoPerf-style score: a hand-made table with
its profile worked out by hand, the score against a fine numerical integral, and the
cross-task board's profiles on seeded results."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.analytics.profiles import cost, cost_name, profiles
from tests.api.test_dashboards import RELU, seed_task

PROBLEMS = [{"a": 0.1, "b": 0.2}, {"a": 0.3, "b": 0.15}, {"a": 0.1, "b": math.inf}]


def test_a_hand_made_profile() -> None:
    by = {p["label"]: p for p in profiles(PROBLEMS, ["a", "b"])}
    # a: ratios 1, 2, 1; b: 2, 1, never (its every seed diverged on the third problem)
    assert by["a"]["tau"] == [1.0, 2.0, 4.0] and by["a"]["rho"] == pytest.approx([2 / 3, 1, 1])
    assert by["b"]["rho"] == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert by["a"]["score"] == pytest.approx((2 / 3 * 1 + 1 * 2) / 3)
    assert by["b"]["score"] == pytest.approx((1 / 3 * 1 + 2 / 3 * 2) / 3)
    # absent from a problem: never within tau there
    absent = {p["label"]: p for p in profiles([*PROBLEMS, {"a": 0.2}], ["a", "b"])}
    assert absent["b"]["rho"][-1] == pytest.approx(2 / 4)


def test_the_score_is_the_profiles_integral() -> None:
    rng = np.random.default_rng(3)
    problems = [{label: float(rng.uniform(0.05, 0.5)) for label in "abcd"} for _ in range(12)]
    for p in profiles(problems, list("abcd")):
        grid = np.linspace(1, 4, 300_001)
        ratios = np.array([q[p["label"]] / min(q.values()) for q in problems])
        rho = (ratios[None, :] <= grid[:, None]).mean(axis=1)
        assert p["score"] == pytest.approx(np.trapezoid(rho, grid) / 3, abs=1e-4)


def test_costs_are_lower_is_better_and_positive() -> None:
    assert cost_name("test_accuracy") == "error" and cost("test_accuracy", 0.9) == \
        pytest.approx(0.1)
    assert cost_name("val_loss") == "val_loss" and cost("val_loss", 0.3) == 0.3
    assert cost("samples_per_second", 200.0) == pytest.approx(1 / 200)
    assert cost("test_accuracy", None) == math.inf


def test_the_cross_task_board_has_profiles(client: TestClient) -> None:
    seed_task("mlp", "digits")
    seed_task("mlp", "mnist1d", {"relu": RELU, "dual_line": [0.91, 0.92, 0.90, 0.91, 0.92],
                                 "prelu": [0.8, 0.81, 0.79, 0.8, 0.82]})
    board = client.get("/api/v1/leaderboard").json()
    prof = board["profiles"]
    assert prof["cost"] == "error" and prof["tau_max"] == 4 and prof["problems"] == 2
    by = {p["label"]: p for p in prof["entries"]}
    assert by["dual_line"]["score"] == pytest.approx(1.0)  # best on both tasks
    assert prof["entries"][0]["label"] == "dual_line"
    rows = {e["label"]: e for e in board["entries"]}
    assert all(rows[label]["profile_score"] == pytest.approx(by[label]["score"])
               for label in rows)
    csv = client.get("/api/v1/leaderboard?format=csv").text
    assert "profile_score" in csv.splitlines()[0]
