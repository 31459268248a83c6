"""The README's and the documentation's examples work as written: every `curl` command (and
the polling loop) in their shell blocks runs, in order (the README, then the site's pages in
the order of its navigation), through bash against a live service, with the ids they show
as <EXPERIMENT>, <RUN> and <SWEEP> taken from the responses before them."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from tests.integration.test_end_to_end import service  # noqa: F401  (the live service)
from tests.processes import Service

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_URL = "http://127.0.0.1:8000"
STATUS_MARK = "__HTTP_STATUS__"


def _balanced(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False
    return not text.rstrip().endswith("\\")


def pages() -> list[Path]:
    """The README, then the documentation site's pages in the order of its navigation."""
    nav = re.findall(r"^\s*- (?:[\w ]+: )?([\w/-]+\.md)$",
                     (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    return [README, *(ROOT / "docs" / page for page in nav)]


def readme_commands(page: Path | None = None) -> list[str]:
    """Shell commands of the ```sh blocks (of one page, or of all of them in order) that talk
    to the API, joined across continuation lines and open quotes; loops run whole."""
    if page is None:
        return [c for p in pages() for c in readme_commands(p)]
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", page.read_text(), flags=re.S):
        current = ""
        for line in block.splitlines():
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            current = f"{current}\n{line}" if current else line
            loop = current.lstrip().startswith(("until ", "while "))
            if _balanced(current) and (not loop or current.rstrip().endswith("done")):
                commands.append(current)
                current = ""
        assert not current, f"unterminated command in README: {current!r}"
    return [c for c in commands if "curl " in c]


def test_readme_shows_the_requests_this_test_runs() -> None:
    assert len(pages()) == 1 + len(list((ROOT / "docs").rglob("*.md")))  # every page in nav
    assert len(readme_commands(README)) >= 4
    commands = readme_commands()
    joined = "\n".join(commands)
    assert len(commands) >= 10
    for path in ("/api/v1/experiments", "/api/v1/sweeps", "/leaderboard", "/summary",
                 "/parameters", "/runs/<RUN>"):
        assert path in joined, path


def test_every_readme_request_works(service: Service) -> None:  # noqa: F811
    ids: dict[str, str] = {}
    for command in readme_commands():
        text = command.replace(README_URL, service.url)
        for name, value in ids.items():
            text = text.replace(f"<{name}>", value)
        assert re.search(r"<[A-Z]+>", text) is None, \
            f"README command uses an id no earlier example gave: {command}"
        if not text.lstrip().startswith("curl "):  # a loop: it must finish by itself
            done = subprocess.run(["bash", "-c", text], capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, (command, done.stderr, service.log_text()[-2000:])
            continue
        text = text.replace("curl ", f"curl -w '\\n{STATUS_MARK}%{{http_code}}' ", 1)
        done = subprocess.run(["bash", "-c", text], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, (command, done.stderr)
        body, _, status = done.stdout.rpartition(f"\n{STATUS_MARK}")
        assert status.startswith("2"), (command, status, body[:2000])
        if "-X POST" in text:
            created = json.loads(body)
            if "/sweeps" in text:
                ids["SWEEP"] = created["id"]
            else:
                ids["EXPERIMENT"] = created["id"]
                ids["RUN"] = created["runs"][0]["id"]
        elif body.lstrip().startswith(("{", "[")):
            json.loads(body)  # every JSON answer parses
    assert {"EXPERIMENT", "RUN", "SWEEP"} <= set(ids)
