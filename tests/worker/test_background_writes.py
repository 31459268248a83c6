"""BackgroundWrites: the per-epoch writes off the training thread, in order, waited for by
flush; a failed write is raised by every later call and what was queued behind it is
dropped."""

from __future__ import annotations

import threading
import time

import pytest

from worker.background_writes import BackgroundWrites


def test_writes_run_in_order_on_their_own_thread_and_flush_waits_for_them() -> None:
    done: list[tuple[int, str]] = []

    def slow(item: int) -> None:
        time.sleep(0.05)
        done.append((item, threading.current_thread().name))

    with BackgroundWrites(slow) as writes:
        started = time.perf_counter()
        for item in range(4):
            writes.submit(item)
        assert time.perf_counter() - started < 0.05  # the caller did not wait
        writes.flush()
        assert [item for item, _ in done] == [0, 1, 2, 3]
    assert {name for _, name in done} == {"actlab-epoch-writes"}


def test_a_failed_write_is_raised_every_time_after_and_drops_what_follows() -> None:
    done: list[int] = []
    gate = threading.Event()

    def write(item: int) -> None:
        gate.wait(5)
        if item == 1:
            raise RuntimeError("database gone")
        done.append(item)

    with BackgroundWrites(write) as writes:
        for item in range(4):
            writes.submit(item)
        gate.set()
        for _ in range(2):
            with pytest.raises(RuntimeError, match="database gone"):
                writes.flush()
        with pytest.raises(RuntimeError, match="database gone"):
            writes.submit(4)
        assert done == [0]
