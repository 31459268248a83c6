"""Warm a worker child before its first run, so a new child starts a run as fast as one that
has trained before: the training code and torch imported, the fused kernels built or loaded,
and a few tiny training steps taken (a process's first optimizer imports torch._dynamo,
about 1.2 s here, and its first convolution and autograd pass pay one-time costs too). Off
with ACTLAB_WARM_WORKERS=false.

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
    import worker.training  # noqa: F401  (the trainer, models, datasets, activations)
    from activations import native

    native.library()
    _first_steps()
    seconds = time.perf_counter() - start
    log.info("worker child warmed up in %.2f s", seconds)
    return seconds


def _first_steps() -> None:
    """A few steps of a small convolutional model on random data: the first of each kind
    of operation in a process is slower (allocator, kernel selection, lazy imports), and a
    run should not pay it."""
    import torch
    import torch.nn.functional as F

    from worker.training.models import ActFactory, build_model

    state = torch.get_rng_state()  # leave the process's generator as it was
    try:
        model = build_model("mnist1d_cnn", {}, (1, 40), 10, ActFactory("relu"))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.randn(32, 1, 40), torch.randint(0, 10, (32,))
        for _ in range(3):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            model.eval()(x)
        model.train()
        # A group's seeds train as one vmapped model, whose first step in a process costs
        # many times the next ones (bench/BENCHMARKS.md, "A new worker child's first run").
        from torch.func import functional_call, stack_module_state, vmap

        params, buffers = stack_module_state([model, model])
        logits = vmap(lambda p, b, xb: functional_call(model, (p, b), (xb,)))(
            params, buffers, x.expand(2, *x.shape))
        F.cross_entropy(logits.flatten(0, 1), y.repeat(2)).backward()
    finally:
        torch.set_rng_state(state)


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
