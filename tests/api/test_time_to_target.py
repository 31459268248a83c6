"""Time to target: the Kaplan-Meier median (with its interval) and the log-rank test equal
lifelines' on the same numbers; the leaderboard ranks by epochs to a target, censoring the
runs that never reach it."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times

from api.analytics.time_to_target import Target, km_median, logrank
from tests.factories import add_finished_run, make_experiment


def _lifelines_median(durations: list[float], reached: list[bool]) -> tuple[float, ...]:
    fit = KaplanMeierFitter().fit(durations, reached)
    bounds = median_survival_times(fit.confidence_interval_)
    return fit.median_survival_time_, *bounds.iloc[0].tolist()


def _none_as_inf(value: float | None) -> float:
    return float("inf") if value is None else value


@pytest.mark.parametrize("seed", range(6))
def test_median_and_logrank_equal_lifelines(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Epoch counts: ties are common, and runs that never get there are censored at the end.
    a = rng.integers(2, 12, size=int(rng.integers(3, 9))).astype(float)
    b = rng.integers(4, 16, size=int(rng.integers(3, 9))).astype(float)
    ra, rb = rng.random(len(a)) < 0.8, rng.random(len(b)) < 0.6
    ra[0] = True  # at least one event
    for durations, reached in ((a, ra), (b, rb)):
        ours = km_median(durations.tolist(), reached.tolist())
        theirs = _lifelines_median(durations.tolist(), reached.tolist())
        assert _none_as_inf(ours.value) == pytest.approx(theirs[0])
        assert _none_as_inf(ours.low) == pytest.approx(theirs[1])
        assert _none_as_inf(ours.high) == pytest.approx(theirs[2])
    result = logrank((a.tolist(), ra.tolist()), (b.tolist(), rb.tolist()))
    reference = logrank_test(a, b, event_observed_A=ra, event_observed_B=rb)
    assert result is not None
    assert result[1] == pytest.approx(reference.p_value, rel=1e-9)
    assert result[0] ** 2 == pytest.approx(reference.test_statistic, rel=1e-9)


def test_targets_parse_or_say_what_is_wrong() -> None:
    assert Target.parse("train_error<=0.25") == Target("train_error", "<=", 0.25)
    assert str(Target.parse(" val_accuracy >= 9e-1 ")) == "val_accuracy>=0.9"
    with pytest.raises(ValueError, match="unknown target metric 'speed'; valid: train_loss"):
        Target.parse("speed>=1")
    with pytest.raises(ValueError, match="is not METRIC<=VALUE"):
        Target.parse("train_error<0.25")


def _curve(reach_at: int | None, epochs: int = 10) -> list[float]:
    """Accuracy per epoch crossing 0.75 (train error 0.25) at `reach_at` (None: never)."""
    return [0.8 if reach_at is not None and e >= reach_at else 0.5 + 0.02 * e
            for e in range(1, epochs + 1)]


RELU = [2, 3, 2, 3, 2]
TANH = [6, 8, None, 7, 9]


def _relu_and_tanh() -> None:
    """Five finished seeds of each, reaching the target at the epochs of RELU and TANH."""
    for activation, reach in (("relu", RELU), ("tanh", TANH)):
        exp_id, _ = make_experiment(seeds=(), activation={"name": activation})
        for seed, at in enumerate(reach):
            add_finished_run(exp_id, seed, _curve(at))


def test_leaderboard_ranks_by_epochs_to_target(client: TestClient) -> None:
    _relu_and_tanh()
    board = client.get("/api/v1/leaderboard", params={
        "model": "mlp", "dataset": "digits", "target": "train_error<=0.25"}).json()
    assert board["target"] == "train_error<=0.25" and board["test"] == "logrank"
    relu, tanh = board["entries"]
    assert (relu["label"], relu["rank"], relu["verdict"]) == ("relu", 1, "baseline")
    assert tanh["label"] == "tanh" and tanh["rank"] == 2
    assert tanh["target_runs"] == 5 and tanh["target_reached"] == 4
    assert tanh["target_epochs"] == {"0": 6, "1": 8, "2": None, "3": 7, "4": 9}
    durations = [float(e if e is not None else 10) for e in TANH]
    reached = [e is not None for e in TANH]
    assert tanh["median_epochs"] == _lifelines_median(durations, reached)[0]
    assert relu["median_epochs"] == 2.0
    # seconds: the epochs' wall times summed (2 + seed each in the factory)
    assert relu["median_seconds"] == pytest.approx(
        KaplanMeierFitter().fit([e * (2 + s) for s, e in enumerate(RELU)]).median_survival_time_)
    reference = logrank_test([float(e) for e in RELU], durations,
                             event_observed_A=[True] * 5, event_observed_B=reached)
    assert tanh["p_value"] == pytest.approx(reference.p_value, rel=1e-9)
    assert tanh["verdict"] == ("later" if reference.p_value < 0.05 else
                               "no significant difference")
    csv = client.get("/api/v1/leaderboard", params={
        "model": "mlp", "dataset": "digits", "target": "train_error<=0.25",
        "format": "csv"}).text
    assert "median_epochs" in csv.splitlines()[0]


@pytest.mark.parametrize(("target", "message"), [
    ("speed>=1", "unknown target metric 'speed'"),
    ("val_accuracy=0.9", "is not METRIC<=VALUE"),
])
def test_a_bad_target_is_a_422_naming_it(client: TestClient, target: str, message: str) -> None:
    r = client.get("/api/v1/leaderboard", params={"model": "mlp", "dataset": "digits",
                                                  "target": target})
    assert r.status_code == 422 and message in r.text and "target" in r.text
    r = client.get("/api/v1/leaderboard", params={"target": "train_error<=0.25"})
    assert r.status_code == 422 and "needs a task" in r.text


def test_markdown_ranks_by_time(client: TestClient) -> None:
    _relu_and_tanh()
    text = client.get("/api/v1/leaderboard", params={
        "model": "mlp", "dataset": "digits", "target": "train_error<=0.25",
        "format": "markdown"}).text
    header, _, relu, tanh = text.splitlines()
    assert "median epochs to train_error<=0.25 [95 %]" in header
    assert relu.startswith("| 1 | relu | 5/5 | 2 [2, 3] |")
    assert tanh.startswith("| 2 | tanh | 4/5 | 8 [6, -] |")
