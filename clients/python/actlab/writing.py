"""The commands that submit or change work (submit, search, cancel, retry), shared by the
client's `python -m actlab` and the server's `actlab` command line, as the read-only ones
are (actlab/commands.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from actlab.client import Client
from actlab.commands import Command, client_of, print_runs, remote


def _yaml(path: str) -> Any:
    """PyYAML where installed (an extra of the client; the server has it)."""
    try:
        import yaml
    except ImportError:
        raise SystemExit(f"{path}: reading YAML needs PyYAML (pip install "
                         f"'actlab-client[yaml]'), or write the spec as JSON") from None
    return yaml


def load_spec_file(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SystemExit(f"cannot read spec file {path}: {exc.strerror}") from None
    yaml = _yaml(path) if path.endswith((".yaml", ".yml")) else None
    errors: tuple[type[Exception], ...] = (ValueError,) if yaml is None else \
        (ValueError, yaml.YAMLError)
    try:
        data = json.loads(text) if yaml is None else yaml.safe_load(text)
    except errors as exc:
        raise SystemExit(f"{path} is not valid {'JSON' if yaml is None else 'YAML'}: {exc}")\
            from None
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: a spec must be a JSON/YAML object")
    return data


def cmd_submit(args: argparse.Namespace) -> int:
    client = client_of(args)
    spec = load_spec_file(args.spec_file)
    if "activations" in spec:  # a sweep: lists of activations (models, datasets) and a grid
        return _submit_sweep(client, {**spec, "force": args.force or spec.get("force", False)},
                             args)
    submitted = client.submit(spec, force=args.force)
    runs = submitted.created["runs"]
    print(f"experiment {submitted.id}: {len(runs)} run(s), "
          f"{sum(r['status'] == 'queued' for r in runs)} queued")
    if not args.wait:
        return 0
    exp = submitted.wait(poll=args.poll)
    print()
    print_runs(exp)
    return 0 if exp["status"] == "succeeded" else 1


def _submit_sweep(client: Client, spec: dict[str, Any], args: argparse.Namespace) -> int:
    created = client.sweep(spec)
    print(f"sweep {created['id']}: {len(created['experiments'])} experiment(s), "
          f"{created['runs_queued']} run(s) queued, {created['runs_reused']} reused, "
          f"{len(created['skipped'])} cell(s) skipped; watch it at "
          f"{client.url}/ui#/sweep/{created['id']}")
    if not args.wait:
        return 0
    state = client.wait_sweep(created["id"], poll=args.poll)
    print()
    if state.get("race"):
        print_race(state["race"])
        return 0 if state["race"]["note"] is None else 1
    print(f"{'status':<10} {'runs':>5}  name")
    for e in state["experiments"]:
        print(f"{e['status']:<10} {sum(e['counts'].values()):>5}  {e['name']}")
    return 0 if all(e["status"] == "succeeded" for e in state["experiments"]) else 1


def print_race(race: dict[str, Any]) -> None:
    """An adaptive sweep's outcome: per entry its decision, round and seeds."""
    print(f"race against {race['baseline']} on {race['metric']} ({race['stat']}), alpha "
          f"{race['alpha']}: {race['seeds_spent']} of at most {race['seeds_max']} seeds")
    if race["note"]:
        print(race["note"])
    print(f"{'decision':<14} {'round':>5} {'seeds':>5} {'fixed':>6}  activation")
    for e in race["entries"]:
        fixed = "" if e["fixed_design_seeds"] is None else e["fixed_design_seeds"]
        print(f"{e['decision']:<14} {e['decided_round'] or '':>5} {e['seeds']:>5} "
              f"{fixed:>6}  {e['label']}")


def cmd_search(args: argparse.Namespace) -> int:
    client = client_of(args)
    created = client.search(load_spec_file(args.spec_file))
    print(f"search {created['id']}: a space of {created['space_size']} expansions "
          f"({'sampled' if created['sampled'] else 'all of them grouped'}); watch it at "
          f"{client.url}/ui#/search/{created['id']}")
    if not args.wait:
        return 0
    state = client.wait_search(created["id"], poll=args.poll)
    print()
    print_search(state)
    return 0 if state["status"] == "succeeded" else 1


def print_search(state: dict[str, Any], top: int = 10) -> None:
    """The ranked candidates, the filtered count and the confirmation's verdicts."""
    p = state["progress"]
    print(f"{state['name']} [{state['status']}] {p['trainings']}/{p['budget']} trainings  "
          f"{state['id']}")
    if state.get("error"):
        print(f"  error: {state['error']}")
    print(f"  {'rank':>4} {'val (mean ± std)':>18} {'test':>7}  candidate (other spellings)")
    for c in [c for c in state["candidates"] if c["rank"] is not None][:top]:
        std = f"{c['val_std']:.4f}" if c["val_std"] is not None else "-"
        test = f"{c['test_mean']:.4f}" if c["test_mean"] is not None else "-"
        same = f"  (= {', '.join(c['equivalents'])})" if c["equivalents"] else ""
        print(f"  {c['rank']:>4} {c['val_mean']:.4f} ± {std:<7} {test:>7}  "
              f"{c['expression']}{same}")
    print(f"  filtered before training: {len(state['filtered'])}")
    for row in state["confirmation"]:
        if row["role"] == "candidate":
            p_holm = f"{row['p_holm']:.3g}" if row["p_holm"] is not None else "-"
            test = f"{row['test_mean']:.4f}" if row["test_mean"] is not None else "-"
            print(f"  confirmed: {row['expression']} vs {row['baseline']}: test {test} "
                  f"(n {row['n']}), p (Holm) {p_holm}: {row['verdict']}")


def cmd_cancel(args: argparse.Namespace) -> int:
    client = client_of(args)
    out = client.cancel(client.resolve(args.id))
    print(f"cancelled {len(out['cancelled'])} queued run(s); {len(out['stopping'])} running "
          f"run(s) stop within an epoch")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    run = client_of(args).retry(args.run_id)
    print(f"run {run['id']} queued again (seed {run['seed']})")
    return 0



def add_writing(command: Command) -> None:
    """submit, search, cancel and retry, on a parser's sub-commands."""
    p = command("submit", "POST an experiment or sweep spec to a running service")
    p.add_argument("spec_file", help="the experiment spec (or a sweep spec, with "
                                     "`activations`), JSON or YAML")
    p.add_argument("--wait", action="store_true",
                   help="show a progress bar per run until all finish; exit 1 unless every "
                        "run succeeded")
    p.add_argument("--force", action="store_true",
                   help="train again even where this recipe and seed already succeeded")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between status checks")
    remote(p)
    p.set_defaults(func=cmd_submit)

    p = command("search", "POST an activation search spec to a running service")
    p.add_argument("spec_file", help="the search spec, JSON or YAML")
    p.add_argument("--wait", action="store_true",
                   help="show progress until it finishes, then the ranked candidates and the "
                        "confirmation; exit 1 unless it succeeded")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between status checks")
    remote(p)
    p.set_defaults(func=cmd_search)

    p = command("cancel", "cancel an experiment's queued and running runs")
    p.add_argument("id", help="experiment id, or a unique prefix of one")
    remote(p)
    p.set_defaults(func=cmd_cancel)

    p = command("retry", "queue a failed, cancelled or diverged run again")
    p.add_argument("run_id", help="the run's id (actlab status shows it)")
    remote(p)
    p.set_defaults(func=cmd_retry)
