"""`actlab train`: one spec, every seed, in this process: progress bar and a summary table."""

from __future__ import annotations

import statistics
from typing import Any

from tqdm import tqdm

from core.settings import Settings
from core.spec import ExperimentSpec
from worker.training import EpochReport, TrainConfig, train
from worker.training.loop import pick_device


def train_locally(spec: ExperimentSpec, settings: Settings, device: str = "auto") -> int:
    spec_json: dict[str, Any] = spec.model_dump(mode="json")
    dev = pick_device(device)
    rows = []
    for seed in spec.seeds:
        config = TrainConfig.from_spec(spec_json, seed)
        with tqdm(total=config.epochs, desc=f"seed {seed}", unit="epoch") as bar:
            def on_epoch(report: EpochReport, bar: tqdm = bar) -> None:
                bar.set_postfix(loss=f"{report.metrics['train_loss']:.4f}",
                                val_acc=f"{report.metrics['val_accuracy']:.4f}")
                bar.update(1)

            result = train(config, device=dev, on_epoch=on_epoch,
                           data_root=settings.datasets_dir)
        rows.append((seed, result))
        if result.error:
            tqdm.write(f"seed {seed}: {result.status}: {result.error}")

    print(f"\n{spec.activation.name} / {spec.model.name} / {spec.dataset.name} on {dev}")
    print(f"{'seed':>6} {'status':>10} {'val_acc':>8} {'best':>8} {'val_loss':>9} {'s/epoch':>8}")
    accs = []
    for seed, r in rows:
        m = r.final_metrics
        if r.status == "completed":
            accs.append(m["val_accuracy"])
        secs = statistics.fmean(h["epoch_seconds"] for h in r.history) if r.history else 0.0
        print(f"{seed:>6} {r.status:>10} {m.get('val_accuracy', float('nan')):>8.4f} "
              f"{m.get('best_val_accuracy', float('nan')):>8.4f} "
              f"{m.get('val_loss', float('nan')):>9.4f} {secs:>8.2f}")
    if len(accs) > 1:
        print(f"val_accuracy mean {statistics.fmean(accs):.4f} ± {statistics.stdev(accs):.4f} "
              f"(std, n={len(accs)})")
    if rows:
        print(f"parameters {rows[0][1].num_params:,}  MACs {rows[0][1].macs:,}")
    return 0 if all(r.status == "completed" for _, r in rows) else 1
