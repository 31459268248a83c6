"""A training interrupted after a given epoch, as a worker killed there would be (the group
tests resume from the checkpoint it left)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Crash(Exception):
    pass


def crash_after(epoch: int) -> Callable[[list[Any]], None]:
    """An on_epochs callback that raises Crash once the round of `epoch` is reported."""

    def on_epochs(reports: list[Any]) -> None:
        if reports[0][1].epoch == epoch:
            raise Crash

    return on_epochs
