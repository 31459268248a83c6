"""No function of the project's code is above cyclomatic complexity 15 (radon's measure):
past that, a function holds several concerns and every fix lands in it. Every package, the
benchmarks, the client and the migrations; the tests are held to their own reading."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("activations", "api", "core", "worker", "cli", "bench", "clients/python/actlab",
            "migrations")
LIMIT = 15


def _files() -> list[Path]:
    out: list[Path] = []
    for name in PACKAGES:
        path = ROOT / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def test_no_function_is_above_the_limit() -> None:
    files = _files()
    assert len(files) > 150  # the packages are where this test thinks they are
    over = [f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname} ({block.complexity})"
            for path in files for block in cc_visit(path.read_text())
            if block.complexity > LIMIT]
    assert not over, "split these: " + "; ".join(over)
