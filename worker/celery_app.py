"""The Celery application of the workers: `celery -A worker.celery_app worker`."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_init

from core.db import reset_engines
from core.queue import make_celery
from core.settings import get_settings

app = make_celery()
app.conf.imports = ("worker.tasks",)


@worker_process_init.connect
def _child_init(**_: Any) -> None:
    # Trap "CUDA in the parent": nothing above touches CUDA; the child picks its device per run.
    # A forked child must not reuse the parent's pooled database connections.
    reset_engines()
    settings = get_settings()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    from worker.devices import register_in_background

    register_in_background(settings)
    if settings.warm_workers:
        from worker.warmup import warm_up_in_background

        warm_up_in_background()
