"""GET /leaderboard: activations ranked for a task with significance against a baseline,
or, without a task, average ranks and win/tie/loss counts across tasks (the rank tables of
the Dual Line paper: best accuracy, mean accuracy, train loss, validation loss, time)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.analytics import queries
from api.analytics.stats import (
    average_ranks,
    cohens_d,
    describe,
    holm,
    mann_whitney,
    mean,
    paired,
    welch,
)
from core.catalog import entries
from core.models import Experiment

TESTS = ("welch", "mannwhitney", "paired")
STATS = ("final", "best")


def _label(activation: str, spec: dict[str, Any]) -> str:
    """`name` or `name(param=value, ...)` for parameters that differ from the defaults."""
    entry = entries("activations").get(activation)
    params = spec.get("activation", {}).get("params", {})
    defaults = {p["name"]: p["default"] for p in entry["params"]} if entry else {}
    changed = {k: v for k, v in sorted(params.items()) if defaults.get(k) != v}
    if not changed:
        return activation
    return f"{activation}({', '.join(f'{k}={v}' for k, v in changed.items())})"


def _context(spec: dict[str, Any]) -> str:
    """Everything but the activation: entries with equal contexts differ only in activation."""
    rest = {k: v for k, v in spec.items()
            if k not in ("activation", "name", "tags", "priority", "seeds")}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:12]


def _entries(session: Session, rows: list[Any], metric: str, stat: str) -> list[dict[str, Any]]:
    """Group runs by recipe (spec hash): one leaderboard entry per recipe."""
    specs: dict[str, Any] = {}
    if rows:
        specs = dict(session.execute(select(Experiment.spec_hash, Experiment.spec).where(
            Experiment.spec_hash.in_({r.spec_hash for r in rows}))).all())
    groups: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        if getattr(r, f"{stat}_{metric}") is not None:
            groups[r.spec_hash].append(r)
    out = []
    for spec_hash, runs in groups.items():
        values = {r.seed: getattr(r, f"{stat}_{metric}") for r in runs}
        macs = [r.macs for r in runs if r.macs]
        params = [r.num_params for r in runs if r.num_params]
        out.append({
            "label": _label(runs[0].activation, specs.get(spec_hash, {})),
            "activation": runs[0].activation, "spec_hash": spec_hash,
            "context": _context(specs.get(spec_hash, {})),
            "experiment_ids": sorted({str(r.experiment_id) for r in runs}),
            "values": values, "num_params": round(mean(params)) if params else None,
            "macs": round(mean(macs)) if macs else None,
            "train_loss": mean([r.final_train_loss for r in runs]),
            "val_loss": mean([r.final_val_loss for r in runs]),
            "epoch_seconds": mean([r.best_epoch_seconds for r in runs]),
            "best_value": (max if queries.HIGHER_IS_BETTER[metric] else min)(values.values()),
        })
    return out


def _compare(entry: dict[str, Any], base: dict[str, Any], test: str) -> Any:
    a, b = list(entry["values"].values()), list(base["values"].values())
    if test == "welch":
        return welch(a, b)
    if test == "mannwhitney":
        return mann_whitney(a, b)
    common = sorted(set(entry["values"]) & set(base["values"]))
    return paired([entry["values"][s] for s in common], [base["values"][s] for s in common])


def _pick_baseline(items: list[dict[str, Any]], baseline: str) -> dict[str, Any] | None:
    """The baseline recipe trained in the most common context (same model params, data and
    training settings as most entries), then the one with the most seeds."""
    candidates = [e for e in items if e["label"] == baseline] or \
        [e for e in items if e["activation"] == baseline]
    common = Counter(e["context"] for e in items)
    return max(candidates, key=lambda e: (common[e["context"]], len(e["values"])),
               default=None)


def task_board(session: Session, model: str, dataset: str, metric: str, stat: str,
               baseline: str, test: str, alpha: float,
               rows: list[Any] | None = None,
               items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`rows`/`items` let the cross-task board pass what it already fetched."""
    if items is None:
        if rows is None:
            rows = queries.final_rows(session, (Experiment.model == model) &
                                      (Experiment.dataset == dataset))
        items = _entries(session, rows, metric, stat)
    higher = queries.HIGHER_IS_BETTER[metric]
    base = _pick_baseline(items, baseline)
    results = [(_compare(e, base, test) if base is not None and e is not base else None)
               for e in items]
    adjusted = holm([r.p_value if r is not None else None for r in results])
    means = [mean(list(e["values"].values())) for e in items]
    ranks = average_ranks(means, higher) if items else []
    board = []
    for e, res, p_adj, rank in zip(items, results, adjusted, ranks, strict=True):
        values = list(e["values"].values())
        d = describe(values)
        verdict = None
        if e is base:
            verdict = "baseline"
        elif p_adj is not None and base is not None:
            diff = (d.mean or 0) - mean(list(base["values"].values()))
            better = diff > 0 if higher else diff < 0
            verdict = ("better" if better else "worse") if p_adj < alpha else \
                "no significant difference"
        effect = cohens_d(values, list(base["values"].values())) if base is not None \
            and e is not base else None
        board.append({
            "rank": rank, "label": e["label"], "activation": e["activation"],
            "spec_hash": e["spec_hash"], "experiment_ids": e["experiment_ids"],
            "context": e["context"],
            "same_context_as_baseline": base is not None and e["context"] == base["context"],
            **{k: v for k, v in asdict(d).items()},
            "seeds": sorted(e["values"]),
            "p_value": res.p_value if res is not None else None,
            "p_holm": p_adj, "cohens_d": effect, "verdict": verdict,
            "num_params": e["num_params"], "macs": e["macs"],
            "metric_per_mmac": (d.mean / (e["macs"] / 1e6)) if e["macs"] and d.mean else None,
        })
    board.sort(key=lambda item: (item["rank"], item["label"]))
    return {"model": model, "dataset": dataset, "metric": metric, "stat": stat,
            "higher_is_better": higher, "baseline": base["label"] if base else None,
            "baseline_found": base is not None, "test": test, "alpha": alpha,
            "correction": "holm", "entries": board}


RANK_COLUMNS = {  # column -> (entry field or callable, higher is better)
    "accuracy": ("best_value", True),
    "mean_accuracy": ("mean", True),
    "train_loss": ("train_loss", False),
    "val_loss": ("val_loss", False),
    "time": ("epoch_seconds", False),
}


def cross_task_board(session: Session, metric: str, stat: str, baseline: str, test: str,
                     alpha: float) -> dict[str, Any]:
    rows = queries.final_rows(session, Experiment.id.is_not(None))
    by_task: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in rows:
        by_task[(r.model, r.dataset)].append(r)
    ranks: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    record: dict[str, dict[str, int]] = defaultdict(lambda: {"win": 0, "tie": 0, "loss": 0})
    tasks = []
    for (model, dataset), task_rows in sorted(by_task.items()):
        items = _entries(session, task_rows, metric, stat)
        for e in items:
            e["mean"] = mean(list(e["values"].values()))
        for column, (field, higher) in RANK_COLUMNS.items():
            if column in ("accuracy", "mean_accuracy"):
                higher = queries.HIGHER_IS_BETTER[metric]
            column_ranks = average_ranks([e[field] for e in items], higher)
            for e, rank in zip(items, column_ranks, strict=True):
                ranks[e["label"]][column].append(rank)
        board = task_board(session, model, dataset, metric, stat, baseline, test, alpha,
                           items=items)
        for entry in board["entries"]:
            outcome = {"better": "win", "worse": "loss",
                       "no significant difference": "tie"}.get(entry["verdict"] or "")
            if outcome:
                record[entry["label"]][outcome] += 1
        tasks.append({"model": model, "dataset": dataset, "entries": len(items),
                      "baseline_found": board["baseline_found"]})
    table = []
    for label, columns in ranks.items():
        row: dict[str, Any] = {"label": label, "tasks": len(columns["mean_accuracy"])}
        for column in RANK_COLUMNS:
            row[f"avg_rank_{column}"] = mean(columns[column])
        row.update(record.get(label, {"win": 0, "tie": 0, "loss": 0}))
        table.append(row)
    table.sort(key=lambda r: (r["avg_rank_mean_accuracy"], r["label"]))
    return {"metric": metric, "stat": stat, "baseline": baseline, "test": test,
            "alpha": alpha, "tasks": tasks, "entries": table}
