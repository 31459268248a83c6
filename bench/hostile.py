"""The worst requests a writer can send, against `actlab api` on PostgreSQL + Redis: how long
the server takes to refuse each, and how long `GET /health` takes meanwhile (a check that
blocks the event loop delays every other request by as much).

    python -m bench.hostile [--db postgresql+psycopg://postgres@127.0.0.1:5432/test]
                            [--redis redis://127.0.0.1:6379/0] [--repeats 3]

Each case is sent `--repeats` times one after another while another thread asks for
`/health` every 10 ms; the table has the median answer time, the status and the /health
latency (median and worst) during the case, beside /health alone (the reference, same run).
Target: every refusal under 100 ms, /health unaffected. Writes bench/results/hostile.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.service import production_service, write_results

TARGET_MS = 100.0


def _json(body: Any) -> tuple[bytes, dict[str, str]]:
    return json.dumps(body).encode(), {"content-type": "application/json"}


def cases() -> list[tuple[str, str, Callable[[], tuple[bytes, dict[str, str]]]]]:
    """(what, path, body and headers) of each hostile request, built when sent."""
    relu = {"name": "relu"}
    search = {"space": {"candidates": ["tanh(x)"]}, "budget": {"trainings": 20}}
    return [
        ("sweep whose grid expands to 1,000,000 cells", "/api/v1/sweeps", lambda: _json({
            "activations": [relu], "grid": {
                "training.lr": [i / 1e4 for i in range(1, 101)],
                "training.weight_decay": [i / 1e6 for i in range(100)],
                "training.batch_size": list(range(16, 116))}})),
        ("sweep of 500 x 50 x 50 distinct components", "/api/v1/sweeps", lambda: _json({
            "activations": [{"name": "leaky_relu", "params": {"negative_slope": i / 1000}}
                            for i in range(500)],
            "models": [{"name": "mlp", "params": {"hidden": 8 + i}} for i in range(50)],
            "datasets": [{"name": "synthetic", "params": {"seed": i}} for i in range(50)]})),
        ("sweep of 500 x 50 x 50 equal components (one cell: accepted)", "/api/v1/sweeps",
         lambda: _json({"activations": [{"name": "relu"}] * 500,
                        "models": [{"name": "mlp"}] * 50, "datasets": [{"name": "digits"}] * 50,
                        "training": {"epochs": 1}})),
        ("sweep of 5,000 cells, every cell invalid", "/api/v1/sweeps", lambda: _json({
            "activations": [{"name": "leaky_relu"}], "grid": {
                "activation.params.negative_slope": [-1.0 - i for i in range(5000)]}})),
        ("sweep with a grid list of 100,000 values (1 MB)", "/api/v1/sweeps", lambda: _json({
            "activations": [relu], "grid": {"training.lr": [i / 1e6 for i in range(1, 100_001)]}})),
        ("sweep with 5 grid lists of 10,000 values (500 kB)", "/api/v1/sweeps", lambda: _json({
            "activations": [relu], "grid": {f"training.{name}": [i / 1e6 for i in range(10_000)]
                                            for name in ("lr", "weight_decay", "momentum",
                                                         "lr_min", "label_smoothing")}})),
        ("50,000 distinct seeds (450 kB)", "/api/v1/experiments", lambda: _json({
            "activation": relu, "seeds": list(range(100_000, 150_000))})),
        ("10,000 distinct seeds", "/api/v1/experiments", lambda: _json({
            "activation": relu, "seeds": list(range(10_000))})),
        ("10,000 seeds, all the same", "/api/v1/experiments", lambda: _json({
            "activation": relu, "seeds": [7] * 10_000})),
        ("a 5,000-digit number", "/api/v1/experiments", lambda: (
            b'{"activation": {"name": "relu"}, "seeds": [1' + b"0" * 5000 + b"]}",
            {"content-type": "application/json"})),
        ("JSON nested 100,000 deep", "/api/v1/experiments", lambda: (
            b"[" * 100_000 + b"]" * 100_000, {"content-type": "application/json"})),
        ("duplicate keys", "/api/v1/experiments", lambda: (
            b'{"activation": {"name": "relu"}, "training": {"epochs": 1000, "epochs": 1}}',
            {"content-type": "application/json"})),
        ("a lone surrogate in a tag", "/api/v1/experiments", lambda: _json({
            "activation": relu, "tags": ["a\ud800b"]})),
        ("JSON sent as text/plain", "/api/v1/experiments", lambda: (
            b'{"activation": {"name": "relu"}}', {"content-type": "text/plain"})),
        ("search with 10^9 epochs", "/api/v1/searches", lambda: _json({
            **search, "task": {"training": {"epochs": 10**9}}})),
        ("search with an mlp of 8192 x 3", "/api/v1/searches", lambda: _json({
            **search, "task": {"model": {"name": "mlp",
                                         "params": {"hidden": 8192, "depth": 3}}}})),
    ]


class HealthProbe:
    """GET /health every 10 ms on a thread of its own; latencies in ms."""

    def __init__(self, url: str) -> None:
        self.url, self.latencies = url, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                client.get("/health").raise_for_status()
                self.latencies.append((time.perf_counter() - start) * 1000)
                self._stop.wait(0.01)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        while not self.latencies and self._thread.is_alive():  # at least one answer
            time.sleep(0.005)
        self._stop.set()
        self._thread.join()


def measure(url: str, repeats: int) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url, timeout=300) as client:
        with HealthProbe(url) as alone:
            time.sleep(2)
        rows: list[dict[str, Any]] = [{"what": "reference: /health alone, 2 s", "status": "",
                                       "ms": None, "health": alone.latencies}]
        for what, path, build in cases():
            times, statuses = [], set()
            with HealthProbe(url) as probe:
                for _ in range(repeats):
                    content, headers = build()
                    start = time.perf_counter()
                    r = client.post(path, content=content, headers=headers)
                    times.append((time.perf_counter() - start) * 1000)
                    statuses.add(r.status_code)
            rows.append({"what": what, "status": "/".join(map(str, sorted(statuses))),
                         "ms": statistics.median(times), "health": probe.latencies,
                         "detail": r.text[:160]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with production_service(args.db, args.redis, {"ACTLAB_SWEEPER": "false"},
                            workers=0) as url:
        rows = measure(url, args.repeats)
    reference = statistics.median(rows[0]["health"])
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores: "
        f"`python -m bench.hostile --repeats {args.repeats}` (`actlab api` on PostgreSQL + "
        "Redis, auth off; each request sent one after another while another thread asks for "
        "`/health` every 10 ms).",
        "",
        "| request | status | answered in ms (median) | /health p50 ms | /health max ms | "
        f"refused under {TARGET_MS:g} ms |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        health = row["health"]
        answered = "" if row["ms"] is None else f"{row['ms']:.1f}"
        verdict = "" if row["ms"] is None or row["status"].startswith("2") else \
            ("yes" if row["ms"] < TARGET_MS else "**no**")
        lines.append(f"| {row['what']} | {row['status']} | {answered} | "
                     f"{statistics.median(health):.1f} | {max(health):.1f} | {verdict} |")
    accepted = [row["what"] for row in rows[1:] if row["status"].startswith("2")]
    lines += ["", f"/health alone: median {reference:.1f} ms. Accepted: "
                  f"{', '.join(accepted) or 'none'}; every other answer is a refusal (4xx)."]
    write_results("hostile.md", lines)


if __name__ == "__main__":
    main()
