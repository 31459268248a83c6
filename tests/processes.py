"""Start actlab's real service processes for integration tests, and check they all stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ACTLAB = [sys.executable, "-m", "cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.add(child)
            stack.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@dataclass
class Service:
    url: str
    log: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def wait_healthy(url: str, procs: list[subprocess.Popen[bytes]], log: Path,
                 timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"service exited with {p.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"service not healthy after {timeout} s:\n{log.read_text()}")


def service_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTLAB_")}
    env.update({"ACTLAB_HEARTBEAT_SECONDS": "1", "ACTLAB_SWEEPER_INTERVAL_SECONDS": "2",
                "ACTLAB_TORCH_THREADS": "1", "PYTHONUNBUFFERED": "1",
                # Checkpoint every epoch, so recovery tests know where a run resumes.
                "ACTLAB_CHECKPOINT_SECONDS": "0"})
    env.update(extra)
    return env


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[Service]:
    """`actlab serve` (the embedded default); stopped with SIGINT like Ctrl-C."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([*ACTLAB, "serve", "--port", str(port)], env=service_env(env),
                                stdout=out, stderr=subprocess.STDOUT)
    service = Service(f"http://127.0.0.1:{port}", log, [proc])
    try:
        wait_healthy(service.url, [proc], log)
        yield service
    finally:
        stop_and_check(proc, signal.SIGINT)


@contextmanager
def api_and_worker(env: dict[str, str], log: Path) -> Iterator[Service]:
    """`actlab api` and `actlab worker` as separate processes (the production layout)."""
    port = free_port()
    with log.open("wb") as out:
        api = subprocess.Popen([*ACTLAB, "api", "--port", str(port)], env=service_env(env),
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        worker = subprocess.Popen([*ACTLAB, "worker"], env=service_env(env), stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    service = Service(f"http://127.0.0.1:{port}", log, [api, worker])
    try:
        wait_healthy(service.url, service.procs, log)
        yield service
    finally:
        for proc, signum in ((api, signal.SIGTERM), (worker, signal.SIGQUIT)):
            stop_and_check(proc, signum, group=True)


@contextmanager
def running_service(backend_name: str, tmp: Path,
                    env: dict[str, str] | None = None) -> Iterator[tuple[Service, Any]]:
    """The service on one backend, as a module's integration tests share it: the backend's
    database (migrated: `actlab serve` migrates by itself, production runs `actlab
    migrate`) and broker, this test process pointed at the same ones, and `actlab serve`
    (embedded) or `actlab api` + `actlab worker` (production) with `env` added. Yields the
    service and the backend."""
    import pytest

    from core.store.migrate import upgrade_head
    from tests.backends import make_backend
    from tests.conftest import _activate, _reset_caches

    with make_backend(backend_name, tmp / "data") as backend, \
            pytest.MonkeyPatch.context() as mp:
        _activate(backend, mp)
        upgrade_head()
        start = serve if backend.name == "embedded" else api_and_worker
        with start({**backend.env(), **(env or {})}, tmp / "service.log") as svc:
            yield svc, backend
        _reset_caches()


def stop_and_check(proc: subprocess.Popen[bytes], signum: int, group: bool = False,
                   timeout: float = 30) -> set[int]:
    """Signal `proc` and return the processes that survived it (should be none)."""
    below = descendants(proc.pid)
    if proc.poll() is None:
        (os.killpg if group else os.kill)(proc.pid, signum)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    left = {p for p in below if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p for p in left if alive(p)}
    for pid in left:  # never leave strays behind a failing test
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


@dataclass
class LiveApi:
    url: str
    key: str  # a key of the scope asked for (auth on or off, the database has it)
    log: Path


@contextmanager
def live_api(backend_name: str, tmp_path: Path, monkeypatch: Any, settings: dict[str, str],
             scope: Any, quotas: Any) -> Iterator[LiveApi]:
    """`actlab api` alone on a fresh, migrated database of `backend_name`, with these ACTLAB_
    settings (this process's too, so the test reads the same database) and a key of `scope`
    with `quotas`. Stopped afterwards (no process may survive), the caches reset."""
    from core.domain.settings import get_settings
    from core.store.db import session_scope
    from core.store.keys import create_key
    from core.store.migrate import upgrade_head
    from tests.backends import make_backend
    from tests.conftest import _activate, _reset_caches

    with make_backend(backend_name, tmp_path / "data") as backend:
        env = {**backend.env(), **settings}
        _activate(backend, monkeypatch)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        _reset_caches()
        upgrade_head()
        with session_scope() as s:
            _, key = create_key(s, "live", scope, get_settings().resolved_secret(), quotas)
        port = free_port()
        log = tmp_path / "api.log"
        with log.open("wb") as out:
            api = subprocess.Popen([*ACTLAB, "api", "--port", str(port)], env=service_env(env),
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, [api], log)
            yield LiveApi(url, key, log)
        finally:
            assert not stop_and_check(api, signal.SIGTERM, group=True)
            _reset_caches()
