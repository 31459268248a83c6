"""Learned parameters as distributions per block/position/parameter (the seed paper's
per-block box plots) and learned response curves with their envelope (response region)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from api.analytics import queries
from api.analytics.stats import quantile


def _box(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "min": min(values), "q1": quantile(values, 0.25),
            "median": quantile(values, 0.5), "q3": quantile(values, 0.75), "max": max(values),
            "mean": sum(values) / len(values)}


def parameter_distributions(session: Session, experiment_id: uuid.UUID,
                            per_epoch: bool = True) -> dict[str, Any]:
    rows = queries.parameter_rows(session, experiment_id)
    last_epoch: dict[uuid.UUID, int] = {}
    for r in rows:
        last_epoch[r.run_id] = max(last_epoch.get(r.run_id, 0), r.epoch)
    final: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    epochs: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for r in rows:
        key = (r.block, r.position, r.name, r.layer)
        if r.epoch == last_epoch[r.run_id]:
            final[key].extend(r.values)
        if per_epoch:
            epochs[(*key, r.epoch)].extend(r.values)

    def order(key: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(-1 if k is None else k for k in key)

    return {
        "experiment_id": experiment_id,
        "runs": len(last_epoch),
        "final": [{"block": k[0], "position": k[1], "name": k[2], "layer": k[3], **_box(v)}
                  for k, v in sorted(final.items(), key=lambda kv: order(kv[0]))],
        "per_epoch": [{"block": k[0], "position": k[1], "name": k[2], "layer": k[3],
                       "epoch": k[4], **_box(v)}
                      for k, v in sorted(epochs.items(), key=lambda kv: order(kv[0]))],
    }


def response_region(session: Session, experiment_id: uuid.UUID) -> dict[str, Any]:
    rows = queries.response_rows(session, experiment_id)
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
