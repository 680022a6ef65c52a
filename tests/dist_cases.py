"""The data-parallel cases shared by tests/test_distributed.py and the script it runs under mpiexec
(tests/dist_worker.py): models, data, the data-parallel training loop and its one-process references.

Each case trains a small model with SGD + momentum for a few steps on global batches of ``BATCH`` samples
(not a multiple of 2, so shards are unequal). The references never touch vanilla_nn.distributed:

- ``lenet``: one process on each whole global batch.
- ``bn`` (plain BatchNorm): one process computing what data parallelism computes, each shard's forward with
  that shard's own statistics, gradients of the shards (each scaled by ``W * n_s / N``) averaged; running
  statistics from the first shard alone (rank 0's, the ones rank 0 saves).
- ``syncbn`` (SyncBatchNorm): one process on each whole global batch with plain BatchNorm, which the
  synchronised statistics must reproduce, running statistics included.
"""

from __future__ import annotations

import numpy as np

from vanilla_nn import nn, optim
from vanilla_nn.models import lenet

SAMPLES, BATCH, EPOCHS, LR, MOMENTUM, SEED = 40, 11, 2, 0.05, 0.9, 7
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}

# name -> (model kind, dtype, SyncBatchNorm, on the tape): the data-parallel run on the explicit path
# (layer.backward) or on the tape (loss.backward()); the references always take the explicit path
CASES: dict[str, tuple[str, str, bool, bool]] = {
    f"{kind}-{dtype}{'-tape' if tape else ''}": (kind.replace("syncbn", "bn"), dtype, kind == "syncbn", tape)
    for kind in ("lenet", "bn", "syncbn") for dtype in ("float64", "float32") for tape in (False, True)
    if not (tape and dtype == "float32")
}


def build_model(kind: str, dtype: str, seed: int = SEED) -> nn.Module:
    if kind == "lenet":
        return lenet(channels=(4, 8), hidden=16, dtype=dtype, rng=seed)
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, dtype=dtype, rng=rng), nn.BatchNorm2d(4, dtype=dtype), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4 * 4 * 4, 8, dtype=dtype, rng=rng), nn.BatchNorm1d(8, dtype=dtype), nn.ReLU(),
        nn.Linear(8, 10, dtype=dtype, rng=rng),
    )


def make_data(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(123)
    x = rng.standard_normal((SAMPLES, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 10, SAMPLES)
    return x, y


def global_batches(epoch: int) -> list[np.ndarray]:
    """The same global batches for every rank and every reference: a seeded permutation per epoch."""
    order = np.random.default_rng(1000 + epoch).permutation(SAMPLES)
    return [order[start:start + BATCH] for start in range(0, SAMPLES, BATCH)]


def _optimizer(model: nn.Module) -> optim.SGD:
    return optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def train_data_parallel(case: str, model_seed: int = SEED) -> tuple[nn.Module, list[np.ndarray]]:
    """This rank's model after data-parallel training (rank 0's initial weights broadcast to all), and the
    indices this rank trained on, batch by batch."""
    import vanilla_nn as vn
    from vanilla_nn import distributed

    kind, dtype, sync, tape = CASES[case]
    model = build_model(kind, dtype, model_seed)
    if sync:
        model = distributed.convert_sync_batchnorm(model)
    distributed.broadcast_parameters(model)
    x, y = make_data(dtype)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = _optimizer(model)
    seen = []
    for epoch in range(EPOCHS):
        for batch in global_batches(epoch):
            mine = distributed.shard(batch)
            seen.append(mine)
            scale = distributed.loss_scale(len(mine), len(batch))
            optimizer.zero_grad()
            if tape:
                (loss_fn(model(vn.tensor(x[mine])), y[mine]) * scale).backward()
            else:
                loss_fn(model(x[mine]), y[mine])
                model.backward(loss_fn.backward() * scale)
            distributed.all_reduce_gradients(model)
            optimizer.step()
    return model, seen


def train_reference(case: str, world_size: int) -> nn.Module:
    """One process computing what ``world_size`` data-parallel ranks compute (see the module docstring)."""
    kind, dtype, sync, _ = CASES[case]
    model = build_model(kind, dtype)
    x, y = make_data(dtype)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = _optimizer(model)
    for epoch in range(EPOCHS):
        for batch in global_batches(epoch):
            optimizer.zero_grad()
            if kind == "lenet" or sync:
                loss_fn(model(x[batch]), y[batch])
                model.backward(loss_fn.backward())
            else:
                for index, part in enumerate(np.array_split(batch, world_size)):
                    buffers = {key: value.copy() for key, value in model.named_buffers()}
                    loss_fn(model(x[part]), y[part])
                    model.backward(loss_fn.backward() * (len(part) / len(batch)))  # sum = the global mean's
                    if index > 0:  # rank 0's running statistics: those of the first shard alone
                        model.load_state_dict(buffers, strict=False)
            optimizer.step()
    return model
