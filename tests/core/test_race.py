"""A race's tested values (core/store/race.py): a diverged seed ranks below every value reached by
its round, never a gap, and no later round changes an earlier one's values."""

from __future__ import annotations

import uuid

import pytest

from core.store.race import Entry, race_values


def _entry(outcomes: list[float | None]) -> Entry:
    return Entry(experiment_id=uuid.uuid4(), label="x", seeds=list(range(len(outcomes))),
                 outcomes=outcomes, unfinished=0, failed=[])


def test_a_diverged_seed_ranks_one_spread_below_the_worst_value_of_its_round() -> None:
    baseline = _entry([0.9, 0.8, 0.95, 0.7])
    entry = _entry([None, 0.85, 0.6, None])
    tested = race_values([baseline, entry], 2, higher_is_better=True)
    assert tested is not None
    # round 1 (seeds 0, 1): values 0.8 to 0.9; round 2 adds 0.95, 0.7 and 0.6
    assert tested[0] == [0.9, 0.8, 0.95, 0.7]
    assert tested[1] == pytest.approx([0.7, 0.85, 0.6, 0.25])
    # a loss: above the largest; an accuracy never below 0
    assert race_values([_entry([1.0, 2.0]), _entry([None, 1.5])], 2,
                         higher_is_better=False) == [[1.0, 2.0], [3.0, 1.5]]
    assert race_values([_entry([0.9, 0.1]), _entry([None, 0.5])], 2, True) == [
        [0.9, 0.1], [0.0, 0.5]]
    # one value alone: its own size is the spread
    assert race_values([_entry([2.0]), _entry([None])], 1, False) == [[2.0], [4.0]]


def test_later_rounds_do_not_change_earlier_ones() -> None:
    first = race_values([_entry([0.9, 0.8]), _entry([None, 0.85])], 2, True)
    later = race_values([_entry([0.9, 0.8, 0.1, 0.2]), _entry([None, 0.85, None, 0.3])], 2,
                          True)
    assert first is not None and later is not None
    assert [v[:2] for v in later] == first
    assert later[1][2] == 0.0  # 0.1 less the spread 0.8, kept at 0


def test_nothing_to_test_while_every_run_diverged() -> None:
    assert race_values([_entry([None, None]), _entry([None, None])], 2, True) is None
    assert race_values([_entry([]), _entry([])], 2, True) == [[], []]
