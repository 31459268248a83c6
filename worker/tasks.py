"""Thin Celery tasks: take an id, call the plain function, let the database hold the result."""

from __future__ import annotations

import logging
import uuid

from celery import Task

from core.store.queue import SEARCH_TASK, TRAIN_TASK
from worker import handover, warmup
from worker.celery_app import app
from worker.runner import execute_run

log = logging.getLogger("actlab.tasks")


@app.task(name=TRAIN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True,
          ignore_result=True)
def train_run(self: Task, run_id: str) -> str:
    log.info("train_run %s (delivery %s)", run_id, self.request.id)
    # Here, not at the child's start: billiard resets a child's signals after its
    # initializer (worker_process_init), and a child idle until now has nothing to hand over.
    handover.busy.set()
    handover.install_in_child()
    warmup.wait()  # never import torch from two threads at once
    # A notice wakes a worker; it trains whichever queued run should start next (priority).
    try:
        return execute_run(uuid.UUID(run_id), worker=self.request.hostname, by_priority=True)
    finally:
        handover.task_done()


@app.task(name=SEARCH_TASK, bind=True, acks_late=True, reject_on_worker_lost=True,
          ignore_result=True)
def search_step(self: Task, search_id: str) -> str:
    from worker.search.driver import advance

    warmup.wait()
    return advance(uuid.UUID(search_id))
