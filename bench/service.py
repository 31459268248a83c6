"""What the benchmarks that start actlab's processes share."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx


def wait_healthy(url: str, timeout: float, why: Callable[[], str] = lambda: "") -> None:
    """Until GET /health answers 200; AssertionError with `why()` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"service not healthy at {url}\n{why()}"
        time.sleep(0.3)
