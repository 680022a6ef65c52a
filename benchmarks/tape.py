"""``python -m benchmarks.tape``: what the tape adds to a LeNet training step over the explicit path (issue 9).

One SGD step of ``vanilla_nn.models.lenet`` (batch 64, 1x28x28, float32) both ways, from the same weights:
explicit (``y = model(x)``, ``loss_fn.backward()``, ``model.backward(g)``) and on the tape
(``loss_fn(model(vn.tensor(x)), t).backward()``), each timed in blocks A B B A after an idle wait
(:mod:`benchmarks.harness`). Target: the tape adds at most 10%. Writes ``tape.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import harness
from .atomic import write_text


def _steps(batch: int, image: int):
    import vanilla_nn as vn
    from vanilla_nn import models, nn, optim

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, image, image), dtype=np.float32)
    target = rng.integers(0, 10, batch)
    explicit_model = models.lenet(image_size=image, rng=0)
    tape_model = models.lenet(image_size=image, rng=0)
    loss_fn = nn.CrossEntropyLoss()
    opt_explicit = optim.SGD(explicit_model.parameters(), lr=0.01)
    opt_tape = optim.SGD(tape_model.parameters(), lr=0.01)

    def explicit():
        opt_explicit.zero_grad()
        loss = loss_fn(explicit_model(x), target)
        explicit_model.backward(loss_fn.backward())
        opt_explicit.step()
        return loss

    def tape():
        opt_tape.zero_grad()
        loss = loss_fn(tape_model(vn.tensor(x)), target)
        loss.backward()
        opt_tape.step()
        return loss

    return explicit, tape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tape", description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--image", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    explicit, tape = _steps(args.batch, args.image)
    t_explicit, t_tape = harness.time_pair(explicit, tape, args.repeats, 2, budget_s=20.0)
    ms_e, ms_t = harness.median_ms(t_explicit), harness.median_ms(t_tape)
    result = {"model": "lenet", "batch": args.batch, "image": args.image, "explicit_ms": ms_e, "tape_ms": ms_t,
              "overhead": ms_t / ms_e - 1, "target": 0.10, "explicit_spread": harness.spread(t_explicit),
              "tape_spread": harness.spread(t_tape),
              "machine": harness.machine_info(int(harness.blas_info().get("num_threads") or 1))}
    print(f"LeNet step, batch {args.batch}: explicit {ms_e:.2f} ms, tape {ms_t:.2f} ms, "
          f"tape adds {100 * result['overhead']:.1f}% (target <= 10%)")
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "tape.json", json.dumps(result, indent=2, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
