"""`make bench` rewrites only the measured blocks of BENCHMARKS.md, from bench/results."""

from __future__ import annotations

from pathlib import Path

from bench.report import BENCHMARKS, rewrite


def test_blocks_are_refreshed_and_the_rest_kept(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("Measured today: `python -m bench.a`\n\n| x |\n|---|\n| 2 |\n")
    text = ("# Benchmarks\n\nwhat the figures mean\n\n<!-- results: a.md -->\n| old |\n"
            "<!-- /results -->\n\nkept\n\n<!-- results: missing.md -->\nstays\n"
            "<!-- /results -->\n")
    new, done = rewrite(text, tmp_path)
    assert done == ["a.md"]
    assert new == ("# Benchmarks\n\nwhat the figures mean\n\n<!-- results: a.md -->\n"
                   "Measured today: `python -m bench.a`\n\n| x |\n|---|\n| 2 |\n"
                   "<!-- /results -->\n\nkept\n\n<!-- results: missing.md -->\nstays\n"
                   "<!-- /results -->\n")


def test_every_block_in_benchmarks_names_a_committed_result() -> None:
    text = BENCHMARKS.read_text()
    new, done = rewrite(text)
    assert done and text.count("<!-- results: ") == len(done)
    assert new == text  # the committed tables are the committed results
