"""`actlab train SPEC_FILE`: one spec locally with a progress bar and a summary table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACTLAB_DATA_DIR": str(cwd / "data")}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("name", "text", "words"), [
    ("bad.yaml", "a: [1, 2\n", "is not valid YAML"),
    ("bad.json", '{"a": ', "is not valid JSON"),
    ("list.yaml", "- 1\n", "must be a JSON/YAML object"),
])
def test_a_spec_file_that_cannot_be_read_is_a_message(tmp_path: Path, name: str, text: str,
                                                      words: str) -> None:
    from actlab.writing import load_spec_file

    (tmp_path / name).write_text(text)
    with pytest.raises(SystemExit, match=words):
        load_spec_file(str(tmp_path / name))


def test_train_prints_progress_and_a_summary(tmp_path: Path) -> None:
    spec = {"activation": {"name": "dual_line"}, "model": {"name": "mlp"},
            "dataset": {"name": "digits"}, "seeds": [0, 1], "training": {"epochs": 2}}
    (tmp_path / "spec.yaml").write_text(
        "activation: {name: dual_line}\nmodel: {name: mlp}\ndataset: {name: digits}\n"
        "seeds: [0, 1]\ntraining: {epochs: 2}\n")
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    from actlab.writing import load_spec_file

    # JSON and YAML give the same spec; one of them trains (a process start costs seconds)
    assert load_spec_file(str(tmp_path / "spec.json")) == \
        load_spec_file(str(tmp_path / "spec.yaml")) == spec
    out = run_cli("train", "spec.yaml", "--device", "cpu", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "seed 0" in out.stderr and "2/2" in out.stderr  # tqdm progress bars
    assert "dual_line / mlp / digits on cpu" in out.stdout
    assert "test_accuracy (last epoch) mean" in out.stdout and "(std, n=2)" in out.stdout
    assert "parameters" in out.stdout and "MACs" in out.stdout


def test_train_rejects_a_bad_spec_clearly(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"activation": {"name": "nope"}}))
    out = run_cli("train", "bad.json", cwd=tmp_path)
    assert out.returncode == 2
    assert "unknown activation 'nope'" in out.stderr
    assert "Traceback" not in out.stderr
