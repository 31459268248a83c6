"""Response schemas of the dashboards, the leaderboards and the sweeps, so /docs shows what
each returns. `extra="forbid"`: a key the analytics add without a field here fails the
response (and the tests) instead of leaving the documentation behind."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from api.schemas import ExperimentBrief
from core.domain.metrics import METRICS
from core.domain.status import Decision


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Described(Report):
    """Seeds as replicates: None where there are too few values for the statistic. The
    fields of core/statistics/significance.py::Describe, which computes them
    (tests/api/test_vocabulary.py holds the two to each other)."""

    n: int
    mean: float | None
    std: float | None
    sem: float | None
    ci95_low: float | None
    ci95_high: float | None
    median: float | None
    min: float | None
    max: float | None


class MetricSummary(Report):
    final: Described = Field(description="at each run's last epoch")
    best: Described = Field(description="at each run's best-validation epoch")
    higher_is_better: bool
    split: str


class TimeMetricSummary(Report):
    final: Described = Field(description="at each run's last epoch")
    mean_over_epochs: Described
    higher_is_better: bool
    split: str


class MeanStd(Report):
    mean: float | None
    std: float | None


# One field per metric (core.domain.metrics), so the schema lists them.
CurvePoint = create_model(  # type: ignore[call-overload]
    "CurvePoint", __base__=Report, epoch=(int, ...), n=(int, Field(description="seeds")),
    **{m: (MeanStd, ...) for m in METRICS})


class Summary(Report):
    experiment_id: uuid.UUID
    seeds_asked: int
    seeds_finished: int
    counts: dict[str, int] = Field(description="runs by status")
    select_by: str
    best_epochs: Described
    metrics: dict[str, MetricSummary | TimeMetricSummary]
    curves: list[CurvePoint]


class ParameterBox(Report):
    block: int | None
    position: int | None
    name: str
    layer: str
    n: int
    min: float
    q1: float
    median: float
    q3: float
    max: float
    mean: float


class EpochParameterBox(ParameterBox):
    epoch: int


class ParameterDistributions(Report):
    experiment_id: uuid.UUID
    runs: int = Field(description="runs with recorded parameters")
    final: list[ParameterBox] = Field(description="at each run's last recorded epoch")
    per_epoch: list[EpochParameterBox]


class LayerResponse(Report):
    layer: str
    block: int | None
    position: int | None
    curves: int = Field(description="channels x seeds")
    mean: list[float]
    min: list[float]
    max: list[float]


class Envelope(Report):
    min: list[float]
    max: list[float]


class ResponseRegion(Report):
    experiment_id: uuid.UUID
    xs: list[float]
    layers: list[LayerResponse]
    envelope: Envelope = Field(description="min and max over every layer: the response region")


class BoardFilters(Report):
    sweep: str | None
    tag: str | None
    experiment: list[str]
    device: str | None


class Baseline(Report):
    label: str
    spec_hash: str
    context: str
    recipe: str


class BoardEntry(Described):
    rank: float
    label: str
    activation: str
    recipe: str = Field(description="what differs from the other entries, as text")
    recipe_diff: dict[str, Any]
    spec_hash: str
    experiment_ids: list[str]
    context: str = Field(description="hash of the recipe without the activation")
    baseline_spec_hash: str | None
    seeds: list[int]
    statistic: float | None
    p_value: float | None
    p_holm: float | None
    test: str | None = Field(None, description="the test that ran against the baseline: "
                                               "welch, mannwhitney, paired; "
                                               "mannwhitney_exact where a seed of either "
                                               "diverged (ranked worst, a permutation p); "
                                               "logrank, or logrank_exact below 10 runs an "
                                               "arm; None: not compared")
    diverged: int = Field(0, description="seeds that diverged: ranked worst, never dropped "
                                         "(n counts the seeds that finished)")
    failed: int = Field(0, description="seeds that failed (errors, not results): counted")
    cohens_d: float | None
    verdict: str
    p_equivalence: float | None = Field(
        None, description="TOST's Holm-corrected p that the entry is within +-margin of its "
                          "baseline (with a `margin` only)")
    equivalent: bool | None = Field(None, description="p_equivalence below alpha")
    best_epoch_mean: float | None
    val_loss: float | None = Field(None, description="the runs' mean last-epoch val_loss")
    val_sparsity: float | None = Field(
        None, description="the runs' mean last-epoch val_sparsity: the fraction of "
                          "activation outputs that are exactly zero on the validation split "
                          "(null for an activation the catalog marks as never exactly zero)")
    val_sparsity_cett: float | None = Field(
        None, description="the runs' mean last-epoch val_sparsity_cett: CETT sparsity of the "
                          "FFN layers (models with FFN slots), meaningful for every activation")
    num_params: int | None
    macs: int | None
    activation_macs: int | None
    metric_per_mmac: float | None
    devices: str | None = Field(None, description="device names of the entry's runs")
    precision: str | None = Field(None, description="fp32, bf16-autocast (each run's)")
    modes: str | None = Field(None, description="execution modes: single, batched")
    kernels: str | None = Field(None, description="kernel paths: native, fallback")
    # With a target (time to target): runs, runs that reached it, the Kaplan-Meier median
    # epochs and seconds to reach it with 95 % bounds (None: not reached by half the runs, or
    # unbounded), and each seed's epochs (None: censored).
    target_runs: int | None = None
    target_reached: int | None = None
    median_epochs: float | None = None
    median_epochs_low: float | None = None
    median_epochs_high: float | None = None
    median_seconds: float | None = None
    median_seconds_low: float | None = None
    median_seconds_high: float | None = None
    target_epochs: dict[int, int | None] | None = None
    versions: str | None = Field(None, description="actlab and torch versions")
    # On the board of an adaptive sweep (sweep=...): the entry's race decision.
    decision: str | None = Field(None, description="better, worse, no_difference, undecided "
                                                   "or baseline (an adaptive sweep's race)")
    decided_round: int | None = None


class TaskBoard(Report):
    model: str | None  # None: every model trained on the dataset
    dataset: str
    metric: str
    stat: str
    select: str
    higher_is_better: bool
    baseline: str
    baseline_found: bool
    baselines: list[Baseline]
    differs_by: list[str]
    test: str = Field(description="welch, mannwhitney, paired; logrank with a target")
    target: str | None = Field(None, description="the target ranked by, if any")
    alpha: float
    correction: str
    margin: float | None = Field(None, description="the equivalence margin asked for")
    family_size: int = Field(description="tests corrected together (Holm)")
    filters: BoardFilters
    entries: list[BoardEntry]


class TaskSeen(Report):
    model: str
    dataset: str
    entries: int
    comparison_groups: int
    baseline_found: bool


class CrossTaskEntry(Report):
    label: str
    tasks: int
    groups: int
    avg_rank_accuracy: float | None
    avg_rank_mean_accuracy: float | None
    avg_rank_train_loss: float | None
    avg_rank_val_loss: float | None
    avg_rank_time: float | None
    avg_rank_sparsity: float | None = Field(
        None, description="by CETT sparsity where the model has FFN slots, else by the "
                          "exact-zero fraction among activations that can output 0")
    win: int
    tie: int = Field(description="comparisons not significant (the same as not_significant; "
                                 "kept for compatibility): not evidence of equality")
    loss: int
    not_significant: int = Field(0, description="comparisons without a significant difference")
    equivalent: int = Field(0, description="comparisons TOST puts within the `margin` asked "
                                           "for (0 without one)")
    profile_score: float | None = Field(
        None, description="the performance profile's integral over [1, tau_max] / "
                          "(tau_max - 1): 1 if best in every comparison group")


class Profile(Report):
    label: str
    tau: list[float] = Field(description="breakpoints of the step function, 1 to tau_max")
    rho: list[float] = Field(description="fraction of groups within tau of the best, held "
                                         "until the next breakpoint")
    score: float


class Profiles(Report):
    cost: str = Field(description="the lower-is-better cost: error (1 - accuracy), a loss, "
                                  "perplexity, ...")
    tau_max: float
    problems: int = Field(description="comparison groups (a task's entries of one recipe)")
    entries: list[Profile]


class CrossTaskBoard(Report):
    metric: str
    stat: str
    select: str
    baseline: str
    test: str
    alpha: float
    margin: float | None = None
    filters: BoardFilters
    tasks: list[TaskSeen]
    profiles: Profiles | None = Field(
        None, description="performance profiles (Dolan & Moré) and their scores (AlgoPerf)")
    entries: list[CrossTaskEntry]


class LearningRate(Report):
    activation: str
    n: int = Field(description="seeds with a suggestion")
    suggested_lr: float = Field(description="median over seeds")
    suggested_min: float
    suggested_max: float
    min_loss_lr: float | None


class LearningRates(Report):
    model: str
    dataset: str
    entries: list[LearningRate]


class SweepCell(Report):
    id: uuid.UUID
    name: str
    activation: str
    model: str
    dataset: str
    queued: int
    reused: int


class SkippedCell(Report):
    cell: int
    name: str
    reason: str


class SweepCreated(Report):
    id: uuid.UUID
    experiments: list[SweepCell]
    runs_queued: int
    runs_reused: int
    skipped: list[SkippedCell] = Field(description="cells whose model cannot take the dataset")


class SweepProgress(Report):
    runs: int
    finished: int
    counts: dict[str, int]
    fraction: float
    epochs_done: int
    epochs_total: int


class PowerPoint(BaseModel):
    seeds: int
    power: float


class Plan(Report):
    experiment_id: uuid.UUID
    metric: str
    stat: str
    pilot_seeds: int = Field(description="the experiment's finished seeds the scatter is from")
    mean: float
    sd: float = Field(description="the metric's standard deviation across the pilot's seeds")
    sd_cautious: float = Field(description="the upper bound of a one-sided 80 % interval of "
                                           "sd: what a few seeds may have underestimated")
    difference: float
    power: float
    alpha: float
    comparisons: int
    alpha_per_test: float = Field(description="alpha / comparisons (Bonferroni)")
    seeds_per_entry: int | None = Field(
        description="seeds per entry a fixed design needs (Welch's test, equal scatter); "
                    "None: more than 10,000")
    seeds_per_entry_cautious: int | None = Field(description="the same at sd_cautious")
    curve: list[PowerPoint] = Field(description="the power at other seed counts")


class RaceRound(BaseModel):
    n: int = Field(description="seeds up to this round")
    mean: float | None
    low: float | None = Field(description="95 % t-interval of the mean")
    high: float | None


class RaceEntry(BaseModel):
    label: str
    experiment_id: uuid.UUID
    decision: Decision
    decided_round: int | None = Field(description="1-based; None while undecided")
    seeds: int = Field(description="seeds spent (queued or trained)")
    diverged: int = Field(0, description="seeds that diverged: each tested as worse than every "
                                         "run with a value by its round, by one spread of "
                                         "those values")
    fixed_design_seeds: int | None = Field(
        description="seeds per entry a fixed Welch design at alpha / entries would need for "
                    "80 % power at the difference and scatter observed (None: not yet "
                    "measurable, or more than 10,000)")
    rounds: list[RaceRound] = Field(description="the entry's mean and interval after each "
                                                "round it took part in")


class RaceReport(BaseModel):
    round: int = Field(description="rounds started")
    finished: bool
    note: str | None = Field(description="why the race stopped early (a run that failed, or "
                                         "every run diverged)")
    baseline: str
    metric: str
    stat: str
    alpha: float
    per_round: int
    max_rounds: int
    rounds_decided: int = Field(description="rounds whose results have been tested")
    seeds_spent: int
    seeds_max: int = Field(description="entries x per_round x max_rounds")
    entries: list[RaceEntry]


class TuningTrial(BaseModel):
    params: dict[str, float] = Field(description="the point: training settings")
    seed: int
    value: float | None = Field(description="the selection metric at the trial's best epoch "
                                            "(None: not finished, diverged or failed)")
    status: str | None


class TuningEntry(BaseModel):
    label: str
    model: str
    dataset: str
    chosen: dict[str, float] | None = Field(description="the best trial's point (None: "
                                                        "not yet, or no trial finished)")
    on_edge: list[str] = Field(description="settings chosen in the outer tenth of their "
                                           "range: the best may lie outside; widen it")
    experiment_id: str | None = Field(description="the evaluation experiment at the choice")
    trials: list[TuningTrial]


class TuningReport(BaseModel):
    finished: bool = Field(description="every trial ended and the evaluation was created")
    select: str
    trials: int
    note: str | None = Field(None, description="why there is no evaluation (the "
                                               "deployment's limits of now refused it)")
    entries: list[TuningEntry]


class SweepPublic(Report):
    id: uuid.UUID
    name: str
    spec: dict[str, Any]
    created_at: datetime
    experiments: list[ExperimentBrief]
    progress: SweepProgress
    race: RaceReport | None = Field(None, description="an adaptive sweep's race")
    tuning: TuningReport | None = Field(None, description="a tuning budget: each entry's "
                                                          "trials and choice")


class SearchCreated(Report):
    id: uuid.UUID
    status: str
    space_size: int = Field(description="expansions of the schemas, plus candidates and templates")
    sampled: bool = Field(description="the space is above the pool size: the driver samples it")


class SearchProgress(Report):
    trainings: int = Field(description="runs trained or queued (reused results cost none)")
    budget: int
    fraction: float


class SearchCandidateRow(Report):
    rank: int | None = Field(description="by mean validation accuracy over the screening seeds")
    expression: str
    canonical: str
    parameters: dict[str, float]
    equivalents: list[str] = Field(description="other spellings of the same function")
    status: str = Field(description="pool, filtered, queued, running, done, failed, diverged")
    reason: str | None
    experiment_id: uuid.UUID | None = Field(description="its screening experiment")
    confirm_experiment_id: uuid.UUID | None
    val_mean: float | None
    val_std: float | None
    test_mean: float | None = Field(description="beside it; never used to choose")
    n: int | None
    macs: int | None
    chosen_at_step: int | None
    curve: list[float] | None = Field(description="f on `curve_xs` (clipped to +-10)")


class FilteredCandidate(Report):
    expression: str
    reason: str


class BestSoFar(Report):
    trainings: int
    val_mean: float
    expression: str


class ConfirmationRow(Report):
    expression: str
    role: str = Field(description="candidate or baseline")
    baseline: str
    test_mean: float | None = Field(description="test accuracy at each run's best-validation "
                                                "epoch, mean over the fresh seeds")
    n: int
    p_value: float | None = Field(description="paired t-test by seed against the baseline")
    p_holm: float | None = Field(description="Holm-corrected over candidates x baselines")
    verdict: str
    # Against the first baseline: the confirmation's race (seeds.confirm_rounds).
    race_decision: str | None = Field(None, description="better, worse, no_difference or "
                                                        "undecided (AdaStop over the rounds)")
    decided_round: int | None = None
    seeds: int | None = Field(None, description="confirmation seeds it trained")


class SurrogateRecord(Report):
    model: str | None
    spearman: float | None = Field(description="rank correlation of its predictions with the "
                                               "results they were followed by")
    n: int


class ParetoPoint(Report):
    expression: str
    val_mean: float
    macs: int


class SearchPublic(Report):
    id: uuid.UUID
    name: str
    status: str
    phase: str = Field(description="pool, screen, confirm, done")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    spec: dict[str, Any]
    progress: SearchProgress
    counts: dict[str, int]
    candidates: list[SearchCandidateRow]
    filtered: list[FilteredCandidate]
    best_so_far: list[BestSoFar]
    confirmation: list[ConfirmationRow]
    surrogate: SurrogateRecord
    pareto: list[ParetoPoint]
    steps: int
    curve_xs: list[float]


class SearchBrief(Report):
    id: uuid.UUID
    name: str
    status: str
    phase: str
    created_at: datetime


class SearchList(Report):
    items: list[SearchBrief]
    total: int
    limit: int
    offset: int


class SearchExport(Report):
    spec: dict[str, Any]
    candidates: list[SearchCandidateRow]
    filtered: list[FilteredCandidate]
    decisions: list[dict[str, Any]] = Field(
        description="the driver's log: step, rule, what was chosen, what the surrogate "
                    "predicted, the results it was made from")


class MetricInfo(Report):
    name: str
    split: str = Field(description="train | validation | test | none")
    higher_is_better: bool
    averaged: bool = Field(description="a time metric: averaged over epochs, never 'best'")
    doc: str


class StatusSets(Report):
    run: list[str]
    experiment: list[str]
    search: list[str]
    candidate: list[str] = Field(description="a search candidate's")


class Defaults(Report):
    model: str
    dataset: str
    seeds: list[int]
    epochs: int
    baseline: str = Field(description="the leaderboard's baseline activation")
    metric: str = Field(description="the leaderboard's metric")
    select_by: str = Field(description="the validation metric that picks the best epoch")


class DecisionInfo(BaseModel):
    name: Decision
    tone: Literal["good", "bad", "neutral", "open", "reference"] = Field(
        description="how a display marks it")


class Vocabulary(Report):
    """The names a client shows and filters by, from the service's own tables, so the
    dashboard writes none of them."""

    statuses: StatusSets
    finished: StatusSets = Field(description="the statuses that end each kind of work")
    with_results: list[str] = Field(description="run statuses whose runs have results to "
                                                "show (curves, pictures)")
    decisions: list[DecisionInfo] = Field(description="what a race says of an entry")
    verdicts: list[str] = Field(description="what a leaderboard says of an entry against its "
                                            "baseline")
    metrics: list[MetricInfo]
    selection_metrics: list[str]
    defaults: Defaults
