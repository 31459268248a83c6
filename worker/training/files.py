"""Dataset files: where they live, their checksums, download, and the standard formats
(IDX for MNIST-style sets, the python pickle batches of CIFAR)."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DatasetFileError(RuntimeError):
    """A dataset file is missing and cannot be fetched, or is corrupt. The message says which
    file, and where to get it."""


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    url: str
    md5: str


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_CIFAR = "https://www.cs.toronto.edu/~kriz/"

# Official files and MD5s (as torchvision verifies them).
FILES: dict[str, dict[str, RemoteFile]] = {
    "mnist": {
        "train_images": RemoteFile("train-images-idx3-ubyte.gz", _MNIST,
                                   "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz", _MNIST,
                                   "d53e105ee54ea40749a09fcbcd1e9432"),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz", _MNIST,
                                  "9fb629c4189551a2d022fa330f9573f3"),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz", _MNIST,
                                  "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    "fashion_mnist": {
        "train_images": RemoteFile("train-images-idx3-ubyte.gz", _FASHION,
                                   "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz", _FASHION,
                                   "25c81989df183df01b3e8a0aad5dffbe"),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz", _FASHION,
                                  "bef4ecab320f06d8554ea6380940ec79"),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz", _FASHION,
                                  "bb300cfdad3c16e7a12a480ee83cd310"),
    },
    "cifar10": {"archive": RemoteFile("cifar-10-python.tar.gz", _CIFAR,
                                      "c58f30108f718f92721af3b95e74349a")},
    "cifar100": {"archive": RemoteFile("cifar-100-python.tar.gz", _CIFAR,
                                       "eb9058c3a382ffc7106e4002c42a8d85")},
}


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_file(root: Path, dataset: str, key: str, timeout: float = 60.0) -> Path:
    """The verified local path of FILES[dataset][key], downloading it if absent.
    ACTLAB_DATASET_MIRROR replaces the base URL (a local mirror, or a test)."""
    remote = FILES[dataset][key]
    path = root / dataset / remote.filename
    url = (os.environ.get("ACTLAB_DATASET_MIRROR") or remote.url) + remote.filename
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                while chunk := response.read(1 << 20):
                    tmp.write(chunk)
            Path(tmp.name).replace(path)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DatasetFileError(
                f"dataset file {path} is missing and could not be downloaded from {url} "
                f"({exc}). Download it by hand and put it at that path."
            ) from None
    actual = md5sum(path)
    if actual != remote.md5:
        raise DatasetFileError(
            f"dataset file {path} is corrupt or truncated: md5 {actual}, expected "
            f"{remote.md5}. Delete it to download it again, or get it from {url}."
        )
    return path


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or plain): magic 0x0000 + type 0x08 (ubyte) + number of dims,
    then big-endian int32 sizes, then the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetFileError(f"cannot read {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetFileError(f"{path} is not an unsigned-byte IDX file")
    dims = data[3]
    header = 4 + 4 * dims
    shape = struct.unpack(f">{dims}I", data[4:header])
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DatasetFileError(f"{path} is truncated: {len(data) - header} bytes of data, "
                               f"expected {expected} for shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_cifar(archive: Path, members: list[str], label_key: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the named python-pickle batches of a CIFAR archive: images as
    (N, 3, 32, 32) uint8, labels as int64."""
    images, labels = [], []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            names = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            for member in members:
                if member not in names:
                    raise DatasetFileError(f"{archive} has no batch {member!r}")
                fh = tar.extractfile(names[member])
                assert fh is not None
                batch = pickle.load(fh, encoding="bytes")  # the official format is pickle
                images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.append(np.asarray(batch[label_key.encode()], dtype=np.int64))
    except (tarfile.TarError, EOFError, pickle.UnpicklingError, KeyError) as exc:
        raise DatasetFileError(f"cannot read {archive}: {exc}") from None
    return np.concatenate(images), np.concatenate(labels)
