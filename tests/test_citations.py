"""Every file and `path::name` the documentation cites exists: README.md, ARCHITECTURE.md,
the benchmarks' page, the client's README and every page of the docs site. A moved module or
a renamed function fails here instead of leaving the docs pointing at nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "bench" / "BENCHMARKS.md",
               ROOT / "clients" / "python" / "README.md", *(ROOT / "docs").rglob("*.md")])
# A repository path ending in a source suffix, optionally followed by ::name (dotted).
CITATION = re.compile(r"(?<![\w./-])((?:[\w-]+/)+[\w.-]+\.(?:py|json|js|md|toml|yml|ini))\b"
                      r"(?:::([A-Za-z_][\w.]*))?")
# Paths that are examples of a user's own files, not this repository's.
ELSEWHERE = ("my_package/", "my_plugin/", "~/", "site/")
# What a command writes where it runs: the GPU figures exist once a GPU has measured them.
WRITTEN = {"bench/results/gpu.md"}


def _defines(tree: ast.Module, dotted: str) -> bool:
    """Whether `dotted` (a function, class, Class.method or a module-level name) is defined."""
    scope: list[ast.stmt] = tree.body
    for part in dotted.split("."):
        found = None
        for node in scope:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                    and node.name == part:
                found = node
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                names |= {e.id for t in targets if isinstance(t, ast.Tuple)
                          for e in t.elts if isinstance(e, ast.Name)}
                if part in names:
                    return True
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return True


def _citations() -> list[tuple[str, str, str | None]]:
    out = []
    for doc in DOCS:
        for path, name in CITATION.findall(doc.read_text()):
            if not path.startswith(ELSEWHERE) and path not in WRITTEN:
                out.append((str(doc.relative_to(ROOT)), path, name or None))
    return out


def test_the_docs_cite_something() -> None:
    cited = _citations()
    assert len(cited) > 100 and any(name for _, _, name in cited)


@pytest.mark.parametrize("doc", [str(d.relative_to(ROOT)) for d in DOCS])
def test_every_cited_file_and_name_exists(doc: str) -> None:
    missing = []
    for where, path, name in _citations():
        if where != doc:
            continue
        file = ROOT / path
        if not file.exists():  # a link from a page of the site, relative to it
            file = (ROOT / where).parent / path
        if not file.exists():
            missing.append(f"{path} (no such file)")
        elif name and file.suffix == ".py" and not _defines(ast.parse(file.read_text()), name):
            missing.append(f"{path}::{name} (not defined there)")
    assert not missing, f"{doc} cites: " + "; ".join(sorted(set(missing)))
