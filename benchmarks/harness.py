"""Timing, memory and machine facts for the benchmark.

Timing: both sides run in this process with the same number of threads (PyTorch's intra-op threads set to
NumPy's BLAS threads). After warm-up, repeats alternate vanilla/PyTorch (and which goes first) so that
noise from other processes hits both alike; the reported time is the median.

Memory: the vanilla side's peak extra memory is measured with ``tracemalloc`` (NumPy reports its array
allocations to it) over one untimed forward+backward, from the allocation level just before the call.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np


def blas_info() -> dict:
    """NumPy's BLAS as threadpoolctl sees it (library, version, kernel architecture, threads)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"library": "unknown (install threadpoolctl)", "num_threads": os.cpu_count() or 1}
    np.ones((2, 2)) @ np.ones((2, 2))  # make sure NumPy's BLAS is loaded
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            return {"library": pool.get("internal_api"), "version": pool.get("version"),
                    "architecture": pool.get("architecture"), "num_threads": pool.get("num_threads"),
                    "threading_layer": pool.get("threading_layer")}
    return {"library": "unknown", "num_threads": os.cpu_count() or 1}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads: int) -> dict:
    import torch

    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_mkldnn": bool(torch.backends.mkldnn.is_available()),
        "python": platform.python_version(),
        "blas": blas_info(),
        "env": {key: os.environ.get(key) for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                     "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
    }


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def set_clock(name: str) -> None:
    """``wall`` (default) or ``cpu``: process CPU time, steadier on a shared machine with one thread."""
    global _clock
    _clock = CLOCKS[name]


def _seconds(fn: Callable[[], object]) -> float:
    start = _clock()
    fn()
    return _clock() - start


def time_pair(first: Callable[[], object], second: Callable[[], object], repeats: int, warmup: int,
              budget_s: float) -> tuple[list[float], list[float]]:
    """Interleaved timings (seconds) of two callables: ``repeats`` each, fewer if over ``budget_s``."""
    for _ in range(warmup):
        first()
        second()
    times_a: list[float] = []
    times_b: list[float] = []
    spent = 0.0
    for r in range(repeats):
        if r % 2 == 0:
            ta, tb = _seconds(first), _seconds(second)
        else:
            tb, ta = _seconds(second), _seconds(first)
        times_a.append(ta)
        times_b.append(tb)
        spent += ta + tb
        if spent > budget_s and r >= 2:
            break
    return times_a, times_b


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1e3


def sgemm_peak(threads: int, size: int = 2048, repeats: int = 5) -> dict:
    """Measured float32 GEMM rate (GFLOP/s) of NumPy's BLAS and of PyTorch, best of ``repeats``."""
    import torch

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    flops = 2.0 * size ** 3
    np_times, torch_times = time_pair(lambda: np.matmul(a, b, out=out), lambda: torch.mm(ta, tb),
                                      repeats, 2, budget_s=10.0)
    return {"size": size, "numpy_gflops": flops / min(np_times) / 1e9,
            "torch_gflops": flops / min(torch_times) / 1e9}


def peak_extra_bytes(fn: Callable[[], object]) -> tuple[int, object]:
    """Peak bytes allocated (NumPy, via tracemalloc) above the level at the call, and the call's result."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base, result


def nbytes(result: object) -> int:
    """Total bytes of the arrays in ``result`` (an array or a tuple of arrays / None)."""
    items = result if isinstance(result, tuple) else (result,)
    return sum(getattr(a, "nbytes", 0) for a in items if a is not None)
