"""Graceful hand-over: a worker told to stop (SIGTERM or SIGUSR2 to its main process: `kill`,
systemd, `docker stop`, SLURM's warning `sbatch --signal=B:USR2@120`) abandons its training
between two steps, keeps its last checkpoint in the artifact store (written every
ACTLAB_CHECKPOINT_SECONDS at an epoch's end), and gives its runs back to the queue at once
(core/store/lifecycle.py::hand_over: queued, the attempt not counted), so the next worker resumes
them from the checkpoint without waiting for the stale-heartbeat timeout; then it exits.

The main process starts Celery's warm shutdown and passes SIGUSR2 to its children, whose
handler sets `requested`, which the training reads between steps (worker/group_run.py). A
child killed outright (SLURM's SIGTERM to every process at the hard limit) is recovered as
before, by the stale heartbeat."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

log = logging.getLogger("actlab.handover")

requested = threading.Event()
# What a child that trains takes as "hand over": SIGUSR2 only. Not SIGUSR1, billiard's soft
# time limit; not SIGTERM, which Celery itself sends a child to cancel its task (when the
# broker connection is lost, with acks_late) and which must keep ending it.
SIGNAL = signal.SIGUSR2


def _mark(signum: int, _frame: FrameType | None) -> None:
    if not requested.is_set():
        log.warning("signal %s: handing the runs in training over", signal.Signals(signum).name)
    requested.set()


def install_in_child() -> None:
    """In a process that trains: SIGUSR2 sets `requested`."""
    signal.signal(SIGNAL, _mark)


def leave_soon(after: float = 1.0) -> None:
    """A child that has handed over ends itself once its task's result is out: its worker is
    stopping, or (a signal to the child alone) the pool starts a fresh child in its place."""
    threading.Timer(after, os._exit, args=(0,)).start()


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
            os.kill(pid, SIGNAL)
        except ProcessLookupError:
            pass
