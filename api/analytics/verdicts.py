"""What a comparison concluded, in words a table can show: one vocabulary for the
leaderboard (api/analytics/leaderboard.py) and the search's confirmation
(api/analytics/search.py)."""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    baseline = "baseline"  # the entry every other of its recipe is tested against
    no_baseline = "no baseline with this recipe"
    too_few = "too few seeds to test"  # fewer than two per side (or common seeds, paired)
    undefined = "test undefined (no variance in either sample)"
    # the search's confirmation: its paired test had no variance in the differences
    paired_undefined = "test undefined"
    same = "no significant difference"
    better = "better"
    worse = "worse"
    sooner = "sooner"  # time to target
    later = "later"

    @property
    def outcome(self) -> str | None:
        """win, tie or loss, for the cross-task record; None where nothing was decided."""
        return {Verdict.better: "win", Verdict.worse: "loss", Verdict.same: "tie"}.get(self)


def decide(p_holm: float, alpha: float, ahead: bool, *,
           yes: Verdict = Verdict.better, no: Verdict = Verdict.worse) -> Verdict:
    """A tested comparison: `yes` or `no` by which side is ahead where the corrected p-value
    is below alpha, else no significant difference."""
    if p_holm >= alpha:
        return Verdict.same
    return yes if ahead else no
