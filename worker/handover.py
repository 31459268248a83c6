"""Graceful hand-over: a worker told to stop abandons its training between two steps, keeps
its last checkpoint in the artifact store (written every ACTLAB_CHECKPOINT_SECONDS at an
epoch's end), and gives its runs back to the queue at once (core/store/lifecycle.py::hand_over:
queued, the attempt not counted, a notice on the broker), so the next worker resumes them
from the checkpoint without waiting for the stale-heartbeat timeout; then it exits.

Every way a worker is stopped ends there:
- SIGTERM or SIGUSR2 to its main process (`kill`, `docker stop`, Kubernetes, SLURM's warning
  `sbatch --signal=B:USR2@120`): Celery's warm shutdown, and the main process passes SIGUSR2
  to its children;
- SIGTERM or SIGINT to the whole process group (systemd's `KillMode=control-group`, SLURM's
  `scancel` and its hard limit, Ctrl-C in a terminal): the children take it themselves;
- SIGTERM or SIGINT to a child alone, and Celery's own SIGTERM to a child whose task it
  cancels when the broker connection is lost: the run goes back to the queue, which is what
  the cancel means there too.
A child that trains hands over and leaves once its task's result is out; an idle child
leaves at once. A child killed outright (SIGKILL) is recovered as before, by the stale
heartbeat."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

log = logging.getLogger("actlab.handover")

requested = threading.Event()
# Set when the worker itself stops (its main process's SIGUSR2): the child leaves once its
# task's result is out. A stop sent to the child alone hands over its run, and the child
# serves on (Celery replaces it only if it ends).
leaving = threading.Event()
# Set while this child runs a task: a stop signal then hands over instead of ending it.
busy = threading.Event()
# What the main process passes to its children (not SIGUSR1, billiard's soft time limit).
SIGNAL = signal.SIGUSR2
# What a child takes as "stop": the main process's word, and a stop sent to it directly.
STOPS = (signal.SIGUSR2, signal.SIGTERM, signal.SIGINT)


def _mark(signum: int, _frame: FrameType | None) -> None:
    if signum == SIGNAL:
        leaving.set()
    if not busy.is_set():  # nothing in training: leave now
        os._exit(0)
    if not requested.is_set():
        log.warning("signal %s: handing the runs in training over", signal.Signals(signum).name)
    requested.set()


def install_in_child() -> None:
    """In a process that trains: each stop signal hands its runs over (or, idle, ends it)."""
    for signum in STOPS:
        signal.signal(signum, _mark)


def task_done() -> None:
    """At the end of a task: leave if the worker stops, else serve the next task."""
    busy.clear()
    if leaving.is_set():
        leave_soon()
    else:
        requested.clear()


# How long a child that has handed over stays, for its task's result to go out.
LEAVE_AFTER = 1.0


def leave_soon(after: float = LEAVE_AFTER) -> None:
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
