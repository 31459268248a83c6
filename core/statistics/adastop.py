"""AdaStop (Mathieu et al. 2023, "AdaStop: adaptive statistical testing for sound comparisons
of deep RL agents", arXiv 2306.10882): a group-sequential permutation test that compares
entries against a baseline over rounds of seeds, spends the error level alpha across the
rounds (alpha (k + 1) / K by round k) and across the comparisons (a step-down max test), and
decides each comparison as soon as it can; only undecided comparisons need more seeds.

This is the procedure of the `adastop` package's `MultipleAgentsComparator` (0.1.3) with
`comparisons=[(0, 1), (0, 2), ...]`, vectorised, with its random permutations drawn in the
same order from the same seeded generator, so that the same values give the same decisions
(tests/core/test_adastop.py holds the two to each other), but for one line: the package
takes the permutation distribution of the largest *signed* difference as the reference for
the largest *absolute* one, which doubles the error of its two-sided test (0.10 at alpha 0.05
for one comparison, bench/adaptive.py); the service uses the absolute one, as the paper
defines it, and sums the observed statistic as the permutations' are (`Design.package`;
True gives the package's decisions exactly). It is replayed
from the stored values every time (`replay`): a race's state is its values, never a
process's memory.

The package itself is not a dependency of the service: it needs pandas and matplotlib, and
its per-permutation Python loops make the thousands of races of bench/adaptive.py take hours.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# What a comparison (baseline, entry) is decided as, in the package's words: the baseline's
# mean is larger than the entry's, smaller, or equal (no difference at alpha); "continue":
# not decided yet.
LARGER, SMALLER, EQUAL, CONTINUE = "larger", "smaller", "equal", "continue"


@dataclass(frozen=True)
class Design:
    per_round: int  # seeds per entry per round (the package's n)
    max_rounds: int  # K
    alpha: float
    # Power spent on deciding "equal" early (0: never before the last round). The service
    # keeps it at 0: bench/adaptive.py --beta measures a family-wise error above alpha.
    beta: float = 0.0
    permutations: int = 10_000  # B
    seed: int = 0
    # False (the service): the permutation distribution of the largest |difference|, the
    # statistic the test compares with it (the paper's), and the observed statistic summed
    # block by block as the permutations' are, so that it ties with its own permutation
    # exactly. True: the package's arithmetic, decision for decision: the largest *signed*
    # difference as the reference, which lets the two-sided test spend alpha in each tail,
    # and the observed statistic from the overall means, which rounding puts above its own
    # permutation's value about half the time from the second round on. bench/adaptive.py
    # measures both: a family-wise error near 2 alpha for the package's.
    package: bool = False


@dataclass
class Comparison:
    decision: str = CONTINUE
    decided_round: int | None = None  # 1-based; None while undecided or when the cap forced it
    forced: bool = False  # still undecided at the last round (the package says "equal")


@dataclass
class Race:
    """The outcome of the rounds played so far: one Comparison per entry (entry i against the
    baseline is comparisons[i - 1])."""

    rounds: int
    finished: bool
    comparisons: list[Comparison]
    boundaries: list[tuple[float, float]] = field(default_factory=list)
    level_spent: float = 0.0

    def needs_more(self, entry: int) -> bool:
        """Whether entry `entry` (1-based, 0 is the baseline) trains another round."""
        if self.finished:
            return False
        if entry == 0:
            return any(c.decision == CONTINUE for c in self.comparisons)
        return self.comparisons[entry - 1].decision == CONTINUE


def _combinations(size: int, chosen: int) -> np.ndarray:
    return np.array(list(itertools.combinations(range(size), chosen)), dtype=np.int64)


def _block_means(values: np.ndarray, chosen: np.ndarray,
                 size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `chosen` (indices into `values`), the mean of the chosen values and the
    mean of the others, each taken as np.mean takes it (so the sums are the package's)."""
    mask = np.zeros((len(chosen), size), dtype=bool)
    np.put_along_axis(mask, chosen, True, axis=1)
    rest = np.nonzero(~mask)[1].reshape(len(chosen), -1)
    picked = np.sort(chosen, axis=1)
    return values[picked].mean(axis=1), values[rest].mean(axis=1)


class _Comparator:
    def __init__(self, entries: int, design: Design) -> None:
        self.d = design
        self.rng = np.random.RandomState(design.seed)
        self.current = list(range(1, entries))  # entries still compared, in order
        self.diffs: dict[int, np.ndarray] = {}
        self.normalization = 1.0
        self.boundaries: list[tuple[float, float]] = []
        self.level_spent = self.power_spent = 0.0
        self.comparisons = {i: Comparison() for i in range(1, entries)}
        self.observed: dict[int, float] = {}
        self.k = 0

    def _random_perms(self, count: int, size: int) -> np.ndarray:
        n = self.d.per_round
        rows = [np.arange(n)] + [self.rng.permutation(size)[:n] for _ in range(count - 1)]
        return np.array(rows, dtype=np.int64)

    def _permutation_sums(self, z: list[np.ndarray]) -> None:
        """The permutation distribution of each compared entry's statistic, extended by this
        round's block (the package's compute_mean_diffs)."""
        n, k, budget = self.d.per_round, self.k, self.d.permutations
        size, count = 2 * n, math.comb(2 * n, n)
        if k == 0:
            for i in self.current:
                if budget > count:
                    perms = _combinations(size, n)
                    self.normalization = count
                else:
                    perms = self._random_perms(budget, size)
                    self.normalization = budget
                chosen, others = _block_means(np.hstack([z[0][:n], z[i][:n]]), perms, size)
                self.diffs[i] = chosen - others
            return
        kept = np.ones(len(self.diffs[self.current[0]]), dtype=bool)
        for i in self.diffs:  # condition on not having stopped at the previous round
            kept &= np.abs(self.diffs[i]) <= self.boundaries[-1][1]
        before = {i: d[kept] for i, d in self.diffs.items()}
        for i in self.current:
            block = np.hstack([z[0][k * n:(k + 1) * n], z[i][k * n:(k + 1) * n]])
            if budget > count ** (k + 1):
                chosen, others = _block_means(block, _combinations(size, n), size)
                self.normalization = count ** (k + 1)
                # the package's order: every earlier sum for each new permutation, and
                # (earlier + chosen) - others, as it adds them
                self.diffs[i] = ((before[i][None, :] + chosen[:, None])
                                 - others[:, None]).ravel()
            else:
                perms = self._random_perms(len(before[self.current[0]]), size)
                self.normalization = count ** np.floor(np.log(budget) / np.log(count))
                chosen, others = _block_means(block, perms, size)
                self.diffs[i] = before[i][:len(chosen)] + chosen - others

    def _statistic(self, z: list[np.ndarray], i: int) -> float:
        """The baseline's mean minus entry i's, times the rounds: as the package computes it,
        or as the unpermuted path of the permutation sums (see Design.package)."""
        if not self.d.package:
            return self.observed[i]
        upto = (self.k + 1) * self.d.per_round
        return float((self.k + 1) * (np.mean(z[0][:upto]) - np.mean(z[i][:upto])))

    def _observe(self, z: list[np.ndarray]) -> None:
        n, k = self.d.per_round, self.k
        for i in self.current:
            block = (np.mean(z[0][k * n:(k + 1) * n]), np.mean(z[i][k * n:(k + 1) * n]))
            self.observed[i] = float(block[0] - block[1]) if k == 0 else \
                float(self.observed[i] + block[0] - block[1])

    def _boundaries(self, open_: list[int], clevel: float,
                    dlevel: float) -> tuple[float, float, float, float]:
        """This step's (lower, upper) boundaries on the open comparisons' permutation
        distribution, and the error level and power each would spend."""
        sums = np.stack([self.diffs[i] for i in open_])
        values = np.sort(np.max(sums if self.d.package else np.abs(sums), axis=0))
        above = np.arange(len(values))[::-1] / self.normalization
        ok = self.level_spent + above <= clevel
        bk_sup, level_to_add = (values[ok][0], above[ok][0]) if ok.any() else (np.inf, 0.0)
        below = np.arange(len(values)) / self.normalization
        if (self.power_spent + below < dlevel).any():
            bk_inf = values[self.power_spent + below < dlevel][-1]
            power_to_add = below[self.power_spent + below <= dlevel][-1]
        else:
            bk_inf, power_to_add = -np.inf, 0.0
        return bk_inf, bk_sup, level_to_add, power_to_add

    def _decide_one(self, z: list[np.ndarray], open_: list[int], bk_inf: float,
                    bk_sup: float) -> bool:
        """Decide the open comparison with the largest |statistic| if it is above the upper
        boundary, else the one with the smallest if below the lower one; whether one was."""
        t_max, t_min, i_max, i_min = 0.0, np.inf, None, None
        for i in open_:
            size = abs(self._statistic(z, i))
            if size > t_max:
                t_max, i_max = size, i
            if size < t_min:
                t_min, i_min = size, i
        if i_max is not None and t_max > bk_sup:
            self.comparisons[i_max] = Comparison(
                LARGER if self._statistic(z, i_max) > 0 else SMALLER, self.k + 1)
        elif i_min is not None and t_min < bk_inf:
            self.comparisons[i_min] = Comparison(EQUAL, self.k + 1)
        else:
            return False
        return True

    def play(self, z: list[np.ndarray]) -> None:
        """One interim look (the package's partial_compare): a step-down over the open
        comparisons, then the level spent and, at the last round, the undecided forced."""
        d, k = self.d, self.k
        clevel, dlevel = d.alpha * (k + 1) / d.max_rounds, d.beta * (k + 1) / d.max_rounds
        self._permutation_sums(z)
        self._observe(z)
        open_ = list(self.current)
        level_to_add = power_to_add = 0.0
        bk_inf, bk_sup = -np.inf, np.inf
        for _ in range(len(self.current)):
            open_ = [i for i in self.current if self.comparisons[i].decision == CONTINUE]
            bk_inf, bk_sup, level_to_add, power_to_add = self._boundaries(open_, clevel, dlevel)
            if not self._decide_one(z, open_, bk_inf, bk_sup):
                break
        self.boundaries.append((float(bk_inf), float(bk_sup)))
        self.level_spent += float(level_to_add)
        self.power_spent += float(power_to_add)
        if k == d.max_rounds - 1:
            for c in self.comparisons.values():
                if c.decision == CONTINUE:
                    c.decision, c.forced = EQUAL, True
        self.k += 1
        self.current = [i for i in self.current if self.comparisons[i].decision == CONTINUE]
        self.diffs = {i: self.diffs[i] for i in open_}


def replay(values: Sequence[Sequence[float] | np.ndarray], design: Design) -> Race:
    """The race so far: `values[0]` the baseline's values and `values[i]` entry i's, each in
    the order its seeds were drawn (round by round). Plays every round for which the baseline
    and each entry still compared have all their values; a race is finished when every
    comparison is decided or the last round has been played."""
    if len(values) < 2:
        raise ValueError("a race needs a baseline and at least one entry")
    z = [np.asarray(v, dtype=float) for v in values]
    comparator = _Comparator(len(z), design)
    n = design.per_round
    while comparator.k < design.max_rounds and comparator.current:
        upto = (comparator.k + 1) * n
        if any(len(z[i]) < upto for i in [0, *comparator.current]):
            break
        comparator.play(z)
    return Race(rounds=comparator.k, finished=not comparator.current or
                comparator.k == design.max_rounds,
                comparisons=[comparator.comparisons[i] for i in range(1, len(z))],
                boundaries=comparator.boundaries, level_spent=comparator.level_spent)
