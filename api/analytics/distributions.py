"""Learned parameters as distributions per block/position/parameter (the seed paper's
per-block box plots) and learned response curves with their envelope (response region)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from api.analytics import result_rows

_QUARTILES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])


def _box(values: list[float]) -> dict[str, Any]:
    """Min, quartiles (linear interpolation, as numpy's default), max and mean: one sort."""
    array = np.sort(np.asarray(values, dtype=np.float64))
    pos = (array.size - 1) * _QUARTILES
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, array.size - 1)
    low, q1, med, q3, high = (array[lo] + (array[hi] - array[lo]) * (pos - lo)).tolist()
    return {"n": int(array.size), "min": low, "q1": q1, "median": med, "q3": q3, "max": high,
            "mean": float(array.mean())}


def _sql_box(row: Any) -> dict[str, Any]:
    q1, med, q3 = row.quartiles
    return {"block": row.block, "position": row.position, "name": row.name, "layer": row.layer,
            "n": row.n, "min": row.min, "q1": q1, "median": med, "q3": q3, "max": row.max,
            "mean": row.mean}


def _key(item: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(-1 if item[k] is None else item[k]
                 for k in ("block", "position", "name", "layer", "epoch") if k in item)


def parameter_distributions(session: Session, experiment_id: uuid.UUID,
                            per_epoch: bool = True) -> dict[str, Any]:
    if session.get_bind().dialect.name == "postgresql":
        final = [_sql_box(r)
                 for r in result_rows.parameter_stats_sql(session, experiment_id, False)]
        epochs = [{**_sql_box(r), "epoch": r.epoch}
                  for r in result_rows.parameter_stats_sql(session, experiment_id, True)] \
            if per_epoch else []
        return {"experiment_id": experiment_id,
                "runs": result_rows.runs_with_parameters(session, experiment_id),
                "final": sorted(final, key=_key), "per_epoch": sorted(epochs, key=_key)}
    return _distributions_in_python(session, experiment_id, per_epoch)


def _distributions_in_python(session: Session, experiment_id: uuid.UUID,
                             per_epoch: bool) -> dict[str, Any]:
    final: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    epochs: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    runs = set()
    for r in result_rows.parameter_rows(session, experiment_id, last_only=not per_epoch):
        key = (r.block, r.position, r.name, r.layer)
        runs.add(r.run_id)
        if r.epoch == r.last_epoch:
            final[key].extend(r.values)
        if per_epoch:
            epochs[(*key, r.epoch)].extend(r.values)

    def order(key: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(-1 if k is None else k for k in key)

    return {
        "experiment_id": experiment_id,
        "runs": len(runs),
        "final": [{"block": k[0], "position": k[1], "name": k[2], "layer": k[3], **_box(v)}
                  for k, v in sorted(final.items(), key=lambda kv: order(kv[0]))],
        "per_epoch": [{"block": k[0], "position": k[1], "name": k[2], "layer": k[3],
                       "epoch": k[4], **_box(v)}
                      for k, v in sorted(epochs.items(), key=lambda kv: order(kv[0]))],
    }


def response_region(session: Session, experiment_id: uuid.UUID) -> dict[str, Any]:
    rows = result_rows.response_rows(session, experiment_id)
    layers: dict[tuple[Any, ...], list[list[float]]] = defaultdict(list)
    xs: list[float] = []
    for r in rows:
        xs = r.xs
        layers[(r.block, r.position, r.layer)].extend(r.ys)  # every channel of every seed
    out = []
    low: list[float] = []
    high: list[float] = []
    for (block, position, layer), curves in layers.items():
        columns = list(zip(*curves, strict=True))
        mins = [min(c) for c in columns]
        maxs = [max(c) for c in columns]
        out.append({"layer": layer, "block": block, "position": position,
                    "curves": len(curves), "mean": [sum(c) / len(c) for c in columns],
                    "min": mins, "max": maxs})
        low = mins if not low else [min(a, b) for a, b in zip(low, mins, strict=True)]
        high = maxs if not high else [max(a, b) for a, b in zip(high, maxs, strict=True)]
    return {"experiment_id": experiment_id, "xs": xs, "layers": out,
            "envelope": {"min": low, "max": high}}
