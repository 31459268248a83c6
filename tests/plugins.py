"""Install the example plugin (tests/plugin_example) the way pip lays it out: a dist-info
directory with its entry points on a path importlib.metadata reads, beside the package."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent / "plugin_example"
DIST = "actlab-plugin-example"


def install_example_plugin(site: Path) -> str:
    """Write the dist-info into `site`; returns the PYTHONPATH that makes it installed."""
    project = tomllib.loads((PLUGIN_DIR / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f"Version: {project['version']}\n")
    lines = []
    for group, eps in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in eps.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    return os.pathsep.join([str(site), str(PLUGIN_DIR)])
