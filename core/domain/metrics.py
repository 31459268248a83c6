"""The per-epoch metrics: their names, the split each is measured on, and which way is better.

One table, read by the trainer's writer, the ORM, the HTTP schemas and the dashboards, so a
metric is added here and nowhere else by name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    split: str  # train | validation | test | none
    higher_is_better: bool
    # Time metrics: a run's "best" makes no sense; dashboards average them over epochs.
    averaged: bool = False
    doc: str = ""


METRIC_TABLE: tuple[Metric, ...] = (
    Metric("train_loss", "train", False, doc="mean cross-entropy over the epoch's batches"),
    Metric("train_accuracy", "train", True,
           doc="accuracy over the epoch's batches (per pixel for segmentation)"),
    Metric("val_loss", "validation", False,
           doc="on the validation split, held out from the training data"),
    Metric("val_accuracy", "validation", True, doc="on the validation split"),
    Metric("val_top5", "validation", True, doc="top-5 accuracy on the validation split"),
    Metric("test_loss", "test", False, doc="on the official test split"),
    Metric("test_accuracy", "test", True, doc="on the official test split"),
    Metric("test_top5", "test", True, doc="top-5 accuracy on the official test split"),
    # Segmentation datasets only (null elsewhere); their accuracies are per pixel.
    Metric("val_miou", "validation", True,
           doc="mean intersection-over-union over the classes, on the validation split "
               "(segmentation datasets)"),
    Metric("test_miou", "test", True,
           doc="mean intersection-over-union over the classes, on the test split "
               "(segmentation datasets)"),
    # Language-model datasets only (null elsewhere); their losses are per scored token.
    Metric("val_perplexity", "validation", False,
           doc="exp of the mean per-token cross-entropy, on the validation split "
               "(language-model datasets)"),
    Metric("test_perplexity", "test", False,
           doc="exp of the mean per-token cross-entropy, on the test split "
               "(language-model datasets)"),
    # Regression datasets only (null elsewhere): root mean squared error of the prediction
    # in the target's own units, and R^2 against the split's own mean.
    Metric("train_rmse", "train", False,
           doc="root mean squared error over the epoch's batches (regression datasets)"),
    Metric("val_rmse", "validation", False,
           doc="root mean squared error on the validation split (regression datasets)"),
    Metric("test_rmse", "test", False,
           doc="root mean squared error on the test split (regression datasets)"),
    Metric("val_r2", "validation", True,
           doc="coefficient of determination, 1 - SSE / SST about the split's mean, on the "
               "validation split (regression datasets)"),
    Metric("test_r2", "test", True,
           doc="coefficient of determination on the test split (regression datasets)"),
    Metric("val_sparsity", "validation", True,
           doc="fraction of the activation slots' outputs that are exactly zero on the "
               "validation split, averaged over slots (per slot: GET /runs/{id}/sparsity)"),
    # Models with FFN slots only (null elsewhere): sparsity any activation can have.
    Metric("val_sparsity_cett", "validation", True,
           doc="CETT sparsity (Zhang et al. 2024): per FFN layer, the fraction of hidden "
               "units at or below the largest magnitude whose zeroing changes the FFN's "
               "output by at most `sparsity_cett` (0.2) of its norm, on the validation "
               "split, averaged over layers"),
    Metric("lr", "none", False, doc="learning rate at the end of the epoch"),
    Metric("epoch_seconds", "none", False, averaged=True,
           doc="wall time of the epoch, evaluation included"),
    Metric("samples_per_second", "none", True, averaged=True,
           doc="training throughput (evaluation excluded)"),
)

METRICS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRIC_TABLE}
HIGHER_IS_BETTER: dict[str, bool] = {m.name: m.higher_is_better for m in METRIC_TABLE}
AVERAGED: frozenset[str] = frozenset(m.name for m in METRIC_TABLE if m.averaged)
# What "best epoch" may be chosen by: validation metrics only, never the test split.
SELECTION_METRICS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE
                                           if m.split == "validation")
DEFAULT_SELECTION = "val_accuracy"
DEFAULT_LEADERBOARD_METRIC = "test_accuracy"
# Per dataset task, what chooses a run's best epoch and what its board ranks by, when not told
# (tasks absent here take DEFAULT_SELECTION and DEFAULT_LEADERBOARD_METRIC).
TASK_DEFAULTS: dict[str, tuple[str, str]] = {"regression": ("val_rmse", "test_rmse")}
# What a leaderboard and a race compare against unless told.
DEFAULT_BASELINE = "relu"
# A run's value of a metric: at its last epoch, or at its best-validation epoch.
STATS = ("final", "best")

# Per activation slot, the sparsity table's second fraction counts outputs below this in
# magnitude (zero for inference that skips them: "ReLU strikes back", Mirzadeh et al. 2023).
SMALL_MAGNITUDE = 1e-6

# A finished run's headline numbers, stored in its final metrics beside the last epoch's:
# what a paper reports, read at the best epoch by DEFAULT_SELECTION (the worker's
# worker/training/measure.py::final_metrics; the search screens and confirms on them).
BEST_VAL_ACCURACY = "best_val_accuracy"
TEST_ACCURACY_AT_BEST = "test_accuracy_at_best"
HEADLINE_METRICS: tuple[str, ...] = (BEST_VAL_ACCURACY, TEST_ACCURACY_AT_BEST)


def headline_names(select_by: str) -> tuple[str, str]:
    """The two headline numbers of a run whose best epoch is chosen by `select_by` (a
    validation metric, `val_X`): `best_val_X` and `test_X_at_best` (best_val_accuracy and
    test_accuracy_at_best for classification; best_val_rmse and test_rmse_at_best for
    regression)."""
    return f"best_{select_by}", f"{test_metric(select_by)}_at_best"


def test_metric(select_by: str) -> str:
    """The test split's metric that a validation metric `val_X` selects for: `test_X`."""
    return f"test_{select_by.removeprefix('val_')}"


def task_defaults(task: str | None) -> tuple[str, str]:
    """(what chooses a run's best epoch, what its board ranks by) on a dataset of `task`."""
    return TASK_DEFAULTS.get(task or "", (DEFAULT_SELECTION, DEFAULT_LEADERBOARD_METRIC))


def task_selection(task: str | None) -> str:
    """What chooses the best epoch of a run on a dataset of `task`."""
    return task_defaults(task)[0]
