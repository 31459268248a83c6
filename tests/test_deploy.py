"""docker-compose.yml and the Dockerfile: no Docker engine here, so validate them statically,
and run the one build step that matters to speed (the fused kernels, compiled ahead)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_has_the_lab_services() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    assert "healthcheck" in services["postgres"]
    assert "noeviction" in services["redis"]["command"]
    assert services["migrate"]["command"] == ["actlab", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    # One artifact store every host sees: MinIO, its bucket created before api and workers.
    assert "minio" in services and "healthcheck" in services["minio"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["ACTLAB_ARTIFACTS_URL"].startswith("s3://")
        assert env["ACTLAB_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["ACTLAB_AUTH"] == "true"  # the lab deployment asks for keys
        assert services[name]["depends_on"]["minio-bucket"]["condition"] == \
            "service_completed_successfully"


@pytest.mark.skipif(shutil.which("docker-compose") is None,
                    reason="docker-compose is not installed (.ci/run installs Debian's package)")
def test_docker_compose_config_validates() -> None:
    env = {**os.environ, "POSTGRES_PASSWORD": "example", "MINIO_PASSWORD": "example",
           "ACTLAB_SECRET_KEY": "example"}
    ok = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config", "-q"],
                        cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    # Production secrets have no default: without a password the file refuses to resolve.
    for secret in ("POSTGRES_PASSWORD", "MINIO_PASSWORD", "ACTLAB_SECRET_KEY"):
        without = {k: v for k, v in env.items() if k != secret}
        missing = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config", "-q"],
                                 cwd=ROOT, env=without, capture_output=True, text=True)
        assert missing.returncode != 0 and secret in missing.stderr, secret


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), "--failure-threshold", "info", "Dockerfile"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_api_process_does_not_import_torch() -> None:
    code = ("import sys; from api.main import create_app; create_app(); "
            "from core.domain.spec import ExperimentSpec; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "ACTLAB_DATA_DIR": "/tmp/actlab-notorch"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_images_prebuilt_kernels_load_without_a_compiler(tmp_path: Path) -> None:
    """The Dockerfile's own gcc line, run here, gives a library that a process with no
    compiler on its PATH loads from ACTLAB_KERNEL_LIBRARY and computes with."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("RUN gcc "))
    target = tmp_path / "libactlab_kernels.so"
    command = (line.removeprefix("RUN ").replace("/src/", str(ROOT / "activations") + "/")
               .replace("/opt/libactlab_kernels.so", str(target)))
    built = subprocess.run(command, shell=True, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    code = """
import shutil, torch, activations
from activations import native
assert shutil.which("gcc") is None and shutil.which("cc") is None
lib = native.library()
assert lib is not None, "no kernels"
print(lib._name)
x = torch.randn(4, 8, 6, 6, requires_grad=True)
for name in ["mish", "pau", "dual_line", "gaaf_relu"]:
    m = activations.create(name, num_channels=8)
    y = m(x)
    assert "Fused" in type(y.grad_fn).__name__ or "TwoSlope" in type(y.grad_fn).__name__ \\
        or "GAAF" in type(y.grad_fn).__name__, (name, y.grad_fn)
    ref = m.reference(x) if hasattr(m, "reference") else None
    if ref is not None:
        torch.testing.assert_close(y, ref)
"""
    env = {**{k: v for k, v in os.environ.items() if k != "CC"},
           "PATH": str(Path(sys.executable).parent), "ACTLAB_KERNEL_LIBRARY": str(target),
           "ACTLAB_KERNEL_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(target)
