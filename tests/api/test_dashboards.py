"""Summaries, leaderboards, distributions and exports on hand-made results with known
answers (rows written straight to the database)."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats as sp

from tests.factories import add_finished_run, make_experiment

RELU = [0.90, 0.91, 0.89, 0.90, 0.92]
DUAL = [0.93, 0.94, 0.95, 0.93, 0.94]  # clearly better
PRELU = [0.90, 0.92, 0.89, 0.91, 0.91]  # not significantly different from relu


def seed_task(model: str = "mlp", dataset: str = "digits",
              results: dict[str, list[float]] | None = None) -> dict[str, object]:
    ids = {}
    results = results or {"relu": RELU, "dual_line": DUAL, "prelu": PRELU}
    for activation, finals in results.items():
        exp_id, _ = make_experiment(seeds=(), activation={"name": activation},
                                    model={"name": model}, dataset={"name": dataset})
        for seed, final in enumerate(finals):
            add_finished_run(exp_id, seed, [final - 0.05, final])
        ids[activation] = exp_id
    return ids


def test_summary_matches_hand_statistics(client: TestClient) -> None:
    exp_id, _ = make_experiment(seeds=())
    for seed, final in enumerate(DUAL):
        add_finished_run(exp_id, seed, [final - 0.1, final + 0.01, final])
    add_finished_run(exp_id, 99, [0.5], status="failed")
    body = client.get(f"/api/v1/experiments/{exp_id}/summary").json()
    assert body["seeds_asked"] == 6 and body["seeds_finished"] == 5
    final = body["metrics"]["val_accuracy"]["final"]
    assert final["n"] == 5
    assert final["mean"] == pytest.approx(np.mean(DUAL))
    assert final["std"] == pytest.approx(np.std(DUAL, ddof=1))
    lo, hi = sp.t.interval(0.95, 4, loc=np.mean(DUAL), scale=sp.sem(DUAL))
    assert (final["ci95_low"], final["ci95_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert final["median"] == pytest.approx(0.94) and final["min"] == pytest.approx(0.93)
    best = body["metrics"]["val_accuracy"]["best"]
    assert best["mean"] == pytest.approx(np.mean(DUAL) + 0.01)
    assert body["metrics"]["val_loss"]["best"]["mean"] == pytest.approx(1 - np.mean(DUAL) - 0.01)
    assert body["metrics"]["epoch_seconds"]["mean_over_epochs"]["n"] == 5
    curve = body["curves"]
    assert [c["epoch"] for c in curve] == [1, 2, 3]
    assert curve[2]["n"] == 5  # the failed run has only epoch 1
    assert curve[2]["val_accuracy"]["mean"] == pytest.approx(np.mean(DUAL))
    assert curve[2]["val_accuracy"]["std"] == pytest.approx(np.std(DUAL, ddof=1))
    csv_text = client.get(f"/api/v1/experiments/{exp_id}/summary?format=csv").text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {"metric", "aggregate", "mean", "std", "n"} <= set(rows[0])


def test_empty_and_partial_experiments_give_valid_json(client: TestClient) -> None:
    created = client.post("/api/v1/experiments", json={"activation": {"name": "relu"},
                                                       "seeds": [0, 1]}).json()
    for path in ("summary", "parameters", "response"):
        r = client.get(f"/api/v1/experiments/{created['id']}/{path}")
        assert r.status_code == 200, (path, r.text)
    summary = client.get(f"/api/v1/experiments/{created['id']}/summary").json()
    assert summary["seeds_finished"] == 0
    assert summary["metrics"]["val_accuracy"]["final"] == {
        "n": 0, "mean": None, "std": None, "sem": None, "ci95_low": None, "ci95_high": None,
        "median": None, "min": None, "max": None}
    exp_id, _ = make_experiment(seeds=())
    add_finished_run(exp_id, 0, [0.8, 0.85])
    one = client.get(f"/api/v1/experiments/{exp_id}/summary").json()
    assert one["metrics"]["val_accuracy"]["final"]["std"] is None  # n = 1: no spread
    assert client.get("/api/v1/leaderboard?model=mlp&dataset=mnist1d").json()["entries"] == []


def test_leaderboard_for_a_task(client: TestClient) -> None:
    seed_task()
    board = client.get("/api/v1/leaderboard?model=mlp&dataset=digits").json()
    by = {e["label"]: e for e in board["entries"]}
    assert board["baseline"] == "relu" and board["correction"] == "holm"
    assert [e["label"] for e in board["entries"]] == ["dual_line", "prelu", "relu"]
    ref_dual = sp.ttest_ind(DUAL, RELU, equal_var=False).pvalue
    ref_prelu = sp.ttest_ind(PRELU, RELU, equal_var=False).pvalue
    assert by["dual_line"]["p_value"] == pytest.approx(ref_dual, rel=1e-6)
    assert by["prelu"]["p_value"] == pytest.approx(ref_prelu, rel=1e-6)
    low, high = sorted([ref_dual, ref_prelu])
    holm = {ref_dual: min(1, 2 * low) if ref_dual == low else max(min(1, 2 * low), high),
            ref_prelu: min(1, 2 * low) if ref_prelu == low else max(min(1, 2 * low), high)}
    assert by["dual_line"]["p_holm"] == pytest.approx(holm[ref_dual], rel=1e-6)
    assert by["prelu"]["p_holm"] == pytest.approx(holm[ref_prelu], rel=1e-6)
    assert by["dual_line"]["verdict"] == "better"
    assert by["prelu"]["verdict"] == "no significant difference"
    assert by["relu"]["verdict"] == "baseline" and by["relu"]["p_value"] is None
    pooled = np.sqrt((np.var(DUAL, ddof=1) + np.var(RELU, ddof=1)) / 2)
    assert by["dual_line"]["cohens_d"] == pytest.approx((np.mean(DUAL) - np.mean(RELU)) / pooled)
    assert by["dual_line"]["n"] == 5 and by["dual_line"]["seeds"] == [0, 1, 2, 3, 4]
    assert by["dual_line"]["macs"] == 1_000_000
    assert by["dual_line"]["metric_per_mmac"] == pytest.approx(np.mean(DUAL))
    mw = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&test=mannwhitney").json()
    mw_dual = next(e for e in mw["entries"] if e["label"] == "dual_line")
    assert mw_dual["p_value"] == pytest.approx(
        sp.mannwhitneyu(DUAL, RELU, alternative="two-sided").pvalue)
    paired = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&test=paired").json()
    p_dual = next(e for e in paired["entries"] if e["label"] == "dual_line")
    assert p_dual["p_value"] == pytest.approx(sp.ttest_rel(DUAL, RELU).pvalue)
    loss = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&metric=val_loss").json()
    assert loss["entries"][0]["label"] == "dual_line"  # lowest loss ranks first


def test_ranks_and_ties_on_a_hand_made_table(client: TestClient) -> None:
    seed_task(results={"relu": [0.5, 0.5], "tanh": [0.7, 0.7], "elu": [0.7, 0.7],
                       "gelu": [0.6, 0.6]})
    board = client.get("/api/v1/leaderboard?model=mlp&dataset=digits").json()
    ranks = {e["label"]: e["rank"] for e in board["entries"]}
    assert ranks == {"tanh": 1.5, "elu": 1.5, "gelu": 3.0, "relu": 4.0}


def test_cross_task_average_ranks_and_win_tie_loss(client: TestClient) -> None:
    seed_task("mlp", "digits")
    seed_task("mlp", "mnist1d", {"relu": RELU, "dual_line": [0.91, 0.92, 0.90, 0.91, 0.92],
                                 "prelu": [0.8, 0.81, 0.79, 0.8, 0.82]})
    board = client.get("/api/v1/leaderboard").json()
    assert [t["dataset"] for t in board["tasks"]] == ["digits", "mnist1d"]
    by = {e["label"]: e for e in board["entries"]}
    # digits: dual_line 1, prelu 2, relu 3; mnist1d: dual_line 1, relu 2, prelu 3
    assert by["dual_line"]["avg_rank_mean_accuracy"] == pytest.approx(1.0)
    assert by["prelu"]["avg_rank_mean_accuracy"] == pytest.approx(2.5)
    assert by["relu"]["avg_rank_mean_accuracy"] == pytest.approx(2.5)
    assert (by["dual_line"]["win"], by["dual_line"]["tie"], by["dual_line"]["loss"]) == (1, 1, 0)
    assert (by["prelu"]["win"], by["prelu"]["tie"], by["prelu"]["loss"]) == (0, 1, 1)
    assert by["relu"]["tasks"] == 2
    assert {"avg_rank_accuracy", "avg_rank_train_loss", "avg_rank_val_loss",
            "avg_rank_time"} <= set(by["relu"])
    # "tie" is "not significant", never "equal": without a margin nothing is equivalent
    assert (by["dual_line"]["not_significant"], by["dual_line"]["equivalent"]) == (1, 0)
    assert board["margin"] is None
    wide = {e["label"]: e for e in client.get("/api/v1/leaderboard?margin=0.2").json()[
        "entries"]}
    narrow = {e["label"]: e for e in client.get("/api/v1/leaderboard?margin=0.001").json()[
        "entries"]}
    assert narrow["dual_line"]["equivalent"] == 0 and narrow["prelu"]["equivalent"] == 0
    assert wide["dual_line"]["equivalent"] >= 1  # within 0.2 of ReLU on both tasks
    assert wide["dual_line"]["tie"] == by["dual_line"]["tie"]  # the margin changes no tie


def test_equivalence_on_a_task_board_is_tost_against_the_baseline(client: TestClient) -> None:
    from statsmodels.stats.weightstats import ttost_ind

    seed_task()
    board = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&margin=0.05").json()
    assert board["margin"] == 0.05
    rows = {e["label"]: e for e in board["entries"]}
    assert rows["relu"]["p_equivalence"] is None and rows["relu"]["equivalent"] is None
    family = [e for e in board["entries"] if e["p_equivalence"] is not None]
    assert len(family) == 2 and rows["prelu"]["equivalent"]  # 0.004 apart, sd 0.01
    relu = [float(v) for v in RELU]
    for e in family:
        values = {"dual_line": DUAL, "prelu": PRELU}[e["label"]]
        raw = ttost_ind(np.array(values), np.array(relu), -0.05, 0.05, usevar="unequal")[0]
        assert e["p_equivalence"] >= raw - 1e-12  # Holm never lowers a p
        assert e["equivalent"] == (e["p_equivalence"] < 0.05)
    bad = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&margin=-1")
    assert bad.status_code == 422 and "margin" in bad.text


def test_leaderboard_exports(client: TestClient) -> None:
    seed_task()
    md = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&format=markdown")
    assert md.headers["content-type"].startswith("text/markdown")
    assert f"| 1 | dual_line | {np.mean(DUAL):.4f} ± {np.std(DUAL, ddof=1):.4f} | 5 |" in md.text
    tex = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&format=latex").text
    assert r"\begin{tabular}" in tex and r"dual\_line" in tex and r"$\pm$" in tex
    rows = list(csv.DictReader(io.StringIO(
        client.get("/api/v1/leaderboard?model=mlp&dataset=digits&format=csv").text)))
    assert [r["label"] for r in rows] == ["dual_line", "prelu", "relu"]


def test_leaderboard_bad_queries_are_422(client: TestClient) -> None:
    for query, field in [("metric=acc", "metric"), ("test=anova", "test"),
                         ("model=mlp", "dataset"), ("stat=worst", "stat")]:
        r = client.get(f"/api/v1/leaderboard?{query}")
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == field


def test_parameter_distributions_on_known_values(client: TestClient) -> None:
    exp_id, _ = make_experiment(seeds=(), activation={"name": "dual_line"})
    add_finished_run(exp_id, 0, [0.5, 0.6], params={(1, "a"): [[1.0, 1.0], [1.0, 2.0]],
                                                    (2, "a"): [[1.0, 1.0], [0.5, 0.5]]})
    add_finished_run(exp_id, 1, [0.5, 0.6], params={(1, "a"): [[1.0, 1.0], [3.0, 4.0]],
                                                    (2, "a"): [[1.0, 1.0], [0.7, 0.9]]})
    body = client.get(f"/api/v1/experiments/{exp_id}/parameters").json()
    final = {(f["block"], f["name"]): f for f in body["final"]}
    # block 1, final epoch: values 1, 2, 3, 4 over channels and seeds
    assert final[(1, "a")] == {"block": 1, "position": 1, "name": "a", "layer": "b1", "n": 4,
                               "min": 1.0, "q1": 1.75, "median": 2.5, "q3": 3.25, "max": 4.0,
                               "mean": 2.5}
    assert final[(2, "a")]["median"] == pytest.approx(0.6)
    per_epoch = [e for e in body["per_epoch"] if e["block"] == 1]
    assert [(e["epoch"], e["mean"]) for e in per_epoch] == [(1, 1.0), (2, 2.5)]
    assert body["runs"] == 2
    assert client.get(f"/api/v1/experiments/{exp_id}/parameters?format=csv").text.count(
        "\n") == 1 + 2 + 4


def test_response_region_envelope(client: TestClient) -> None:
    exp_id, _ = make_experiment(seeds=(), activation={"name": "dual_line"})
    xs = [-1.0, 0.0, 1.0]
    add_finished_run(exp_id, 0, [0.5], curve=(xs, [[-0.1, 0.0, 1.0], [-0.2, 0.0, 2.0]]))
    add_finished_run(exp_id, 1, [0.5], curve=(xs, [[-0.3, 0.1, 1.5]]))
    body = client.get(f"/api/v1/experiments/{exp_id}/response").json()
    assert body["xs"] == xs
    layer = body["layers"][0]
    assert layer["curves"] == 3
    assert layer["min"] == [-0.3, 0.0, 1.0] and layer["max"] == [-0.1, 0.1, 2.0]
    assert layer["mean"] == pytest.approx([-0.2, 0.1 / 3, 1.5])
    assert body["envelope"] == {"min": [-0.3, 0.0, 1.0], "max": [-0.1, 0.1, 2.0]}


def _board(client: TestClient, query: str = "") -> dict[str, object]:
    r = client.get(f"/api/v1/leaderboard?model=mlp&dataset=digits{query}")
    assert r.status_code == 200, r.text
    return r.json()


def test_mixed_recipes_are_tested_only_like_for_like(client: TestClient) -> None:
    """Three dual_line recipes (5, 8, 10 epochs) and a ReLU baseline at 10 epochs: only the
    10-epoch dual_line is tested; the others are listed with their recipe, p = null, a
    verdict that says why, and stay out of the Holm family."""
    ids = {}
    for activation, epochs, finals in [("relu", 10, RELU), ("dual_line", 5, PRELU),
                                       ("dual_line", 8, PRELU), ("dual_line", 10, DUAL),
                                       ("prelu", 10, PRELU)]:
        exp_id, _ = make_experiment(seeds=(), activation={"name": activation},
                                    training={"epochs": epochs})
        for seed, final in enumerate(finals):
            add_finished_run(exp_id, seed, [final - 0.05, final])
        ids[(activation, epochs)] = exp_id
    board = _board(client)
    assert board["differs_by"] == ["training.epochs"]
    by = {(e["label"], e["recipe"]): e for e in board["entries"]}
    assert len(by) == 5
    tested = by[("dual_line", "training.epochs=10")]
    assert tested["p_value"] == pytest.approx(sp.ttest_ind(DUAL, RELU, equal_var=False).pvalue)
    for epochs in (5, 8):
        lone = by[("dual_line", f"training.epochs={epochs}")]
        assert lone["p_value"] is None and lone["p_holm"] is None
        assert lone["verdict"] == "no baseline with this recipe"
        assert lone["recipe_diff"] == {"training.epochs": epochs}
    # The family is the two 10-epoch entries: Holm over exactly those p-values.
    ps = [sp.ttest_ind(DUAL, RELU, equal_var=False).pvalue,
          sp.ttest_ind(PRELU, RELU, equal_var=False).pvalue]
    assert board["family_size"] == 2
    assert tested["p_holm"] == pytest.approx(min(1.0, 2 * min(ps)))
    assert by[("relu", "training.epochs=10")]["verdict"] == "baseline"
    md = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&format=markdown").text
    assert "| recipe |" in md and "training.epochs=5" in md
    csv_rows = list(csv.DictReader(io.StringIO(
        client.get("/api/v1/leaderboard?model=mlp&dataset=digits&format=csv").text)))
    assert {r["recipe"] for r in csv_rows} == {f"training.epochs={e}" for e in (5, 8, 10)}
    tex = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&format=latex").text
    assert "training.epochs=8" in tex
    # Scoped to some experiments: just those.
    only = _board(client, f"&experiment={ids[('relu', 10)]}&experiment={ids[('prelu', 10)]}")
    assert sorted(e["label"] for e in only["entries"]) == ["prelu", "relu"]
    cross = client.get("/api/v1/leaderboard").json()
    rows = {e["label"]: e for e in cross["entries"]}
    assert rows["dual_line"]["tasks"] == 1 and rows["dual_line"]["groups"] == 1


def test_each_context_has_its_own_baseline(client: TestClient) -> None:
    for lr, relu, dual in [(0.001, RELU, DUAL), (0.01, DUAL, RELU)]:
        for activation, finals in (("relu", relu), ("dual_line", dual)):
            exp_id, _ = make_experiment(seeds=(), activation={"name": activation},
                                        training={"epochs": 2, "lr": lr})
            for seed, final in enumerate(finals):
                add_finished_run(exp_id, seed, [final - 0.05, final])
    board = _board(client)
    by = {(e["label"], e["recipe"]): e for e in board["entries"]}
    assert len(board["baselines"]) == 2
    assert by[("dual_line", "training.lr=0.001")]["verdict"] == "better"
    assert by[("dual_line", "training.lr=0.01")]["verdict"] == "worse"


def test_best_selects_by_validation_and_reports_test(client: TestClient) -> None:
    """stat=best: the epoch with the best validation accuracy, the test metric at that
    epoch, even when the test split peaks elsewhere."""
    exp_id, _ = make_experiment(seeds=())
    add_finished_run(exp_id, 0, [0.70, 0.90, 0.80], test_accuracy=[0.95, 0.60, 0.99])
    add_finished_run(exp_id, 1, [0.50, 0.60, 0.90], test_accuracy=[0.99, 0.99, 0.40])
    board = _board(client, "&stat=best")
    entry = board["entries"][0]
    assert entry["mean"] == pytest.approx((0.60 + 0.40) / 2)
    assert entry["best_epoch_mean"] == pytest.approx((2 + 3) / 2)
    summary = client.get(f"/api/v1/experiments/{exp_id}/summary").json()
    assert summary["metrics"]["test_accuracy"]["best"]["mean"] == pytest.approx(0.5)
    assert summary["metrics"]["test_accuracy"]["final"]["mean"] == pytest.approx(0.695)
    by_loss = client.get(f"/api/v1/experiments/{exp_id}/summary?select=val_loss").json()
    assert by_loss["metrics"]["test_accuracy"]["best"]["mean"] == pytest.approx(0.5)
    final = _board(client)["entries"][0]
    assert final["mean"] == pytest.approx((0.99 + 0.40) / 2)


def test_unknown_names_and_query_parameters_are_422(client: TestClient) -> None:
    seed_task()
    for query, field, needle in [
        ("model=mpl&dataset=digits", "model", "valid names:"),
        ("model=mlp&dataset=digit", "dataset", "mnist1d"),
        ("model=mlp&dataset=digits&baseline=rleu", "baseline", "dual_line"),
        ("model=mlp&dataset=digits&metrc=test_accuracy", "metrc", "valid parameters:"),
        ("model=mlp&dataset=digits&select=test_accuracy", "select", "val_accuracy"),
        ("model=mlp&dataset=digits&sweep=nope", "sweep", "UUID"),
    ]:
        r = client.get(f"/api/v1/leaderboard?{query}")
        assert r.status_code == 422, (query, r.text)
        detail = r.json()["detail"]
        assert detail[0]["field"] == field and needle in detail[0]["msg"], (query, detail)
    r = client.get("/api/v1/experiments?limit=5&stauts=queued")
    assert r.status_code == 422 and "stauts" in r.text


def test_curves_have_a_stable_variance(client: TestClient) -> None:
    """Seeds that agree have a std of exactly 0; seeds 1e-6 apart keep every digit (the
    sum-of-squares shortcut gave 2e-8 and 0.2 % errors)."""
    exp_id, _ = make_experiment(seeds=())
    close = [0.9 + k * 1e-6 for k in range(4)]
    for seed, value in enumerate(close):
        add_finished_run(exp_id, seed, [0.9, value])
    curve = client.get(f"/api/v1/experiments/{exp_id}/summary").json()["curves"]
    assert curve[0]["val_accuracy"]["std"] == 0.0
    assert curve[1]["val_accuracy"]["std"] == pytest.approx(np.std(close, ddof=1), rel=1e-6)
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"/api/v1/experiments/{exp_id}/summary?format=csv").text)))
    curve_rows = [r for r in rows if r["table"] == "curve" and r["metric"] == "val_accuracy"]
    assert [r["epoch"] for r in curve_rows] == ["1", "2"]
    # three equal values whose average is not theirs (0.1 * 3 / 3 = 0.10000000000000002)
    agree, _ = make_experiment(seeds=())
    for seed in range(3):
        add_finished_run(agree, seed, [0.1, 0.7])
    summary = client.get(f"/api/v1/experiments/{agree}/summary").json()
    assert [(p["val_accuracy"]["mean"], p["val_accuracy"]["std"]) for p in summary["curves"]] \
        == [(0.1, 0.0), (0.7, 0.0)]


def test_boards_filter_by_device(client: TestClient) -> None:
    seed_task()
    from sqlalchemy import select, update

    from core.store.db import session_scope
    from core.store.models import Experiment, Run

    with session_scope() as s:  # dual_line's seeds ran on a GPU, the rest on the CPU
        dual = s.scalar(select(Experiment.id).where(Experiment.activation == "dual_line"))
        s.execute(update(Run).values(device="cpu"))
        s.execute(update(Run).where(Run.experiment_id == dual).values(device="cuda:1"))
    every = client.get("/api/v1/leaderboard?model=mlp&dataset=digits").json()
    cpu = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&device=cpu").json()
    gpu = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&device=cuda").json()
    assert len(every["entries"]) == 3 and cpu["filters"]["device"] == "cpu"
    assert sorted(e["label"] for e in cpu["entries"]) == ["prelu", "relu"]
    assert [e["label"] for e in gpu["entries"]] == ["dual_line"]
    assert gpu["entries"][0]["verdict"] == "no baseline with this recipe"
    one = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&device=cuda:1").json()
    assert [e["label"] for e in one["entries"]] == ["dual_line"]
    assert client.get("/api/v1/leaderboard?device=tpu").status_code == 422


def test_diverged_seeds_are_counted_ranked_worst_and_tested_exactly(
        client: TestClient) -> None:
    ids = seed_task(results={"relu": RELU, "prelu": PRELU})
    # tanh: one seed finished very well, four diverged: not better than ReLU, worse
    tanh, _ = make_experiment(seeds=(), activation={"name": "tanh"})
    add_finished_run(tanh, 0, [0.9, 0.99])
    for seed in range(1, 5):
        add_finished_run(tanh, seed, [0.3], status="diverged")
    # elu: every seed diverged; still on the board, ranked last
    elu, _ = make_experiment(seeds=(), activation={"name": "elu"})
    for seed in range(3):
        add_finished_run(elu, seed, [0.2], status="diverged")
    add_finished_run(ids["prelu"], 9, [0.5], status="failed")  # counted, not ranked
    board = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&test=welch").json()
    rows = {e["label"]: e for e in board["entries"]}
    assert set(rows) == {"relu", "prelu", "tanh", "elu"}
    assert (rows["tanh"]["n"], rows["tanh"]["diverged"], rows["tanh"]["failed"]) == (1, 4, 0)
    assert (rows["elu"]["n"], rows["elu"]["diverged"], rows["elu"]["mean"]) == (0, 3, None)
    assert (rows["prelu"]["n"], rows["prelu"]["diverged"], rows["prelu"]["failed"]) == (5, 0, 1)
    assert rows["elu"]["rank"] == 4.0  # last
    worst = -math.inf
    for label, values in (("tanh", [0.99, *[worst] * 4]), ("elu", [worst] * 3)):
        exact = sp.permutation_test(
            ([v if v > worst else -1.0 for v in values], RELU),
            lambda x, y, axis: sp.mannwhitneyu(x, y, axis=axis, method="asymptotic").statistic,
            permutation_type="independent", n_resamples=np.inf, vectorized=True)
        assert rows[label]["test"] == "mannwhitney_exact"
        assert rows[label]["p_value"] == pytest.approx(float(exact.pvalue), abs=1e-12)
        assert rows[label]["statistic"] == pytest.approx(float(exact.statistic))
    # the verdict follows the ranks (diverged worst), not the one good seed's mean
    assert rows["tanh"]["verdict"] in ("worse", "no significant difference")
    assert rows["elu"]["verdict"] in ("worse", "no significant difference")
    assert rows["prelu"]["test"] == "welch"  # no seed diverged on either side
    csv_text = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&format=csv").text
    header = next(csv.reader(io.StringIO(csv_text)))
    assert {"n", "diverged", "failed", "test"} <= set(header)
    markdown = client.get("/api/v1/leaderboard?model=mlp&dataset=digits&format=markdown").text
    assert markdown.splitlines()[0].endswith("| diverged | failed |")
    cross = client.get("/api/v1/leaderboard").json()["entries"]
    assert cross[-1]["label"] == "elu" and cross[-1]["avg_rank_mean_accuracy"] is None


def test_exact_zero_sparsity_is_null_where_the_activation_never_outputs_zero(
        client: TestClient) -> None:
    import sqlalchemy as sa

    from core.store.db import session_scope
    from core.store.models import EpochMetric

    catalog = {a["name"]: a for a in client.get("/api/v1/catalog/activations").json()}
    assert catalog["relu"]["exact_zeros"] and catalog["squared_relu"]["exact_zeros"]
    assert not catalog["gelu"]["exact_zeros"] and not catalog["silu"]["exact_zeros"]
    seed_task(results={"relu": RELU, "gelu": PRELU})
    with session_scope() as s:  # what the worker records: exact zeros and CETT per epoch
        s.execute(sa.update(EpochMetric).values(val_sparsity=0.0, val_sparsity_cett=0.3))
    rows = {e["label"]: e for e in client.get(
        "/api/v1/leaderboard?model=mlp&dataset=digits").json()["entries"]}
    assert rows["gelu"]["val_sparsity"] is None and rows["gelu"]["val_sparsity_cett"] == 0.3
    assert rows["relu"]["val_sparsity"] == 0.0 and rows["relu"]["val_sparsity_cett"] == 0.3


def test_the_cross_task_board_ranks_sparsity_by_cett_where_there_are_ffn_slots(
        client: TestClient) -> None:
    import sqlalchemy as sa

    from core.store.db import session_scope
    from core.store.models import EpochMetric, Run

    ids = seed_task("mlp", "digits", {"relu": RELU, "gelu": PRELU, "squared_relu": DUAL})
    lm = seed_task("gpt", "chars", {"relu": RELU, "gelu": PRELU, "squared_relu": DUAL})
    # without FFN slots (mlp): exact zeros, GELU's 0 ranking nothing; relu sparser
    zeros = {"relu": 0.5, "gelu": 0.0, "squared_relu": 0.4}
    # with them (gpt): CETT, where GELU has a value and ranks first
    cett = {"relu": 0.3, "gelu": 0.6, "squared_relu": 0.5}
    with session_scope() as s:
        for name, value in zeros.items():
            s.execute(sa.update(EpochMetric).where(EpochMetric.run_id.in_(
                sa.select(Run.id).where(Run.experiment_id == ids[name])))
                .values(val_sparsity=value))
        for name, value in cett.items():
            s.execute(sa.update(EpochMetric).where(EpochMetric.run_id.in_(
                sa.select(Run.id).where(Run.experiment_id == lm[name])))
                .values(val_sparsity=zeros[name], val_sparsity_cett=value))
    by = {e["label"]: e for e in client.get("/api/v1/leaderboard").json()["entries"]}
    # relu: 1st of 2 on mlp, 3rd on gpt; squared_relu 2nd and 2nd; gelu only ranked on gpt
    assert by["relu"]["avg_rank_sparsity"] == pytest.approx(2.0)
    assert by["squared_relu"]["avg_rank_sparsity"] == pytest.approx(2.0)
    assert by["gelu"]["avg_rank_sparsity"] == pytest.approx(1.0)
