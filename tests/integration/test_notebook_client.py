"""The notebook client as its own distribution: `pip install ./clients/python[frames,plots]`
into a fresh virtual environment with no server package, then `import actlab` against a
live service: results, frames, the four figures saved as SVG, the read-only commands, and a
clear error when the server speaks another API version."""

from __future__ import annotations

import json
import subprocess
import textwrap
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from actlab.client import Client

from tests.integration.test_end_to_end import service  # noqa: F401  (the live service)
from tests.processes import Service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def client_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment holding actlab-client (frames, plots) and nothing of the
    server."""
    where = tmp_path_factory.mktemp("client-venv")
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                    f"{ROOT / 'clients' / 'python'}[frames,plots]"], check=True, timeout=600)
    yield python


SCRIPT = textwrap.dedent('''
    import importlib.util, json, sys
    import actlab
    from pathlib import Path

    out, url, experiment_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    # nothing of the server came with the client
    assert [m for m in ("api", "core", "worker", "cli", "torch")
            if importlib.util.find_spec(m)] == [], "server code in the client's environment"
    lab = actlab.Client(url)
    board = lab.leaderboard(model="mlp", dataset="digits", tag="notebook")
    frame = lab.leaderboard(model="mlp", dataset="digits", tag="notebook", frame=True)
    figures = {
        "curves": actlab.plot_curves(lab, experiment_id, "val_accuracy"),
        "parameters": actlab.plot_parameters(lab, experiment_id, "a"),
        "leaderboard": actlab.plot_leaderboard(board),
        "response": actlab.plot_response(lab, experiment_id),
        "profiles": actlab.plot_profiles(lab.leaderboard(tag="notebook")),
        "functions": actlab.plot_functions(lab, lab.experiment(experiment_id)["runs"][0]["id"]),
    }
    for name, fig in figures.items():
        fig.savefig(out / f"{name}.svg")
    try:
        lab.load_model(lab.experiment(experiment_id)["runs"][0]["id"])
        needs_server = None
    except actlab.ActlabError as exc:
        needs_server = str(exc)
    actlab.client.API_VERSION = 2  # a client of another version
    try:
        actlab.Client(url).experiments()
        mismatch = None
    except actlab.ActlabError as exc:
        mismatch = str(exc)
    print(json.dumps({"labels": list(frame["label"]), "entries": len(board["entries"]),
                      "needs_server": needs_server, "mismatch": mismatch}))
''')


def test_the_client_alone_reads_frames_and_draws_figures(
        service: Service, client_python: Path, tmp_path: Path) -> None:  # noqa: F811
    lab = Client(url=service.url)
    spec = {"model": {"name": "mlp", "params": {"hidden": 16}}, "dataset": {"name": "digits"},
            "seeds": [0, 1], "tags": ["notebook"], "training": {"epochs": 2}}
    # ReLU too, with the same recipe: a comparison group for the performance profiles
    base = lab.submit({**spec, "activation": {"name": "relu"}}, force=True)
    exp = lab.submit({**spec, "activation": {"name": "dual_line"}}, force=True).wait(
        progress=False, poll=0.3, timeout=180)
    assert exp["status"] == "succeeded", service.log_text()[-2000:]
    assert base.wait(progress=False, poll=0.3, timeout=180)["status"] == "succeeded"
    script = tmp_path / "notebook.py"
    script.write_text(SCRIPT)
    done = subprocess.run([str(client_python), str(script), str(tmp_path), service.url,
                           exp["id"]], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(result["labels"]) == ["dual_line", "relu"] and result["entries"] == 2
    assert "server package" in result["needs_server"]
    assert "speaks API v1" in result["mismatch"] and "this client speaks v2" in result["mismatch"]
    for name in ("curves", "parameters", "leaderboard", "response", "profiles", "functions"):
        svg = (tmp_path / f"{name}.svg").read_text()
        assert svg.startswith("<?xml") and "<svg" in svg, name
    listed = subprocess.run([str(client_python), "-m", "actlab", "status", exp["id"][:8],
                             "--url", service.url], capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0 and "succeeded" in listed.stdout, listed.stderr
    board = subprocess.run([str(client_python), "-m", "actlab", "leaderboard", "--model",
                            "mlp", "--dataset", "digits", "--tag", "notebook", "--url",
                            service.url], capture_output=True, text=True, timeout=120)
    assert board.returncode == 0 and " | dual_line | " in board.stdout, board.stderr
