"""No function in the packages where features land most often is above cyclomatic
complexity 15 (radon's measure): past that, a function holds several concerns and every fix
lands in it."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api/analytics", "worker")  # the runner, training and the search among them
LIMIT = 15


def _files() -> list[Path]:
    out: list[Path] = []
    for name in PACKAGES:
        path = ROOT / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def test_no_function_is_above_the_limit() -> None:
    files = _files()
    assert len(files) > 20  # the packages are where this test thinks they are
    over = [f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname} ({block.complexity})"
            for path in files for block in cc_visit(path.read_text())
            if block.complexity > LIMIT]
    assert not over, "split these: " + "; ".join(over)
