"""vanilla_nn.distributed: data parallelism on MPI, proven by launching ``mpiexec -n 2`` on small scripts.

- Equivalence (tests/dist_cases.py): 2 ranks end with the weights of one process on the same global batches,
  1e-9 relative in float64 and 1e-4 in float32, for LeNet and a batch-norm model with and without
  SyncBatchNorm; both ranks end identical although they start from different weights.
- The collectives: gradient averaging (None as zeros, dtypes kept, in place, several buckets), broadcast of
  parameters and buffers, and SyncBatchNorm's forward/backward on split inputs against PyTorch's batch norm
  on the whole input.
- Sharding covers every sample once per epoch; a failing rank (exception, divergence, SIGINT) ends both
  ranks promptly with one message.
- One process (no init): every function is the identity, SyncBatchNorm is BatchNorm (against PyTorch).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dist_cases as cases
import numpy as np
import pytest
from checks import assert_close
from mpi_launch import MPIEXEC, needs_mpi

from vanilla_nn import distributed, nn
from vanilla_nn._extras import MissingExtra

HERE = Path(__file__).resolve().parent
WORKER = HERE / "dist_worker.py"
WORLD = 2


def run_mpi(*args: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")]), **extra_env)
    return subprocess.run([str(MPIEXEC), "-n", str(WORLD), sys.executable, str(WORKER), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE)


def run_worker_archive(kind: str, tmp_path_factory) -> dict[str, np.ndarray]:
    """Run the worker's ``kind`` on 2 ranks and read the archive rank 0 wrote."""
    out = tmp_path_factory.mktemp("dist") / f"{kind}.npz"
    result = run_mpi(kind, str(out))
    assert result.returncode == 0, result.stderr
    with np.load(out, allow_pickle=False) as archive:
        return dict(archive)


@pytest.fixture(scope="module")
def equivalence(tmp_path_factory):
    return run_worker_archive("equivalence", tmp_path_factory)


@pytest.fixture(scope="module")
def collectives(tmp_path_factory):
    return run_worker_archive("collectives", tmp_path_factory)


def _text(rows: np.ndarray) -> list[str]:
    return [bytes(row).decode().strip() for row in rows]


def _relative(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual.astype(np.float64) - expected)) / max(np.max(np.abs(expected)), 1e-3))


# -- equivalence -------------------------------------------------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize("case", list(cases.CASES))
def test_two_ranks_end_with_the_weights_of_one_process(equivalence, case):
    kind, dtype, sync, _ = cases.CASES[case]
    reference = cases.train_reference(case, WORLD).state_dict()
    initial = cases.build_model(kind, dtype).state_dict()
    for key, expected in reference.items():
        ranks = equivalence[f"{case}/{key}"]
        assert ranks.dtype == expected.dtype, key
        # every rank holds the same state (they started from different weights: the broadcast worked) ...
        if sync or not key.endswith(("running_mean", "running_var")):
            np.testing.assert_array_equal(ranks[1], ranks[0], err_msg=f"{case} {key}: rank 1 != rank 0")
        # ... and rank 0's is the one process's, which training moved away from the initial weights
        error = _relative(ranks[0], expected)
        assert error <= cases.TOLERANCE[dtype], f"{case} {key}: relative error {error:.1e}"
        if key.endswith(("weight", "running_mean")):
            assert not np.allclose(expected, initial[key]), f"{case} {key}: training did not change it"


@needs_mpi
def test_without_sync_the_ranks_keep_their_own_running_statistics(equivalence):
    # plain BatchNorm normalises each shard by itself: the two ranks' running means differ (rank 0 saves its own)
    ranks = equivalence["bn-float64/1.running_mean"]
    assert not np.allclose(ranks[0], ranks[1])


@needs_mpi
def test_sharding_covers_every_sample_once_per_epoch(equivalence):
    steps_per_epoch = len(cases.global_batches(0))
    for case in cases.CASES:
        for epoch in range(cases.EPOCHS):
            taken = []
            for step in range(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch):
                ranks = equivalence[f"{case}/seen/{step}"]
                parts = [row[row >= 0] for row in ranks]
                batch = cases.global_batches(epoch)[step - epoch * steps_per_epoch]
                np.testing.assert_array_equal(np.concatenate(parts), batch)  # the ranks' parts make the batch
                assert abs(len(parts[0]) - len(parts[1])) <= 1
                taken.extend(np.concatenate(parts).tolist())
            assert sorted(taken) == list(range(cases.SAMPLES)), f"{case} epoch {epoch}"


@pytest.mark.parametrize("world", [1, 2, 3, 5])
@pytest.mark.parametrize("size", [0, 1, 4, 11, 12])
def test_shard_partitions_a_batch(world, size):
    batch = np.random.default_rng(size).permutation(100)[:size]
    parts = [distributed.shard(batch, rank=r, world_size=world) for r in range(world)]
    np.testing.assert_array_equal(np.concatenate(parts), batch)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [len(p) for p in parts] == sorted((len(p) for p in parts), reverse=True)  # the longer ones first
    parts[0][...] = -7 if len(parts[0]) else 0
    assert not np.any(batch == -7)  # fresh arrays


# -- the collectives ---------------------------------------------------------------------------------------------
@needs_mpi
def test_all_reduce_gradients_averages_in_place_and_keeps_dtypes(collectives):
    grad0 = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(collectives["grad0"], [grad0 * 1.5] * 2)      # (1 + 2) / 2
    np.testing.assert_array_equal(collectives["grad1"], [np.full(5, 2.0)] * 2)  # (1 + 3) / 2
    np.testing.assert_array_equal(collectives["grad2"], [np.full(4, 2.0)] * 2)  # None on rank 0 counts as 0
    assert collectives["grad3_none"].all()                                         # None everywhere stays None
    assert not collectives["grad2_none"].any()                                     # rank 0 gets a gradient too
    assert _text(collectives["grad0_dtype"]) == ["float64"] * 2
    assert _text(collectives["grad1_dtype"]) == ["float32"] * 2
    assert collectives["grad0_in_place"].all()


@needs_mpi
def test_broadcast_parameters_copies_parameters_and_buffers_in_place(collectives):
    root = cases.build_model("bn", "float32", seed=cases.SEED).state_dict()
    root["1.running_mean"] = np.zeros(4, np.float32)
    root["1.num_batches_tracked"] = np.array(5)
    for key, expected in root.items():
        ranks = collectives[f"bcast/{key}"]
        for r in range(WORLD):
            np.testing.assert_array_equal(ranks[r], expected, err_msg=f"{key} on rank {r}")
            assert ranks[r].dtype == expected.dtype
    assert collectives["bcast_in_place"].all()
    assert _text(collectives["mismatch_error"]) == [
        "broadcast_parameters: the model on rank(s) [1] has other keys, shapes or dtypes than on root=0; build "
        "the same model on every rank"] * 2
    np.testing.assert_array_equal(collectives["sum"], [[3, 30]] * 2)


@needs_mpi
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sync_batch_norm_on_split_inputs_is_torch_batch_norm_on_the_whole(collectives, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)  # the worker's input, grad_output, weight and bias
    x = (rng.standard_normal((7, 3, 2, 2)) * 3 + 1).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    w, b = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True, eps=1e-5)
    ty.backward(torch.tensor(gy))
    rows = collectives[f"sbn_{dtype}_rows"].ravel()
    for name, expected in (("y", ty.detach().numpy()), ("gx", tx.grad.numpy())):
        ranks = collectives[f"sbn_{dtype}_{name}"]
        assert_close(np.concatenate([ranks[r][:rows[r]] for r in range(WORLD)]), expected, name=name)
        assert _text(collectives[f"sbn_{dtype}_{name}_dtype"]) == [dtype] * WORLD
    # the parameter gradients are each rank's part: all_reduce_gradients sums them
    assert_close(collectives[f"sbn_{dtype}_gw"].sum(axis=0), tw.grad.numpy(), name="grad_weight")
    assert_close(collectives[f"sbn_{dtype}_gb"].sum(axis=0), tb.grad.numpy(), name="grad_bias")


# -- failures ----------------------------------------------------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize(("kind", "status", "message"), [
    ("exception", 1, "ValueError: bad sample 12 in shard"),
    ("nan", 1, "FloatingPointError: loss is nan at step 3: training diverged"),
    ("sigint", 130, "interrupted"),
])
def test_a_failing_rank_ends_every_rank_promptly_with_one_message(kind, status, message, tmp_path):
    start = time.perf_counter()
    result = run_mpi("fail", kind, timeout=60)
    elapsed = time.perf_counter() - start
    # the failing rank exits with `status`; MPICH's mpiexec ORs in the wait status of the rank it then kills,
    # which is a signal (9, 15) or 0 depending on whether it reaped it in time
    assert result.returncode in (status, 9, 15), result.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"dist_worker: rank 1/2: {message}"], result.stderr
    assert "finished" not in result.stdout + result.stderr
    # under a launcher's report directory the rank says it there, with its exact exit status, and prints nothing
    result = run_mpi("fail", kind, timeout=60, **{distributed.JOB_REPORT_ENV: str(tmp_path)})
    assert result.returncode != 0 and not result.stderr.strip(), result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["rank-1.json"]
    assert distributed.read_job_report(tmp_path) == (status, f"dist_worker: rank 1/2: {message}")


# -- one process -------------------------------------------------------------------------------------------------
def test_one_process_is_the_identity():
    assert (distributed.rank(), distributed.world_size(), distributed.is_distributed()) == (0, 1, False)
    model = cases.build_model("bn", "float32")
    model(np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32))
    model.backward(np.ones((4, 10), np.float32))
    before = {name: (p.grad, p.grad.copy()) for name, p in model.named_parameters()}
    state = model.state_dict()
    distributed.all_reduce_gradients(model)
    distributed.broadcast_parameters(model)
    distributed.barrier()
    for name, p in model.named_parameters():
        assert p.grad is before[name][0]
        np.testing.assert_array_equal(p.grad, before[name][1])
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    np.testing.assert_array_equal(distributed.shard(np.arange(5)), np.arange(5))
    assert distributed.loss_scale(3, 7) == pytest.approx(3 / 7)
    np.testing.assert_array_equal(distributed.all_reduce_sum([1.5, 2.0]), [1.5, 2.0])
    with pytest.raises(ValueError, match="kept"), distributed.fail_together():
        raise ValueError("kept")  # one process: the exception propagates unchanged


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(6, 3), (5, 3, 4), (4, 3, 2, 3)])
def test_sync_batch_norm_in_one_process_is_torch_batch_norm(dtype, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    bn = distributed.convert_sync_batchnorm(nn.BatchNorm1d(3, dtype=dtype) if len(shape) < 4
                                            else nn.BatchNorm2d(3, dtype=dtype))
    assert isinstance(bn, distributed.SyncBatchNorm)
    bn.weight.data[...] = rng.standard_normal(3)
    bn.bias.data[...] = rng.standard_normal(3)
    ref = torch.nn.BatchNorm1d(3) if len(shape) < 4 else torch.nn.BatchNorm2d(3)
    ref = ref.to(torch.float64 if dtype == "float64" else torch.float32)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(bn.weight.data))
        ref.bias.copy_(torch.tensor(bn.bias.data))
    for step in range(2):  # two training steps (running statistics), then evaluation
        tx = torch.tensor(x + step, requires_grad=True)
        ty = ref(tx)
        ty.backward(torch.tensor(gy))
        bn.zero_grad()
        assert_close(bn(x + step), ty.detach().numpy(), name="output")
        assert_close(bn.backward(gy), tx.grad.numpy(), name="grad_input")
        assert_close(bn.weight.grad, ref.weight.grad.numpy(), name="grad_weight")
        assert_close(bn.bias.grad, ref.bias.grad.numpy(), name="grad_bias")
        ref.weight.grad = ref.bias.grad = None
        assert_close(bn.running_mean, ref.running_mean.numpy(), name="running_mean")
        assert_close(bn.running_var, ref.running_var.numpy(), name="running_var")
    bn.eval()
    ref.eval()
    assert_close(bn(x), ref(torch.tensor(x)).detach().numpy(), name="eval output")
    # the functional pair agrees with the layer and leaves its inputs alone
    x_copy = x.copy()
    y = distributed.sync_batch_norm(x, None, None, bn.weight.data, bn.bias.data, training=True)
    gx, gw, gb = distributed.sync_batch_norm_backward(gy, x, None, None, bn.weight.data, bn.bias.data,
                                                      training=True)
    tx = torch.tensor(x, requires_grad=True)
    tw, tb = (torch.tensor(a, requires_grad=True) for a in (bn.weight.data, bn.bias.data))
    ty = torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True)
    ty.backward(torch.tensor(gy))
    for name, ours, theirs in (("y", y, ty), ("gx", gx, tx.grad), ("gw", gw, tw.grad), ("gb", gb, tb.grad)):
        assert_close(ours, theirs.detach().numpy(), name=name)
    np.testing.assert_array_equal(x, x_copy)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sync_batch_norm_on_the_tape_in_one_process_is_torch_batch_norm(dtype):
    torch = pytest.importorskip("torch")
    import vanilla_nn as vn

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 3, 2, 2)) + 2).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    bn = distributed.SyncBatchNorm(3, dtype=dtype)
    bn.weight.data[...] = rng.standard_normal(3)
    tx = vn.tensor(x, requires_grad=True)
    out = bn(tx)
    assert isinstance(out, vn.Tensor) and out.grad_fn is not None
    (out * vn.tensor(gy)).sum().backward()
    ref = torch.nn.BatchNorm2d(3).to(torch.float64 if dtype == "float64" else torch.float32)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(bn.weight.data))
    rx = torch.tensor(x, requires_grad=True)
    ry = ref(rx)
    ry.backward(torch.tensor(gy))
    assert_close(out.data, ry.detach().numpy(), name="output")
    assert_close(tx.grad, rx.grad.numpy(), name="grad_input")
    assert_close(bn.weight.grad, ref.weight.grad.numpy(), name="grad_weight")
    assert_close(bn.bias.grad, ref.bias.grad.numpy(), name="grad_bias")
    assert_close(bn.running_var, ref.running_var.numpy(), name="running_var")


def test_convert_sync_batchnorm_keeps_parameters_buffers_and_keys():
    model = cases.build_model("bn", "float64")
    model[1].running_mean = np.arange(4.0)
    weight = model[1].weight
    keys = list(model.state_dict())
    converted = distributed.convert_sync_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], distributed.SyncBatchNorm) and isinstance(model[6], distributed.SyncBatchNorm)
    assert model[1].weight is weight and list(model.state_dict()) == keys
    np.testing.assert_array_equal(model[1].running_mean, np.arange(4.0))
    assert model[1].running_mean.dtype == np.float64


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: distributed.all_reduce_gradients(np.zeros(3)), TypeError, "model must be"),
    (lambda: distributed.all_reduce_gradients([np.zeros(3)]), TypeError, "item 0 is a ndarray"),
    (lambda: distributed.all_reduce_gradients([], bucket_bytes=0), ValueError, "bucket_bytes=0"),
    (lambda: distributed.all_reduce_gradients([], bucket_bytes=1.5), TypeError, "bucket_bytes=1.5"),
    (lambda: distributed.broadcast_parameters([]), TypeError, "model must be"),
    (lambda: distributed.broadcast_parameters(nn.Linear(2, 2), root=1), ValueError, r"root=1 .*\[0, 1\)"),
    (lambda: distributed.shard(np.zeros((2, 2))), ValueError, r"indices.shape=\(2, 2\)"),
    (lambda: distributed.shard([1], rank=2, world_size=2), ValueError, "rank=2"),
    (lambda: distributed.shard([1], world_size=0), ValueError, "world_size=0"),
    (lambda: distributed.loss_scale(5, 3), ValueError, "local_size=5"),
    (lambda: distributed.loss_scale(-1, 3), ValueError, "local_size=-1"),
    (lambda: distributed.all_reduce_sum(["a"]), TypeError, "numeric"),
    (lambda: distributed.sync_batch_norm(np.zeros((4, 3), np.int64), None, None, training=True), TypeError,
     "input has dtype int64"),
    (lambda: distributed.sync_batch_norm(np.zeros((4, 3)), None, None, np.ones(2), training=True), ValueError,
     r"weight.shape=\(2,\)"),
    (lambda: distributed.sync_batch_norm(np.zeros((1, 3)), None, None, training=True), ValueError,
     r"more than 1 value per channel.*\(1, 3\)"),
    (lambda: distributed.sync_batch_norm(np.zeros((4, 3)), None, None), ValueError, "running_mean"),
    (lambda: distributed.sync_batch_norm(np.zeros((4, 3)), None, None, training=True, eps=-1.0), TypeError,
     "eps=-1.0"),
    (lambda: distributed.sync_batch_norm_backward(np.zeros((4, 2)), np.zeros((4, 3)), None, None, training=True),
     ValueError, r"grad_output.shape=\(4, 2\)"),
    (lambda: distributed.convert_sync_batchnorm("bn"), TypeError, "module must be"),
])
def test_bad_arguments_name_themselves(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_init_without_the_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(MissingExtra, match=r"needs mpi4py.*pip install 'vanilla-nn\[dist\]'"):
        distributed.init()
    assert distributed.world_size() == 1


def test_launched_by_mpi_reads_the_launchers_environment(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched_by_mpi()
    monkeypatch.setenv("PMI_SIZE", "1")
    assert not distributed.launched_by_mpi()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert distributed.launched_by_mpi()

