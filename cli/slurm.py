"""`actlab slurm`: workers where a lab's GPUs are. Writes an sbatch script (a job array,
one worker per array task: one GPU, concurrency 1, prefetch 1) and submits it. Each job
reads the service's database, broker and artifact URLs from the environment sbatch
exports from the submitting shell; it gets SIGUSR2 `--warning` seconds before its time
limit (on the batch shell, which is the worker: `exec`), hands its runs over at once
(worker/handover.py) and exits; with `--until-empty` a worker also exits once nothing it
serves is queued, giving its GPU back."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from actlab.commands import Command

# What a worker on a cluster node needs to reach the service; an unset one is an error,
# since a worker on another host cannot use the embedded SQLite default.
REQUIRED = ("ACTLAB_DATABASE_URL", "ACTLAB_BROKER_URL")


def script(args: argparse.Namespace) -> str:
    """The sbatch script for these options."""
    out = Path(args.logs).resolve()
    lines = ["#!/bin/bash", "#SBATCH --job-name=actlab-worker",
             f"#SBATCH --array=0-{args.workers - 1}", f"#SBATCH --time={args.time}",
             f"#SBATCH --cpus-per-task={args.cpus}",
             # B: the batch shell, which `exec` below makes the worker's main process
             f"#SBATCH --signal=B:USR2@{args.warning}",
             f"#SBATCH --output={out}/actlab-worker-%A_%a.out", "#SBATCH --export=ALL"]
    if args.gpus:
        lines.append(f"#SBATCH --gres=gpu:{args.gpus}")
    if args.partition:
        lines.append(f"#SBATCH --partition={args.partition}")
    if args.mem:
        lines.append(f"#SBATCH --mem={args.mem}")
    lines += [f"#SBATCH {extra}" for extra in args.sbatch_arg]
    lines += ["", "# The service's URLs come from the submitting shell's environment.",
              *[f': "${{{name}:?{name} is not set: workers on the cluster reach the '
                f'service through it}}"' for name in REQUIRED if not args.allow_embedded],
              f"export ACTLAB_DEVICE={'cuda' if args.gpus else 'cpu'}"]
    if args.serves:
        lines.append(f"export ACTLAB_WORKER_SERVES={shlex.quote(args.serves)}")
    if args.until_empty:
        lines.append("export ACTLAB_UNTIL_EMPTY=true")
    lines += ["", f"exec {shlex.quote(args.python)} -m cli worker --concurrency 1", ""]
    return "\n".join(lines)


def cmd_slurm(args: argparse.Namespace) -> int:
    text = script(args)
    if args.dry_run:
        sys.stdout.write(text)
        return 0
    Path(args.logs).mkdir(parents=True, exist_ok=True)
    path = Path(args.script or Path(args.logs) / "actlab-worker.sbatch")
    path.write_text(text)
    try:
        done = subprocess.run(["sbatch", "--parsable", str(path)], capture_output=True,
                              text=True, timeout=60)
    except FileNotFoundError:
        print(f"actlab: sbatch not found (is this a SLURM login node?); the script is at "
              f"{path}", file=sys.stderr)
        return 1
    if done.returncode != 0:
        print(f"actlab: sbatch refused {path}: {done.stderr.strip()}", file=sys.stderr)
        return 1
    job = done.stdout.strip().split(";")[0]
    print(f"job {job}: {args.workers} worker(s), {args.gpus} GPU(s) each, time limit "
          f"{args.time}; logs in {Path(args.logs).resolve()}")
    return 0


def add_parser(command: Command) -> None:
    p = command("slurm", "submit workers as a SLURM job array (one GPU each)")
    p.add_argument("--workers", type=int, default=1, help="array tasks: one worker each")
    p.add_argument("--time", default="04:00:00", help="each job's time limit (sbatch --time)")
    p.add_argument("--gpus", type=int, default=1, help="GPUs per worker (0: a CPU worker)")
    p.add_argument("--cpus", type=int, default=4, help="CPUs per worker")
    p.add_argument("--mem", default=None, help="memory per worker (sbatch --mem)")
    p.add_argument("--partition", default=None, help="the partition to run in")
    p.add_argument("--warning", type=int, default=120,
                   help="seconds before the time limit the worker hands its runs over")
    p.add_argument("--until-empty", action="store_true",
                   help="each worker exits once nothing it can serve is queued")
    p.add_argument("--serves", default=None,
                   help="resources.device values served besides its own (ACTLAB_WORKER_SERVES)")
    p.add_argument("--python", default=sys.executable, help="the Python that has actlab")
    p.add_argument("--logs", default="slurm-logs", help="directory for the jobs' output")
    p.add_argument("--script", default=None, help="where to write the sbatch script")
    p.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                   help="another #SBATCH line, e.g. --sbatch-arg=--account=lab (repeatable)")
    p.add_argument("--allow-embedded", action="store_true",
                   help="let workers use the embedded SQLite default (one machine only)")
    p.add_argument("--dry-run", action="store_true", help="print the script, submit nothing")
    p.set_defaults(func=cmd_slurm)

