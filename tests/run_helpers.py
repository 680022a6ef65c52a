"""Helpers for the command-line tests: tiny IDX datasets (fast runs without scikit-learn), running the real
``vanilla-nn`` entry point in a subprocess, reading a run directory."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

# the options that make `train` take a fraction of a second per epoch
TINY_TRAIN = ("--epochs", "3", "--batch-size", "8", "--no-progress")


def write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8) as a raw IDX file."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.asarray(array, dtype=np.uint8).tobytes())


def tiny_mnist(directory: Path, n_train: int = 32, n_test: int = 8, size: int = 8, seed: int = 0) -> list[str]:
    """Write an MNIST-format dataset of ``size x size`` images; returns the ``train``/``predict`` options."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 64, (n, size, size)) + (labels[:, None, None] * 19)  # learnable a little
        write_idx(directory / f"{prefix}-images-idx3-ubyte", images.astype(np.uint8))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels)
    return ["--dataset", "mnist", "--data-dir", str(directory)]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a ``vanilla-nn`` subprocess: this checkout's ``src`` first, one BLAS thread."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("VANILLA_NN_FAULT_POINTS", None)
    env.pop("VANILLA_NN_TRACEBACK", None)
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vanilla_nn.cli", *args]


def run_cli(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """Run ``vanilla-nn ARGS`` in a subprocess; text output captured."""
    return subprocess.run(cli_command(*args), env=cli_env(**env), capture_output=True, text=True,
                          timeout=timeout, check=False)
