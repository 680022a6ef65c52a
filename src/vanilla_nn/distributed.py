"""Data-parallel training on MPI: one process per core (or per node), each on its shard of every batch.

Run a script under ``mpiexec -n N python script.py`` (the ``dist`` extra: ``mpi4py`` and the ``mpich`` wheel),
call :func:`init` once, and per step: take this rank's part of the global batch with :func:`shard`, run forward
and backward on it with the loss gradient scaled by :func:`loss_scale`, average the gradients with
:func:`all_reduce_gradients`, step the optimizer. :func:`broadcast_parameters` makes every rank start from
rank 0's weights. Notation: ``W`` ranks, rank ``r`` holds ``n_r`` of the global batch's ``N = sum n_r`` samples.

    rank r:      g_r = d(loss_scale * L_r)/d(theta),  L_r = mean of the loss over its n_r samples
    all-reduce:  g = (1/W) sum_r g_r = d(L)/d(theta),  L = mean over the whole global batch

``loss_scale = W * n_r / N`` makes the average the gradient of the global batch's mean loss exactly, for equal
shards (where it is 1) and unequal ones alike. Batch norm is the one layer whose forward mixes samples: plain
``BatchNorm`` normalises each shard with its own statistics (what data parallelism computes unless told
otherwise); :class:`SyncBatchNorm` (or :func:`convert_sync_batchnorm`) all-reduces the per-channel sum, sum of
squares and count in forward and the two reduction terms in backward, so it computes the whole batch's
statistics, as one process would.

Without :func:`init`, or with one process, every function here is the single-process identity: ``rank() == 0``,
``world_size() == 1``, gradients and parameters are left as they are, ``shard`` returns the whole batch.

Failure: a rank that raises while its peers wait in a collective would leave them waiting for ever. Wrap the
training in :func:`fail_together`: an exception (or Ctrl-C) escaping it on any rank prints one line naming the
rank and calls ``MPI_Abort``, which ends every rank of the job within seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import numbers
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._extras import import_optional
from .autograd.tensor import Tensor
from .functional import _dispatch
from .functional._args import as_float_array, check_bool, check_grad_output_shape, result_dtype
from .functional.norm import batch_norm, batch_norm_backward
from .nn.module import Module
from .nn.norm import _BatchNorm

__all__ = [
    "init", "rank", "world_size", "is_distributed", "launched_by_mpi", "barrier",
    "all_reduce_gradients", "broadcast_parameters", "all_reduce_sum", "shard", "loss_scale", "fail_together",
    "end_job_with_line", "read_job_report", "JOB_REPORT_ENV",
    "sync_batch_norm", "sync_batch_norm_backward", "sync_batch_norm_statistics", "SyncBatchNormStatistics",
    "SyncBatchNorm", "convert_sync_batchnorm",
]

# Environment variables by which MPI launchers tell a process its world size (MPICH/Hydra, Open MPI, PMIx).
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")

_DEFAULT_BUCKET_BYTES = 1 << 24  # 16 MiB per all-reduce buffer: a LeNet or a ResNet-18 layer group in one


class _State:
    comm: Any = None  # an mpi4py communicator once init() has run
    mpi: Any = None   # the mpi4py.MPI module
    buffers: dict[tuple[str, int], np.ndarray] = {}  # all-reduce buffers, reused from step to step


_state = _State()


def _buffer(dtype: np.dtype, size: int) -> np.ndarray:
    """A flat scratch buffer of ``size`` elements, the same one on every call with these arguments: MPI moves
    a buffer it has seen before much faster (a fresh one costs page faults and registration each step)."""
    key = (dtype.str, size)
    buffer = _state.buffers.get(key)
    if buffer is None:
        if len(_state.buffers) > 64:  # a training loop uses a handful; anything else is not worth keeping
            _state.buffers.clear()
        buffer = _state.buffers[key] = np.empty(size, dtype=dtype)
    return buffer


def _import_mpi() -> Any:
    return import_optional("mpi4py.MPI", "dist", "vanilla_nn.distributed (data-parallel training on MPI)",
                           package="mpi4py")


def launched_by_mpi() -> bool:
    """Whether this process was started by ``mpiexec``/``mpirun`` with more than one process (from the
    launcher's environment variables; imports nothing)."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            return True
    return False


def init(comm: Any = None) -> int:
    """Start (or join) MPI and return the world size; idempotent.

    Args:
        comm: an mpi4py communicator to train over (default ``MPI.COMM_WORLD``).

    Raises:
        MissingExtra: mpi4py is not installed (``pip install 'vanilla-nn[dist]'``).
        TypeError: ``comm`` is not an mpi4py intra-communicator.
    """
    mpi = _import_mpi()
    if comm is None:
        comm = mpi.COMM_WORLD
    elif not isinstance(comm, mpi.Intracomm):
        raise TypeError(f"init(comm={comm!r}): comm must be an mpi4py intra-communicator such as MPI.COMM_WORLD")
    _state.mpi, _state.comm = mpi, comm
    return comm.Get_size()


def rank() -> int:
    """This process's rank, ``0 <= rank() < world_size()``; 0 without :func:`init`."""
    return 0 if _state.comm is None else _state.comm.Get_rank()


def world_size() -> int:
    """The number of processes training together; 1 without :func:`init`."""
    return 1 if _state.comm is None else _state.comm.Get_size()


def is_distributed() -> bool:
    """True when :func:`init` has run and more than one process takes part."""
    return world_size() > 1


def barrier() -> None:
    """Wait until every rank gets here (nothing to wait for in one process)."""
    if is_distributed():
        _state.comm.Barrier()


def _check_rank(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r} must be an int")
    if not 0 <= value < world_size():
        raise ValueError(f"{name}={value!r} must be a rank in [0, {world_size()}) (world_size() = {world_size()})")
    return int(value)


def _parameters(model: Any, name: str = "model") -> list[Any]:
    """The distinct parameters of a Module, or of an iterable of Parameters (each once, in order)."""
    if isinstance(model, Module):
        params = list(model.parameters())
    elif isinstance(model, (np.ndarray, str, bytes)) or not isinstance(model, Iterable):
        raise TypeError(f"{name} must be a vanilla_nn Module or an iterable of Parameters, got {type(model).__name__}")
    else:
        params = list(model)
    seen: set[int] = set()
    unique = []
    for index, param in enumerate(params):
        if not (hasattr(param, "data") and hasattr(param, "grad") and isinstance(param.data, np.ndarray)):
            raise TypeError(f"{name}: item {index} is a {type(param).__name__}, not a Parameter")
        if id(param) not in seen:
            seen.add(id(param))
            unique.append(param)
    return unique


def _buckets(sizes: list[int], itemsize: int, bucket_bytes: int) -> Iterator[range]:
    """Consecutive runs of indices whose sizes add up to at most ``bucket_bytes`` (a larger one alone)."""
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if index > start and (total + size) * itemsize > bucket_bytes:
            yield range(start, index)
            start, total = index, 0
        total += size
    if start < len(sizes):
        yield range(start, len(sizes))


def _by_dtype(items: list[Any], dtype_of) -> dict[np.dtype, list[Any]]:
    groups: dict[np.dtype, list[Any]] = {}
    for item in items:
        groups.setdefault(np.dtype(dtype_of(item)), []).append(item)
    return groups


def all_reduce_gradients(model: Any, bucket_bytes: int = _DEFAULT_BUCKET_BYTES) -> None:
    """Average every parameter's ``grad`` over the ranks, in place: ``grad = (1/W) sum_r grad_r``.

    The gradients of one dtype travel in a few flat buffers of at most ``bucket_bytes`` each (one all-reduce per
    buffer, not one per parameter) and come back in that dtype. A parameter whose ``grad`` is None counts as
    zeros on that rank; it gets the average wherever any rank had a gradient for it, and stays None only where
    no rank had one (so every rank ends with the same gradients and the optimizers agree). Existing ``grad``
    arrays are overwritten in place. Without MPI or with one process nothing changes.

    Args:
        model: a Module, or an iterable of Parameters.
        bucket_bytes: the largest buffer of one all-reduce (a larger parameter goes alone).

    Raises:
        TypeError: ``model`` is neither; ``bucket_bytes`` is not an int.
        ValueError: ``bucket_bytes`` < 1, or a gradient's shape differs from its parameter's.
    """
    params = _parameters(model)
    if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, numbers.Integral):
        raise TypeError(f"bucket_bytes={bucket_bytes!r} must be an int")
    if bucket_bytes < 1:
        raise ValueError(f"bucket_bytes={bucket_bytes!r} must be >= 1")
    for index, param in enumerate(params):
        if param.grad is not None and np.shape(param.grad) != param.data.shape:
            raise ValueError(f"parameter {index}: grad.shape={np.shape(param.grad)} differs from its "
                             f"data.shape={param.data.shape}")
    if not is_distributed():
        return
    mpi, comm, scale = _state.mpi, _state.comm, 1.0 / world_size()
    for dtype, group in _by_dtype(params, lambda p: p.data.dtype).items():
        sizes = [p.data.size for p in group]
        for bucket in _buckets(sizes, dtype.itemsize, bucket_bytes):
            members = [group[i] for i in bucket]
            total = sum(sizes[i] for i in bucket)
            # the gradients, then one has-a-gradient flag per parameter (summed: how many ranks had one)
            buffer = _buffer(dtype, total + len(members))
            offset = 0
            for k, param in enumerate(members):
                segment = buffer[offset:offset + param.data.size]
                if param.grad is None:
                    segment[...] = 0
                    buffer[total + k] = 0
                else:
                    segment[...] = np.asarray(param.grad).reshape(-1)
                    buffer[total + k] = 1
                offset += param.data.size
            comm.Allreduce(mpi.IN_PLACE, buffer, op=mpi.SUM)
            offset = 0
            for k, param in enumerate(members):
                segment = buffer[offset:offset + param.data.size].reshape(param.data.shape)
                offset += param.data.size
                if buffer[total + k] == 0:  # no rank had a gradient
                    continue
                segment *= dtype.type(scale)
                if param.grad is None or np.asarray(param.grad).dtype != dtype:
                    param.grad = segment.copy()
                else:
                    param.grad[...] = segment


def _state_arrays(model: Module) -> list[tuple[str, Any, str]]:
    """``(key, owner, kind)`` for every parameter and buffer in state-dict order (owner: Parameter or module)."""
    arrays = []
    seen: set[int] = set()
    for path, module in model.named_modules():
        for name, param in module._parameters.items():
            if param is not None and id(param) not in seen:
                seen.add(id(param))
                arrays.append((f"{path}.{name}" if path else name, param, "parameter"))
        for name, buffer in module._buffers.items():
            if buffer is not None:
                arrays.append((f"{path}.{name}" if path else name, (module, name), "buffer"))
    return arrays


def broadcast_parameters(model: Module, root: int = 0) -> None:
    """Copy ``root``'s parameters and buffers (running statistics too) into every rank's model, in place.

    First checks that every rank holds the same keys, shapes and dtypes (else ValueError on every rank, naming
    the ranks that differ from ``root``), then sends one flat buffer per dtype. Nothing happens in one process.

    Raises:
        TypeError: ``model`` is not a Module, ``root`` is not an int.
        ValueError: ``root`` is not a rank; the models differ in structure between ranks.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a vanilla_nn Module, got {type(model).__name__}")
    root = _check_rank(root, "root")
    if not is_distributed():
        return
    comm = _state.comm
    entries = _state_arrays(model)

    def array_of(entry: tuple[str, Any, str]) -> np.ndarray:
        key, owner, kind = entry
        if kind == "parameter":
            return owner.data
        module, name = owner
        return module._buffers[name]

    description = ";".join(f"{e[0]}:{array_of(e).shape}:{array_of(e).dtype}" for e in entries)
    digest = np.frombuffer(hashlib.sha256(description.encode()).digest(), dtype=np.uint8)
    digests = np.empty((world_size(), digest.size), dtype=np.uint8)
    comm.Allgather(digest, digests)
    differing = [r for r in range(world_size()) if not np.array_equal(digests[r], digests[root])]
    if differing:
        raise ValueError(f"broadcast_parameters: the model on rank(s) {differing} has other keys, shapes or dtypes "
                         f"than on root={root}; build the same model on every rank")
    for dtype, group in _by_dtype(entries, lambda e: array_of(e).dtype).items():
        sizes = [array_of(e).size for e in group]
        buffer = np.empty(sum(sizes), dtype=dtype)
        if rank() == root:
            offset = 0
            for entry, size in zip(group, sizes):
                buffer[offset:offset + size] = array_of(entry).reshape(-1)
                offset += size
        comm.Bcast(buffer, root=root)
        offset = 0
        for entry, size in zip(group, sizes):
            _, owner, kind = entry
            value = buffer[offset:offset + size].reshape(array_of(entry).shape)
            offset += size
            if kind == "parameter":
                owner.data[...] = value
            else:
                module, name = owner
                module._buffers[name] = value.copy()


def all_reduce_sum(values: Any) -> np.ndarray:
    """The element-wise sum over the ranks of a float or int array (a fresh array, same dtype); e.g. a
    training loop's loss total, correct count and sample count in one call. One process: a copy."""
    array = np.array(values, copy=True)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"all_reduce_sum: values must be numeric, got dtype {array.dtype}")
    if is_distributed():
        buffer = np.ascontiguousarray(array)
        _state.comm.Allreduce(_state.mpi.IN_PLACE, buffer, op=_state.mpi.SUM)
        return buffer
    return array


def shard(indices: Any, rank: int | None = None, world_size: int | None = None) -> np.ndarray:
    """This rank's part of one global batch: ``indices`` split into ``W`` contiguous runs, the first
    ``len % W`` runs one longer (NumPy's ``array_split``), so the ranks' parts of every global batch are disjoint
    and together are the batch; over an epoch's batches every sample is on exactly one rank once. A batch of
    fewer than ``W`` samples leaves the last ranks an empty part (see :func:`loss_scale`).

    Args:
        indices: a 1-d array of sample indices (or any 1-d array: the samples themselves).
        rank, world_size: default this process's (:func:`rank`, :func:`world_size`).

    Returns:
        A fresh 1-d array.

    Examples:
        >>> from vanilla_nn.distributed import shard
        >>> [shard(range(5), rank=r, world_size=2).tolist() for r in range(2)]
        [[0, 1, 2], [3, 4]]
        >>> shard([7, 8, 9]).tolist()                        # one process: the whole batch
        [7, 8, 9]
    """
    if world_size is None:
        world_size = globals()["world_size"]()
    if isinstance(world_size, bool) or not isinstance(world_size, numbers.Integral) or world_size < 1:
        raise ValueError(f"shard: world_size={world_size!r} must be a positive int")
    if rank is None:
        rank = globals()["rank"]()
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 0 <= rank < world_size:
        raise ValueError(f"shard: rank={rank!r} must be an int in [0, world_size={world_size})")
    array = np.asarray(indices)
    if array.ndim != 1:
        raise ValueError(f"shard: indices must be 1-d, got indices.shape={array.shape}")
    base, extra = divmod(len(array), int(world_size))
    start = rank * base + min(rank, extra)
    return array[start:start + base + (1 if rank < extra else 0)].copy()


def loss_scale(local_size: int, global_size: int) -> float:
    """``W * n_r / N``: multiply rank ``r``'s loss gradient (of the mean over its ``n_r`` samples) by this, and
    :func:`all_reduce_gradients`' average is the gradient of the mean over the global batch's ``N`` samples.

    Examples:
        >>> from vanilla_nn.distributed import loss_scale
        >>> loss_scale(32, 32), loss_scale(0, 5)               # one process: 1; an empty shard: 0
        (1.0, 0.0)
    """
    for name, value in (("local_size", local_size), ("global_size", global_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"loss_scale: {name}={value!r} must be a non-negative int")
    if global_size == 0 or local_size > global_size:
        raise ValueError(f"loss_scale: local_size={local_size} must be <= global_size={global_size}, and "
                         f"global_size > 0")
    return world_size() * local_size / global_size


#: Set by ``vanilla-nn train --workers`` (the launcher) to a directory: a failing rank then writes its one line and
#: exit status there (``rank-R.json``) instead of printing, and the launcher prints the report of the lowest rank
#: that wrote one and exits with its status. ``mpiexec``'s own status cannot carry it: MPICH's Hydra ORs every
#: rank's wait status together, and whether it reaps the ranks it kills after the first failure (signal 9 or 15)
#: before it exits depends on timing.
JOB_REPORT_ENV = "VANILLA_NN_JOB_REPORT"
_RANK_ZERO_GRACE_S = 10.0


def _report_path(directory: str, rank_: int) -> Path:
    return Path(directory) / f"rank-{rank_}.json"


def read_job_report(directory: str | os.PathLike[str]) -> tuple[int, str] | None:
    """The exit status and line of the lowest rank that reported a failure into ``directory``, or None."""
    reports = []
    for path in Path(directory).glob("rank-*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            if path.stat().st_size > 65536:
                continue
            report = json.loads(path.read_text(encoding="utf-8"))
            reports.append((int(report["rank"]), int(report["code"]), str(report["line"])))
    if not reports:
        return None
    _, code, line = min(reports)
    return code, line


def end_job_with_line(line: str, code: int, *, every_rank_alike: bool = False) -> NoReturn:
    """End every rank of the job after saying ``line`` once, with exit status ``code``.

    When every rank fails alike (Ctrl-C reaches them all, a divergence of the all-reduced loss), rank 0 speaks:
    the others give it a moment first. Under the launcher (:data:`JOB_REPORT_ENV`) the line goes into the
    report directory instead and the launcher prints it; otherwise to stderr."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    directory = os.environ.get(JOB_REPORT_ENV)
    if directory:
        with contextlib.suppress(Exception):
            from ._io import write_json

            write_json(_report_path(directory, rank()), {"rank": rank(), "code": code, "line": line})
        if every_rank_alike and rank() != 0:
            # rank 0's line says more (what it kept): wait until it has written it, or a bounded while
            deadline = time.monotonic() + _RANK_ZERO_GRACE_S
            while not _report_path(directory, 0).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
    else:
        if every_rank_alike and rank() != 0:
            time.sleep(0.5)
        with contextlib.suppress(Exception):
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
    _end_job(code)


@contextlib.contextmanager
def fail_together(prog: str = "vanilla-nn") -> Iterator[None]:
    """An exception escaping the block on any rank ends every rank: the failing rank prints one line
    (``prog: rank r/W: message``) and ends the job (``MPI_Abort``, or under MPICH's launcher an immediate exit
    that makes it end the job), so its peers never wait for it in a collective. Its own exit status is 1, or 130
    after Ctrl-C; ``mpiexec`` may report a signal instead (9 or 15: the peers it killed), which
    ``vanilla-nn train --workers`` corrects (see :data:`JOB_REPORT_ENV`). In one process the exception propagates
    unchanged; a ``SystemExit(0)`` always does."""
    try:
        yield
    except BaseException as error:
        if not is_distributed() or (isinstance(error, SystemExit) and error.code in (0, None)):
            raise
        if isinstance(error, KeyboardInterrupt):
            message, code = "interrupted", 130
        elif isinstance(error, SystemExit):
            message = str(error.code) if not isinstance(error.code, int) else f"exit status {error.code}"
            code = error.code if isinstance(error.code, int) else 1
        else:
            message, code = f"{type(error).__name__}: {error}", 1
        first_line = message.strip().splitlines()[0] if message.strip() else type(error).__name__
        end_job_with_line(f"{prog}: rank {rank()}/{world_size()}: {first_line}", code,
                          every_rank_alike=isinstance(error, KeyboardInterrupt))


def _end_job(code: int) -> None:
    """End every rank now. Under MPICH's Hydra launcher (whose default is to clean up the whole job when a
    process exits before ``MPI_Finalize``) this rank just exits, so the job ends without MPICH's own
    ``Abort(...)`` banner; elsewhere ``MPI_Abort``. ``os._exit`` follows either way, so nothing after runs."""
    hydra = "PMI_FD" in os.environ or "PMI_PORT" in os.environ
    if not (hydra and _state.mpi.Get_library_version().startswith("MPICH")):
        _state.comm.Abort(code)
    os._exit(code)


# -- synchronised batch normalisation ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncBatchNormStatistics:
    """The global batch statistics of one training forward: per-channel ``mean``, ``var`` (biased) and
    ``inv_std = 1 / sqrt(var + eps)`` in the computation dtype, and ``count`` (values per channel, all ranks)."""

    mean: np.ndarray
    var: np.ndarray
    inv_std: np.ndarray
    count: int


def _sum_over_ranks(buffer: np.ndarray) -> np.ndarray:
    if is_distributed():
        _state.comm.Allreduce(_state.mpi.IN_PLACE, buffer, op=_state.mpi.SUM)
    return buffer


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _per_channel(a: np.ndarray, ndim: int) -> np.ndarray:
    return a.reshape((1, -1) + (1,) * (ndim - 2))


def sync_batch_norm_statistics(input: np.ndarray, eps: float, dtype: Any = None) -> SyncBatchNormStatistics:
    """Per-channel mean and biased variance over every rank's ``input (n_r, C, *S)``: one all-reduce of
    ``(sum x, sum x^2, count)`` accumulated in float64 (the variance as ``E[x^2] - mean^2``).

    Raises:
        ValueError: fewer than 2 values per channel over all ranks together.
    """
    x = np.asarray(input)
    dtype = np.dtype(x.dtype if dtype is None else dtype)
    channels = x.shape[1]
    buffer = np.empty(2 * channels + 1, dtype=np.float64)
    x64 = x.astype(np.float64, copy=False)
    buffer[:channels] = x64.sum(axis=_axes(x))
    buffer[channels:2 * channels] = np.square(x64).sum(axis=_axes(x))
    buffer[-1] = x.size // channels if channels else 0
    _sum_over_ranks(buffer)
    count = int(round(buffer[-1]))
    if count <= 1:
        raise ValueError(f"sync_batch_norm: batch statistics need more than 1 value per channel over all ranks, "
                         f"got {count} (input.shape={x.shape} on rank {rank()})")
    mean = buffer[:channels] / count
    var = np.maximum(buffer[channels:2 * channels] / count - mean * mean, 0.0)
    inv_std = 1.0 / np.sqrt(var + eps)
    return SyncBatchNormStatistics(mean.astype(dtype), var.astype(dtype), inv_std.astype(dtype), count)


def _sync_args(op: str, input: Any, running_mean: Any, running_var: Any, weight: Any, bias: Any, training: Any,
               momentum: Any, eps: Any) -> tuple[np.ndarray, list[np.ndarray | None], bool, float, np.dtype]:
    """batch_norm's argument rules, except that the "more than 1 value per channel" rule in training applies to
    all ranks together (checked by :func:`sync_batch_norm_statistics`)."""
    x = as_float_array(input, "input")
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C) or (N, C, *S), got input.shape={x.shape}")
    arrays: list[np.ndarray | None] = []
    for name, value in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                        ("bias", bias)):
        if value is None:
            arrays.append(None)
            continue
        a = as_float_array(value, name)
        if a.shape != (x.shape[1],):
            raise ValueError(f"{op}: {name}.shape={a.shape} must be ({x.shape[1]},), one value per channel of "
                             f"input.shape={x.shape}")
        arrays.append(a)
    training = check_bool(training, "training")
    for name, value in (("momentum", momentum), ("eps", eps)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
            raise TypeError(f"{op}: {name}={value!r} must be a finite real number >= 0")
    if not training and (arrays[0] is None or arrays[1] is None):
        raise ValueError(f"{op}: running_mean and running_var are required when training=False")
    return x, arrays, training, float(eps), result_dtype(x, *arrays)


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def sync_batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
                    training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Any:
    """:func:`vanilla_nn.functional.batch_norm` whose training statistics are those of the global batch (all
    ranks' inputs together); evaluation uses the running statistics, as ``batch_norm``. Arguments, dtypes and
    errors as ``batch_norm``; in one process the two agree to rounding.

        training:  mean = sum_ranks sum x / M,  var = sum_ranks sum x^2 / M - mean^2   (M values per channel)
                   y = w * (x - mean) / sqrt(var + eps) + b

    Given a Tensor argument it returns a Tensor on the tape whose node calls :func:`sync_batch_norm_backward`
    (input, weight and bias differentiable), as every op of :mod:`vanilla_nn.functional` does.
    """
    args = (input, running_mean, running_var, weight, bias, training, momentum, eps)
    if any(isinstance(a, Tensor) for a in args):
        return _dispatch.tape.record("sync_batch_norm", _sync_batch_norm, sync_batch_norm_backward,
                                     ("input", "weight", "bias"), args, {})
    return _sync_batch_norm(*args)


def _sync_batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
                     training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> np.ndarray:
    x, (_, _, w, b), training, eps, dtype = _sync_args("sync_batch_norm", input, running_mean, running_var,
                                                       weight, bias, training, momentum, eps)
    if not training:
        return batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    return _sync_forward(x, w, b, sync_batch_norm_statistics(x, eps, dtype), dtype)


def _sync_forward(x: np.ndarray, weight: Any, bias: Any, stats: SyncBatchNormStatistics,
                  dtype: np.dtype) -> np.ndarray:
    y = (x.astype(dtype, copy=False) - _per_channel(stats.mean, x.ndim)) * _per_channel(stats.inv_std, x.ndim)
    if weight is not None:
        y *= _per_channel(np.asarray(weight).astype(dtype, copy=False), x.ndim)
    if bias is not None:
        y += _per_channel(np.asarray(bias).astype(dtype, copy=False), x.ndim)
    return y


def _sync_backward(gy: np.ndarray, x: np.ndarray, weight: Any, bias: Any, stats: SyncBatchNormStatistics,
                   dtype: np.dtype) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Local parameter gradients (all_reduce_gradients sums them later) and the input gradient from the two
    all-reduced terms ``sum gy`` and ``sum gy * x_hat`` (one all-reduce)."""
    axes, channels = _axes(x), x.shape[1]
    gy = gy.astype(dtype, copy=False)
    x_hat = (x.astype(dtype, copy=False) - _per_channel(stats.mean, x.ndim)) * _per_channel(stats.inv_std, x.ndim)
    local = np.empty(2 * channels, dtype=dtype)
    local[:channels] = gy.sum(axis=axes)
    local[channels:] = (gy * x_hat).sum(axis=axes)
    grad_b = None if bias is None else local[:channels].astype(np.asarray(bias).dtype)
    grad_w = None if weight is None else local[channels:].astype(np.asarray(weight).dtype)
    total = _sum_over_ranks(local.copy())
    mean_gy = _per_channel(total[:channels] / dtype.type(stats.count), x.ndim)
    mean_gy_xhat = _per_channel(total[channels:] / dtype.type(stats.count), x.ndim)
    scale = stats.inv_std if weight is None else stats.inv_std * np.asarray(weight).astype(dtype, copy=False)
    grad_x = (gy - mean_gy - x_hat * mean_gy_xhat) * _per_channel(scale, x.ndim)
    return grad_x.astype(x.dtype, copy=False), grad_w, grad_b


def sync_batch_norm_backward(grad_output: Any, input: Any, running_mean: Any, running_var: Any, weight: Any = None,
                             bias: Any = None, training: bool = False, momentum: float = 0.1,
                             eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`sync_batch_norm`. In training it recomputes the global
    statistics (one all-reduce) and all-reduces ``sum gy`` and ``sum gy * x_hat`` (a second):

        grad_x = w / sqrt(var + eps) * (gy - S1 / M - x_hat * S2 / M),  S1 = sum_ranks sum gy,
        S2 = sum_ranks sum gy * x_hat;   grad_w = sum gy * x_hat,  grad_b = sum gy   (this rank's part)

    ``grad_weight``/``grad_bias`` are this rank's sums: :func:`all_reduce_gradients` combines them.
    """
    x, (_, _, w, b), training, eps, dtype = _sync_args("sync_batch_norm", input, running_mean, running_var,
                                                       weight, bias, training, momentum, eps)
    if not training:
        return batch_norm_backward(grad_output, input, running_mean, running_var, weight, bias, training,
                                   momentum, eps)
    gy = check_grad_output_shape("sync_batch_norm", grad_output, x.shape)
    return _sync_backward(gy, x, w, b, sync_batch_norm_statistics(x, eps, dtype), dtype)


class SyncBatchNorm(_BatchNorm):
    """``torch.nn.SyncBatchNorm``: batch norm over ``(N, C, *S)`` whose training statistics are the global
    batch's, over every rank (see :func:`sync_batch_norm`); the running statistics are updated from them
    (PyTorch's rule, unbiased variance over all ``M`` values), so they stay equal on every rank. Evaluation
    uses the running statistics, with no communication. In one process it is ``BatchNorm``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import distributed, nn
        >>> model = distributed.convert_sync_batchnorm(nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.BatchNorm2d(2)))
        >>> model[1]
        SyncBatchNorm(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
        >>> model(np.ones((2, 1, 4, 4), dtype=np.float32)).shape
        (2, 2, 2, 2)
    """

    input_ranks = (2, 3, 4, 5)

    def forward(self, input: Any) -> Any:
        self._check_input(input)
        if not (self.training or self.running_mean is None):
            return super().forward(input)  # evaluation: the running statistics, no communication
        on_tape = isinstance(input, Tensor)
        weight = None if self.weight is None else (self.weight if on_tape else self.weight.data)
        bias = None if self.bias is None else (self.bias if on_tape else self.bias.data)
        momentum = 0.0 if self.momentum is None else self.momentum
        x, _, _, _, dtype = _sync_args(type(self).__name__, input.data if on_tape else input, self.running_mean,
                                       self.running_var, None if weight is None else np.asarray(_data(weight)),
                                       None if bias is None else np.asarray(_data(bias)), True, momentum, self.eps)
        if on_tape:  # the op records itself (its backward recomputes the statistics: a second all-reduce here)
            output = sync_batch_norm(input, self.running_mean, self.running_var, weight, bias, True, momentum,
                                     self.eps)
            stats = sync_batch_norm_statistics(x, self.eps, dtype)
        else:
            stats = sync_batch_norm_statistics(x, self.eps, dtype)
            output = _sync_forward(x, weight, bias, stats, dtype)
            self._save((x, weight, bias, stats, dtype))
        if self.training and self.track_running_stats:
            self.num_batches_tracked = self.num_batches_tracked + 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
            keep, take = 1.0 - momentum, momentum
            unbiased = stats.var.astype(np.float64) * stats.count / (stats.count - 1)
            rm, rv = self.running_mean, self.running_var
            self.running_mean = (keep * rm + take * stats.mean.astype(np.float64)).astype(rm.dtype)
            self.running_var = (keep * rv + take * unbiased).astype(rv.dtype)
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        cache = self._saved()
        if len(cache) == 2:  # evaluation: plain batch norm with the running statistics
            input, args = cache
            grad_input, grad_weight, grad_bias = batch_norm_backward(grad_output, input, *args)
        else:
            x, weight, bias, stats, dtype = cache
            gy = check_grad_output_shape(type(self).__name__, grad_output, x.shape)
            grad_input, grad_weight, grad_bias = _sync_backward(gy, x, weight, bias, stats, dtype)
        if grad_weight is not None:
            self.weight.accumulate_grad(grad_weight)
        if grad_bias is not None:
            self.bias.accumulate_grad(grad_bias)
        return grad_input

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """PyTorch's spelling of :func:`convert_sync_batchnorm`."""
        return convert_sync_batchnorm(module)


def convert_sync_batchnorm(module: Module) -> Module:
    """``module`` with every ``BatchNorm1d``/``BatchNorm2d`` replaced by a :class:`SyncBatchNorm` sharing its
    parameters (the same Parameter objects) and copying its buffers and settings; the same module is returned
    (a new one if ``module`` itself is a batch norm). State-dict keys are unchanged.

    Raises:
        TypeError: ``module`` is not a vanilla_nn Module.
    """
    if not isinstance(module, Module):
        raise TypeError(f"convert_sync_batchnorm: module must be a vanilla_nn Module, got {type(module).__name__}")
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        dtype = module.weight.data.dtype if module.weight is not None else (
            module.running_mean.dtype if module.running_mean is not None else np.float32)
        sync = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats, dtype=dtype)
        if module.affine:
            sync.weight, sync.bias = module.weight, module.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            value = module._buffers.get(name)
            sync.register_buffer(name, None if value is None else np.array(value, copy=True))
        sync.train(module.training)
        return sync
    for name, child in list(module.named_children()):
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            module.add_module(name, converted)
    return module
