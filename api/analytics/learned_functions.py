"""A run's learned univariate functions: each channel of each activation slot (a KAN edge, a
bspline channel) on the response grid. At the last epoch, the curves the worker sampled
with torch for every activation; at any other recorded epoch, an edge function (`bspline`,
`pau`) evaluated from that epoch's parameter snapshot (core/statistics/edge_functions.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.schemas import LearnedFunction
from core.statistics import edge_functions
from core.store.models import ActivationParam, ResponseCurve, Run


def last_epoch(session: Session, run: Run, layer: str | None) -> list[LearnedFunction]:
    rows = session.scalars(select(ResponseCurve).where(
        ResponseCurve.run_id == run.id, *([ResponseCurve.layer == layer] if layer else []))
        .order_by(ResponseCurve.block, ResponseCurve.position, ResponseCurve.layer))
    return [LearnedFunction(epoch=run.epochs_done, layer=r.layer, block=r.block, index=i,
                            x=r.xs, y=ys) for r in rows for i, ys in enumerate(r.ys)]


def edge_params(spec: dict[str, Any]) -> dict[str, Any]:
    """The edge function's params as the model built it: a KAN's grid and order are the
    model's (worker/training/kan.py)."""
    params = dict(spec["activation"].get("params") or {})
    if spec["model"]["name"] == "kan":
        model = spec["model"].get("params") or {}
        params |= {"grid": model.get("grid", 5), "order": model.get("order", 3)}
    return params


def at_epochs(session: Session, run: Run, layer: str | None,
              epochs: Sequence[int]) -> list[LearnedFunction]:
    """Each requested epoch's edge functions, from its parameter snapshot (none for slots of
    other activations, nor for an epoch without a snapshot)."""
    spec = run.experiment.spec
    activation, params = spec["activation"]["name"], edge_params(spec)
    snapshots: dict[tuple[int, str], dict[str, list[float]]] = defaultdict(dict)
    blocks: dict[str, int | None] = {}
    for row in session.scalars(select(ActivationParam).where(
            ActivationParam.run_id == run.id, ActivationParam.epoch.in_(list(epochs)),
            *([ActivationParam.layer == layer] if layer else []))
            .order_by(ActivationParam.epoch, ActivationParam.block, ActivationParam.layer)):
        snapshots[(row.epoch, row.layer)][row.name] = row.values
        blocks[row.layer] = row.block
    x = edge_functions.GRID
    xs = [round(float(v), 6) for v in x]
    out = []
    for (epoch, path), snapshot in snapshots.items():
        ys = edge_functions.evaluate(activation, params, snapshot, x)
        if ys is None:
            continue
        out += [LearnedFunction(epoch=epoch, layer=path, block=blocks[path], index=i, x=xs,
                                y=[float(v) for v in channel]) for i, channel in enumerate(ys)]
    return out
