"""GET /leaderboard: activations ranked for a task with significance against a baseline,
or, without a task, average ranks and win/tie/loss counts across tasks (the rank tables of
the Dual Line paper: best accuracy, mean accuracy, train loss, validation loss, time).

Like with like: an entry is one recipe (spec hash: activation, model and dataset params,
training settings, epochs). An entry is tested only against a baseline trained with the same
recipe but for the activation (its *context*); an entry whose context has no baseline is
listed with p = null and is not in the Holm family.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from api.analytics.profiles import TAU_MAX, cost, cost_name, profiles
from api.analytics.time_to_target import Target, km_median, logrank, times
from api.analytics.verdicts import Verdict, decide
from api.experiment_rows import has_tag
from core.domain.catalog import entries
from core.domain.labels import activation_label
from core.domain.metrics import DEFAULT_BASELINE, DEFAULT_SELECTION, HIGHER_IS_BETTER
from core.domain.spec import without_later_defaults, without_later_model_defaults
from core.domain.status import RunStatus
from core.statistics.significance import (
    TestResult,
    average_ranks,
    cohens_d,
    describe,
    holm,
    mann_whitney,
    mann_whitney_exact,
    mean,
    paired,
    tost,
    welch,
)
from core.store import race
from core.store.models import Experiment, Run, Sweep
from core.store.results import ended_rows, final_rows

TESTS = ("welch", "mannwhitney", "paired")
# Spec fields that are not part of the recipe.
NOT_RECIPE = ("name", "tags", "priority", "seeds", "resources", "role", "tuned", "match")



@dataclass(frozen=True)
class Filters:
    """Which experiments a board is built from (all of them by default)."""

    sweep: uuid.UUID | None = None
    tag: str | None = None
    experiments: tuple[uuid.UUID, ...] = ()
    # runs trained on this device: "cpu", "cuda" (any GPU) or "cuda:1"
    device: str | None = None

    def clause(self, session: Session) -> ColumnElement[bool]:
        # a tuning budget's trials are how an entry was tuned, never a result of it
        parts: list[ColumnElement[bool]] = [Experiment.role == "evaluation"]
        if self.sweep is not None:
            parts.append(Experiment.sweep_id == self.sweep)
        if self.tag is not None:
            parts.append(has_tag(session, self.tag))
        if self.experiments:
            parts.append(Experiment.id.in_(self.experiments))
        if self.device is not None:
            parts.append(or_(Run.device == self.device, Run.device.startswith(f"{self.device}:",
                                                                             autoescape=True)))
        return and_(true(), *parts)

    def to_dict(self) -> dict[str, Any]:
        return {"sweep": str(self.sweep) if self.sweep else None, "tag": self.tag,
                "experiment": [str(e) for e in self.experiments], "device": self.device}


@dataclass(frozen=True)
class Query:
    metric: str
    stat: str = "final"
    select_by: str = DEFAULT_SELECTION
    baseline: str = DEFAULT_BASELINE
    test: str = "welch"
    alpha: float = 0.05
    filters: Filters = field(default_factory=Filters)
    # Rank by epochs to reach this instead (api/analytics/time_to_target.py).
    target: Target | None = None
    # Equivalence margin in the metric's units: with it, each entry is also tested for a
    # difference within +-margin of its baseline (TOST, Holm-corrected like the p-values).
    margin: float | None = None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out |= _flatten(inner, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): value}


def recipe_of(spec: dict[str, Any], recipe_version: int) -> dict[str, Any]:
    """The recipe as flat `path: value` pairs (activation included); training settings
    added later are left out at their defaults, as the recipe hash leaves them out."""
    rest = {k: v for k, v in spec.items() if k not in NOT_RECIPE}
    if isinstance(rest.get("training"), dict):
        rest["training"] = without_later_defaults(rest["training"])
    if isinstance(rest.get("model"), dict):
        rest["model"] = without_later_model_defaults(rest["model"])
    return {**_flatten(rest), "recipe_version": recipe_version}


def context_of(recipe: dict[str, Any], tuned: Sequence[str] = (),
               match: dict[str, Any] | None = None) -> str:
    """Everything but the activation and the `tuned` keys (each entry's own choice under an
    equal tuning budget): entries with equal contexts differ only in activation (and in what
    their tuning chose). A matched entry's model and its solved width give way to the budget
    it was matched to (`match`: by and reference), so a KAN matched to an MLP is tested
    against the MLP's baseline entry of that budget."""
    rest = {k: v for k, v in recipe.items()
            if k != "activation" and not k.startswith("activation.") and k not in tuned
            and not (match and (k == "model" or k.startswith("model.")))}
    if match:
        rest["match"] = {"by": match.get("by"), "reference": match.get("reference")}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _fmt(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str | list | dict) or value is None \
        else f"{value}"


def _describe_differences(items: list[Entry]) -> list[str]:
    """Set each item's `recipe_diff` to the recipe keys (other than the activation, which the
    label shows) whose values are not the same for every item; returns those keys."""
    keys = sorted({k for e in items for k in e.recipe})
    varying = [k for k in keys
               if k != "activation" and not k.startswith("activation.")
               and len({_fmt(e.recipe.get(k)) for e in items}) > 1]
    for e in items:
        e.recipe_diff = {k: e.recipe.get(k) for k in varying}
        e.recipe_text = ", ".join(f"{k}={_fmt(v)}" for k, v in e.recipe_diff.items())
    return varying


@dataclass
class Entry:
    """One recipe's runs on a board: the metric per seed and what describes the recipe."""

    label: str
    activation: str
    spec_hash: str
    recipe: dict[str, Any]
    context: str
    experiment_ids: list[str]
    values: dict[int, float]  # seed -> the metric
    run_ids: dict[int, uuid.UUID]  # seed -> its run
    num_params: int | None
    macs: int | None
    activation_macs: int | None
    best_epoch_mean: float | None
    train_loss: float | None
    val_loss: float | None
    # The activations' zero fraction on the validation split (core/domain/metrics.py), shown beside
    # the loss: the sparsity-against-loss trade-off of ReLU, ReLU² and SwiGLU.
    val_sparsity: float | None
    # CETT sparsity (models with FFN slots): meaningful for every activation.
    val_sparsity_cett: float | None
    epoch_seconds: float | None
    best_value: float | None
    provenance: dict[str, str | None]
    # Seeds that diverged (seed -> run: ranked worst, never dropped) and that failed (counted).
    diverged: dict[int, uuid.UUID] = field(default_factory=dict)
    failed: int = 0
    # Filled by the board: the recipe keys that differ between its entries.
    recipe_diff: dict[str, Any] = field(default_factory=dict)
    recipe_text: str = ""
    # Filled for a time-to-target board: (epochs, reached) per run, and TARGET_COLUMNS.
    times: tuple[list[float], list[bool]] = ([], [])
    target: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        """The mean over the seeds that finished; None where every seed diverged."""
        return mean(list(self.values.values())) if self.values else None

    def column(self, name: str) -> float | None:
        """A value the cross-task board ranks by (RANK_COLUMNS)."""
        return self.mean if name == "mean" else cast(float | None, getattr(self, name))


def _entries(session: Session, rows: list[Any], q: Query,
             ended: list[Any] | None = None) -> list[Entry]:
    """Group runs by recipe (spec hash): one leaderboard entry per recipe. `ended` (runs that
    diverged or failed, core/store/results.py::ended_rows) are counted on their recipe's entry; a
    recipe whose every seed diverged still has one (nothing is dropped)."""
    ended = ended or []
    hashes = {r.spec_hash for r in rows} | {r.spec_hash for r in ended}
    specs: dict[str, Any] = {}
    if hashes:
        specs = {h: s for h, s in session.execute(
            select(Experiment.spec_hash, Experiment.spec).where(
                Experiment.spec_hash.in_(hashes))).all()}
    groups: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        if getattr(r, f"{q.stat}_{q.metric}") is not None:
            groups[r.spec_hash].append(r)
    stopped: dict[str, list[Any]] = defaultdict(list)
    for r in ended:
        stopped[r.spec_hash].append(r)
    listed = set(groups) | {h for h, runs in stopped.items()
                            if any(r.status == RunStatus.diverged for r in runs)}
    out = [_entry(spec_hash, groups.get(spec_hash, []), stopped.get(spec_hash, []),
                  specs.get(spec_hash, {}), q) for spec_hash in listed]
    out.sort(key=lambda e: (e.label, e.spec_hash))
    return out


def _entry(spec_hash: str, runs: list[Any], ended: list[Any], spec: dict[str, Any],
           q: Query) -> Entry:
    values = {r.seed: getattr(r, f"{q.stat}_{q.metric}") for r in runs}
    first = (runs or ended)[0]
    recipe = recipe_of(spec, first.recipe_version)
    better = max if HIGHER_IS_BETTER[q.metric] else min
    return Entry(
        label=activation_label(first.activation, spec), activation=first.activation,
        spec_hash=spec_hash, recipe=recipe,
        context=context_of(recipe, spec.get("tuned", ()), spec.get("match")),
        experiment_ids=sorted({str(r.experiment_id) for r in [*runs, *ended]}),
        values=values, run_ids={r.seed: r.run_id for r in runs},
        diverged={r.seed: r.run_id for r in ended if r.status == RunStatus.diverged},
        failed=sum(r.status == RunStatus.failed for r in ended),
        best_value=better(values.values()) if values else None,
        provenance=_provenance(runs), **_averages(runs))


def _averages(runs: list[Any]) -> dict[str, Any]:
    """What an entry shows of its finished runs beside the metric: their means."""
    return {
        "num_params": _rounded_mean([r.num_params or None for r in runs]),
        "macs": _rounded_mean([r.macs or None for r in runs]),
        "activation_macs": _rounded_mean([r.activation_macs for r in runs]),
        "best_epoch_mean": _mean_or_none([r.best_epoch for r in runs]),
        "train_loss": _mean_or_none([r.final_train_loss for r in runs]),
        "val_loss": _mean_or_none([r.final_val_loss for r in runs]),
        "val_sparsity": _mean_or_none([r.final_val_sparsity for r in runs]),
        "val_sparsity_cett": _mean_or_none([r.final_val_sparsity_cett for r in runs]),
        "epoch_seconds": _mean_or_none([r.best_epoch_seconds for r in runs])}


PROVENANCE_COLUMNS = ("devices", "precision", "modes", "kernels", "versions")


def _provenance(runs: list[Any]) -> dict[str, str | None]:
    """What produced the entry's numbers (each distinct value once), for the exports."""
    origins = [r.provenance or {} for r in runs]

    def distinct(*keys: str) -> str | None:
        named = len(keys) > 1  # several fields: each value after its name
        seen = sorted({" ".join(f"{k} {o[k]}" if named else str(o[k]) for k in keys)
                       for o in origins if all(o.get(k) for k in keys)})
        return ", ".join(seen) or None

    return {"devices": distinct("device_name"), "precision": distinct("precision"),
            "modes": distinct("mode"), "kernels": distinct("kernels"),
            "versions": distinct("actlab", "torch")}


TARGET_COLUMNS = ("target_runs", "target_reached", "median_epochs", "median_epochs_low",
                  "median_epochs_high", "median_seconds", "median_seconds_low",
                  "median_seconds_high", "target_epochs")


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _time_to(session: Session, items: list[Entry], target: Target) -> None:
    """Each entry's runs' epochs and seconds to `target` (censored when never reached) and
    the Kaplan-Meier medians."""
    found = times(session, [r for e in items for r in [*e.run_ids.values(),
                                                       *e.diverged.values()]], target)
    for e in items:
        # a diverged run never reaches the target: censored at its last epoch
        mine = {seed: found[r] for seed, r in {**e.run_ids, **e.diverged}.items()
                if r in found}
        reached = [t.reached for t in mine.values()]
        epochs = km_median([float(t.epochs) for t in mine.values()], reached)
        seconds = km_median([t.seconds for t in mine.values()], reached)
        e.times = ([float(t.epochs) for t in mine.values()], reached)
        e.target = {"target_runs": len(mine), "target_reached": sum(reached),
                    "median_epochs": epochs.value, "median_epochs_low": epochs.low,
                    "median_epochs_high": epochs.high, "median_seconds": seconds.value,
                    "median_seconds_low": seconds.low, "median_seconds_high": seconds.high,
                    "target_epochs": {seed: t.epochs if t.reached else None
                                      for seed, t in sorted(mine.items())}}


def _mean_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return mean(present) if present else None


def _rounded_mean(values: list[int | None]) -> int | None:
    average = _mean_or_none([float(v) if v is not None else None for v in values])
    return round(average) if average is not None else None


def _compare(entry: Entry, base: Entry, q: Query) -> tuple[TestResult | None, str]:
    """The entry against its baseline, and the name of the test that ran: the log-rank test
    of the epochs to a target (`logrank_exact` where it is a permutation p, small samples),
    or `q.test` on the metric's values."""
    if q.target is not None:
        result = logrank(entry.times, base.times)
        if result is None:
            return None, "logrank"
        return (TestResult(result.statistic, result.p_value),
                "logrank_exact" if result.exact else "logrank")
    a, b = list(entry.values.values()), list(base.values.values())
    if entry.diverged or base.diverged:  # diverged seeds ranked worst, the test exact
        worst = -math.inf if HIGHER_IS_BETTER[q.metric] else math.inf
        return (mann_whitney_exact([*a, *[worst] * len(entry.diverged)],
                                   [*b, *[worst] * len(base.diverged)]), "mannwhitney_exact")
    if q.test == "welch":
        return welch(a, b), q.test
    if q.test == "mannwhitney":
        return mann_whitney(a, b), q.test
    common = sorted(set(entry.values) & set(base.values))
    return paired([entry.values[s] for s in common], [base.values[s] for s in common]), q.test


def _equivalence(entry: Entry, base: Entry | None, q: Query) -> float | None:
    """TOST's p that the entry is within +-margin of its baseline on the metric; None
    without a margin, without a baseline, on a time-to-target board (no equivalence test of
    survival data here), where a seed of either diverged, or below two seeds a side."""
    if q.margin is None or q.target is not None or base is None or entry is base \
            or entry.diverged or base.diverged:  # a diverged seed is no evidence of equality
        return None
    return tost(list(entry.values.values()), list(base.values.values()), q.margin)


def _baselines(items: list[Entry], baseline: str) -> dict[str, Entry]:
    """context -> the baseline entry trained in it: the baseline activation at its default
    parameters if there is one, else with the most seeds."""
    canonical = entries("activations").get(baseline, {}).get("name", baseline)
    out: dict[str, Entry] = {}
    for e in items:
        if e.activation != canonical:
            continue
        current = out.get(e.context)
        key = (e.label == canonical, len(e.values))
        if current is None or key > (current.label == canonical, len(current.values)):
            out[e.context] = e
    return out


def _ahead(e: Entry, base: Entry, q: Query, result: TestResult) -> bool:
    """Whether the entry is ahead of its baseline: reaches the target sooner (more runs
    reaching it breaks ties), ranks higher where diverged seeds count as worst (its U above
    the null's centre), or has the better mean."""
    if q.target is not None:
        def when(x: Entry) -> tuple[float, float]:
            return (_or_inf(x.target["median_epochs"]),
                    -x.target["target_reached"] / x.target["target_runs"])
        return when(e) < when(base)
    if (e.diverged or base.diverged) and result.statistic is not None:
        centre = (len(e.values) + len(e.diverged)) * (len(base.values) + len(base.diverged)) / 2
        return result.statistic > centre if HIGHER_IS_BETTER[q.metric] \
            else result.statistic < centre
    diff = cast(float, e.mean) - cast(float, base.mean)
    return diff > 0 if HIGHER_IS_BETTER[q.metric] else diff < 0


def _verdict(e: Entry, base: Entry | None, result: TestResult | None,
             p_holm: float | None, q: Query) -> Verdict:
    if e is base:
        return Verdict.baseline
    if base is None:
        return Verdict.no_baseline
    if result is None:
        return Verdict.too_few
    if p_holm is None:
        return Verdict.undefined
    if q.target is not None:
        return decide(p_holm, q.alpha, _ahead(e, base, q, result), yes=Verdict.sooner,
                      no=Verdict.later)
    return decide(p_holm, q.alpha, _ahead(e, base, q, result))


def _row(e: Entry, base: Entry | None, result: TestResult | None, p_holm: float | None,
         rank: float, q: Query) -> dict[str, Any]:
    """One entry as the board's response shows it (api/reports.py::BoardEntry)."""
    values = list(e.values.values())
    d = describe(values)
    compared = base is not None and e is not base
    return {
        "rank": rank, "label": e.label, "activation": e.activation,
        "recipe": e.recipe_text, "recipe_diff": e.recipe_diff,
        "spec_hash": e.spec_hash, "experiment_ids": e.experiment_ids, "context": e.context,
        "baseline_spec_hash": base.spec_hash if base is not None else None,
        **asdict(d),
        "seeds": sorted(e.values),
        "diverged": len(e.diverged), "failed": e.failed,
        "statistic": result.statistic if result is not None else None,
        "p_value": result.p_value if result is not None else None,
        "p_holm": p_holm,
        "cohens_d": cohens_d(values, list(base.values.values()))
        if compared and base is not None else None,
        "verdict": _verdict(e, base, result, p_holm, q),
        "best_epoch_mean": e.best_epoch_mean,
        "val_loss": e.val_loss,
        # exact zeros mean nothing for an activation that never outputs one (GELU, SiLU)
        "val_sparsity": e.val_sparsity if _exact_zeros(e.activation) else None,
        "val_sparsity_cett": e.val_sparsity_cett,
        "num_params": e.num_params, "macs": e.macs, "activation_macs": e.activation_macs,
        "metric_per_mmac": (d.mean / (e.macs / 1e6)) if e.macs and d.mean else None,
        **e.provenance, **(e.target if q.target is not None else {}),
    }


def _exact_zeros(activation: str) -> bool:
    return bool(entries("activations").get(activation, {}).get("exact_zeros", True))


def _sparsity(group: list[Entry]) -> list[float | None]:
    """What a group is ranked on for sparsity: CETT sparsity where its model has FFN slots
    (its runs recorded it), which any activation can have; elsewhere the exact-zero fraction,
    for the activations that can output an exact zero only (GELU's 0 is no rank)."""
    if any(e.val_sparsity_cett is not None for e in group):
        return [e.val_sparsity_cett for e in group]
    return [e.val_sparsity if _exact_zeros(e.activation) else None for e in group]


def _ranks(items: list[Entry], q: Query) -> list[float]:
    """Average ranks by the metric's mean, or by the median epochs to the target (sooner is
    better; never reached ranks last)."""
    if q.target is not None:
        return average_ranks([_or_inf(e.target["median_epochs"]) for e in items], False)
    higher = HIGHER_IS_BETTER[q.metric]
    worst = -math.inf if higher else math.inf  # every seed diverged: last
    return average_ranks([m if (m := e.mean) is not None else worst for e in items], higher)


def _rows(items: list[Entry], bases: dict[str, Entry], q: Query) -> list[dict[str, Any]]:
    """Each entry tested against its context's baseline (Holm over the board), with the
    test that ran and, with a margin, its equivalence p (Holm too)."""
    compared = [_compare(e, base, q) if (base := bases.get(e.context)) is not None
                and e is not base else (None, None) for e in items]
    adjusted = holm([r.p_value if r is not None else None for r, _ in compared])
    equivalence = holm([_equivalence(e, bases.get(e.context), q) for e in items])
    return [_row(e, bases.get(e.context), res, p_adj, rank, q)
            | {"test": test, "p_equivalence": p_eq,
               "equivalent": None if p_eq is None else p_eq < q.alpha}
            for e, (res, test), p_adj, rank, p_eq in zip(items, compared, adjusted,
                                                         _ranks(items, q), equivalence,
                                                         strict=True)]


def task_board(session: Session, model: str | None, dataset: str, q: Query,
               items: list[Entry] | None = None) -> dict[str, Any]:
    """`items` lets the cross-task board pass what it already fetched. Without a model:
    every model trained on the dataset, each entry labelled with its model."""
    if items is None:
        where = and_(Experiment.dataset == dataset, q.filters.clause(session),
                     *([Experiment.model == model] if model is not None else []))
        items = _entries(session, final_rows(session, where, q.select_by), q,
                         ended_rows(session, where))
        if model is None:
            for e in items:
                e.label = f"{e.label} / {e.recipe.get('model.name')}"
    varying = _describe_differences(items)
    bases = _baselines(items, q.baseline)
    if q.target is not None:
        _time_to(session, items, q.target)
    board = _rows(items, bases, q)
    board.sort(key=lambda item: (item["rank"], item["label"], item["recipe"]))
    _race_decisions(session, q.filters.sweep, board)
    return {"model": model, "dataset": dataset, "metric": q.metric, "stat": q.stat,
            "select": q.select_by, "higher_is_better": HIGHER_IS_BETTER[q.metric],
            "baseline": q.baseline, "baseline_found": bool(bases),
            "baselines": [{"label": b.label, "spec_hash": b.spec_hash,
                           "context": ctx, "recipe": b.recipe_text}
                          for ctx, b in sorted(bases.items())],
            "differs_by": varying, "test": "logrank" if q.target is not None else q.test,
            "target": str(q.target) if q.target is not None else None,
            "alpha": q.alpha, "correction": "holm", "margin": q.margin,
            "family_size": sum(row["p_holm"] is not None for row in board),
            "filters": q.filters.to_dict(), "entries": board}


def _race_decisions(session: Session, sweep_id: uuid.UUID | None,
                    board: list[dict[str, Any]]) -> None:
    """A raced sweep's board: each row with its entry's decision and the round of it."""
    sweep = session.get(Sweep, sweep_id) if sweep_id is not None else None
    raced = race.report(session, sweep) if sweep is not None else None
    if raced is None:
        return
    by_experiment = {e["experiment_id"]: e for e in raced["entries"]}
    for row in board:
        entry = next((by_experiment[i] for i in row["experiment_ids"] if i in by_experiment),
                     None)
        if entry is not None:
            row["decision"], row["decided_round"] = entry["decision"], entry["decided_round"]


RANK_COLUMNS = {  # column -> (entry field, higher is better; None: the metric's own)
    "accuracy": ("best_value", None),
    "mean_accuracy": ("mean", None),
    "train_loss": ("train_loss", False),
    "val_loss": ("val_loss", False),
    "time": ("epoch_seconds", False),
    # CETT sparsity where the group's model has FFN slots, else exact zeros (_sparsity)
    "sparsity": ("sparsity", True),
}
# tie is "not significant" (kept under its old name); not_significant counts the same
# comparisons; equivalent counts those TOST puts within the request's margin (never without
# one): absence of evidence of a difference is not evidence of equivalence.
NO_RECORD = {"win": 0, "tie": 0, "loss": 0, "not_significant": 0, "equivalent": 0}


class _CrossTask:
    """The running tallies of the cross-task board: each label's ranks per column, the
    tasks it was ranked on, and its win/tie/loss record against the baseline."""

    def __init__(self, metric: str, target: Target | None = None) -> None:
        self.metric = metric
        self.higher = HIGHER_IS_BETTER[metric]
        # with a target, the profiles' cost is the median epochs to it (never: inf)
        self.target = target
        # per comparison group, each label's cost (api/analytics/profiles.py)
        self.problems: list[dict[str, float]] = []
        self.ranks: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.tasks_of: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.record: dict[str, dict[str, int]] = defaultdict(lambda: dict(NO_RECORD))

    def rank_group(self, group: list[Entry], task: tuple[str, str]) -> None:
        """Rank one comparison group (entries of one context) on every column."""
        for column, (name, higher) in RANK_COLUMNS.items():
            values = _sparsity(group) if name == "sparsity" else [e.column(name) for e in group]
            present = [(e, v) for e, v in zip(group, values, strict=True) if v is not None]
            column_ranks = average_ranks([v for _, v in present],
                                         self.higher if higher is None else higher)
            for (e, _), rank in zip(present, column_ranks, strict=True):
                self.ranks[e.label][column].append(rank)
        for e in group:
            self.tasks_of[e.label].add(task)
        costs: dict[str, float] = {}
        for e in group:
            mine = _or_inf(e.target.get("median_epochs")) if self.target is not None \
                else cost(self.metric, e.mean)
            costs[e.label] = min(costs.get(e.label, math.inf), mine)
        self.problems.append(costs)

    def profiles(self) -> dict[str, Any]:
        name = f"epochs to {self.target}" if self.target is not None else cost_name(self.metric)
        return {"cost": name, "tau_max": TAU_MAX,
                "problems": len(self.problems),
                "entries": profiles(self.problems, sorted(self.tasks_of))}

    def count(self, board: dict[str, Any]) -> None:
        for entry in board["entries"]:
            outcome = Verdict(entry["verdict"]).outcome
            record = self.record[entry["label"]]
            if outcome:
                record[outcome] += 1
            if outcome == "tie":
                record["not_significant"] += 1
            if entry.get("equivalent"):
                record["equivalent"] += 1

    def table(self, scores: dict[str, float]) -> list[dict[str, Any]]:
        """Each label's average ranks, record and profile score (`scores`, by label)."""
        table = []
        for label in self.tasks_of:  # an activation whose every seed diverged is listed too
            columns = self.ranks[label]
            row: dict[str, Any] = {"label": label, "tasks": len(self.tasks_of[label]),
                                   "groups": len(columns["mean_accuracy"])}
            for column in RANK_COLUMNS:
                row[f"avg_rank_{column}"] = mean(columns[column]) if columns[column] else None
            row.update(self.record.get(label, NO_RECORD))
            row["profile_score"] = scores.get(label)
            table.append(row)
        table.sort(key=lambda r: (_or_inf(r["avg_rank_mean_accuracy"]), r["label"]))
        return table


def cross_task_board(session: Session, q: Query) -> dict[str, Any]:
    """Average ranks across comparison groups: within a task, only entries of one context
    (the same recipe but for the activation) are ranked against each other; a group of one
    ranks nothing. `tasks` counts the distinct (model, dataset) pairs an activation was
    ranked on."""
    rows = final_rows(session, q.filters.clause(session), q.select_by)
    by_task: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in rows:
        by_task[(r.model, r.dataset)].append(r)
    ended: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in ended_rows(session, q.filters.clause(session)):
        ended[(r.model, r.dataset)].append(r)
    for task in ended:  # a task where every seed diverged is still a task
        by_task.setdefault(task, [])
    tally = _CrossTask(q.metric, q.target)
    tasks = []
    for (model, dataset), task_rows in sorted(by_task.items()):
        items = _entries(session, task_rows, q, ended.get((model, dataset), []))
        # the task's board first: with a target it measures each entry's time to it
        board = task_board(session, model, dataset, q, items=items)
        groups: dict[str, list[Entry]] = defaultdict(list)
        for e in items:
            groups[e.context].append(e)
        ranked = [g for g in groups.values() if len(g) >= 2]
        for group in ranked:
            tally.rank_group(group, (model, dataset))
        tally.count(board)
        tasks.append({"model": model, "dataset": dataset, "entries": len(items),
                      "comparison_groups": len(ranked),
                      "baseline_found": board["baseline_found"]})
    profiles = tally.profiles()
    scores = {p["label"]: p["score"] for p in profiles["entries"]}
    return {"metric": q.metric, "stat": q.stat, "select": q.select_by,
            "baseline": q.baseline, "test": q.test, "alpha": q.alpha, "margin": q.margin,
            "filters": q.filters.to_dict(), "tasks": tasks, "entries": tally.table(scores),
            "profiles": profiles}
