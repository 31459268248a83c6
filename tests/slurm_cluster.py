"""A real one-node SLURM for the tests: munged (started if not running), slurmctld and slurmd
with a configuration in a temporary directory on free ports; `SLURM_CONF` points the client
commands (sbatch, squeue) at it. Needs Debian's slurmctld, slurmd, slurm-client and munge
(.ci/run installs them) and root (the daemons run as root, as in a container)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.processes import free_port

MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


def slurm_missing() -> str | None:
    """Why the test cluster cannot run here, or None."""
    missing = [n for n in ("slurmctld", "slurmd", "sbatch", "squeue", "munged")
               if shutil.which(n) is None]
    if missing:
        return f"not installed: {', '.join(missing)}"
    if os.geteuid() != 0:
        return "the test cluster's daemons run as root"
    return None


def _munge() -> None:
    if MUNGE_SOCKET.exists() and subprocess.run(
            ["munge", "-n"], capture_output=True).returncode == 0:
        return
    MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["munged", "--force"], check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while not MUNGE_SOCKET.exists():
        assert time.monotonic() < deadline, "munged did not start"
        time.sleep(0.1)


CONF = """ClusterName=actlabtest
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
KillWait=20
OverTimeLimit=0
MinJobAge=300
NodeName={host} CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@contextmanager
def slurm_cluster(where: Path) -> Iterator[dict[str, str]]:
    """The cluster's client environment ({"SLURM_CONF": ...}) while it runs."""
    _munge()
    for sub in ("state", "spool"):
        (where / sub).mkdir(parents=True, exist_ok=True)
    conf = where / "slurm.conf"
    conf.write_text(CONF.format(host=socket.gethostname(), ctld_port=free_port(),
                                d_port=free_port(), dir=where, cpus=os.cpu_count() or 1))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    daemons = [subprocess.Popen([name, "-D", "-f", str(conf)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
               for name in ("slurmctld", "slurmd")]
    try:
        deadline = time.monotonic() + 30
        while "idle" not in subprocess.run(["sinfo", "-h", "-o", "%t"], env=env,
                                           capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline, (where / "slurmctld.log").read_text()[-2000:]
            time.sleep(0.3)
        yield {"SLURM_CONF": str(conf)}
    finally:
        subprocess.run(["scancel", "--full", "--partition", "test"], env=env,
                       capture_output=True)
        _end_job_processes(conf, {daemon.pid for daemon in daemons})
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(3)  # a test cluster's state need not be saved
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def _job_processes(conf: Path, daemons: set[int]) -> list[int]:
    """Processes a job of this cluster started: they carry its SLURM_CONF in their
    environment (sbatch exports the submitter's), as the daemons do, and a SLURM_JOB_ID."""
    mark = f"SLURM_CONF={conf}".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in daemons | {os.getpid()}:
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                # a job's own processes (not slurmstepd, which ends with them) have its id
                if mark in environ and any(v.startswith(b"SLURM_JOB_ID=") for v in environ):
                    out.append(int(entry.name))
            except OSError:  # gone, or not ours to read
                continue
    return out


def _end_job_processes(conf: Path, daemons: set[int], grace: float = 15.0) -> None:
    """After scancel: wait for the jobs' processes to finish handing over, then kill what is
    left, so no worker of a finished test outlives the cluster it ran on."""
    deadline = time.monotonic() + grace
    while (left := _job_processes(conf, daemons)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def jobs(slurm_env: dict[str, str]) -> list[str]:
    """Job ids (an array's own id for its tasks, as sbatch prints it) still pending or
    running."""
    out = subprocess.run(["squeue", "-h", "-o", "%F %T"], env={**os.environ, **slurm_env},
                         capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]
