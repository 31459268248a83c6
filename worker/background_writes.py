"""Per-epoch writes on a thread of their own, so training does not wait for the database.

The training thread hands each round of epoch reports over and goes on with the next epoch;
this thread writes them in the order given, one transaction per round (retried by the
writer function as before). `flush` waits until everything handed over is written. The
runner flushes before a checkpoint, which must never be ahead of the epochs the database
holds (a resumed run writes from the checkpoint's next epoch on), and before a run's final
write, which must come after its epochs. A write that failed for good is raised by every
later `submit` and `flush`, and what was queued behind it is dropped: every run of the group
then ends as failed, none as succeeded with epochs missing."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BackgroundWrites(Generic[T]):
    def __init__(self, write: Callable[[T], None]) -> None:
        self._write = write
        self._queue: queue.Queue[tuple[T] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="actlab-epoch-writes",
                                        daemon=True)

    def __enter__(self) -> BackgroundWrites[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    self._write(item[0])
            except BaseException as exc:  # handed to the training thread
                self._error = exc
            finally:
                self._queue.task_done()

    def submit(self, item: T) -> None:
        self._raise()
        self._queue.put((item,))

    def flush(self) -> None:
        self._queue.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
