"""A Python client for actlab's HTTP API, for scripts and notebooks; the server's command
line is built on it too.

    from actlab import Client
    lab = Client()                                  # --url / ACTLAB_URL / config file
    exp = lab.submit({"activation": {"name": "dual_line"}, "seeds": [0, 1, 2]})
    exp.wait()                                      # progress bars, then the final detail
    lab.summary(exp.id)["metrics"]["test_accuracy"]
    lab.leaderboard(model="mlp", dataset="digits", frame=True)   # a DataFrame (pandas)
    tensors, spec = lab.load_weights(run_id)        # the trained weights (needs torch)

Results are plain dicts (and lists); `frame=True` gives a pandas DataFrame where the answer
is a table. The server and key come from the arguments, else ACTLAB_URL / ACTLAB_API_KEY,
else the config file (~/.config/actlab/config.toml, `url = "..."`, `key = "..."`).
"""

from __future__ import annotations

import json
import os
import time
import tomllib
import uuid
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
# The HTTP API this client speaks (/api/v1); the server says its own at /health.
API_VERSION = 1
CONFIG_FILE = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "actlab" / \
    "config.toml"
FINISHED = ("succeeded", "partial", "failed", "cancelled")
# Where the server package declares what the client may use of it (pyproject.toml).
SERVER_ENTRY_POINTS = "actlab.client"


class ActlabError(Exception):
    """The service answered with an error (`status` is its HTTP status), or could not be
    reached (`status` 0). The message is what a person needs to fix it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _config() -> dict[str, Any]:
    try:
        return tomllib.loads(CONFIG_FILE.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text[:500]
    if isinstance(detail, list):  # a 422: one line per field
        return "\n".join(f"  {e.get('field', '?')}: {e.get('msg', e)}" for e in detail)
    return str(detail)


class _NoBar:
    """What stands in for tqdm's bars where tqdm is not installed: no bars, lines only."""

    def __init__(self, total: float = 0, **_: Any) -> None:
        self.total, self.n = total, 0

    def set_postfix_str(self, *_: Any, **__: Any) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass

    @staticmethod
    def write(line: str) -> None:
        print(line, flush=True)


def _tqdm() -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar
    return tqdm


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise ActlabError(0, "frame=True needs pandas (pip install pandas)") from None
    return pd


def _frame(rows: list[dict[str, Any]]) -> Any:
    return _pandas().DataFrame(rows)


def _sweep_done(state: dict[str, Any]) -> bool:
    """Every run finished, the race (if any) ended, and the tuning (if any) too: a tuned
    sweep's evaluation (and race) starts once its trials have ended."""
    p, race, tuning = state["progress"], state.get("race"), state.get("tuning")
    return p["finished"] == p["runs"] and (race is None or race["finished"]) \
        and (tuning is None or tuning["finished"])


class _SweepBar:
    """One bar of epochs over a whole sweep, and a line per race round as it is decided."""

    def __init__(self) -> None:
        self.tqdm = _tqdm()
        self.bar: Any = None
        self.told = 0  # race rounds already printed

    def show(self, state: dict[str, Any]) -> None:
        p, race = state["progress"], state.get("race")
        if self.bar is None:
            self.bar = self.tqdm(total=p["epochs_total"], desc="sweep", unit="epoch")
        self.bar.total = max(self.bar.total or 0, p["epochs_total"])  # a race grows
        self.bar.n = p["epochs_done"]
        rounds = f", round {race['round']}/{race['max_rounds']}" if race else ""
        self.bar.set_postfix_str(f"runs {p['finished']}/{p['runs']}{rounds}", refresh=False)
        self.bar.refresh()
        if race and race["rounds_decided"] > self.told:
            self.told = race["rounds_decided"]
            self.tqdm.write(race_round_line(race))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Client:
    def __init__(self, url: str | None = None, key: str | None = None,
                 timeout: float = 30.0) -> None:
        config = _config()
        self.url = (url or os.environ.get("ACTLAB_URL") or config.get("url") or
                    DEFAULT_URL).rstrip("/")
        self.key = key or os.environ.get("ACTLAB_API_KEY") or config.get("key")
        headers = {"authorization": f"Bearer {self.key}"} if self.key else {}
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)
        self._checked = False

    # -- plumbing
    def _check_version(self) -> None:
        """On first use: the server must speak this client's API version."""
        self._checked = True
        health = self.request("GET", "/health", allow=(503,)).json()
        served = int(health.get("api_version", 1))  # servers before the field speak v1
        if served != API_VERSION:
            raise ActlabError(0, f"the service at {self.url} speaks API v{served} "
                                 f"(actlab {health.get('version', '?')}); this client speaks "
                                 f"v{API_VERSION}: install the actlab-client that matches it")

    def request(self, method: str, path: str, allow: tuple[int, ...] = (),
                **kwargs: Any) -> httpx.Response:
        if not self._checked:
            self._check_version()
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ActlabError(0, f"cannot connect to {self.url} ({exc}); start the service "
                                 f"(`actlab serve`) or point at it with --url or ACTLAB_URL")\
                from None
        if response.status_code >= 400 and response.status_code not in allow:
            raise ActlabError(response.status_code,
                              f"{response.status_code} from {method} {path}:\n"
                              f"{_detail(response)}")
        return response

    def events(self, experiment_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The experiment's server-sent events, (name, data), until `end`."""
        try:
            with self._http.stream("GET", f"/api/v1/experiments/{experiment_id}/events",
                                   timeout=httpx.Timeout(30.0, read=None)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ActlabError(response.status_code,
                                      f"{response.status_code} from events of experiment "
                                      f"{experiment_id}:\n{_detail(response)}")
                name = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        yield name, json.loads(line[6:])
                        if name == "end":
                            return
        except httpx.HTTPError as exc:
            raise ActlabError(0, f"event stream from {self.url} broke off ({exc})") from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items()
                                                 if v is not None}).json()

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=body, params=params).json()

    # -- experiments
    def submit(self, spec: dict[str, Any], force: bool = False) -> Submitted:
        created = self.post("/api/v1/experiments", spec, force=str(force).lower())
        return Submitted(self, created["id"], created)

    def experiments(self, **filters: Any) -> dict[str, Any]:
        """One page: `status`, `activation`, `model`, `dataset`, `tag`, `limit`, `offset`."""
        page: dict[str, Any] = self.get("/api/v1/experiments", **filters)
        return page

    def resolve(self, prefix: str) -> str:
        """The experiment id that starts with `prefix` (a full id passes as it is)."""
        try:
            return str(uuid.UUID(prefix))
        except ValueError:
            pass
        matches, offset = [], 0
        while True:
            page = self.experiments(limit=500, offset=offset)
            matches += [e["id"] for e in page["items"] if e["id"].startswith(prefix.lower())]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
        if len(matches) != 1:
            raise ActlabError(404 if not matches else 409,
                              f"no experiment id starts with {prefix!r}" if not matches else
                              f"{len(matches)} experiment ids start with {prefix!r}; give more "
                              f"characters")
        return str(matches[0])

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        exp: dict[str, Any] = self.get(f"/api/v1/experiments/{experiment_id}")
        return exp

    def cancel(self, experiment_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.post(f"/api/v1/experiments/{experiment_id}/cancel")
        return out

    def add_seeds(self, experiment_id: str, seeds: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = self.post(f"/api/v1/experiments/{experiment_id}/seeds",
                                        {"seeds": seeds})
        return out

    def delete(self, experiment_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request("DELETE",
                                           f"/api/v1/experiments/{experiment_id}").json()
        return out

    # -- runs
    def run(self, run_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.get(f"/api/v1/runs/{run_id}")
        return out

    def metrics(self, run_id: str, frame: bool = False) -> Any:
        rows = self.get(f"/api/v1/runs/{run_id}/metrics")
        return _frame(rows) if frame else rows

    def parameters(self, run_id: str, frame: bool = False, **filters: Any) -> Any:
        page = self.get(f"/api/v1/runs/{run_id}/parameters", **filters)
        return _frame(page["items"]) if frame else page

    def functions(self, run_id: str, frame: bool = False, **params: Any) -> Any:
        """The run's learned univariate functions (each KAN edge, each bspline channel) on
        the response grid; `layer`, `epoch` (a list: those epochs, KAN edges and bspline
        channels only), `limit`, `offset` as the API takes them."""
        rows = self.get(f"/api/v1/runs/{run_id}/functions", **params)
        return _frame(rows) if frame else rows

    def symbolic(self, run_id: str, **params: Any) -> list[dict[str, Any]]:
        """Per learned function, its best fits a f(b x + c) + d from the formula grammar
        (`layer`, `index`, `top`, `limit`, `offset`): each `expression` a formula to test."""
        out: list[dict[str, Any]] = self.get(f"/api/v1/runs/{run_id}/symbolic", **params)
        return out

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.post(f"/api/v1/runs/{run_id}/cancel")
        return out

    def retry(self, run_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.post(f"/api/v1/runs/{run_id}/retry")
        return out

    def weights(self, run_id: str) -> bytes:
        """The safetensors file of the run's best-validation epoch."""
        return self.request("GET", f"/api/v1/runs/{run_id}/weights").content

    def load_weights(self, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The run's best-validation weights as torch tensors, and the spec they were
        trained with (needs torch and safetensors: pip install 'actlab-client[torch]')."""
        try:
            from safetensors.torch import load
        except ImportError:
            raise ActlabError(0, "load_weights needs torch and safetensors "
                                 "(pip install 'actlab-client[torch]')") from None
        data = self.weights(run_id)
        # the file's header: its length (8 bytes, little-endian), then JSON with the metadata
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
        return load(data), json.loads(header.get("__metadata__", {}).get("spec", "{}"))

    def load_model(self, run_id: str) -> Any:
        """The run's trained model, rebuilt from the spec in its weights file: the module
        comes from actlab's own model zoo, so this needs the server package (pip install
        actlab), found through its `actlab.client` entry point; `load_weights` needs only
        torch."""
        found = [e for e in entry_points(group=SERVER_ENTRY_POINTS) if e.name == "load_model"]
        if not found:
            raise ActlabError(0, "load_model rebuilds the network with actlab's model zoo, "
                                 "which is in the server package (pip install actlab); "
                                 "load_weights gives the tensors and the spec with torch "
                                 "alone")
        return found[0].load()(self.weights(run_id))

    # -- dashboards
    def summary(self, experiment_id: str, frame: bool = False, **params: Any) -> Any:
        if frame:
            from io import StringIO

            text = self.request("GET", f"/api/v1/experiments/{experiment_id}/summary",
                                params={**params, "format": "csv"}).text
            return _pandas().read_csv(StringIO(text))
        return self.get(f"/api/v1/experiments/{experiment_id}/summary", **params)

    def distributions(self, experiment_id: str, frame: bool = False, **params: Any) -> Any:
        data = self.get(f"/api/v1/experiments/{experiment_id}/parameters", **params)
        return _frame(data["final"]) if frame else data

    def response(self, experiment_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.get(f"/api/v1/experiments/{experiment_id}/response")
        return out

    def leaderboard(self, frame: bool = False, **params: Any) -> Any:
        """`model`, `dataset`, `metric`, `stat`, `baseline`, `test`, `sweep`, `tag`, ..."""
        board = self.get("/api/v1/leaderboard", **params)
        return _frame(board["entries"]) if frame else board

    def learning_rates(self, model: str, dataset: str) -> dict[str, Any]:
        out: dict[str, Any] = self.get("/api/v1/leaderboard/lr", model=model, dataset=dataset)
        return out

    def export(self, experiment_id: str, fmt: str = "json") -> str:
        """The experiment's summary as json or csv, or its task's leaderboard as markdown."""
        if fmt == "md":
            exp = self.experiment(experiment_id)
            return self.request("GET", "/api/v1/leaderboard", params={
                "model": exp["model"], "dataset": exp["dataset"], "experiment": experiment_id,
                "format": "markdown"}).text
        return self.request("GET", f"/api/v1/experiments/{experiment_id}/summary",
                            params={"format": fmt}).text

    # -- sweeps, catalog, health
    def sweep(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self.post("/api/v1/sweeps", body)
        return out

    def wait_sweep(self, sweep_id: str, progress: bool = True, poll: float = 1.0,
                   timeout: float | None = None) -> dict[str, Any]:
        """Poll until every run of the sweep has finished (a tuned sweep: its evaluation too;
        an adaptive sweep: until its race has ended); with `progress`, one bar of epochs over
        the whole sweep, and a line per race round as it is decided. Returns the final
        progress."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = _SweepBar() if progress else None
        try:
            while True:
                state = self.sweep_progress(sweep_id)
                if bar is not None:
                    bar.show(state)
                if _sweep_done(state):
                    return state
                if deadline is not None and time.monotonic() > deadline:
                    raise ActlabError(0, f"sweep {sweep_id} not finished after {timeout} s")
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()

    def search(self, spec: dict[str, Any]) -> dict[str, Any]:
        """POST /searches: `{id, status, space_size, sampled}`."""
        out: dict[str, Any] = self.post("/api/v1/searches", spec)
        return out

    def search_state(self, search_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.get(f"/api/v1/searches/{search_id}")
        return out

    def wait_search(self, search_id: str, progress: bool = True, poll: float = 2.0,
                    timeout: float | None = None) -> dict[str, Any]:
        """Poll until the search has finished; with `progress`, a bar of trainings spent
        against the budget and the best validation accuracy so far. Returns the report."""
        tqdm = _tqdm()

        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        try:
            while True:
                state = self.search_state(search_id)
                p = state["progress"]
                if progress:
                    if bar is None:
                        bar = tqdm(total=p["budget"], desc="search", unit="training")
                    bar.n = p["trainings"]
                    best = state["best_so_far"][-1] if state["best_so_far"] else None
                    bar.set_postfix_str(f"{state['phase']}, best "
                                        f"{best['val_mean']:.4f} {best['expression']}"
                                        if best else state["phase"], refresh=False)
                    bar.refresh()
                if state["status"] not in ("queued", "running"):
                    return state
                if deadline is not None and time.monotonic() > deadline:
                    raise ActlabError(0, f"search {search_id} not finished after {timeout} s")
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()

    def sweep_progress(self, sweep_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.get(f"/api/v1/sweeps/{sweep_id}")
        return out

    def catalog(self, kind: str = "activations") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.get(f"/api/v1/catalog/{kind}")
        return out

    def health(self) -> dict[str, Any]:
        response = self._http.get("/health")  # 503 still carries the body
        out: dict[str, Any] = response.json()
        return out


class Submitted:
    """An experiment just created: `wait()` until every run has finished."""

    def __init__(self, client: Client, experiment_id: str, created: dict[str, Any]) -> None:
        self.client, self.id, self.created = client, experiment_id, created

    def wait(self, progress: bool = True, poll: float = 1.0,
             timeout: float | None = None) -> dict[str, Any]:
        """Follow the experiment's event stream until every run has finished (polling every
        `poll` seconds instead where the stream is not available, or after `timeout` is set);
        with `progress`, one bar per run (epoch k of n, status, latest losses). Returns the
        final detail."""
        bars: dict[str, Any] = {}
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if timeout is None:
                try:
                    for name, data in self.client.events(self.id):
                        if progress and name == "run":
                            _update_bar(bars, data)
                    return self.client.experiment(self.id)
                except ActlabError as exc:
                    if exc.status not in (0, 404):
                        raise
            while True:
                exp = self.client.experiment(self.id)
                if progress:
                    _update_bars(bars, exp)
                if exp["status"] in FINISHED:
                    return exp
                if deadline is not None and time.monotonic() > deadline:
                    raise ActlabError(0, f"experiment {self.id} not finished after {timeout} s")
                time.sleep(poll)
        finally:
            for bar in bars.values():
                bar.close()


def _update_bars(bars: dict[str, Any], exp: dict[str, Any]) -> None:
    for run in exp["runs"]:
        p = run["progress"]
        _update_bar(bars, {"id": run["id"], "seed": run["seed"], "status": run["status"],
                           "epoch": p["epoch"], "epochs": p["epochs"],
                           "val_loss": (run.get("final_metrics") or {}).get("val_loss")})


def _update_bar(bars: dict[str, Any], run: dict[str, Any]) -> None:
    """One run's bar: epoch k of n, its status and its latest validation loss."""
    tqdm = _tqdm()

    bar = bars.get(run["id"])
    if bar is None:
        bar = bars[run["id"]] = tqdm(total=run["epochs"], desc=f"seed {run['seed']}",
                                     unit="epoch", leave=True)
    bar.total = run["epochs"]
    bar.n = run["epoch"]
    loss = run.get("val_loss")
    bar.set_postfix_str(run["status"] + (f" val_loss {loss:.4f}" if loss else ""),
                        refresh=False)
    bar.refresh()


def race_round_line(race: dict[str, Any]) -> str:
    """One line per race round: what is decided so far and the seeds spent."""
    counts: dict[str, int] = {}
    for e in race["entries"]:
        counts[e["decision"]] = counts.get(e["decision"], 0) + 1
    decided = ", ".join(f"{n} {d.replace('_', ' ')}" for d, n in sorted(counts.items())
                        if d != "baseline")
    return (f"race round {race['rounds_decided']}/{race['max_rounds']}: {decided}; "
            f"{race['seeds_spent']} of at most {race['seeds_max']} seeds")
