"""Graceful hand-over: a worker told to stop (SIGTERM, as SLURM sends at a time limit)
abandons its training between two steps, keeps its last checkpoint in the artifact store
(written every ACTLAB_CHECKPOINT_SECONDS at an epoch's end), and gives its runs back to
the queue at once (core/lifecycle.py::hand_over: queued, the attempt not counted), so the
next worker resumes them from the checkpoint without waiting for the stale-heartbeat
timeout; then it exits.

SIGUSR2 does the same (SLURM: `sbatch --signal=USR2@120`, a warning two minutes before the
limit). In a Celery worker the signal may reach the main process only (`kill`, systemd,
docker stop) or every process (SLURM): the main process starts a warm shutdown and passes
SIGUSR2 to its children, whose handler sets `requested`, which the training reads between
steps (worker/group_run.py)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

log = logging.getLogger("actlab.handover")

requested = threading.Event()
# SIGUSR2, not SIGUSR1: billiard's pool children take SIGUSR1 as their soft time limit.
SIGNALS = (signal.SIGTERM, signal.SIGUSR2)


def _mark(signum: int, _frame: FrameType | None) -> None:
    if requested.is_set() and signum == signal.SIGTERM:
        # a second SIGTERM (a cold shutdown terminating the pool): terminate, as by default
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    if not requested.is_set():
        log.warning("signal %s: handing the runs in training over", signal.Signals(signum).name)
    requested.set()


def install_in_child() -> None:
    """In a process that trains: the hand-over signals set `requested`."""
    for signum in SIGNALS:
        signal.signal(signum, _mark)


def children() -> list[int]:
    """This process's child processes (Linux: /proc)."""
    pids: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def pass_to_children() -> None:
    """In the main process: tell the children that train to hand over."""
    for pid in children():
        try:
            os.kill(pid, signal.SIGUSR2)
        except ProcessLookupError:
            pass
