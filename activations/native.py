"""Build, load and call the fused CPU kernels of kernels.c.

The library is compiled once per machine (gcc, about a second) into a cache directory and
loaded with ctypes; its OpenMP runtime is the libgomp torch already loaded. ACTLAB_KERNEL_LIBRARY
names one compiled ahead instead (the Docker image's, which has no compiler). When there is no
library, the build fails, the tensor is not on the CPU, or ACTLAB_NATIVE_KERNELS=0, callers use
their plain PyTorch path instead (same results up to float rounding; tests hold them equal).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

log = logging.getLogger("actlab.activations")

SOURCE = Path(__file__).with_name("kernels.c")
_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None = None
_TRIED = False

_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_INT = ctypes.c_int
_SIGNATURES: dict[str, list[type]] = {
    "two_slope_fwd": [_P, _P, _P, _P, _P, _I64, _I64, _I64, _I64, _INT, _INT, _INT],
    "two_slope_bwd": [_P, _P, _P, _P, _P, _P, _I64, _I64, _I64, _I64, _INT, _INT],
    "poly_fwd": [_P, _P, _P, _I64, _I64, _I64, _I64, _INT, _INT],
    "poly_bwd": [_P, _P, _P, _P, _P, _I64, _I64, _I64, _I64, _INT, _INT],
}


def _cpu_flags() -> str:
    """The CPU's feature flags line of /proc/cpuinfo ("" where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return ""


def _cpu_key() -> str:
    """The build uses -march=native: key the cached library by CPU features and compiler."""
    flags = _cpu_flags() or platform.processor()
    return hashlib.sha256((flags + platform.machine()).encode()).hexdigest()[:12]


def _cache_dir() -> Path:
    base = os.environ.get("ACTLAB_KERNEL_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "actlab" / "kernels"


# What the prebuilt library (the Docker image's, -march=x86-64-v3) needs of the CPU.
_PREBUILT_NEEDS = ("avx2", "fma", "bmi2")


def _prebuilt() -> Path | None:
    """ACTLAB_KERNEL_LIBRARY: a library compiled ahead (where there is no compiler at run
    time), when this CPU can run it."""
    path = os.environ.get("ACTLAB_KERNEL_LIBRARY")
    if not path:
        return None
    flags = set(_cpu_flags().partition(":")[2].split())
    missing = [f for f in _PREBUILT_NEEDS if f not in flags]
    if missing or not Path(path).is_file():
        log.info("not loading %s (%s)", path, f"CPU lacks {', '.join(missing)}" if missing
                 else "no such file")
        return None
    return Path(path)


def _build() -> ctypes.CDLL | None:
    prebuilt = _prebuilt()
    if prebuilt is not None:
        return _load(prebuilt)
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        log.info("no C compiler: activations use their PyTorch path")
        return None
    source = SOURCE.read_bytes() + SOURCE.with_name("kernels_impl.h").read_bytes()
    tag = hashlib.sha256(source + compiler.encode()).hexdigest()[:12]
    target = _cache_dir() / f"libactlab_kernels-{tag}-{_cpu_key()}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            out = Path(tmp) / target.name
            # -ffp-contract=off: no fused multiply-adds, so rounding matches the PyTorch path
            cmd = [compiler, "-O3", "-march=native", "-fno-math-errno", "-ffp-contract=off",
                   "-fopenmp", "-fPIC",
                   "-shared", str(SOURCE), "-o", str(out), "-lm"]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                log.warning("building fused activation kernels failed; using PyTorch ops:\n%s",
                            result.stderr[-2000:])
                return None
            out.replace(target)  # atomic: concurrent builders never see a partial file
    return _load(target)


def _load(target: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(target))
    for name, argtypes in _SIGNATURES.items():
        for sfx in ("f32", "f64"):
            fn = getattr(lib, f"{name}_{sfx}")
            fn.argtypes, fn.restype = argtypes, None
    for sfx, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        for name in ("gaaf_fwd", "gaaf_bwd", "gaaf_vec_fwd", "gaaf_vec_bwd"):
            if "vec" in name and sfx == "f64":
                continue
            fn = getattr(lib, f"{name}_{sfx}")
            pre = [_P, _P] if name.endswith("fwd") else [_P, _P, _P]
            fn.argtypes = [*pre, _I64, real, real, _INT, _INT, _INT]
            fn.restype = None
    flt = ctypes.c_float
    lib.ew_fwd_f32.argtypes = [_P, _P, _I64, _INT, flt, flt, flt, _INT]
    lib.ew_bwd_f32.argtypes = [_P, _P, _P, _I64, _INT, flt, flt, flt, _INT]
    lib.ew_fwd_f32.restype = lib.ew_bwd_f32.restype = None
    lib.ewp_fwd_f32.argtypes = [_P, _P, _P, _I64, _I64, _I64, _INT, _INT, _INT]
    lib.ewp_bwd_f32.argtypes = [_P, _P, _P, _P, _P, _I64, _I64, _I64, _INT, _INT, _INT]
    lib.ewp_fwd_f32.restype = lib.ewp_bwd_f32.restype = None
    u32 = ctypes.c_uint32
    lib.rrelu_fwd_f32.argtypes = [_P, _P, _I64, flt, flt, u32, _INT]
    lib.rrelu_bwd_f32.argtypes = [_P, _P, _P, _I64, flt, flt, u32, _INT]
    lib.inverse_relu_fwd_f32.argtypes = [_P, _P, _I64, _I64, _I64, _INT]
    lib.inverse_relu_bwd_f32.argtypes = [_P, _P, _P, _I64, _I64, _I64, _INT]
    for name in ("rrelu_fwd_f32", "rrelu_bwd_f32", "inverse_relu_fwd_f32",
                 "inverse_relu_bwd_f32"):
        getattr(lib, name).restype = None
    return lib


def library() -> ctypes.CDLL | None:
    """The loaded kernels, building them on first use; None when unavailable."""
    global _LIB, _TRIED
    if _TRIED:
        return _LIB
    with _LOCK:
        if not _TRIED:
            if os.environ.get("ACTLAB_NATIVE_KERNELS", "1") not in ("0", "false", "off"):
                try:
                    _LIB = _build()
                except Exception:  # never let an optional speed-up break training
                    log.warning("fused activation kernels unavailable", exc_info=True)
                    _LIB = None
            _TRIED = True
    return _LIB


_LOCAL = threading.local()


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Use the plain PyTorch path on this thread (e.g. to count its operations)."""
    before = getattr(_LOCAL, "off", False)
    _LOCAL.off = True
    try:
        yield
    finally:
        _LOCAL.off = before


def usable(*tensors: Tensor | None) -> bool:
    """True when the fused kernels can take these tensors: on the CPU, one float dtype, and
    the input (first tensor) contiguous in the standard layout."""
    if getattr(_LOCAL, "off", False):
        return False
    if tensors and tensors[0] is not None and not tensors[0].is_contiguous():
        return False
    for t in tensors:
        if t is not None and (t.device.type != "cpu" or t.dtype not in
                              (torch.float32, torch.float64)):
            return False
    dtypes = {t.dtype for t in tensors if t is not None}
    return len(dtypes) == 1 and library() is not None


def suffix(t: Tensor) -> str:
    return "f32" if t.dtype == torch.float32 else "f64"


def layout(x: Tensor) -> tuple[Tensor, int, int, int]:
    """(x, outer, C, inner) for a contiguous x: (N, C, H*W...) or 1-D as (1, 1, n).
    Channels-last and other non-contiguous tensors are left to the PyTorch path (`usable`)."""
    if x.dim() <= 1:
        return x, 1, 1, x.numel()
    n, c = x.shape[0], x.shape[1]
    return x, n, c, x.numel() // max(1, n * c)


def ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def threads() -> int:
    return torch.get_num_threads()
