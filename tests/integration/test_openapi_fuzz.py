"""The OpenAPI document tells the truth: schemathesis, every check on, bounded examples,
against a live `actlab api` on loopback with auth on (all four phases: examples, coverage,
fuzzing, stateful) and with auth off (all but stateful). tests/fuzz/schemathesis.toml says the one
relaxation and why."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.store.keys import Quotas, Scope
from tests.backends import BACKENDS
from tests.processes import live_api

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parents[1] / "fuzz" / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "st"
# The suite's seed; other seeds explore other requests (ACTLAB_FUZZ_SEED=7 make test).
SEED = os.environ.get("ACTLAB_FUZZ_SEED", "1")


# Auth on: PostgreSQL + Redis when configured (the stricter database: NUL bytes, integer
# widths), the embedded default otherwise, all four phases. Auth off (what `actlab serve`
# runs): the embedded default, whose document has no security scheme and no 401, 403 or 429;
# the phases that test each operation (examples, coverage: every status code and boundary
# of every parameter) but not the stateful chains the auth-on run already walks (the suite's
# time: the operations and checks are the same).
@pytest.mark.parametrize(("backend_name", "auth", "phases", "examples"), [
    (BACKENDS[-1], True, "examples,coverage,fuzzing,stateful", 8),
    ("embedded", False, "examples,coverage,fuzzing", 3)], ids=["auth-on", "auth-off"])
def test_schemathesis_finds_nothing(backend_name: str, auth: bool, phases: str, examples: int,
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # quotas out of the way: the fuzzer creates hundreds of experiments
    with live_api(backend_name, tmp_path, monkeypatch,
                  {"ACTLAB_AUTH": str(auth).lower(), "ACTLAB_SECRET_KEY": "fuzz-secret"},
                  Scope.admin, Quotas(10**6, 10**6, 10**6)) as api:
        key, log = api.key, api.log
        run = subprocess.run(
            [str(SCHEMATHESIS), "--config-file", str(CONFIG), "run",
             f"{api.url}/openapi.json", "--checks", "all",
             "--phases", phases,
             "--max-examples", str(examples), "--seed", SEED, "--workers", "1",
             "--generation-database", "none", "--no-color",
             *(["--header", f"Authorization: Bearer {key}"] if auth else [])],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    report = run.stdout[-6000:]
    assert run.returncode == 0, report
    # every generated case passed every check ("N generated, N passed")
    counts = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counts and counts.group(1) == counts.group(2) and int(counts.group(1)) > 250, report
    assert "Traceback" not in log.read_text(errors="replace")
    assert key not in log.read_text(errors="replace") and key not in run.stdout
