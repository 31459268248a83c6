"""The Celery application of the workers: `celery -A worker.celery_app worker`."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutting_down

from core.domain.settings import get_settings
from core.store.db import reset_engines
from core.store.queue import make_celery

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


@worker_ready.connect
def _main_init(sender: Any = None, **_: Any) -> None:
    # SLURM's early warning (`sbatch --signal=B:USR2@120`) to the main process starts the
    # same warm shutdown as SIGTERM.
    import os
    import signal

    signal.signal(signal.SIGUSR2, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    from core.store.migrate import SchemaMismatch, check_revision

    try:  # a worker of another version than the database's schema serves nothing
        check_revision()
    except SchemaMismatch as exc:
        logging.getLogger("actlab.worker").critical("refusing to start: %s", exc)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    settings = get_settings()
    if settings.until_empty and sender is not None:
        from worker.until_empty import watch

        watch(sender.hostname, settings)


@worker_shutting_down.connect
def _shutting_down(**_: Any) -> None:
    # A warm shutdown waits for the tasks in flight: tell their children to hand over, so
    # it takes one training step, not the rest of a run (worker/handover.py).
    from worker.handover import pass_to_children

    pass_to_children()
