"""An experiment's progress as server-sent events: each run's state and epoch as they change,
the experiment's status, and `end` once every run has finished.

The stream reads the database every `POLL_SECONDS` seconds in a short transaction of its own, on the
thread pool, so an open stream holds no connection between reads and no admission slot
(api/middleware.py, Admission). A client learns of the end within one read, not a poll interval
of its own later.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import and_, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from core.domain.status import count_statuses, experiment_status
from core.store.db import session_scope
from core.store.models import EpochMetric, Experiment, Run, metric_column


class EventStream(StreamingResponse):
    """text/event-stream, so the OpenAPI document names that type (and no JSON body)."""

    media_type = "text/event-stream"


POLL_SECONDS = 0.25  # between reads of the database
KEEP_ALIVE = 15.0  # a comment line this often, so proxies keep an idle stream open


def experiment_exists(experiment_id: uuid.UUID) -> bool:
    with session_scope() as session:
        return session.get(Experiment, experiment_id) is not None


def _snapshot(experiment_id: uuid.UUID) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every run's state, with the latest epoch's losses, and the experiment's status."""
    with session_scope() as session:
        rows = session.execute(
            select(Run, *(metric_column(m) for m in ("train_loss", "val_loss", "val_accuracy")))
            .outerjoin(EpochMetric, and_(EpochMetric.run_id == Run.id,
                                         EpochMetric.epoch == Run.epochs_done))
            .where(Run.experiment_id == experiment_id).order_by(Run.seed)).all()
        runs = [{"id": str(run.id), "seed": run.seed, "status": run.status.value,
                 "attempt": run.attempt, "epoch": run.epochs_done, "epochs": run.epochs_total,
                 "train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_acc,
                 "error": run.error} for run, train_loss, val_loss, val_acc in rows]
        counts = count_statuses(run.status for run, *_ in rows)
        status = experiment_status(counts)
    return runs, {"id": str(experiment_id), "status": status.value,
                  "counts": counts,
                  "finished": bool(rows) and all(r[0].status.finished for r in rows)}


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def experiment_events(experiment_id: uuid.UUID) -> AsyncIterator[str]:
    sent: dict[str, dict[str, Any]] = {}
    last_status = None
    quiet_since = asyncio.get_running_loop().time()
    while True:
        runs, experiment = await run_in_threadpool(_snapshot, experiment_id)
        now = asyncio.get_running_loop().time()
        for run in runs:
            if sent.get(run["id"]) != run:
                sent[run["id"]] = run
                quiet_since = now
                yield _event("run", run)
        if experiment["status"] != last_status:
            last_status = experiment["status"]
            quiet_since = now
            yield _event("experiment", experiment)
        if experiment["finished"]:
            yield _event("end", experiment)
            return
        if now - quiet_since > KEEP_ALIVE:
            quiet_since = now
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_SECONDS)
