"""`actlab train`: one spec, every seed, in this process: progress bar and a summary table."""

from __future__ import annotations

import statistics

from tqdm import tqdm

from core.domain.metrics import TEST_ACCURACY_AT_BEST
from core.domain.settings import Settings
from core.domain.spec import ExperimentSpec
from core.domain.status import TrainStatus
from worker.training import EpochReport, TrainConfig, pick_device, train


def train_locally(spec: ExperimentSpec, settings: Settings, device: str = "auto") -> int:
    dev = pick_device(device)
    rows = []
    for seed in spec.seeds:
        config = TrainConfig.from_spec(spec, seed)
        with tqdm(total=config.training.epochs, desc=f"seed {seed}", unit="epoch") as bar:
            def on_epoch(report: EpochReport, bar: tqdm = bar) -> None:
                bar.set_postfix(loss=f"{report.metrics['train_loss']:.4f}",
                                val_acc=f"{report.metrics['val_accuracy']:.4f}",
                                test_acc=f"{report.metrics['test_accuracy']:.4f}")
                bar.update(1)

            result = train(config, device=dev, on_epoch=on_epoch,
                           data_root=settings.datasets_dir)
        rows.append((seed, result))
        if result.error:
            tqdm.write(f"seed {seed}: {result.status}: {result.error}")

    print(f"\n{spec.activation.name} / {spec.model.name} / {spec.dataset.name} on {dev}")
    # Validation picks the best epoch; the test split is reported at that epoch and the last.
    # Segmentation runs add the test split's mean IoU (their accuracies are per pixel).
    miou = any("test_miou" in r.final_metrics for _, r in rows)
    print(f"{'seed':>6} {'status':>10} {'val_acc':>8} {'test_acc':>8} {'best ep':>7} "
          f"{'test@best':>9} {'s/epoch':>8}" + (f" {'test_miou':>9}" if miou else ""))
    tests = []
    nan = float("nan")
    for seed, r in rows:
        m = r.final_metrics
        if r.status == TrainStatus.completed:
            tests.append(m["test_accuracy"])
        secs = statistics.fmean(h["epoch_seconds"] for h in r.history) if r.history else 0.0
        print(f"{seed:>6} {r.status:>10} {m.get('val_accuracy', nan):>8.4f} "
              f"{m.get('test_accuracy', nan):>8.4f} {r.best_epoch or 0:>7} "
              f"{m.get(TEST_ACCURACY_AT_BEST, nan):>9.4f} {secs:>8.2f}"
              + (f" {m.get('test_miou', nan):>9.4f}" if miou else ""))
    if len(tests) > 1:
        print(f"test_accuracy (last epoch) mean {statistics.fmean(tests):.4f} ± "
              f"{statistics.stdev(tests):.4f} (std, n={len(tests)})")
    if rows:
        print(f"parameters {rows[0][1].num_params:,}  MACs {rows[0][1].macs:,}")
    return 0 if all(r.status == TrainStatus.completed for _, r in rows) else 1
