"""Time to target: the Kaplan-Meier median (with its interval) and the log-rank test equal
lifelines' on the same numbers; below 10 runs an arm the log-rank p is exact (every
relabelling, each scored by lifelines here) and a median bound the data cannot close is open,
both held to a simulation of size and coverage; the leaderboard ranks by epochs to a target,
censoring the runs that never reach it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fastapi.testclient import TestClient
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times
from scipy import stats as scipy_stats

from api.analytics.time_to_target import (
    EXACT_BELOW,
    Target,
    km_median,
    km_median_bands,
    logrank,
)
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
    b = rng.integers(4, 16, size=int(rng.integers(EXACT_BELOW, 14))).astype(float)
    ra, rb = rng.random(len(a)) < 0.8, rng.random(len(b)) < 0.6
    ra[0] = True  # at least one event
    for durations, reached in ((a, ra), (b, rb)):
        ours = km_median_bands(durations.tolist(), reached.tolist())
        theirs = _lifelines_median(durations.tolist(), reached.tolist())
        assert _none_as_inf(ours.value) == pytest.approx(theirs[0])
        assert _none_as_inf(ours.low) == pytest.approx(theirs[1])
        assert _none_as_inf(ours.high) == pytest.approx(theirs[2])
        # what the board reports: the same median, bounds the same or open
        shown = km_median(durations.tolist(), reached.tolist())
        assert shown.value == ours.value
        assert shown.low in (None, ours.low) and shown.high in (None, ours.high)
    # from EXACT_BELOW runs per arm: scipy's chi-square p, equal to lifelines'
    b2, rb2 = b[:EXACT_BELOW], rb[:EXACT_BELOW]
    a2 = np.concatenate([a, rng.integers(2, 12, size=EXACT_BELOW).astype(float)])
    ra2 = np.concatenate([ra, rng.random(EXACT_BELOW) < 0.8])
    result = logrank((a2.tolist(), ra2.tolist()), (b2.tolist(), rb2.tolist()))
    reference = logrank_test(a2, b2, event_observed_A=ra2, event_observed_B=rb2)
    assert result is not None and not result.exact
    assert result.p_value == pytest.approx(reference.p_value, rel=1e-9)
    assert result.statistic ** 2 == pytest.approx(reference.test_statistic, rel=1e-9)


def _exact_by_lifelines(a: tuple[list[float], list[bool]],
                        b: tuple[list[float], list[bool]]) -> float:
    """The permutation p of the log-rank test, every relabelling scored by lifelines."""
    times_, events = [*a[0], *b[0]], [*a[1], *b[1]]
    observed = logrank_test(a[0], b[0], event_observed_A=a[1],
                            event_observed_B=b[1]).test_statistic
    hits = total = 0
    for chosen in itertools.combinations(range(len(times_)), len(a[0])):
        rest = [i for i in range(len(times_)) if i not in chosen]
        stat = logrank_test([times_[i] for i in chosen], [times_[i] for i in rest],
                            event_observed_A=[events[i] for i in chosen],
                            event_observed_B=[events[i] for i in rest]).test_statistic
        hits += int(np.nan_to_num(stat) >= observed * (1 - 1e-9))
        total += 1
    return hits / total


@pytest.mark.parametrize("seed", range(4))
def test_small_samples_get_the_exact_logrank_p(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    a = (rng.integers(2, 12, size=int(rng.integers(3, 6))).astype(float).tolist(),
         (rng.random(5) < 0.8).tolist())
    b = (rng.integers(4, 16, size=int(rng.integers(3, 6))).astype(float).tolist(),
         (rng.random(5) < 0.6).tolist())
    a, b = (a[0], a[1][:len(a[0])]), (b[0], b[1][:len(b[0])])
    a[1][0] = True
    result = logrank(a, b)
    assert result is not None and result.exact
    reference = logrank_test(a[0], b[0], event_observed_A=a[1], event_observed_B=b[1])
    assert result.statistic ** 2 == pytest.approx(reference.test_statistic, rel=1e-9)
    assert result.p_value == pytest.approx(_exact_by_lifelines(a, b), abs=1e-12)


def test_three_runs_against_three_cannot_reach_below_one_tenth() -> None:
    # Wholly separated: scipy's chi-square says 0.025; only 2 of the 20 relabellings are as
    # extreme, so the exact p is 0.1 (the grokking board's GELU against ReLU).
    apart = logrank(([24.0, 25.0, 26.0], [True] * 3), ([60.0, 71.0, 80.0], [True] * 3))
    assert apart is not None and apart.exact and apart.p_value == pytest.approx(0.1)


def test_exact_logrank_keeps_its_size_where_the_approximation_does_not() -> None:
    rng = np.random.default_rng(7)
    trials = 1000
    exact = approximate = 0
    for _ in range(trials):  # runs per arm, one exponential law, a few censored
        t = np.ceil(rng.exponential(20, size=10))
        reached = t < 40
        t = np.minimum(t, 40)
        five = logrank((t[:5].tolist(), reached[:5].tolist()),
                       (t[5:].tolist(), reached[5:].tolist()))
        exact += five is not None and five.p_value <= 0.05
        a, b = (t[:3], reached[:3]), (t[3:6], reached[3:6])
        approximate += float(scipy_stats.logrank(
            scipy_stats.CensoredData(uncensored=a[0][a[1]], right=a[0][~a[1]]),
            scipy_stats.CensoredData(uncensored=b[0][b[1]], right=b[0][~b[1]])).pvalue) <= 0.05
    # 5 runs per arm: within Monte Carlo error of its level (it is discrete: at or below)
    assert exact / trials <= 0.05 + 0.02, exact / trials
    # 3 runs per arm: the chi-square approximation rejects too often (the exact one never
    # can at 0.05: its smallest p is 2 / 20)
    assert approximate / trials > 0.06, approximate / trials


@pytest.mark.parametrize("n", [3, 5, 8, 20])
def test_median_intervals_cover_or_stay_open(n: int) -> None:
    rng = np.random.default_rng(n)
    trials, covered, extremes = 1000, 0, 0
    median = 20 * np.log(2)  # of an exponential law with mean 20
    for _ in range(trials):
        t = rng.exponential(20, size=n)
        m = km_median(t.tolist(), [True] * n)
        covered += _none_as_inf(-m.low if m.low is not None else None) >= -median \
            and _none_as_inf(m.high) >= median
        bands = km_median_bands(t.tolist(), [True] * n)
        extremes += (bands.low or 0) <= median <= (bands.high or np.inf)
    assert covered / trials >= 0.93, covered / trials
    if n == 3:  # the bands' [min, max] at 3 runs: 1 - 2 / 2^3 = 0.75 coverage
        assert extremes / trials == pytest.approx(0.75, abs=0.04)


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
    # 5 runs an arm: the exact p (every relabelling scored by lifelines)
    p = _exact_by_lifelines((durations, reached), ([float(e) for e in RELU], [True] * 5))
    assert tanh["p_value"] == pytest.approx(p, abs=1e-12) and tanh["test"] == "logrank_exact"
    assert tanh["verdict"] == ("later" if p < 0.05 else "no significant difference")
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
    r = client.get("/api/v1/leaderboard", params={"target": target})
    assert r.status_code == 422 and message in r.text


def test_across_tasks_a_target_makes_the_profiles_cost_the_time_to_it(
        client: TestClient) -> None:
    _relu_and_tanh()
    board = client.get("/api/v1/leaderboard", params={"target": "train_error<=0.25"}).json()
    prof = board["profiles"]
    assert prof["cost"] == "epochs to train_error<=0.25" and prof["problems"] == 1
    by = {p["label"]: p for p in prof["entries"]}
    task = client.get("/api/v1/leaderboard", params={
        "model": "mlp", "dataset": "digits", "target": "train_error<=0.25"}).json()
    medians = {e["label"]: e["median_epochs"] for e in task["entries"]}
    # tanh's Kaplan-Meier median is 8 epochs (one run censored), relu's 2: a ratio of 4,
    # within tau only at tau_max, so it scores 0
    assert (medians["relu"], medians["tanh"]) == (2.0, 8.0)
    assert by["relu"]["score"] == 1.0
    assert (by["tanh"]["tau"], by["tanh"]["rho"], by["tanh"]["score"]) == (
        [1.0, 4.0], [0.0, 1.0], 0.0)
    # on the final accuracies they are close (0.8, and 0.78 with one seed at 0.7): the cost
    # there is the error, 0.22 against 0.2
    plain = client.get("/api/v1/leaderboard").json()["profiles"]
    assert plain["cost"] == "error"
    scores = {p["label"]: p["score"] for p in plain["entries"]}
    assert scores["relu"] == 1.0 and scores["tanh"] == pytest.approx((4 - 0.22 / 0.2) / 3)


def test_markdown_ranks_by_time(client: TestClient) -> None:
    _relu_and_tanh()
    text = client.get("/api/v1/leaderboard", params={
        "model": "mlp", "dataset": "digits", "target": "train_error<=0.25",
        "format": "markdown"}).text
    header, _, relu, tanh = text.splitlines()
    assert "median epochs to train_error<=0.25 [95 %]" in header
    # Five runs bound neither side of ReLU's median (the band would close on the first and
    # the last observation) nor tanh's from below (its lower band is under one half at its
    # first event).
    assert relu.startswith("| 1 | relu | 5/5 | 2 [-, -] |")
    assert tanh.startswith("| 2 | tanh | 4/5 | 8 [-, -] |")
