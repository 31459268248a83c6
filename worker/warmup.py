"""Warm a worker child before its first run, so a new child starts a run as fast as one that
has trained before: the training code and torch imported, torch._dynamo too (the
determinism switch's first call imports it, about 2 s on this project's machine), the fused
kernels built or loaded. Off with ACTLAB_WARM_WORKERS=false.

It runs on a thread of its own: Celery kills a child that takes more than
worker_proc_alive_timeout (4 s) to start. A run that arrives meanwhile waits for it to end
(`wait`) rather than importing the same packages from a second thread, which torch's
circular imports do not survive."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("actlab.worker")


def warm_up() -> float:
    """Seconds spent; call it in a forked child, never in the Celery parent (no CUDA there)."""
    start = time.perf_counter()
    import torch._dynamo  # noqa: F401

    import worker.training  # noqa: F401  (the trainer, models, datasets, activations)
    from activations import native

    native.library()
    seconds = time.perf_counter() - start
    log.info("worker child warmed up in %.2f s", seconds)
    return seconds


_THREAD: threading.Thread | None = None


def warm_up_in_background() -> None:
    global _THREAD
    _THREAD = threading.Thread(target=_warm_up_quietly, name="actlab-warm-up", daemon=True)
    _THREAD.start()


def _warm_up_quietly() -> None:
    try:
        warm_up()
    except Exception:  # the run imports what it needs itself, and reports what fails
        log.warning("worker child warm-up failed", exc_info=True)


def wait() -> None:
    """Block until the warm-up (if any) has finished."""
    if _THREAD is not None:
        _THREAD.join()
