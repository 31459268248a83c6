"""What this worker serves: the runs' resources.device it may claim, and its row in the
workers table (core/store/workers.py) while it lives, so that the API can say why a run waits."""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from typing import Any

from core.domain.settings import Settings
from core.store.db import session_scope
from core.store.workers import DEVICES, gone, seen

log = logging.getLogger("actlab.devices")


def own_device(settings: Settings) -> str:
    """cuda or cpu: what ACTLAB_DEVICE picks here (auto: a GPU if there is one)."""
    if settings.device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if settings.device.startswith("cuda") else "cpu"


def served(settings: Settings) -> list[str]:
    """The resources.device values this worker claims: its own device's, any, and those
    ACTLAB_WORKER_SERVES adds (a GPU worker may take CPU-only runs too)."""
    extra = {d.strip() for d in settings.worker_serves.split(",") if d.strip()}
    unknown = extra - set(DEVICES)
    if unknown:
        raise ValueError(f"ACTLAB_WORKER_SERVES: unknown device(s) {sorted(unknown)}; "
                         f"valid: {', '.join(DEVICES)}")
    return sorted({own_device(settings), "any", *extra})


def device_for_run(settings: Settings, spec: dict[str, Any]) -> str:
    """Where a run trains: on the CPU when it asks for one, else on this worker's device."""
    return "cpu" if (spec.get("resources") or {}).get("device") == "cpu" else settings.device


def register_in_background(settings: Settings) -> None:
    """This process's row in the workers table, refreshed while it lives, removed at exit."""
    name, devices = f"{socket.gethostname()}:{os.getpid()}", served(settings)
    every = max(1.0, settings.stale_after_seconds / 4)

    def beat() -> None:
        while True:
            try:
                with session_scope() as session:
                    seen(session, name, devices)
            except Exception:  # the database may be briefly away: the next beat retries
                log.warning("worker %s: could not refresh its row", name, exc_info=True)
            stop.wait(every)
            if stop.is_set():
                return

    def leave() -> None:
        stop.set()
        try:
            with session_scope() as session:
                gone(session, name)
        except Exception:
            log.warning("worker %s: could not remove its row", name, exc_info=True)

    stop = threading.Event()
    threading.Thread(target=beat, name="actlab-worker-row", daemon=True).start()
    atexit.register(leave)
