"""Timing, memory and machine facts for the benchmark.

Timing: both sides run in this process with the same number of threads (PyTorch's intra-op threads set to
NumPy's BLAS threads). Each side is timed in blocks of back-to-back calls (warm-up, then repeats), never
interleaved call by call with the other side: OpenBLAS's worker threads keep spinning for a while after a
call returns (and OpenMP's may too), so a PyTorch call made right after a NumPy call shares the cores with
NumPy's spinning threads, and the other way round. Before every block the process waits until it is idle
(its own CPU time stops growing), blocks go A B B A (which side opens alternates per case), and the
reported time is the median of each side's repeats.

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


def wait_until_idle(min_s: float = 0.2, max_s: float = 2.0, step_s: float = 0.05) -> float:
    """Sleep at least ``min_s`` and until this process's CPU time grows by < 5% of a ``step_s`` sleep.

    BLAS and OpenMP worker threads that spin after a call burn process CPU time while the main thread
    sleeps; once they have gone to sleep too, the next timed block has the cores to itself. Returns the
    seconds waited (at most ``max_s``).
    """
    start = time.perf_counter()
    time.sleep(min_s)
    while time.perf_counter() - start < max_s:
        cpu = time.process_time()
        time.sleep(step_s)
        if time.process_time() - cpu < 0.05 * step_s:
            break
    return time.perf_counter() - start


def _block(fn: Callable[[], object], repeats: int, warmup: int, budget_s: float) -> list[float]:
    """Times (seconds) of ``repeats`` back-to-back calls after ``warmup`` untimed ones, from an idle start."""
    wait_until_idle()
    for _ in range(warmup):
        fn()
    times: list[float] = []
    for _ in range(repeats):
        times.append(_seconds(fn))
        if sum(times) > budget_s and len(times) >= 3:
            break
    return times


def time_pair(first: Callable[[], object], second: Callable[[], object], repeats: int, warmup: int,
              budget_s: float, first_opens: bool = True) -> tuple[list[float], list[float]]:
    """Timings (seconds) of two callables in blocks A B B A: about ``repeats`` each, fewer if over ``budget_s``.

    Each block is ``warmup`` untimed calls then half the repeats, started from an idle process (see
    :func:`wait_until_idle`). ``first_opens=False`` runs B A A B instead. Returns (times of first, of second).
    """
    half = max(1, (repeats + 1) // 2)
    per_block = budget_s / 4
    order = (0, 1, 1, 0) if first_opens else (1, 0, 0, 1)
    fns = (first, second)
    times: tuple[list[float], list[float]] = ([], [])
    for side in order:
        times[side].extend(_block(fns[side], half, warmup, per_block))
    return times


def time_sides(fns: list[Callable[[], object]], repeats: int, warmup: int, budget_s: float, rotate: int = 0
               ) -> list[list[float]]:
    """:func:`time_pair` for any number of sides: blocks in the order A B C C B A (rotated by ``rotate``, so
    that which side opens alternates between cases), each side about ``repeats`` calls in two blocks."""
    half = max(1, (repeats + 1) // 2)
    per_block = budget_s / (2 * len(fns))
    first = [(i + rotate) % len(fns) for i in range(len(fns))]
    times: list[list[float]] = [[] for _ in fns]
    for side in first + first[::-1]:
        times[side].extend(_block(fns[side], half, warmup, per_block))
    return times


def spread(times: list[float]) -> float:
    """Interquartile range over the median: how steady one side's repeats were."""
    if len(times) < 4:
        return (max(times) - min(times)) / statistics.median(times)
    q1, _, q3 = statistics.quantiles(times, n=4)
    return (q3 - q1) / statistics.median(times)


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
