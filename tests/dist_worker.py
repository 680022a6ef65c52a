"""Run under ``mpiexec -n W`` by tests/test_distributed.py (not a test module itself).

    dist_worker.py equivalence OUT.npz   every case of dist_cases.CASES trained data-parallel; rank 0 writes
                                         each rank's final state and the indices each rank trained on
    dist_worker.py collectives OUT.npz   all_reduce_gradients (grads None on some ranks, two dtypes, small
                                         buckets), broadcast_parameters (buffers too, a mismatched model),
                                         all_reduce_sum, and sync_batch_norm on each rank's part of one input
    dist_worker.py fail KIND             LeNet training in which rank 1 fails at its third step:
                                         KIND = exception | nan | sigint
"""

from __future__ import annotations

import os
import signal
import sys

import dist_cases as cases
import numpy as np

from vanilla_nn import distributed, nn


def _gather(array: np.ndarray) -> np.ndarray | None:
    """Every rank's ``array`` stacked on rank 0 (None elsewhere); same shape and dtype on every rank."""
    comm = distributed._state.comm
    array = np.ascontiguousarray(array)
    received = np.empty((distributed.world_size(),) + array.shape, array.dtype) if distributed.rank() == 0 else None
    comm.Gather(array, received, root=0)
    return received


def _gather_text(text: str, width: int = 240) -> np.ndarray | None:
    """Each rank's ``text`` (UTF-8, cut to ``width`` bytes) on rank 0, one row of bytes per rank."""
    return _gather(np.frombuffer(text.encode()[:width].ljust(width), dtype=np.uint8))


def equivalence(out: str) -> None:
    results: dict[str, np.ndarray] = {}
    for case in cases.CASES:
        # each rank starts from other weights: broadcast_parameters must give every rank rank 0's
        model, seen = cases.train_data_parallel(case, model_seed=cases.SEED + 17 * distributed.rank())
        for key, value in model.state_dict().items():
            stacked = _gather(value)
            if stacked is not None:
                results[f"{case}/{key}"] = stacked
        for step, mine in enumerate(seen):
            padded = np.full(cases.BATCH, -1, dtype=np.int64)
            padded[:len(mine)] = mine
            stacked = _gather(padded)
            if stacked is not None:
                results[f"{case}/seen/{step}"] = stacked
    if distributed.rank() == 0:
        np.savez(out, **results)


def collectives(out: str) -> None:
    r, world = distributed.rank(), distributed.world_size()
    results: dict[str, np.ndarray] = {}
    # gradients: a float64 and a float32 parameter with gradients on every rank (rank-dependent values),
    # one with a gradient on rank 1 only, one with none anywhere; buckets of 40 bytes force several all-reduces
    params = [nn.Parameter(np.zeros((3, 2))), nn.Parameter(np.zeros(5, np.float32)),
              nn.Parameter(np.zeros(4)), nn.Parameter(np.zeros(2))]
    params[0].grad = np.arange(6.0).reshape(3, 2) * (r + 1)
    params[1].grad = np.full(5, 2.0 * r + 1, np.float32)
    params[2].grad = np.full(4, 4.0) if r == 1 else None
    kept = params[0].grad
    distributed.all_reduce_gradients(params, bucket_bytes=40)
    results["grad0_in_place"] = _gather(np.array(params[0].grad is kept))
    for index, param in enumerate(params):
        results[f"grad{index}"] = _gather(np.zeros(1) if param.grad is None else param.grad.astype(np.float64))
        results[f"grad{index}_none"] = _gather(np.array(param.grad is None))
        results[f"grad{index}_dtype"] = _gather_text("" if param.grad is None else str(param.grad.dtype))
    # broadcast: rank 1 starts from other weights and buffers
    model = cases.build_model("bn", "float32", seed=cases.SEED + r)
    model[1].running_mean = np.full(4, float(r), np.float32)
    model[1].num_batches_tracked = np.array(5 + r)
    weight = model[0].weight.data
    distributed.broadcast_parameters(model)
    results["bcast_in_place"] = _gather(np.array(model[0].weight.data is weight))
    for key, value in model.state_dict().items():
        results[f"bcast/{key}"] = _gather(value)
    other = cases.build_model("bn" if r == 0 else "lenet", "float32")
    try:
        distributed.broadcast_parameters(other)
        results["mismatch_error"] = _gather_text("no error")
    except ValueError as error:
        results["mismatch_error"] = _gather_text(str(error))
    results["sum"] = _gather(distributed.all_reduce_sum([r + 1, 10 * (r + 1)]))
    # sync_batch_norm: rank r holds samples shard(range(N)) of one (N, C, H, W) input and of its grad_output
    for dtype in ("float64", "float32"):
        rng = np.random.default_rng(5)
        x = (rng.standard_normal((7, 3, 2, 2)) * 3 + 1).astype(dtype)
        gy = rng.standard_normal(x.shape).astype(dtype)
        w, b = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
        mine = distributed.shard(np.arange(len(x)))
        y = distributed.sync_batch_norm(x[mine], None, None, w, b, training=True)
        gx, gw, gb = distributed.sync_batch_norm_backward(gy[mine], x[mine], None, None, w, b, training=True)
        for name, value in (("y", y), ("gx", gx)):
            padded = np.zeros((4,) + x.shape[1:], dtype)
            padded[:len(mine)] = value
            results[f"sbn_{dtype}_{name}"] = _gather(padded)
            results[f"sbn_{dtype}_{name}_dtype"] = _gather_text(str(value.dtype))
        results[f"sbn_{dtype}_gw"] = _gather(gw)
        results[f"sbn_{dtype}_gb"] = _gather(gb)
        results[f"sbn_{dtype}_rows"] = _gather(np.array(len(mine)))
    if r == 0:
        np.savez(out, world=np.array(world), **results)


def fail(kind: str) -> None:
    x, y = cases.make_data("float64")
    model = cases.build_model("lenet", "float64")
    loss_fn = nn.CrossEntropyLoss()
    with distributed.fail_together("dist_worker"):
        for step in range(1000):  # far more steps than the failure needs: a hang would show as a timeout
            batch = np.arange(step * 4, step * 4 + 8) % cases.SAMPLES
            mine = distributed.shard(batch)
            xb = x[mine].copy()
            if distributed.rank() == 1 and step == 3:
                if kind == "exception":
                    raise ValueError("bad sample 12 in shard")
                if kind == "nan":
                    xb[0] = np.nan
                if kind == "sigint":
                    os.kill(os.getpid(), signal.SIGINT)
            loss = loss_fn(model(xb), y[mine])
            if not np.isfinite(loss):
                raise FloatingPointError(f"loss is {loss} at step {step}: training diverged")
            model.zero_grad()
            model.backward(loss_fn.backward())
            distributed.all_reduce_gradients(model)
    print(f"rank {distributed.rank()} finished without failing", file=sys.stderr)


if __name__ == "__main__":
    distributed.init()
    if sys.argv[1] == "equivalence":
        equivalence(sys.argv[2])
    elif sys.argv[1] == "collectives":
        collectives(sys.argv[2])
    else:
        fail(sys.argv[2])
