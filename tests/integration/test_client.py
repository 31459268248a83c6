"""The Python client and the command line against a live service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from actlab.client import ActlabError, Client

from tests.integration.test_end_to_end import service  # noqa: F401  (the live service)
from tests.processes import Service

pytestmark = pytest.mark.integration
SPEC = {"activation": {"name": "dual_line"}, "model": {"name": "mlp", "params": {"hidden": 16}},
        "dataset": {"name": "digits"}, "seeds": [0, 1], "training": {"epochs": 2},
        "tags": ["client-test"]}


def _cli(svc: Service, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTLAB_")}
    return subprocess.run([sys.executable, "-m", "cli", *args, "--url", svc.url],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_the_client_submits_waits_and_reads_every_result(service: Service) -> None:  # noqa: F811
    lab = Client(url=service.url)
    exp = lab.submit(SPEC, force=True).wait(progress=False, poll=0.3, timeout=180)
    assert exp["status"] == "succeeded", service.log_text()[-2000:]
    assert lab.resolve(exp["id"][:8]) == exp["id"]
    run_id = exp["runs"][0]["id"]
    assert [r["epoch"] for r in lab.metrics(run_id)] == [1, 2]
    assert lab.parameters(run_id, name="a")["total"] == 2 * 2  # two slots, two epochs
    assert lab.summary(exp["id"])["seeds_finished"] == 2
    assert {b["name"] for b in lab.distributions(exp["id"])["final"]} == {"a", "b", "m"}
    board = lab.leaderboard(model="mlp", dataset="digits", tag="client-test")
    assert [e["activation"] for e in board["entries"]] == ["dual_line"]
    assert "seeds_finished" in json.loads(lab.export(exp["id"], "json"))
    # DataFrames where the answer is a table (pandas is installed with the test tools).
    assert list(lab.leaderboard(model="mlp", dataset="digits", tag="client-test",
                                frame=True)["activation"]) == ["dual_line"]
    assert list(lab.metrics(run_id, frame=True)["epoch"]) == [1, 2]
    assert set(lab.summary(exp["id"], frame=True)["table"]) == {"summary", "curve"}
    model = lab.load_model(run_id)  # the trained module, rebuilt from its weights file
    import torch

    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert any(e["name"] == "relu" for e in lab.catalog())
    with pytest.raises(ActlabError, match="no experiment id starts with 'zzzz'"):
        lab.resolve("zzzz")
    with pytest.raises(ActlabError, match="422") as bad:
        lab.submit({"activation": {"name": "reluu"}})
    assert "activation.name: unknown activation 'reluu'" in str(bad.value)
    with pytest.raises(ActlabError, match="cannot connect to http://127.0.0.1:9"):
        Client(url="http://127.0.0.1:9").experiments()


def test_the_command_line(service: Service, tmp_path: Path) -> None:  # noqa: F811
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**SPEC, "seeds": [3]}))
    done = _cli(service, "submit", str(spec), "--wait", "--poll", "0.3", timeout=240)
    assert done.returncode == 0, done.stderr
    experiment_id = done.stdout.split()[1].rstrip(":")
    assert "succeeded" in done.stdout and "seed" in done.stdout
    listed = _cli(service, "list", "--tag", "client-test")
    assert listed.returncode == 0 and experiment_id[:8] in listed.stdout
    status = _cli(service, "status", experiment_id[:8])
    assert status.returncode == 0 and "succeeded" in status.stdout
    csv = _cli(service, "export", experiment_id[:8], "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.startswith("table,")
    board = _cli(service, "leaderboard", "--model", "mlp", "--dataset", "digits",
                 "--tag", "client-test")
    assert board.returncode == 0 and "| rank |" in board.stdout
    assert "relu" in _cli(service, "catalog").stdout
    # Expected errors: a message and exit 1, never a traceback.
    for args, phrase in ((("cancel", experiment_id), "409"),
                         (("status", "zzzz"), "no experiment id starts with"),
                         (("retry", experiment_id), "404")):
        failed = _cli(service, *args)
        assert failed.returncode == 1 and phrase in failed.stderr, (args, failed.stderr)
        assert "Traceback" not in failed.stderr


def test_a_sweep_from_the_command_line(service: Service, tmp_path: Path) -> None:  # noqa: F811
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps({"name": "cli sweep", "activations": [{"name": "relu"},
                                                                    {"name": "tanh"}],
                                "models": [{"name": "mlp", "params": {"hidden": 8}}],
                                "seeds": [11], "training": {"epochs": 1}}))
    done = _cli(service, "submit", str(spec), "--wait", "--poll", "0.3", timeout=240)
    assert done.returncode == 0, done.stderr
    assert "2 experiment(s)" in done.stdout and "/ui#/sweep/" in done.stdout
    assert done.stdout.count("succeeded") == 2


def test_an_adaptive_sweep_from_the_command_line_shows_its_rounds(
        service: Service, tmp_path: Path) -> None:  # noqa: F811
    """A race through real workers: each round started by the worker that ends the one
    before; the command prints each round as it is decided, then the decisions."""
    spec = tmp_path / "race.json"
    spec.write_text(json.dumps({
        "name": "cli race", "activations": [{"name": "relu"}, {"name": "tanh"},
                                            {"name": "formula",
                                             "params": {"expression": "0 * x"}}],
        "models": [{"name": "mlp", "params": {"hidden": 16}}],
        "training": {"epochs": 2, "batch_size": 64},
        "adaptive": {"per_round": 5, "max_rounds": 2}}))
    done = _cli(service, "submit", str(spec), "--wait", "--poll", "0.3", timeout=300)
    assert done.returncode == 0, done.stderr + service.log_text()[-2000:]
    assert "race round 1/2:" in done.stdout
    rows = {line[35:]: (line[:14].strip(), line[15:20].strip(), line[21:26].strip())
            for line in done.stdout.splitlines()
            if line.startswith(("worse", "better", "baseline", "undecided", "no_difference"))}
    assert rows["formula(0.0 * x)"] == ("worse", "1", "5")  # decided after its first round
    assert rows["relu"][0] == "baseline"


def test_ctrl_c_while_waiting_is_clean(service: Service, tmp_path: Path) -> None:  # noqa: F811
    spec = tmp_path / "long.json"
    spec.write_text(json.dumps({**SPEC, "seeds": [7], "training": {"epochs": 500}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTLAB_")}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "submit", str(spec), "--wait",
                             "--url", service.url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**env, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    # Interrupt once it waits (its first line says the experiment exists), however long
    # the command took to start.
    first = proc.stdout.readline()
    assert first.startswith("experiment "), (first, proc.stderr and proc.stderr.read())
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    out = first + out
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    experiment_id = out.split()[1].rstrip(":")
    Client(url=service.url).cancel(experiment_id)  # leave nothing running for later tests
