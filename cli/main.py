"""The `actlab` command line: the composition root, so it may start every part of actlab.
Heavy packages (torch, the API, the worker) are imported inside the commands that need them."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from actlab.commands import add_read_only, client_of, print_catalog, remote, run
from actlab.writing import add_writing, load_spec_file

from cli import slurm
from core import __version__
from core.domain.settings import get_settings


def cmd_migrate(args: argparse.Namespace) -> int:
    from core.store.migrate import upgrade_head

    upgrade_head()
    print(f"database at head: {get_settings().resolved_database_url()}")
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from core.store.artifacts import store_at, store_for
    from core.store.transfer import TransferRefused, transfer

    settings = get_settings()
    here = store_for(settings)
    source = store_at(args.from_artifacts, settings.s3_endpoint_url) \
        if args.from_artifacts else here
    target = store_at(args.to_artifacts, settings.s3_endpoint_url) if args.to_artifacts else here
    if not args.keys:
        print("API keys are not copied: they are keyed hashes that work only under the same "
              "ACTLAB_SECRET_KEY; pass --keys when the target uses the source's (experiments, "
              "sweeps and searches are copied without an owner otherwise)", file=sys.stderr)
    try:
        report = transfer(args.from_database, args.to_database, source, target,
                          keys=args.keys, progress=lambda text: print(text, file=sys.stderr))
    except TransferRefused as exc:
        print(f"actlab transfer: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0 if report.verified else 1


def _api_command(host: str, port: int) -> list[str]:
    # Keep-alive above clients' idle pools (httpx, browsers, proxies): a server closing an
    # idle connection just as a client reuses it is a failed request on the client's side.
    return [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--host", host,
            "--port", str(port), "--log-level", "info", "--timeout-keep-alive", "75"]


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
    if args.until_empty:  # read by the worker's main process (worker/until_empty.py)
        os.environ["ACTLAB_UNTIL_EMPTY"] = "true"
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
    from core.store.migrate import upgrade_head

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
        # The worker's warm shutdown, to its whole group: each child hands its run over
        # (queued at once, resumed from its checkpoint by the next worker; worker/handover.py)
        # and the worker exits once the tasks in flight have.
        _stop(children, [signal.SIGTERM, signal.SIGTERM], grace=60.0)
        print("actlab stopped", flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from cli.train_local import train_locally
    from core.domain.spec import ExperimentSpec, SpecError, check_limits

    settings = get_settings()
    try:
        spec = ExperimentSpec.model_validate(load_spec_file(args.spec_file))
        check_limits(spec, settings, max_runs=10_000)
    except SpecError as exc:
        print(f"invalid spec: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # pydantic's ValidationError
        print(f"invalid spec:\n{exc}", file=sys.stderr)
        return 2
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print(f"--device {args.device}: no CUDA device is available here; use --device "
                  f"cpu or auto", file=sys.stderr)
            return 2
    return train_locally(spec, settings, device=args.device)


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
        return 0
    if args.generated:
        sys.stdout.write(render_catalog())
        return 0
    print_catalog(client_of(args), args.kind)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """API keys, straight in the database (run it where the service's settings are)."""
    from core.store.db import session_scope
    from core.store.keys import Quotas, Scope, create_key, find_key, list_keys, revoke_key
    from core.store.migrate import upgrade_head

    settings = get_settings()
    upgrade_head()
    with session_scope() as session:
        if args.keys_command == "create":
            row, key = create_key(session, args.name, Scope(args.scope),
                                  settings.resolved_secret(),
                                  Quotas(args.max_queued, args.runs_per_day, args.rate))
            print(f"created {row.scope} key {row.id} ({row.name}); it is shown only once:")
            print(key)
        elif args.keys_command == "list":
            print(f"{'id':<36}  {'scope':<6} {'created':<20} {'last used':<20} state    name")
            for k in list_keys(session):
                used = k.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if k.last_used_at else "-"
                print(f"{k.id!s:<36}  {k.scope:<6} {k.created_at:%Y-%m-%d %H:%M:%S}  "
                      f"{used:<20} {'revoked' if k.revoked_at else 'active ':<8} {k.name}")
        else:
            try:
                row = find_key(session, args.id)
            except LookupError as exc:
                print(f"actlab: {exc}", file=sys.stderr)
                return 1
            done = revoke_key(session, row.id)
            print(f"key {row.id} ({row.name}) {'revoked' if done else 'was already revoked'}")
    if settings.auth is False and args.keys_command == "create":
        print("note: ACTLAB_AUTH is off here, so this service does not ask for keys yet",
              file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actlab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"actlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=fmt)

    p = command("serve", "embedded default: API + worker + sweeper on SQLite")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--concurrency", type=int, default=1, help="runs trained at once")
    p.set_defaults(func=cmd_serve)

    p = command("transfer", "copy a whole store (database and artifacts) to another, e.g. "
                             "a laptop's SQLite to a lab's PostgreSQL and S3")
    p.add_argument("--from-database", required=True, help="source database URL")
    p.add_argument("--to-database", required=True,
                   help="target database URL (brought to head first)")
    p.add_argument("--from-artifacts", default=None,
                   help="source artifact store: s3://bucket[/prefix] or a directory "
                        "(default: the one the settings name)")
    p.add_argument("--to-artifacts", default=None,
                   help="target artifact store (default: the one the settings name)")
    p.add_argument("--keys", action="store_true",
                   help="copy the API keys too (only when the target runs with the source's "
                        "ACTLAB_SECRET_KEY)")
    p.set_defaults(func=cmd_transfer)

    p = command("api", "the HTTP API alone (production)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.set_defaults(func=cmd_api)

    p = command("worker", "a Celery worker (one per GPU)")
    p.add_argument("--queues", default=None, help="queues to consume (default: ACTLAB_QUEUE)")
    p.add_argument("--concurrency", type=int, default=1, help="runs trained at once")
    p.add_argument("--until-empty", action="store_true",
                   help="exit once nothing this worker can serve is queued")
    p.set_defaults(func=cmd_worker)

    slurm.add_parser(command)

    p = command("migrate", "upgrade the database to the newest schema")
    p.set_defaults(func=cmd_migrate)

    p = command("train", "train one spec locally, no service")
    p.add_argument("spec_file", help="the experiment spec, JSON or YAML")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(func=cmd_train)

    add_read_only(command)  # list, status, leaderboard, export (shared with actlab-client)
    add_writing(command)  # submit, search, cancel, retry (shared with actlab-client)

    p = command("keys", "create, list or revoke API keys (in the service's database)")
    keys = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    k = keys.add_parser("create", help="a new key, printed once (alone on the last line)",
                        formatter_class=fmt)
    k.add_argument("--name", required=True, help="who or what the key is for")
    k.add_argument("--scope", choices=("read", "write", "admin"), default="write",
                   help="read: GET only; write: also create and change its own work; admin: "
                        "anyone's")
    k.add_argument("--max-queued", type=int, default=None,
                   help="runs queued or running at once (default: ACTLAB_QUOTA_QUEUED_RUNS)")
    k.add_argument("--runs-per-day", type=int, default=None,
                   help="runs queued in 24 hours (default: ACTLAB_QUOTA_RUNS_PER_DAY)")
    k.add_argument("--rate", type=int, default=None,
                   help="requests a minute (default: ACTLAB_QUOTA_REQUESTS_PER_MINUTE)")
    keys.add_parser("list", help="every key: id, scope, dates, state (never the key)")
    k = keys.add_parser("revoke", help="refuse a key from now on")
    k.add_argument("id", help="the key's id, or a unique prefix of it")
    p.set_defaults(func=cmd_keys)

    p = command("catalog", "list the service's activations (or write the generated catalog)")
    p.add_argument("--kind", choices=("activations", "models", "datasets"),
                   default="activations", help="which catalog to list")
    p.add_argument("--write", nargs="?", const="", default=None, metavar="PATH",
                   help="write core/catalog.json (with --plugin: write the fragment to PATH)")
    p.add_argument("--plugin", metavar="DIST", default=None,
                   help="only the entries an installed plugin distribution registers")
    p.add_argument("--generated", action="store_true",
                   help="print the catalog generated from this checkout's code")
    remote(p)
    p.set_defaults(func=cmd_catalog)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
