"""Dataset readers on small files written by the test in the real formats (gzip IDX,
CIFAR python batches in a tar.gz), including corrupt, truncated and missing files."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.training import files
from worker.training.datasets import crop_and_flip, load_dataset
from worker.training.files import DatasetFileError, RemoteFile, md5sum


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def register_fixture(monkeypatch: pytest.MonkeyPatch, dataset: str, key: str,
                     path: Path) -> None:
    """Point the checksum table at the fixture (its real checksum, so verification runs)."""
    table = dict(files.FILES[dataset])
    table[key] = RemoteFile(path.name, "http://127.0.0.1:9/", md5sum(path))
    monkeypatch.setitem(files.FILES, dataset, table)


@pytest.fixture
def mnist_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (50, 28, 28)),
              "train_labels": rng.integers(0, 10, 50),
              "test_images": rng.integers(0, 256, (20, 28, 28)),
              "test_labels": rng.integers(0, 10, 20)}
    for key, array in arrays.items():
        path = tmp_path / "mnist" / files.FILES["mnist"][key].filename
        write_idx(path, array)
        register_fixture(monkeypatch, "mnist", key, path)
    return tmp_path


def test_mnist_idx_reader(mnist_dir: Path) -> None:
    data = load_dataset("mnist", {}, mnist_dir)
    # 10 % of the 50 training images held out for validation; the 20 test images as they are.
    assert data.train_x.shape == (45, 1, 28, 28) and data.val_x.shape == (5, 1, 28, 28)
    assert data.test_x.shape == (20, 1, 28, 28)
    raw = files.read_idx(mnist_dir / "mnist" / "train-images-idx3-ubyte.gz")
    expected = (raw.astype(np.float32) / 255 - 0.1307) / 0.3081
    seen = {row.tobytes() for row in torch.cat([data.train_x, data.val_x])[:, 0].numpy()}
    assert seen == {row.tobytes() for row in expected}  # train + val = the training file
    raw_test = files.read_idx(mnist_dir / "mnist" / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_allclose(data.test_x[:, 0].numpy(),
                               (raw_test.astype(np.float32) / 255 - 0.1307) / 0.3081, rtol=1e-6)
    held = load_dataset("mnist", {"val_fraction": 0.2, "subset": 30}, mnist_dir)
    assert len(held.val_x) == 10 and len(held.train_x) == 30 and len(held.test_x) == 20


def test_corrupt_file_fails_its_checksum(mnist_dir: Path) -> None:
    path = mnist_dir / "mnist" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-7])  # truncated
    with pytest.raises(DatasetFileError, match="corrupt or truncated: md5 .* expected"):
        load_dataset("mnist", {}, mnist_dir)


def test_truncated_idx_payload_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    header = bytes([0, 0, 8, 2]) + struct.pack(">2I", 4, 4)
    with gzip.open(path, "wb") as fh:
        fh.write(header + bytes(10))
    with pytest.raises(DatasetFileError, match="truncated: 10 bytes of data, expected 16"):
        files.read_idx(path)


def test_missing_file_without_network_names_file_and_url(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv("ACTLAB_DATASET_MIRROR", "http://127.0.0.1:9/")  # nothing listens
    with pytest.raises(DatasetFileError) as info:
        load_dataset("fashion_mnist", {}, tmp_path)
    message = str(info.value)
    assert str(tmp_path / "fashion_mnist" / "train-images-idx3-ubyte.gz") in message
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in message
    assert "Download it by hand" in message


def test_download_is_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import http.server
    import threading

    served = tmp_path / "served"
    write_idx(served / "t10k-labels-idx1-ubyte.gz", np.arange(10))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = lambda *a: Quiet(*a, directory=str(served))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("ACTLAB_DATASET_MIRROR", f"http://127.0.0.1:{server.server_port}/")
        table = dict(files.FILES["mnist"])
        table["test_labels"] = RemoteFile("t10k-labels-idx1-ubyte.gz", "",
                                          md5sum(served / "t10k-labels-idx1-ubyte.gz"))
        monkeypatch.setitem(files.FILES, "mnist", table)
        path = files.ensure_file(tmp_path / "root", "mnist", "test_labels")
        assert files.read_idx(path).tolist() == list(range(10))
        table["test_labels"] = RemoteFile("t10k-labels-idx1-ubyte.gz", "", "0" * 32)
        path.unlink()
        with pytest.raises(DatasetFileError, match="corrupt or truncated"):
            files.ensure_file(tmp_path / "root", "mnist", "test_labels")
    finally:
        server.shutdown()


def write_cifar(path: Path, members: dict[str, tuple[np.ndarray, list[int]]],
                label_key: str, folder: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, (images, labels) in members.items():
            blob = pickle.dumps({b"data": images.reshape(len(images), -1),
                                 label_key.encode(): labels})
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def test_cifar10_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    members = {f"data_batch_{i}": (rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8),
                                   [i % 10] * 4) for i in range(1, 6)}
    members["test_batch"] = (rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8), [9] * 6)
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    write_cifar(archive, members, "labels", "cifar-10-batches-py")
    register_fixture(monkeypatch, "cifar10", "archive", archive)
    data = load_dataset("cifar10", {}, tmp_path)
    assert data.train_x.shape == (18, 3, 32, 32) and data.val_x.shape == (2, 3, 32, 32)
    assert data.test_x.shape == (6, 3, 32, 32) and data.test_y.tolist() == [9] * 6
    assert sorted(data.train_y.tolist() + data.val_y.tolist()) == \
        [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4
    assert data.augment is not None and data.num_classes == 10
    red = members["test_batch"][0][0, 0].astype(np.float32) / 255
    np.testing.assert_allclose(data.test_x[0, 0].numpy(), (red - 0.4914) / 0.2470, rtol=1e-5)
    assert load_dataset("cifar10", {"augment": False}, tmp_path).augment is None


def test_cifar100_fine_labels_and_a_broken_archive(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    members = {"train": (rng.integers(0, 256, (8, 3, 32, 32), dtype=np.uint8), list(range(8))),
               "test": (rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8), [50, 99])}
    archive = tmp_path / "cifar100" / "cifar-100-python.tar.gz"
    write_cifar(archive, members, "fine_labels", "cifar-100-python")
    register_fixture(monkeypatch, "cifar100", "archive", archive)
    data = load_dataset("cifar100", {}, tmp_path)
    assert data.num_classes == 100 and data.test_y.tolist() == [50, 99]
    archive.write_bytes(archive.read_bytes()[:100])
    with pytest.raises(DatasetFileError, match="corrupt or truncated"):
        load_dataset("cifar100", {}, tmp_path)


def test_crop_and_flip_is_seeded_and_keeps_content() -> None:
    batch = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    a = crop_and_flip(batch, torch.Generator().manual_seed(0))
    b = crop_and_flip(batch, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == batch.shape
    padded = torch.nn.functional.pad(batch, (4, 4, 4, 4))
    for i in range(2):  # each output is a (possibly mirrored) 32x32 window of the padding
        found = False
        for dy in range(9):
            for dx in range(9):
                window = padded[i, :, dy:dy + 32, dx:dx + 32]
                if torch.equal(a[i], window) or torch.equal(a[i], window.flip(-1)):
                    found = True
        assert found


def test_synthetic_spirals() -> None:
    data = load_dataset("synthetic", {"samples": 300, "classes": 3}, Path("."))
    # 20 % fixed as the test split, then 20 % of the rest for validation.
    assert data.train_x.shape == (192, 2) and data.val_x.shape == (48, 2)
    assert data.test_x.shape == (60, 2) and data.num_classes == 3
    assert set(data.train_y.tolist()) == {0, 1, 2}


def test_shapes_labels_every_pixel_of_each_shape() -> None:
    data = load_dataset("shapes", {"samples": 100, "size": 16}, Path("."))
    assert data.train_x.shape == (64, 1, 16, 16) and data.train_y.shape == (64, 16, 16)
    assert data.test_y.shape == (20, 16, 16) and data.num_classes == 4
    labels = torch.cat([data.train_y, data.val_y, data.test_y])
    assert set(labels.unique().tolist()) == {0, 1, 2, 3}
    # Shapes are drawn brighter than the noise: labelled pixels are brighter on average.
    x = data.train_x[:, 0]
    assert x[data.train_y > 0].mean() > x[data.train_y == 0].mean() + 1.0


@pytest.mark.parametrize(("name", "params", "sizes"), [
    ("digits", {}, (1150, 288, 359)),
    ("digits", {"val_fraction": 0.1}, (1294, 144, 359)),
    ("synthetic", {}, (1920, 480, 600)),
    ("shapes", {"val_fraction": 0.1}, (864, 96, 240)),
])
def test_three_disjoint_splits_fixed_by_the_dataset(name: str, params: dict[str, float],
                                                    sizes: tuple[int, int, int]) -> None:
    """Train, validation and test never share an example, and the same examples land in
    each split every time (no run seed involved); changing the validation size leaves the
    test split alone."""
    data = load_dataset(name, params, Path("."))
    assert (len(data.train_x), len(data.val_x), len(data.test_x)) == sizes
    rows = [{r.tobytes() for r in split.numpy()}
            for split in (data.train_x, data.val_x, data.test_x)]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    again = load_dataset(name, params, Path("."))
    assert torch.equal(again.val_x, data.val_x) and torch.equal(again.test_y, data.test_y)
    default = load_dataset(name, {}, Path("."))
    assert torch.equal(default.test_y, data.test_y)


def test_mnist1d_validation_comes_from_its_training_set(tmp_path: Path) -> None:
    data = load_dataset("mnist1d", {}, tmp_path)
    assert (len(data.train_x), len(data.val_x), len(data.test_x)) == (3600, 400, 1000)
