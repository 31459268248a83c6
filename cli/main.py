"""The `actlab` command line: the composition root, so it may start every part of actlab.
Heavy packages (torch, the API, the worker) are imported inside the commands that need them."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from core.settings import get_settings
from core.status import ExperimentStatus


def _load_spec_file(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SystemExit(f"cannot read spec file {path}: {exc.strerror}") from None
    import yaml

    try:
        data = yaml.safe_load(text) if path.endswith((".yaml", ".yml")) else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SystemExit(f"{path} is not valid {'YAML' if 'yaml' in path else 'JSON'}: {exc}")\
            from None
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: a spec must be a JSON/YAML object")
    return data


def cmd_migrate(args: argparse.Namespace) -> int:
    from core.migrate import upgrade_head

    upgrade_head()
    print(f"database at head: {get_settings().resolved_database_url()}")
    return 0


def _api_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--host", host,
            "--port", str(port), "--log-level", "info"]


def _worker_command(queues: str | None, concurrency: int) -> list[str]:
    settings = get_settings()
    # Trap "solo pool": prefork keeps heartbeats, time limits and terminate working.
    return [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
            "--pool", "prefork", "--concurrency", str(concurrency),
            "-Q", queues or settings.queue, "--loglevel", "INFO",
            "--hostname", f"actlab-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]


def cmd_api(args: argparse.Namespace) -> int:
    os.execv(sys.executable, _api_command(args.host, args.port))


def cmd_worker(args: argparse.Namespace) -> int:
    os.execv(sys.executable, _worker_command(args.queues, args.concurrency))


def _stop(children: list[subprocess.Popen[bytes]], signals: list[int],
          grace: float = 15.0) -> None:
    """Stop every child and everything it started (each runs in its own process group)."""
    for child, signum in zip(children, signals, strict=True):
        if child.poll() is None:
            try:
                os.killpg(child.pid, signum)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for child in children:
        try:
            os.killpg(child.pid, signal.SIGKILL)  # whatever is left of the group, children too
        except ProcessLookupError:
            pass
        child.wait()


def cmd_serve(args: argparse.Namespace) -> int:
    """Embedded default: migrate, then API (with the sweeper) and one worker; Ctrl-C stops all."""
    settings = get_settings()
    from core.migrate import upgrade_head

    upgrade_head()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children = [
        subprocess.Popen(_api_command(args.host, args.port), start_new_session=True),
        subprocess.Popen(_worker_command(None, args.concurrency), start_new_session=True),
    ]
    print(f"actlab serving on http://{args.host}:{args.port} (data in {settings.data_dir}); "
          "Ctrl-C to stop", flush=True)
    try:
        while not stop.wait(0.5):
            dead = [c for c in children if c.poll() is not None]
            if dead:
                print(f"a service process exited with code {dead[0].returncode}; stopping",
                      file=sys.stderr, flush=True)
                return 1
        return 0
    finally:
        # Cold shutdown (SIGQUIT) for the worker: a run cut short resumes from its checkpoint.
        _stop(children, [signal.SIGTERM, signal.SIGQUIT])
        print("actlab stopped", flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from cli.train_local import train_locally
    from core.spec import ExperimentSpec, SpecError, check_limits

    settings = get_settings()
    try:
        spec = ExperimentSpec.model_validate(_load_spec_file(args.spec_file))
        check_limits(spec, settings, max_runs=10_000)
    except SpecError as exc:
        print(f"invalid spec: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # pydantic's ValidationError
        print(f"invalid spec:\n{exc}", file=sys.stderr)
        return 2
    return train_locally(spec, settings, device=args.device)


def _http(method: str, url: str, body: Any = None) -> Any:
    import httpx

    try:
        response = httpx.request(method, url, json=body, timeout=30)
    except httpx.HTTPError as exc:
        raise SystemExit(f"cannot reach {url}: {exc}") from None
    if response.status_code >= 400:
        raise SystemExit(f"{response.status_code}: {json.dumps(response.json(), indent=1)}")
    return response.json()


def cmd_submit(args: argparse.Namespace) -> int:
    created = _http("POST", f"{args.url}/api/v1/experiments", _load_spec_file(args.spec_file))
    print(f"experiment {created['id']}: {len(created['runs'])} run(s) queued")
    if not args.wait:
        return 0
    while True:
        exp = _http("GET", f"{args.url}/api/v1/experiments/{created['id']}")
        counts = {k: v for k, v in exp["counts"].items() if v}
        print(f"\r{exp['status']}: {counts}", end="", flush=True)
        status = ExperimentStatus(exp["status"])
        if status.finished:
            print()
            return 0 if status == ExperimentStatus.succeeded else 1
        time.sleep(2)


def cmd_status(args: argparse.Namespace) -> int:
    exp = _http("GET", f"{args.url}/api/v1/experiments/{args.id}")
    print(f"{exp['name']} [{exp['status']}]")
    for run in exp["runs"]:
        p = run["progress"]
        acc = (run.get("final_metrics") or {}).get("test_accuracy")
        acc_text = f"  test_accuracy {acc:.4f}" if acc is not None else ""
        print(f"  seed {run['seed']:>4}  {run['status']:<9} epoch {p['epoch']}/{p['epochs']}"
              f"{acc_text}{'  ' + run['error'] if run['error'] else ''}")
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from cli.catalog import render_catalog, write_catalog

    if args.plugin is not None:
        text = render_catalog(args.plugin)
        if args.write == "":
            print("--plugin with --write needs a PATH for the fragment", file=sys.stderr)
            return 2
        if args.write is None:
            sys.stdout.write(text)
        else:
            Path(args.write).write_text(text)
            print(f"wrote {args.write}")
        return 0
    if args.write is not None:
        print(f"wrote {write_catalog()}")
    else:
        sys.stdout.write(render_catalog())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    url = os.environ.get("ACTLAB_URL", "http://127.0.0.1:8000")

    p = sub.add_parser("serve", help="embedded default: API + worker + sweeper on SQLite")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--concurrency", type=int, default=1)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("api", help="the HTTP API alone (production)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("worker", help="a Celery worker (one per GPU)")
    p.add_argument("--queues", default=None)
    p.add_argument("--concurrency", type=int, default=1)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="upgrade the database to the newest schema")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("train", help="train one spec locally, no service")
    p.add_argument("spec_file")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("submit", help="POST a spec to a running service")
    p.add_argument("spec_file")
    p.add_argument("--wait", action="store_true", help="poll until every run has finished")
    p.add_argument("--url", default=url)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="an experiment's runs and their progress")
    p.add_argument("id")
    p.add_argument("--url", default=url)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("catalog", help="print (or --write) the generated catalog file")
    p.add_argument("--write", nargs="?", const="", default=None, metavar="PATH",
                   help="write core/catalog.json (with --plugin: write the fragment to PATH)")
    p.add_argument("--plugin", metavar="DIST",
                   help="only the entries an installed plugin distribution registers")
    p.set_defaults(func=cmd_catalog)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
