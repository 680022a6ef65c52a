"""``python -m benchmarks.distributed``: data-parallel training throughput on MPI (vanilla_nn.distributed).

Trains two models for a fixed number of steps with Adam, global batch fixed, in three layouts of the same
cores: **1 process x 1 thread**, **1 process x 2 threads** (OpenBLAS threads in the GEMMs) and **2 ranks x
1 thread** (``mpiexec -n 2``, each rank on half of every global batch, gradients averaged by
``all_reduce_gradients``). Models:

- ``lenet``: the LeNet-style CNN of ``vanilla-nn train`` on scikit-learn's 8x8 digits (random 8x8 images of
  the same shape when scikit-learn is missing: the speed does not depend on the values), global batch 64,
  explicit path (``layer.backward``).
- ``resnet``: a small residual CNN (3x16x16 inputs, a 16-channel stem, two basic blocks at 16 channels and
  one strided block to 32, global average pooling, 10 classes; batch norm), random data, global batch 32, on
  the tape (``loss.backward()``); ``vanilla_nn.models`` had no ResNet when this was written.

Reported per layout: images per second (median step time over the timed steps, after warm-up steps), the
speed-up over 1 x 1, and for 2 ranks the all-reduce's cost per step: the gradient bytes, the time of
``all_reduce_gradients`` after a barrier (the communication itself, without waiting for the slower rank)
and its share of the step. Also the all-reduce's time for buffers of 4 KiB to 64 MiB (latency and
bandwidth between two processes here). Writes ``distributed.md`` and ``distributed.json`` into ``--out``.

Each layout runs in its own process(es) so that thread settings apply before NumPy loads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
LAYOUTS = (("1 x 1", 1, 1), ("1 x 2 threads", 1, 2), ("2 ranks x 1", 2, 1))
MODELS = {"lenet": 64, "resnet": 32}  # model -> global batch


# -- the models ---------------------------------------------------------------------------------------------
def _residual_cnn(rng: np.random.Generator) -> Any:
    from vanilla_nn import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False, rng=rng)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False, rng=rng)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False, rng=rng),
                                          nn.BatchNorm2d(cout))

        def forward(self, x: Any) -> Any:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + (x if self.down is None else self.down(x)))

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(16), nn.ReLU(),
        Block(16, 16, 1), Block(16, 16, 1), Block(16, 32, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10, rng=rng),
    )


def _data(model: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    if model == "lenet":
        try:
            from vanilla_nn.data import load_digits

            split = load_digits(seed=0)
            return split.x_train, split.y_train, "digits"
        except ImportError:
            return rng.random((1437, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 1437), "random 8x8"
    return rng.standard_normal((512, 3, 16, 16), dtype=np.float32), rng.integers(0, 10, 512), "random 3x16x16"


# -- one layout (run under mpiexec for 2 ranks) ---------------------------------------------------------------
def worker(model_name: str, steps: int, warmup: int) -> None:
    import vanilla_nn as vn
    from vanilla_nn import distributed, nn, optim
    from vanilla_nn.models import lenet

    if distributed.launched_by_mpi():
        distributed.init()
    rng = np.random.default_rng(0)
    x, y, data = _data(model_name, rng)
    model = lenet(rng=rng) if model_name == "lenet" else _residual_cnn(rng)
    tape = model_name != "lenet"
    distributed.broadcast_parameters(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    batch = MODELS[model_name]
    grad_bytes = sum(p.data.nbytes for p in model.parameters())
    step_times, reduce_times = [], []
    order = np.random.default_rng(1).permutation(len(x))
    with distributed.fail_together("benchmarks.distributed"):
        for step in range(warmup + steps):
            start_index = (step * batch) % (len(x) - batch)
            mine = distributed.shard(order[start_index:start_index + batch])
            distributed.barrier()
            start = time.perf_counter()
            optimizer.zero_grad()
            scale = distributed.loss_scale(len(mine), batch)
            if tape:
                (loss_fn(model(vn.tensor(x[mine])), y[mine]) * scale).backward()
            else:
                loss_fn(model(x[mine]), y[mine])
                model.backward(loss_fn.backward() * scale)
            computed = time.perf_counter()
            distributed.barrier()  # the all-reduce's own cost, not the wait for the slower rank
            reduce_start = time.perf_counter()
            distributed.all_reduce_gradients(model)
            reduced = time.perf_counter()
            optimizer.step()
            end = time.perf_counter()
            if step >= warmup:
                # the step without the barrier's wait: compute + all-reduce + optimizer step
                step_times.append((computed - start) + (end - reduce_start))
                reduce_times.append(reduced - reduce_start)
    times = distributed.all_reduce_sum(np.array(step_times)) / distributed.world_size()  # the ranks' mean
    if distributed.rank() == 0:
        step_ms = statistics.median(times.tolist()) * 1e3
        print(json.dumps({"model": model_name, "data": data, "batch": batch, "ranks": distributed.world_size(),
                          "step_ms": step_ms, "images_per_s": batch / step_ms * 1e3,
                          "allreduce_ms": statistics.median(reduce_times) * 1e3, "grad_bytes": grad_bytes}))


def allreduce_sweep(repeats: int) -> None:
    """Median time of one all-reduce of a float32 buffer, 4 KiB to 64 MiB (2 ranks)."""
    from vanilla_nn import distributed

    distributed.init()
    comm, mpi = distributed._state.comm, distributed._state.mpi
    rows = []
    for size in (1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 26):
        buffer = np.ones(size // 4, dtype=np.float32)
        times = []
        for _ in range(repeats):
            comm.Barrier()
            start = time.perf_counter()
            comm.Allreduce(mpi.IN_PLACE, buffer, op=mpi.SUM)
            times.append(time.perf_counter() - start)
        rows.append({"bytes": size, "ms": statistics.median(times) * 1e3})
    if distributed.rank() == 0:
        print(json.dumps({"sweep": rows}))


# -- the driver ----------------------------------------------------------------------------------------------
def _launch(ranks: int, threads: int, args: list[str], timeout: float) -> dict[str, Any]:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), str(root / "src"), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "benchmarks.distributed", *args]
    if ranks > 1:
        command = [str(bin_dir / "mpiexec"), "-n", str(ranks), *command]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=root)
    if result.returncode != 0:
        raise SystemExit(f"benchmarks.distributed: {' '.join(command)} failed:\n{result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _table(results: list[dict[str, Any]], sweep: list[dict[str, Any]]) -> str:
    lines = ["| model | layout | images/s | step ms | speed-up | gradients | all-reduce ms | all-reduce share |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    base = {r["model"]: r["images_per_s"] for r in results if r["layout"] == "1 x 1"}
    for r in results:
        reduce = (f"{r['allreduce_ms']:.3f} | {100 * r['allreduce_ms'] / r['step_ms']:.1f}%" if r["ranks"] > 1
                  else "- | -")
        lines.append(f"| {r['model']} ({r['data']}, batch {r['batch']}) | {r['layout']} | {r['images_per_s']:.0f} "
                     f"| {r['step_ms']:.2f} | {r['images_per_s'] / base[r['model']]:.2f}x "
                     f"| {r['grad_bytes'] / 1024:.0f} KiB | {reduce} |")
    lines += ["", "| all-reduce of (2 ranks) | ms | GB/s (bytes / time) |", "|---:|---:|---:|"]
    for row in sweep:
        lines.append(f"| {row['bytes'] / 1024:.0f} KiB | {row['ms']:.3f} | {row['bytes'] / row['ms'] / 1e6:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few steps: a smoke test, not a measurement")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--models", nargs="*", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--worker", choices=list(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--sweep", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per layout (default 20; quick 4)")
    args = parser.parse_args(argv)
    steps = args.steps or (4 if args.quick else 20)
    warmup = 1 if args.quick else 3
    if args.worker:
        worker(args.worker, steps, warmup)
        return 0
    if args.sweep:
        allreduce_sweep(steps)
        return 0
    results = []
    load_before = os.getloadavg()[0]
    for model in args.models:
        for layout, ranks, threads in LAYOUTS:
            row = _launch(ranks, threads, ["--worker", model, "--steps", str(steps)], timeout=1800)
            row["layout"] = layout
            results.append(row)
            print(f"{model:6s} {layout:14s} {row['images_per_s']:8.0f} images/s", file=sys.stderr)
    sweep = _launch(2, 1, ["--sweep", "--steps", str(max(steps, 10))], timeout=600)["sweep"]
    load = (load_before, os.getloadavg()[0])
    table = _table(results, sweep) + (f"\nLoad average (1 min) before and after: {load[0]:.1f}, {load[1]:.1f} on "
                                      f"{os.cpu_count()} cores; {steps} timed steps per layout (median).\n")
    args.out.mkdir(parents=True, exist_ok=True)
    _write(args.out / "distributed.md", table)
    _write(args.out / "distributed.json", json.dumps({"results": results, "sweep": sweep, "load_average": load,
                                                      "date": time.strftime("%Y-%m-%d")}, indent=1) + "\n")
    print(table)
    return 0


def _write(path: Path, text: str) -> None:
    """Write ``text`` through a temporary file next to ``path``, renamed into place."""
    from vanilla_nn import _io

    _io.write_text(path, text)


if __name__ == "__main__":
    sys.exit(main())
