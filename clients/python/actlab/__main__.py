"""`python -m actlab` (or `actlab-client`): every command against a running service: list,
status, leaderboard, export, catalog, submit, search, cancel, retry."""

from __future__ import annotations

import argparse
import sys

from actlab import __version__
from actlab.commands import add_read_only, client_of, print_catalog, remote, run
from actlab.writing import add_writing


def cmd_catalog(args: argparse.Namespace) -> int:
    print_catalog(client_of(args), args.kind)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actlab-client", description=__doc__)
    parser.add_argument("--version", action="version", version=f"actlab-client {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)

    add_read_only(command)
    add_writing(command)
    p = command("catalog", "the service's activations, models or datasets")
    p.add_argument("--kind", choices=("activations", "models", "datasets"),
                   default="activations", help="what to list")
    remote(p)
    p.set_defaults(func=cmd_catalog)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))

if __name__ == "__main__":
    sys.exit(main())
