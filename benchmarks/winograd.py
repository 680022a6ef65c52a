"""Winograd F(4x4, 3x3) against F(2x2, 3x3), the im2col GEMM and PyTorch on ResNet-18's 3x3 layers.

    python -m benchmarks.winograd --threads 1 --clock cpu
    python -m benchmarks.winograd --threads 2

Each algorithm is forced on every 3x3 stride-1 correlation of the call (the forward and, where the plan takes
the flipped-kernel correlation, the input gradient) by wrapping :func:`vanilla_nn.functional.plan.
choose_algorithm`; everything else is the public ``conv2d`` / ``conv2d_backward``. Sides are timed with the
block protocol of :mod:`benchmarks.harness` (blocks A B C D D C B A after an idle wait, median of the repeats),
float32 (or ``--dtype float64``), batch 8. Prints a Markdown table of milliseconds, each algorithm's ratio to
PyTorch in the same run, and the largest normwise relative difference from PyTorch's outputs and gradients.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

import numpy as np

from . import harness

# name, channels, spatial size (batch 8, 3x3, stride 1, padding 1); c32_56 is not in ResNet-18: a narrower point
CASES = [("resnet_l1_3x3", 64, 56), ("resnet_l2_3x3", 128, 28), ("resnet_l3_3x3", 256, 14),
         ("resnet_l4_3x3", 512, 7), ("c32_56", 32, 56)]
ALGORITHMS = ("gemm", "winograd", "winograd_f4")


@contextlib.contextmanager
def forced(name: str) -> Iterator[None]:
    """Every 2-d 3x3 stride-1 one-group correlation planned inside the block takes algorithm ``name``."""
    from vanilla_nn.functional import plan as P

    algorithm, original = P.Algorithm(name), P.choose_algorithm

    def choose(g, itemsize, workspace):
        if g.kernel == (3, 3) and g.stride == (1, 1) and g.dilation == (1, 1) and g.groups == 1:
            return algorithm
        return original(g, itemsize, workspace)

    P.choose_algorithm = choose
    try:
        yield
    finally:
        P.choose_algorithm = original


def _error(ours: tuple, theirs: tuple) -> float:
    return max(float(np.linalg.norm(a - b) / np.linalg.norm(b)) for a, b in zip(ours, theirs))


def measure(channels: int, size: int, repeats: int, budget: float, rotate: int, dtype=np.float32) -> dict:
    import torch

    import vanilla_nn.functional as F

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, channels, size, size)).astype(dtype)
    w = (rng.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)).astype(dtype)
    gy = rng.standard_normal((8, channels, size, size)).astype(dtype)
    xt, wt, gyt = (torch.from_numpy(a) for a in (x, w, gy))

    def torch_forward():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, padding=1)

    def torch_step():
        xg, wg = xt.clone().requires_grad_(), wt.clone().requires_grad_()
        torch.nn.functional.conv2d(xg, wg, padding=1).backward(gyt)
        return xg.grad, wg.grad

    def ours(name: str, backward: bool):
        def run():
            with forced(name):
                y = F.conv2d(x, w, padding=1)
                if backward:
                    return (y, *F.conv2d_backward(gy, x, w, None, padding=1)[:2])
                return (y,)
        return run

    reference = (torch_forward().numpy(), *(g.numpy() for g in torch_step()))
    errors = {name: _error(ours(name, True)(), reference) for name in ALGORITHMS}
    forward = harness.time_sides([ours(name, False) for name in ALGORITHMS] + [torch_forward], repeats, 2, budget,
                                 rotate)
    step = harness.time_sides([ours(name, True) for name in ALGORITHMS] + [torch_step], repeats, 2, budget, rotate)
    return {"forward": [harness.median_ms(t) for t in forward], "step": [harness.median_ms(t) for t in step],
            "errors": errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--budget", type=float, default=6.0, help="seconds per case and pass (default %(default)s)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--cases", nargs="*", metavar="PATTERN", help="only cases whose name contains a PATTERN")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    harness.set_clock(args.clock)
    cases = [c for c in CASES if not args.cases or any(p in c[0] for p in args.cases)]
    print(f"threads {args.threads}, clock {args.clock}, {args.dtype}, batch 8; ms (ratio to PyTorch)\n")
    print("| case | pass | gemm | F(2x2) | F(4x4) | PyTorch | err gemm / F(2x2) / F(4x4) |")
    print("|---|---|---:|---:|---:|---:|---|")
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for index, (name, channels, size) in enumerate(cases):
            result = measure(channels, size, args.repeats, args.budget, index, np.dtype(args.dtype))
            errors = " / ".join(f"{result['errors'][a]:.0e}" for a in ALGORITHMS)
            for label in ("forward", "step"):
                times = result[label]
                cells = " | ".join(f"{t:.1f} ({t / times[-1]:.2f})" for t in times[:-1])
                print(f"| {name} ({channels}ch {size}x{size}) | {'fwd' if label == 'forward' else 'fwd+bwd'} | "
                      f"{cells} | {times[-1]:.1f} | {errors if label == 'forward' else ''} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
