"""Per-epoch checkpoint cost: the old way (a full checkpoint to a local file every epoch)
against the artifact store (a local directory, and S3 through a real S3-protocol server),
next to the epoch itself, for mnist1d_cnn, lenet5 and resnet_v1 depth 20.

    python -m bench.bookkeeping [--repeats 5]

Starts moto's S3 server on a free loopback port for the S3 column (an object store on the
same machine: network and disk of a real deployment come on top). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from core.domain.spec import TrainingSettings
from core.store.artifacts import ArtifactStore, LocalStore, S3Store
from tests.s3 import CREDENTIALS, s3_server
from worker.training import TrainConfig
from worker.training.checkpoint import Checkpointer
from worker.training.datasets import DataSplits, load_dataset
from worker.training.loop import SeedTrainer

CASES = [("mnist1d_cnn", {}, "mnist1d", 128), ("lenet5", {}, "digits", 64),
         ("resnet_v1", {"depth": 20}, "synthetic_images", 128)]


def _data(name: str, root: Path) -> DataSplits:
    if name != "synthetic_images":
        return load_dataset(name, {}, root)
    # CIFAR-shaped (no download): 1,024 images, so one epoch is short but real.
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1024, 3, 32, 32, generator=g), torch.randint(0, 10, (1024,), generator=g)
    return DataSplits(x, y, x[:256], y[:256], x[:256], y[:256], 10)


def _timed(fn: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _row(model: str, params: dict[str, int], dataset: str, batch: int, root: Path,
         stores: dict[str, ArtifactStore], repeats: int) -> str:
    config = TrainConfig(activation="relu", model=model, model_params=params,
                         dataset=dataset if dataset != "synthetic_images" else "digits",
                         training=TrainingSettings(epochs=2, batch_size=batch))
    trainer = SeedTrainer(config, "cpu", root / "datasets", _data(dataset, root / "datasets"))
    prep, schedule = trainer.prep, trainer.schedule
    started = time.perf_counter()
    trainer.next_epoch(None)
    epoch_s = time.perf_counter() - started
    history = [{"val_accuracy": 0.5}]
    best = {k: v.clone() for k, v in prep.model.state_dict().items()}

    def old_way() -> None:  # what the runner did before: a local file, every epoch
        torch.save({"epoch": 1, "model": prep.model.state_dict(),
                    "optimizer": prep.optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "history": history}, root / "old.pt")

    def to(store: ArtifactStore) -> Callable[[], None]:
        slot = Checkpointer(store, f"checkpoints/{model}.pt")
        return lambda: slot.save(prep, schedule, 1, history, best, config.to_dict())

    times = [_timed(old_way, repeats), *(_timed(to(st), repeats) for st in stores.values())]
    size = len(stores["local"].get(f"checkpoints/{model}.pt")) / 2**20
    return (f"| {model} | {size:.2f} | {epoch_s:.2f} | "
            + " | ".join(f"{t:.1f}" for t in times) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    print("| model | checkpoint MB | epoch s | local file ms (before) | store, local ms | "
          "store, S3 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp, s3_server() as server:
        root = Path(tmp)
        stores: dict[str, ArtifactStore] = {
            "local": LocalStore(root / "artifacts"),
            "s3": S3Store(server.new_bucket(), "bench", endpoint_url=server.endpoint)}
        for model, params, dataset, batch in CASES:
            print(_row(model, params, dataset, batch, root, stores, args.repeats), flush=True)


if __name__ == "__main__":
    main()
