"""The read-only commands (list, status, leaderboard, export, catalog), shared by the
client's `python -m actlab` and the server's `actlab` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from actlab.client import ActlabError, Client

Command = Callable[[str, str], argparse.ArgumentParser]


def remote(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None,
                   help="the service (default: ACTLAB_URL, else url in "
                        "~/.config/actlab/config.toml, else http://127.0.0.1:8000)")
    p.add_argument("--key", default=None,
                   help="API key (default: ACTLAB_API_KEY, else key in the config file)")


def client_of(args: argparse.Namespace) -> Client:
    return Client(url=args.url, key=args.key)


def print_runs(exp: dict[str, Any]) -> None:
    print(f"{exp['name']} [{exp['status']}]  {exp['id']}")
    print(f"  {'seed':>6} {'status':<10} {'epoch':>9} {'val_acc':>8} {'test_acc':>8}  run")
    for run in exp["runs"]:
        p, final = run["progress"], run.get("final_metrics") or {}

        def num(key: str, final: dict[str, Any] = final) -> str:
            value = final.get(key)
            return f"{value:.4f}" if isinstance(value, float) else "-"

        waiting = f"  waiting for {run['waiting_for']}" if run.get("waiting_for") else ""
        print(f"  {run['seed']:>6} {run['status']:<10} {p['epoch']:>4}/{p['epochs']:<4} "
              f"{num('val_accuracy'):>8} {num('test_accuracy'):>8}  {run['id']}"
              f"{'  ' + run['error'] if run['error'] else ''}{waiting}")


def cmd_status(args: argparse.Namespace) -> int:
    client = client_of(args)
    print_runs(client.experiment(client.resolve(args.id)))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    page = client_of(args).experiments(status=args.status, activation=args.activation,
                                       model=args.model, dataset=args.dataset, tag=args.tag,
                                       limit=args.limit, offset=args.offset)
    print(f"{'id':<10} {'status':<10} {'runs':>5}  {'activation':<16} {'model':<12} "
          f"{'dataset':<10} name")
    for e in page["items"]:
        print(f"{e['id'][:8]:<10} {e['status']:<10} {sum(e['counts'].values()):>5}  "
              f"{e['activation']:<16} {e['model']:<12} {e['dataset']:<10} {e['name']}")
    shown = page["offset"] + len(page["items"])
    print(f"{len(page['items'])} of {page['total']} shown"
          + (f" (next: --offset {shown})" if shown < page["total"] else ""))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    params = {"model": args.model, "dataset": args.dataset, "metric": args.metric,
              "stat": args.stat, "baseline": args.baseline, "tag": args.tag,
              "sweep": args.sweep, "target": args.target}
    client = client_of(args)
    if args.model and args.dataset:
        text = client.request("GET", "/api/v1/leaderboard", params={
            **{k: v for k, v in params.items() if v is not None}, "format": "markdown"}).text
        print(text)
        return 0
    board = client.leaderboard(**params)
    print(f"{'activation':<28} {'tasks':>5} {'groups':>6} {'avg rank':>8}  win/tie/loss")
    for e in board["entries"]:
        rank = e["avg_rank_mean_accuracy"]
        print(f"{e['label']:<28} {e['tasks']:>5} {e['groups']:>6} "
              f"{rank if rank is None else f'{rank:.2f}':>8}  {e['win']}/{e['tie']}/{e['loss']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    client = client_of(args)
    sys.stdout.write(client.export(client.resolve(args.id), args.format).rstrip("\n") + "\n")
    return 0


def print_catalog(client: Client, kind: str) -> None:
    for entry in client.catalog(kind):
        origin = f"  [plugin {entry['plugin']}]" if entry.get("plugin") else ""
        print(f"{entry['name']:<20} {entry.get('formula') or entry.get('description', '')}"
              f"{origin}")


def run(args: argparse.Namespace) -> int:
    """A parsed command run: its exit status; an expected error is a message, never a
    traceback (exit 1), Ctrl-C exits 130."""
    try:
        result: int = args.func(args)
    except ActlabError as exc:
        print(f"actlab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return result


def add_read_only(command: Command) -> None:
    """list, status, leaderboard and export, on a parser's sub-commands."""
    p = command("list", "experiments, newest first")
    for name in ("status", "activation", "model", "dataset", "tag"):
        p.add_argument(f"--{name}", default=None, help=f"only this {name}")
    p.add_argument("--limit", type=int, default=20, help="experiments per page")
    p.add_argument("--offset", type=int, default=0, help="skip this many")
    remote(p)
    p.set_defaults(func=cmd_list)

    p = command("status", "an experiment's runs and their progress")
    p.add_argument("id", help="experiment id, or a unique prefix of one")
    remote(p)
    p.set_defaults(func=cmd_status)

    p = command("leaderboard", "rank activations (one task: --model and --dataset)")
    p.add_argument("--model", default=None, help="the task's model")
    p.add_argument("--dataset", default=None, help="the task's dataset")
    p.add_argument("--metric", default=None, help="metric to rank by (server default: "
                                                  "test_accuracy)")
    p.add_argument("--stat", default=None, help="final or best")
    p.add_argument("--baseline", default=None, help="activation tested against (server "
                                                    "default: relu)")
    p.add_argument("--tag", default=None, help="only experiments with this tag")
    p.add_argument("--sweep", default=None, help="only this sweep's experiments")
    p.add_argument("--target", default=None, help="rank by epochs to reach it, e.g. "
                                                   "'train_error<=0.25'; across tasks, the "
                                                   "profiles' cost")
    remote(p)
    p.set_defaults(func=cmd_leaderboard)

    p = command("export", "an experiment's summary (json, csv) or its leaderboard row (md)")
    p.add_argument("id", help="experiment id, or a unique prefix of one")
    p.add_argument("--format", choices=("json", "csv", "md"), default="json",
                   help="output format")
    remote(p)
    p.set_defaults(func=cmd_export)
