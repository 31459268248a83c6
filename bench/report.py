"""Rewrite the measured sections of bench/BENCHMARKS.md from bench/results/ (`make bench`).

Each block between `<!-- results: NAME -->` and `<!-- /results -->` is replaced by the
current bench/results/NAME, which its benchmark wrote with the date, the machine, the
command and the ratios to the reference it measured in the same run. Everything outside the
blocks (the reading of the figures, the GPU figures, one-off tables) stays as written.

    python -m bench.report
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.service import RESULTS

BENCHMARKS = Path(__file__).resolve().parent / "BENCHMARKS.md"
BLOCK = re.compile(r"(<!-- results: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /results -->)",
                   re.DOTALL)


def rewrite(text: str, results: Path = RESULTS) -> tuple[str, list[str]]:
    """`text` with every block whose results file exists refreshed; and those names."""
    done: list[str] = []

    def fill(match: re.Match[str]) -> str:
        source = results / match["name"]
        if not source.exists():
            return match[0]
        done.append(match["name"])
        return f"{match[1]}{source.read_text().rstrip()}\n{match[4]}"

    return BLOCK.sub(fill, text), done


def main() -> None:
    text, done = rewrite(BENCHMARKS.read_text())
    BENCHMARKS.write_text(text)
    print(f"{BENCHMARKS.name}: rewrote {', '.join(done) or 'nothing'}")


if __name__ == "__main__":
    main()
