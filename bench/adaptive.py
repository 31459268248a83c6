"""Seeds until decided, measured without training: thousands of races on values drawn from
known distributions (normal, standard deviation 1, so effects are in standard deviations),
each played by the service's own procedure (core/statistics/adastop.py, the race of
core/store/race.py), and beside it the fixed design a user would otherwise run: every entry
and the baseline at n seeds, Welch's test against the baseline, Holm's correction.

    python -m bench.adaptive [--races 2000] [--entries 5] [--per-round 5] [--max-rounds 6]
                             [--alpha 0.05] [--beta 0]

Reports (bench/results/adaptive-simulation.md):
1. the family-wise error under the null (every entry equal to the baseline): how often a
   race declares any difference, with its 95 % Monte-Carlo (Wilson) interval, against alpha;
2. per effect size, with half the entries that far from the baseline (half better, half
   worse) and the rest equal: the power (true differences declared, in the right direction),
   the false decisions on the equal entries, and the seeds a race spends;
3. the smallest fixed n whose Welch + Holm design reaches the race's power at that effect
   (simulated on the same kind of draws), and the seeds it spends: (entries + 1) x n.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
from scipy import stats

from bench.service import write_results
from core.statistics.adastop import LARGER, SMALLER, Design, replay

EFFECTS = (0.5, 1.0, 1.5, 2.0)
FIXED_NS = (3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60)


def _wilson(hits: int, trials: int) -> tuple[float, float]:
    if trials == 0:
        return 0.0, 1.0
    z, p = 1.959964, hits / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) \
        / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def _shifts(entries: int, effect: float) -> np.ndarray:
    """Half the entries `effect` away from the baseline (alternating better and worse)."""
    shifts = np.zeros(entries)
    for i in range(entries // 2 if effect else 0):
        shifts[i] = effect if i % 2 == 0 else -effect
    return shifts


def race_outcomes(shifts: np.ndarray, design: Design, races: int,
                  rng: np.random.Generator) -> dict[str, float]:
    """Plays `races` races; the rates of right, wrong and false decisions and the seeds."""
    cap = design.per_round * design.max_rounds
    right = wrong_sign = false = races_with_false = 0
    spent = 0
    for r in range(races):
        values = [rng.normal(0.0, 1.0, cap)] + [rng.normal(s, 1.0, cap) for s in shifts]
        # One replay with every value: an entry's values after its decision are never read
        # (core/statistics/adastop.py), so this is the race as the service plays it, round by round.
        race = replay(values, replace(design, seed=r))
        any_false = False
        for shift, c in zip(shifts, race.comparisons, strict=True):
            different = c.decision in (LARGER, SMALLER)
            if shift == 0 and different:
                false += 1
                any_false = True
            elif shift != 0 and c.decision == (SMALLER if shift > 0 else LARGER):
                right += 1
            elif shift != 0 and different:  # a difference in the wrong direction
                wrong_sign += 1
                any_false = True
            spent += design.per_round * (c.decided_round or race.rounds)
        spent += design.per_round * race.rounds  # the baseline
        races_with_false += any_false
    effects = int(np.count_nonzero(shifts)) * races
    nulls = (len(shifts) - int(np.count_nonzero(shifts))) * races
    return {"power": right / effects if effects else math.nan,
            "false_rate": false / nulls if nulls else math.nan,
            "wrong_sign": wrong_sign, "fwer_hits": races_with_false,
            "seeds": spent / races}


def fixed_power(shifts: np.ndarray, n: int, alpha: float, races: int,
                rng: np.random.Generator) -> tuple[float, int]:
    """Welch + Holm at n seeds each: the power on the shifted entries, and the races with
    a false decision on an equal entry."""
    base = rng.normal(0.0, 1.0, (races, n))
    entries = rng.normal(shifts[None, :, None], 1.0, (races, len(shifts), n))
    t, p = stats.ttest_ind(entries, base[:, None, :], axis=2, equal_var=False)
    order = np.argsort(p, axis=1)
    m = len(shifts)
    sorted_p = np.take_along_axis(p, order, axis=1) * (m - np.arange(m))[None, :]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(sorted_p, axis=1))
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, adjusted_sorted, axis=1)
    reject = adjusted <= alpha
    shifted = shifts != 0
    right = reject & (np.sign(t) == np.sign(shifts)[None, :]) & shifted[None, :]
    power = right[:, shifted].mean() if shifted.any() else math.nan
    false = (reject & ~shifted[None, :]).any(axis=1) | \
        (reject & shifted[None, :] & ~right).any(axis=1)
    return float(power), int(false.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--races", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--max-rounds", type=int, default=6)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--beta", type=float, default=0.0,
                        help="power spent on deciding 'no difference' early (adaptive.beta)")
    args = parser.parse_args()
    design = Design(per_round=args.per_round, max_rounds=args.max_rounds, alpha=args.alpha,
                    beta=args.beta)
    rng = np.random.default_rng(20261205)
    started = time.monotonic()
    null = race_outcomes(_shifts(args.entries, 0.0), design, args.races, rng)
    low, high = _wilson(int(null["fwer_hits"]), args.races)
    package = int(race_outcomes(_shifts(args.entries, 0.0), replace(design, package=True),
                                args.races, rng)["fwer_hits"])
    fixed_null = fixed_power(_shifts(args.entries, 0.0), args.per_round * args.max_rounds,
                             args.alpha, args.races, rng)[1]
    cap = (args.entries + 1) * args.per_round * args.max_rounds
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores: `python -m "
             f"bench.adaptive --races {args.races} --entries {args.entries} --per-round "
             f"{args.per_round} --max-rounds {args.max_rounds} --alpha {args.alpha} --beta "
             f"{args.beta}` "
             "(normal values, sd 1; every race's permutations seeded by its number).", "",
             "Family-wise error under the null (every entry equal to the baseline):", "",
             "| design | races with any difference declared | rate | 95 % interval | alpha |",
             "|---|---:|---:|---|---:|",
             f"| race (AdaStop), {args.per_round} x up to {args.max_rounds} rounds | "
             f"{int(null['fwer_hits'])} / {args.races} | {null['fwer_hits'] / args.races:.4f} "
             f"| [{low:.4f}, {high:.4f}] | {args.alpha} |",
             f"| the adastop package's arithmetic (Design.package) | {package} / "
             f"{args.races} | {package / args.races:.4f} | [{_wilson(package, args.races)[0]:.4f}"
             f", {_wilson(package, args.races)[1]:.4f}] | {args.alpha} |",
             f"| fixed, Welch + Holm at {args.per_round * args.max_rounds} seeds | "
             f"{fixed_null} / {args.races} | {fixed_null / args.races:.4f} | "
             f"[{_wilson(fixed_null, args.races)[0]:.4f}, "
             f"{_wilson(fixed_null, args.races)[1]:.4f}] | {args.alpha} |", "",
             f"Half the {args.entries} entries an effect away from the baseline (better and "
             "worse in turn), the rest equal; seeds are the mean per race over all entries "
             f"and the baseline (the cap: {cap}). The fixed design is the smallest n of "
             f"{', '.join(map(str, FIXED_NS))} whose Welch + Holm power is at least the "
             "race's, on the same kind of draws.", "",
             "| effect (sd) | race power | race false decisions (per equal entry) | race "
             "seeds | fixed n at that power | fixed seeds | race / fixed seeds |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for effect in EFFECTS:
        shifts = _shifts(args.entries, effect)
        raced = race_outcomes(shifts, design, args.races, rng)
        needed = next((n for n in FIXED_NS if fixed_power(shifts, n, args.alpha, args.races,
                                                          rng)[0] >= raced["power"]), None)
        fixed_seeds = None if needed is None else (args.entries + 1) * needed
        ratio = "" if fixed_seeds is None else f"{raced['seeds'] / fixed_seeds:.2f}"
        lines.append(f"| {effect:g} | {raced['power']:.3f} | {raced['false_rate']:.4f} | "
                     f"{raced['seeds']:.1f} | {needed or f'> {FIXED_NS[-1]}'} | "
                     f"{fixed_seeds or ''} | {ratio} |")
        print(lines[-1], flush=True)
    lines += ["", f"({time.monotonic() - started:.0f} s)"]
    write_results(f"adaptive-simulation{'-beta' if args.beta else ''}.md", lines)


if __name__ == "__main__":
    main()
