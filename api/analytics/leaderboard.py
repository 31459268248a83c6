"""GET /leaderboard: activations ranked for a task with significance against a baseline,
or, without a task, average ranks and win/tie/loss counts across tasks (the rank tables of
the Dual Line paper: best accuracy, mean accuracy, train loss, validation loss, time).

Like with like: an entry is one recipe (spec hash: activation, model and dataset params,
training settings, epochs). An entry is tested only against a baseline trained with the same
recipe but for the activation (its *context*); an entry whose context has no baseline is
listed with p = null and is not in the Holm family.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from api.analytics import result_rows
from api.analytics.stats import (
    TestResult,
    average_ranks,
    cohens_d,
    describe,
    holm,
    mann_whitney,
    mean,
    paired,
    welch,
)
from api.analytics.time_to_target import Target, km_median, logrank, times
from api.experiment_rows import has_tag
from core.catalog import entries
from core.metrics import DEFAULT_SELECTION, HIGHER_IS_BETTER
from core.models import Experiment, Run

TESTS = ("welch", "mannwhitney", "paired")
STATS = ("final", "best")
# Spec fields that are not part of the recipe.
NOT_RECIPE = ("name", "tags", "priority", "seeds")

VERDICT_BASELINE = "baseline"
VERDICT_NO_BASELINE = "no baseline with this recipe"
VERDICT_TOO_FEW = "too few seeds to test"
VERDICT_UNDEFINED = "test undefined (no variance in either sample)"
VERDICT_SAME = "no significant difference"


@dataclass(frozen=True)
class Filters:
    """Which experiments a board is built from (all of them by default)."""

    sweep: uuid.UUID | None = None
    tag: str | None = None
    experiments: tuple[uuid.UUID, ...] = ()
    # runs trained on this device: "cpu", "cuda" (any GPU) or "cuda:1"
    device: str | None = None

    def clause(self, session: Session) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.sweep is not None:
            parts.append(Experiment.sweep_id == self.sweep)
        if self.tag is not None:
            parts.append(has_tag(session, self.tag))
        if self.experiments:
            parts.append(Experiment.id.in_(self.experiments))
        if self.device is not None:
            parts.append(or_(Run.device == self.device, Run.device.startswith(f"{self.device}:",
                                                                             autoescape=True)))
        return and_(true(), *parts)

    def to_dict(self) -> dict[str, Any]:
        return {"sweep": str(self.sweep) if self.sweep else None, "tag": self.tag,
                "experiment": [str(e) for e in self.experiments], "device": self.device}


@dataclass(frozen=True)
class Query:
    metric: str
    stat: str = "final"
    select_by: str = DEFAULT_SELECTION
    baseline: str = "relu"
    test: str = "welch"
    alpha: float = 0.05
    filters: Filters = field(default_factory=Filters)
    # Rank by epochs to reach this instead (api/analytics/time_to_target.py).
    target: Target | None = None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out |= _flatten(inner, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): value}


def recipe_of(spec: dict[str, Any], recipe_version: int) -> dict[str, Any]:
    """The recipe as flat `path: value` pairs (activation included)."""
    rest = {k: v for k, v in spec.items() if k not in NOT_RECIPE}
    return {**_flatten(rest), "recipe_version": recipe_version}


def context_of(recipe: dict[str, Any]) -> str:
    """Everything but the activation: entries with equal contexts differ only in activation."""
    rest = {k: v for k, v in recipe.items()
            if k != "activation" and not k.startswith("activation.")}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:12]


def activation_label(activation: str, spec: dict[str, Any]) -> str:
    """`name` or `name(param=value, ...)` for parameters that differ from the defaults, then
    the placement if any: `dual_line [stage3.*=relu, up*.post=identity]`."""
    slots = spec.get("activation", {}).get("slots") or {}
    label = _one_label(activation, spec.get("activation", {}).get("params", {}))
    if not slots:
        return label
    placed = ", ".join(f"{p}={_one_label(a['name'], a.get('params', {}))}"
                       for p, a in slots.items())
    return f"{label} [{placed}]"


def _one_label(activation: str, params: dict[str, Any]) -> str:
    entry = entries("activations").get(activation)
    if activation == "formula":
        # The canonical expression is the name; initial values and per-channel follow.
        inits = ", ".join(f"{k}={v}" for k, v in sorted(params.get("parameters", {}).items()))
        scalar = "" if params.get("per_channel", True) else ", scalar"
        return f"formula({params.get('expression', 'x')}{'; ' + inits if inits else ''}{scalar})"
    defaults = {p["name"]: p["default"] for p in entry["params"]} if entry else {}
    changed = {k: v for k, v in sorted(params.items()) if defaults.get(k) != v}
    if not changed:
        return activation
    return f"{activation}({', '.join(f'{k}={v}' for k, v in changed.items())})"


def _fmt(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str | list | dict) or value is None \
        else f"{value}"


def _describe_differences(items: list[dict[str, Any]]) -> list[str]:
    """Set each item's `recipe_diff` to the recipe keys (other than the activation, which the
    label shows) whose values are not the same for every item; returns those keys."""
    keys = sorted({k for e in items for k in e["recipe"]})
    varying = [k for k in keys
               if k != "activation" and not k.startswith("activation.")
               and len({_fmt(e["recipe"].get(k)) for e in items}) > 1]
    for e in items:
        e["recipe_diff"] = {k: e["recipe"].get(k) for k in varying}
        e["recipe_text"] = ", ".join(f"{k}={_fmt(v)}" for k, v in e["recipe_diff"].items())
    return varying


def _entries(session: Session, rows: list[Any], q: Query) -> list[dict[str, Any]]:
    """Group runs by recipe (spec hash): one leaderboard entry per recipe."""
    specs: dict[str, Any] = {}
    if rows:
        specs = {h: s for h, s in session.execute(
            select(Experiment.spec_hash, Experiment.spec).where(
                Experiment.spec_hash.in_({r.spec_hash for r in rows}))).all()}
    groups: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        if getattr(r, f"{q.stat}_{q.metric}") is not None:
            groups[r.spec_hash].append(r)
    out = []
    for spec_hash, runs in groups.items():
        spec = specs.get(spec_hash, {})
        values = {r.seed: getattr(r, f"{q.stat}_{q.metric}") for r in runs}
        recipe = recipe_of(spec, runs[0].recipe_version)
        macs = [r.macs for r in runs if r.macs]
        act_macs = [r.activation_macs for r in runs if r.activation_macs is not None]
        params = [r.num_params for r in runs if r.num_params]
        best_epochs = [r.best_epoch for r in runs if r.best_epoch is not None]
        out.append({
            "label": activation_label(runs[0].activation, spec),
            "activation": runs[0].activation, "spec_hash": spec_hash,
            "recipe": recipe, "context": context_of(recipe),
            "experiment_ids": sorted({str(r.experiment_id) for r in runs}),
            "values": values, "run_ids": {r.seed: r.run_id for r in runs},
            "num_params": round(mean(params)) if params else None,
            "macs": round(mean(macs)) if macs else None,
            "activation_macs": round(mean(act_macs)) if act_macs else None,
            "best_epoch_mean": mean(best_epochs) if best_epochs else None,
            "train_loss": _mean_or_none([r.final_train_loss for r in runs]),
            "val_loss": _mean_or_none([r.final_val_loss for r in runs]),
            "epoch_seconds": _mean_or_none([r.best_epoch_seconds for r in runs]),
            "best_value": (max if HIGHER_IS_BETTER[q.metric] else min)(values.values()),
            **_provenance(runs),
        })
    out.sort(key=lambda e: (e["label"], e["spec_hash"]))
    return out


PROVENANCE_COLUMNS = ("devices", "precision", "modes", "kernels", "versions")


def _provenance(runs: list[Any]) -> dict[str, str | None]:
    """What produced the entry's numbers (each distinct value once), for the exports."""
    origins = [r.provenance or {} for r in runs]

    def distinct(*keys: str) -> str | None:
        named = len(keys) > 1  # several fields: each value after its name
        seen = sorted({" ".join(f"{k} {o[k]}" if named else str(o[k]) for k in keys)
                       for o in origins if all(o.get(k) for k in keys)})
        return ", ".join(seen) or None

    return {"devices": distinct("device_name"), "precision": distinct("precision"),
            "modes": distinct("mode"), "kernels": distinct("kernels"),
            "versions": distinct("actlab", "torch")}


TARGET_COLUMNS = ("target_runs", "target_reached", "median_epochs", "median_epochs_low",
                  "median_epochs_high", "median_seconds", "median_seconds_low",
                  "median_seconds_high", "target_epochs")


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _time_to(session: Session, items: list[dict[str, Any]], target: Target) -> None:
    """Each entry's runs' epochs and seconds to `target` (censored when never reached) and
    the Kaplan-Meier medians."""
    found = times(session, [r for e in items for r in e["run_ids"].values()], target)
    for e in items:
        mine = {seed: found[r] for seed, r in e["run_ids"].items() if r in found}
        reached = [t.reached for t in mine.values()]
        epochs = km_median([float(t.epochs) for t in mine.values()], reached)
        seconds = km_median([t.seconds for t in mine.values()], reached)
        e["times"] = ([float(t.epochs) for t in mine.values()], reached)
        e |= {"target_runs": len(mine), "target_reached": sum(reached),
              "median_epochs": epochs.value, "median_epochs_low": epochs.low,
              "median_epochs_high": epochs.high, "median_seconds": seconds.value,
              "median_seconds_low": seconds.low, "median_seconds_high": seconds.high,
              "target_epochs": {seed: t.epochs if t.reached else None
                                for seed, t in sorted(mine.items())}}


def _compare_times(entry: dict[str, Any], base: dict[str, Any], test: str) -> TestResult | None:
    """The log-rank test of the epochs to target (`test` applies to metric values only)."""
    result = logrank(entry["times"], base["times"])
    return TestResult(*result) if result is not None else None


def _mean_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return mean(present) if present else None


def _compare(entry: dict[str, Any], base: dict[str, Any], test: str) -> TestResult | None:
    a, b = list(entry["values"].values()), list(base["values"].values())
    if test == "welch":
        return welch(a, b)
    if test == "mannwhitney":
        return mann_whitney(a, b)
    common = sorted(set(entry["values"]) & set(base["values"]))
    return paired([entry["values"][s] for s in common], [base["values"][s] for s in common])


def _baselines(items: list[dict[str, Any]], baseline: str) -> dict[str, dict[str, Any]]:
    """context -> the baseline entry trained in it: the baseline activation at its default
    parameters if there is one, else with the most seeds."""
    canonical = entries("activations").get(baseline, {}).get("name", baseline)
    out: dict[str, dict[str, Any]] = {}
    for e in items:
        if e["activation"] != canonical:
            continue
        current = out.get(e["context"])
        key = (e["label"] == canonical, len(e["values"]))
        if current is None or key > (current["label"] == canonical, len(current["values"])):
            out[e["context"]] = e
    return out


def task_board(session: Session, model: str, dataset: str, q: Query,
               items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`items` lets the cross-task board pass what it already fetched."""
    if items is None:
        rows = result_rows.final_rows(session, and_(Experiment.model == model,
                                                Experiment.dataset == dataset,
                                                q.filters.clause(session)), q.select_by)
        items = _entries(session, rows, q)
    varying = _describe_differences(items)
    higher = HIGHER_IS_BETTER[q.metric]
    bases = _baselines(items, q.baseline)
    if q.target is not None:
        _time_to(session, items, q.target)
    results: list[TestResult | None] = []
    for e in items:
        base = bases.get(e["context"])
        results.append((_compare_times if q.target is not None else _compare)(e, base, q.test)
                       if base is not None and e is not base else None)
    adjusted = holm([r.p_value if r is not None else None for r in results])
    if q.target is not None:  # sooner is better; never reached ranks last
        ranks = average_ranks([_or_inf(e["median_epochs"]) for e in items], False)
    else:
        ranks = average_ranks([mean(list(e["values"].values())) for e in items], higher)
    board = []
    for e, res, p_adj, rank in zip(items, results, adjusted, ranks, strict=True):
        base = bases.get(e["context"])
        values = list(e["values"].values())
        d = describe(values)
        if e is base:
            verdict = VERDICT_BASELINE
        elif base is None:
            verdict = VERDICT_NO_BASELINE
        elif res is None:
            verdict = VERDICT_TOO_FEW
        elif p_adj is None:
            verdict = VERDICT_UNDEFINED
        else:
            if q.target is not None:
                sooner = (_or_inf(e["median_epochs"]), -e["target_reached"] / e["target_runs"]) \
                    < (_or_inf(base["median_epochs"]),
                       -base["target_reached"] / base["target_runs"])
                verdict = ("sooner" if sooner else "later") if p_adj < q.alpha \
                    else VERDICT_SAME
            else:
                diff = (d.mean or 0) - mean(list(base["values"].values()))
                better = diff > 0 if higher else diff < 0
                verdict = ("better" if better else "worse") if p_adj < q.alpha \
                    else VERDICT_SAME
        compared = base is not None and e is not base
        board.append({
            "rank": rank, "label": e["label"], "activation": e["activation"],
            "recipe": e["recipe_text"], "recipe_diff": e["recipe_diff"],
            "spec_hash": e["spec_hash"], "experiment_ids": e["experiment_ids"],
            "context": e["context"],
            "baseline_spec_hash": base["spec_hash"] if base is not None else None,
            **asdict(d),
            "seeds": sorted(e["values"]),
            "statistic": res.statistic if res is not None else None,
            "p_value": res.p_value if res is not None else None,
            "p_holm": p_adj,
            "cohens_d": cohens_d(values, list(base["values"].values())) if compared
            and base is not None else None,
            "verdict": verdict,
            "best_epoch_mean": e["best_epoch_mean"],
            "num_params": e["num_params"], "macs": e["macs"],
            "activation_macs": e["activation_macs"],
            "metric_per_mmac": (d.mean / (e["macs"] / 1e6)) if e["macs"] and d.mean else None,
            **{k: e[k] for k in PROVENANCE_COLUMNS},
            **({k: e[k] for k in TARGET_COLUMNS} if q.target is not None else {}),
        })
    board.sort(key=lambda item: (item["rank"], item["label"], item["recipe"]))
    return {"model": model, "dataset": dataset, "metric": q.metric, "stat": q.stat,
            "select": q.select_by, "higher_is_better": higher, "baseline": q.baseline,
            "baseline_found": bool(bases),
            "baselines": [{"label": b["label"], "spec_hash": b["spec_hash"],
                           "context": ctx, "recipe": b["recipe_text"]}
                          for ctx, b in sorted(bases.items())],
            "differs_by": varying, "test": "logrank" if q.target is not None else q.test,
            "target": str(q.target) if q.target is not None else None,
            "alpha": q.alpha, "correction": "holm",
            "family_size": sum(p is not None for p in adjusted),
            "filters": q.filters.to_dict(), "entries": board}


RANK_COLUMNS = {  # column -> (entry field, higher is better; None: the metric's own)
    "accuracy": ("best_value", None),
    "mean_accuracy": ("mean", None),
    "train_loss": ("train_loss", False),
    "val_loss": ("val_loss", False),
    "time": ("epoch_seconds", False),
}


def cross_task_board(session: Session, q: Query) -> dict[str, Any]:
    """Average ranks across comparison groups: within a task, only entries of one context
    (the same recipe but for the activation) are ranked against each other; a group of one
    ranks nothing. `tasks` counts the distinct (model, dataset) pairs an activation was
    ranked on."""
    rows = result_rows.final_rows(session, q.filters.clause(session), q.select_by)
    by_task: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in rows:
        by_task[(r.model, r.dataset)].append(r)
    ranks: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    tasks_of: dict[str, set[tuple[str, str]]] = defaultdict(set)
    record: dict[str, dict[str, int]] = defaultdict(lambda: {"win": 0, "tie": 0, "loss": 0})
    tasks = []
    for (model, dataset), task_rows in sorted(by_task.items()):
        items = _entries(session, task_rows, q)
        for e in items:
            e["mean"] = mean(list(e["values"].values()))
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in items:
            groups[e["context"]].append(e)
        ranked_groups = 0
        for group in groups.values():
            if len(group) < 2:
                continue
            ranked_groups += 1
            for column, (fld, higher) in RANK_COLUMNS.items():
                present = [e for e in group if e[fld] is not None]
                column_ranks = average_ranks(
                    [e[fld] for e in present],
                    HIGHER_IS_BETTER[q.metric] if higher is None else higher)
                for e, rank in zip(present, column_ranks, strict=True):
                    ranks[e["label"]][column].append(rank)
            for e in group:
                tasks_of[e["label"]].add((model, dataset))
        board = task_board(session, model, dataset, q, items=items)
        for entry in board["entries"]:
            outcome = {"better": "win", "worse": "loss", VERDICT_SAME: "tie"}.get(
                entry["verdict"] or "")
            if outcome:
                record[entry["label"]][outcome] += 1
        tasks.append({"model": model, "dataset": dataset, "entries": len(items),
                      "comparison_groups": ranked_groups,
                      "baseline_found": board["baseline_found"]})
    table = []
    for label, columns in ranks.items():
        row: dict[str, Any] = {"label": label, "tasks": len(tasks_of[label]),
                               "groups": len(columns["mean_accuracy"])}
        for column in RANK_COLUMNS:
            row[f"avg_rank_{column}"] = mean(columns[column]) if columns[column] else None
        row.update(record.get(label, {"win": 0, "tie": 0, "loss": 0}))
        table.append(row)
    table.sort(key=lambda r: (r["avg_rank_mean_accuracy"], r["label"]))
    return {"metric": q.metric, "stat": q.stat, "select": q.select_by,
            "baseline": q.baseline, "test": q.test, "alpha": q.alpha,
            "filters": q.filters.to_dict(), "tasks": tasks, "entries": table}
