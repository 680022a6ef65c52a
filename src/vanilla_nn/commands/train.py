"""Train a network of vanilla_nn.models (default: the LeNet-style CNN) with NumPy alone; write weights and plots.

Writes into --out, after every completed epoch and atomically as one consistent set (manifest.json, written
last, lists each file's size and SHA-256): model.safetensors and model.npz (PyTorch's key names),
checkpoint.safetensors (weights, optimizer, scheduler and RNG state: --resume continues from it) and
history.json (loss and accuracy per epoch); after the last epoch also curves.png, filters.png and
feature_maps.png. Ctrl-C keeps the last completed epoch; `--resume DIR` with the same arguments then ends
bit-identical to an uninterrupted run. A non-finite loss or weight stops the run (exit 1) and leaves --out as
the last good epoch wrote it. One run at a time writes into a directory (a lock file, .vanilla-nn-train.lock).

Data parallel on MPI: run as ``mpiexec -n N vanilla-nn train ...`` (or ``--workers N``, which launches that
mpiexec itself) every rank trains on its shard of each global batch of --batch-size images and the gradients
are averaged, so the weights equal one process's on the same batches (to rounding). Only rank 0 prints and
writes; a failure on any rank ends every rank with one line.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._common import (
    CommandError,
    InputError,
    Interrupted,
    UsageError,
    add_dataset_arguments,
    check_dataset_arguments,
    load_dataset,
    optional,
    positive_float,
    positive_int,
    predict_logits,
)
from ._plots import save_plots

MODEL_NAMES = ("lenet", "resnet18", "mobilenet_v2")
WEIGHTS = ("model.safetensors", "model.npz")
CHECKPOINT = "checkpoint.safetensors"
HISTORY = "history.json"
PLOTS = ("curves.png", "filters.png", "feature_maps.png")
RUN_FILES = (*WEIGHTS, CHECKPOINT, HISTORY, *PLOTS)
# the options a resumed run must repeat: they decide every number of the run
TRAINING_ARGS = ("dataset", "seed", "model", "epochs", "batch_size", "lr", "limit", "dtype", "sync_bn")
# what a checkpoint written before an option existed means by it
TRAINING_DEFAULTS = {"dtype": "float32", "sync_bn": "on"}
DTYPES = ("float32", "float64")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser, "seed of the digits train/test split, the initial weights and the batch order")
    parser.add_argument("--model", choices=MODEL_NAMES, default="lenet",
                        help="the network: lenet (LeNet-style CNN), resnet18 (stem width 16) or mobilenet_v2 "
                             "(width_mult 0.25), sized for the data (default: %(default)s)")
    parser.add_argument("--epochs", type=positive_int, default=30,
                        help="passes over the training set (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="mini-batch size (default: %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=2e-3,
                        help="Adam's learning rate in the first epoch, decayed per epoch on a cosine "
                             "(default: %(default)s)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use only the first N training images (default: all)")
    parser.add_argument("--out", default="runs/latest",
                        help="output directory, created if needed (default: %(default)s)")
    parser.add_argument("--resume", default=None, metavar="DIR",
                        help="continue the run whose checkpoint.safetensors is in DIR (usually the same as "
                             "--out), with the same arguments (default: start afresh)")
    parser.add_argument("--no-plots", action="store_true",
                        help="do not draw curves.png, filters.png and feature_maps.png (faster; default: draw)")
    parser.add_argument("--json", action="store_true",
                        help='print {"test_accuracy", "seconds", "epochs"} as one JSON line at the end '
                             "(default: off)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no per-epoch progress (a bar on a terminal, otherwise one line per epoch) "
                             "(default: progress on)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="the precision of the weights, the data and every computation (default: %(default)s)")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="train data-parallel in N processes on MPI: runs `mpiexec -n N` from this Python's "
                             "bin/ (the dist extra: mpi4py, mpich); --batch-size stays the global batch "
                             "(default: %(default)s, no MPI)")
    parser.add_argument("--sync-bn", choices=("on", "off"), default="on",
                        help="with several processes, batch norm uses the statistics of the whole global batch "
                             "(SyncBatchNorm, as one process computes) rather than each process's shard; no "
                             "effect in one process (default: %(default)s)")


# -- checks before any work -----------------------------------------------------------------------------------

def check_out(out: Path) -> None:
    """Create ``out`` if needed and prove it writable; a misuse is a :class:`UsageError`."""
    if not str(out).strip():
        raise UsageError("--out must name a directory, got an empty string")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    ancestor = out
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"--out {out}: {ancestor} is a file, so the directory cannot be created")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {out}: cannot create the directory ({error.strerror or error})") from None
    for name in RUN_FILES:
        if (out / name).is_dir():
            raise UsageError(f"--out {out}: {out / name} is a directory, where the run writes a file")
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test."):
            pass
    except OSError as error:
        raise UsageError(f"--out {out}: not writable ({error.strerror or error})") from None


LOCK = ".vanilla-nn-train.lock"


def lock_out(out: Path) -> Any:
    """Hold an exclusive lock on ``out`` for this process (released when it exits), so two runs never write
    into one directory at once; then remove temporary files that a killed run left there. Returns the open
    lock file (keep it referenced). Where ``fcntl`` is missing (Windows) nothing is locked or cleaned."""
    try:
        import fcntl
    except ImportError:
        return None
    handle = open(out / LOCK, "a+")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise CommandError(f"--out {out}: another vanilla-nn train is writing there; wait for it or choose "
                           f"another --out") from None
    for name in (*RUN_FILES, "manifest.json"):
        for stale in out.glob(f".{name}.*.tmp*"):
            with contextlib.suppress(OSError):
                stale.unlink()
    return handle


def _check_model_available(name: str) -> None:
    from .. import models

    if not hasattr(models, name):
        raise UsageError(f"--model {name}: vanilla_nn.models has no {name} in this version")
    if name != "lenet" and not _tape_available():
        raise UsageError(f"--model {name} needs the autograd (vanilla_nn.Tensor), not in this version")


def _tape_available() -> bool:
    import vanilla_nn

    return hasattr(vanilla_nn, "Tensor") and hasattr(vanilla_nn, "tensor")


# -- models ---------------------------------------------------------------------------------------------------

def model_config(name: str, in_channels: int, num_classes: int, image_size: tuple[int, int]) -> dict[str, Any]:
    """Constructor keywords of model ``name`` for the data (small widths for small images)."""
    if name == "lenet":
        return {"in_channels": in_channels, "num_classes": num_classes, "image_size": list(image_size)}
    if name == "resnet18":
        return {"in_channels": in_channels, "num_classes": num_classes, "width": 16}
    return {"in_channels": in_channels, "num_classes": num_classes, "width_mult": 0.25}


def build_model(name: str, config: dict[str, Any], seed: int, dtype: Any = np.float32) -> Any:
    """Model ``name`` with ``config`` and parameters of ``dtype``, initialised from ``seed`` (the layers'
    global generator, which dropout draws from, is reseeded too)."""
    from .. import models, nn

    nn.init.manual_seed(seed)
    if name == "lenet":
        return models.lenet(**{**config, "image_size": tuple(config["image_size"])}, dtype=dtype,
                            rng=np.random.default_rng(seed))
    return getattr(models, name)(**config, dtype=dtype, rng=np.random.default_rng(seed))


# -- the training loop ----------------------------------------------------------------------------------------

class Diverged(CommandError):
    """A non-finite loss or weight: the run stops (exit 1) without writing."""


def _step(model: Any, loss_fn: Any, optimizer: Any, xb: np.ndarray, yb: np.ndarray, tape: bool,
          global_size: int | None = None) -> tuple[float, np.ndarray]:
    """One optimizer step, on the autograd tape (``tape``) or the layers' explicit backward (Sequential models
    only); returns the mean loss and the logits of ``xb``.

    Data parallel (``global_size``: the global batch of which ``xb`` is this rank's shard): the loss gradient
    is scaled by ``W n_r / N`` and the gradients are averaged over the ranks before the step, so every rank
    steps with the gradient of the whole global batch's mean loss."""
    from .. import distributed

    scale = 1.0 if global_size is None else distributed.loss_scale(len(yb), global_size)
    optimizer.zero_grad()
    if tape:
        import vanilla_nn as vn

        logits = model(vn.tensor(xb))
        loss = loss_fn(logits, yb)
        (loss if scale == 1.0 else loss * scale).backward()
        value, logits = float(loss.data), np.asarray(logits.data)
    else:
        logits = model(xb)
        value = float(loss_fn(logits, yb))
        grad = loss_fn.backward()
        model.backward(grad if scale == 1.0 else grad * grad.dtype.type(scale))
    if global_size is not None:
        distributed.all_reduce_gradients(model)
    optimizer.step()
    return value, logits


def _first_non_finite(model: Any) -> str | None:
    for name, param in model.named_parameters():
        if not np.isfinite(param.data).all():
            return name
    return None


def rng_states(batch_rng: np.random.Generator, model: Any) -> dict[str, Any]:
    """Every generator the run draws from: batch order, the layers' default, each module's own."""
    from .. import nn

    modules = {name: module.rng.bit_generator.state for name, module in model.named_modules()
               if isinstance(getattr(module, "rng", None), np.random.Generator)}
    return {"batches": batch_rng.bit_generator.state, "init": nn.init.default_generator().bit_generator.state,
            "modules": modules}


def set_rng_states(batch_rng: np.random.Generator, model: Any, states: dict[str, Any]) -> None:
    from .. import nn

    batch_rng.bit_generator.state = states["batches"]
    nn.init.default_generator().bit_generator.state = states["init"]
    modules = dict(model.named_modules())
    for name, state in states["modules"].items():
        modules[name].rng.bit_generator.state = state


class _NoBar:
    """Stands in for ``tqdm`` when no bar is drawn (so tqdm is needed only on a terminal)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def update(self, count: int) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass


@dataclass
class Run:
    """Everything one ``train`` invocation works with."""

    args: argparse.Namespace
    out: Path
    model_name: str
    config: dict[str, Any]
    model: Any
    optimizer: Any
    scheduler: Any
    batch_rng: np.random.Generator
    history: dict[str, list[float]]
    tape: bool = True  # train on the autograd tape (else the layers' explicit backward: Sequential only)
    saved_epoch: int | None = None  # the epoch of the checkpoint now in --out written by this process


def train_epoch(run: Run, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, epoch: int,
                progress: bool) -> None:
    """One epoch of Adam + cross-entropy, then one step of the cosine schedule; appends to ``run.history``;
    :class:`Diverged` on a non-finite value."""
    from .. import distributed, nn
    from .._io import _fault_point
    from ..data import batches

    args, model = run.args, run.model
    parallel = distributed.is_distributed()
    loss_fn = nn.CrossEntropyLoss()
    live_bar = progress and sys.stderr.isatty()  # a log file gets one line per epoch instead of a redrawn bar
    tqdm = optional("tqdm").tqdm if live_bar else _NoBar
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    with tqdm(total=-(-len(x) // args.batch_size), desc=f"epoch {epoch}/{args.epochs}", file=sys.stderr,
              disable=not live_bar, leave=True, dynamic_ncols=True) as bar:
        for step, (xb, yb) in enumerate(batches(x, y, args.batch_size, rng=run.batch_rng), start=1):
            _fault_point("step")  # tests interrupt here: "step#5" is the 5th step of the process
            if parallel:  # this rank's part of the global batch
                mine = distributed.shard(np.arange(len(yb)))
                global_size, xb, yb = len(yb), xb[mine], yb[mine]
            else:
                global_size = None
            loss, logits = _step(model, loss_fn, run.optimizer, xb, yb, run.tape, global_size)
            bad = None if math.isfinite(loss) else f"the loss is {loss}"
            if bad is None and (name := _first_non_finite(model)) is not None:
                bad = f"parameter {name} is no longer finite"
            if bad is not None:
                kept = (f"{run.out} keeps epoch {run.saved_epoch}" if run.saved_epoch is not None
                        else f"nothing was written to {run.out}")
                raise Diverged(f"training diverged in epoch {epoch}, step {step}: {bad}; {kept}. Try a lower "
                               f"--lr (this run: {args.lr:g}) or check the data for NaN/inf values")
            total_loss += loss * len(yb)
            correct += int((logits.argmax(axis=1) == yb).sum())
            seen += len(yb)
            bar.update(1)
            if not parallel:
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
        if parallel:  # the epoch's totals over every rank (the bar shows them once per epoch)
            total_loss, correct, seen = (float(v) for v in distributed.all_reduce_sum([total_loss, correct, seen]))
        test_accuracy = float((predict_logits(model, x_test).argmax(axis=1) == y_test).mean())
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}", test=f"{test_accuracy:.3f}")
    if progress and not live_bar:
        print(f"epoch {epoch}/{args.epochs}: loss {total_loss / seen:.4f}, train accuracy {correct / seen:.3f}, "
              f"test accuracy {test_accuracy:.3f}", file=sys.stderr)
    run.scheduler.step()
    run.history["loss"].append(total_loss / seen)
    run.history["train_accuracy"].append(correct / seen)
    run.history["test_accuracy"].append(test_accuracy)


def new_run(args: argparse.Namespace, out: Path, model_name: str, config: dict[str, Any], model: Any,
            tape: bool | None = None) -> Run:
    """A fresh run: Adam at ``args.lr`` with ``CosineAnnealingLR(T_max=args.epochs)`` (PyTorch's), batches
    shuffled from ``args.seed``."""
    from .. import optim

    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    return Run(args, out, model_name, config, model, optimizer, scheduler, np.random.default_rng(args.seed),
               {"loss": [], "train_accuracy": [], "test_accuracy": []}, _tape_available() if tape is None else tape)


def train_model(model: Any, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, epochs: int,
                batch_size: int, lr: float, seed: int, progress: bool = False, tape: bool | None = None
                ) -> dict[str, list[float]]:
    """Train ``model`` in memory (no files) as ``train`` does; returns per-epoch train loss, train accuracy and
    test accuracy. ``tape=False`` uses the layers' explicit backward (Sequential models)."""
    args = argparse.Namespace(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    run = new_run(args, Path("(memory)"), "", {}, model, tape)
    for epoch in range(1, epochs + 1):
        train_epoch(run, x, y, x_test, y_test, epoch, progress)
    return run.history


# -- saving ---------------------------------------------------------------------------------------------------

def save_run(run: Run, epoch: int, sample: tuple[np.ndarray, int] | None) -> None:
    """Write epoch ``epoch``'s set into ``run.out`` as one :class:`vanilla_nn._io.FileSet` (plots when
    ``sample`` is given: the final epoch)."""
    from .. import _io
    from ..nn import serialization
    from . import _checkpoint

    args = run.args
    state = {key: np.array(value, order="C") for key, value in run.model.state_dict().items()}
    checkpoint = _checkpoint.Checkpoint(
        epoch=epoch, args={name: getattr(args, name) for name in TRAINING_ARGS}, model=run.model_name,
        config=run.config, model_state=state, optimizer_state=run.optimizer.state_dict(),
        scheduler_state=run.scheduler.state_dict(),
        rng=rng_states(run.batch_rng, run.model), history=run.history)
    metadata = {"format": "pt", "vanilla_nn.model": run.model_name,
                "vanilla_nn.config": _io.strict_json(run.config), "vanilla_nn.epoch": str(epoch)}
    info = {"model": run.model_name, "config": run.config, "epoch": epoch, "epochs": args.epochs,
            "complete": epoch == args.epochs}
    with _io.FileSet(run.out, info=info, owned=RUN_FILES) as files:
        files.write("model.safetensors", lambda path: serialization.save(state, path, metadata))
        files.write("model.npz", lambda path: serialization.save(state, path))
        files.write(CHECKPOINT, lambda path: _checkpoint.write(path, checkpoint))
        files.write(HISTORY, lambda path: path.write_text(_io.strict_json(run.history, indent=1) + "\n"))
        if sample is not None:
            paths = {name: files.add(name) for name in PLOTS}
            save_plots(run.model, run.history, sample[0], sample[1], paths)
            _io._fault_point("plots")
        with _io.sigint_deferred():  # a Ctrl-C during the commit lands after saved_epoch is right
            files.commit()
            run.saved_epoch = epoch


# -- the command ----------------------------------------------------------------------------------------------

def _resume(args: argparse.Namespace) -> Any:
    from . import _checkpoint

    checkpoint = _checkpoint.read(Path(args.resume) / CHECKPOINT)
    for name in TRAINING_ARGS:
        made = checkpoint.args.get(name, TRAINING_DEFAULTS.get(name))
        if made != getattr(args, name):
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"--resume {args.resume}: the checkpoint was made with {flag} "
                             f"{made}, this run has {getattr(args, name)}; resume with the same arguments")
    if not 1 <= checkpoint.epoch <= args.epochs:
        raise InputError(f"{Path(args.resume) / CHECKPOINT}: epoch {checkpoint.epoch} is outside 1..{args.epochs}")
    return checkpoint


def _setup(args: argparse.Namespace, out: Path) -> tuple[Run, Any, int]:
    """Data, model and optimizer (restored from --resume when given); returns the run, the data split and the
    first epoch to train."""
    checkpoint = _resume(args) if args.resume is not None else None
    split = load_dataset(args)
    x, y = split.x_train, split.y_train
    if args.limit is not None:
        x, y = x[:args.limit], y[:args.limit]
    split = split._replace(x_train=x.astype(args.dtype, copy=False), y_train=y,
                           x_test=split.x_test.astype(args.dtype, copy=False))
    x = split.x_train
    num_classes = max(10, int(y.max()) + 1, int(split.y_test.max()) + 1)
    config = model_config(args.model, x.shape[1], num_classes, tuple(x.shape[-2:]))
    try:
        model = build_model(args.model, config, args.seed, np.dtype(args.dtype))
        model.eval()
        predict_logits(model, x[:1])
    except ValueError as error:
        raise InputError(f"the {args.dataset} images (shape {x.shape[1:]}) do not fit --model {args.model}: "
                         f"{error}") from None
    from .. import distributed

    if distributed.is_distributed() and args.sync_bn == "on":
        model = distributed.convert_sync_batchnorm(model)  # same parameters and state-dict keys
    run = new_run(args, out, args.model, config, model)
    if checkpoint is None:
        return run, split, 1
    where = Path(args.resume) / CHECKPOINT
    if checkpoint.model != args.model or checkpoint.config != config:
        raise InputError(f"{where}: made for {checkpoint.model} {checkpoint.config}, the data gives {config}")
    try:
        model.load_state_dict(checkpoint.model_state)
        run.optimizer.load_state_dict(checkpoint.optimizer_state)
        run.scheduler.load_state_dict(checkpoint.scheduler_state)
        set_rng_states(run.batch_rng, model, checkpoint.rng)
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise InputError(f"{where}: does not fit this model ({type(error).__name__}: {error})") from None
    run.history = checkpoint.history
    if Path(args.resume).resolve() == out.resolve():
        run.saved_epoch = checkpoint.epoch
    return run, split, checkpoint.epoch + 1


def run(args: argparse.Namespace) -> int:
    from .. import distributed

    check_dataset_arguments(args)
    _check_model_available(args.model)
    for flag, value in (("--out", args.out), ("--resume", args.resume)):
        if value is not None and not value.strip():
            raise UsageError(f"{flag} must name a directory, got an empty string")
    if args.workers > 1:
        if distributed.launched_by_mpi():
            raise UsageError(f"--workers {args.workers}: this process already runs under mpiexec; give "
                             f"either mpiexec -n N or --workers N")
        check_out(Path(args.out))
        return launch_workers(args)
    if distributed.launched_by_mpi():
        distributed.init()
    with distributed.fail_together("vanilla-nn train"), _one_line_per_job():
        return _train(args, distributed.rank() == 0)


@contextlib.contextmanager
def _one_line_per_job() -> Any:
    """Under MPI, a :class:`CommandError` on any rank ends every rank with one line (``vanilla-nn train: rank
    r/W: message``) and its exit status; when every rank fails alike (a divergence, Ctrl-C) rank 0's line is the
    one said (:func:`vanilla_nn.distributed.end_job_with_line`). In one process the error propagates unchanged."""
    from .. import distributed

    try:
        yield
    except CommandError as error:
        if not distributed.is_distributed():
            raise
        distributed.end_job_with_line(f"vanilla-nn train: rank {distributed.rank()}/{distributed.world_size()}: "
                                      f"{' '.join(str(error).split())}", error.exit_code, every_rank_alike=True)


def worker_command(args: argparse.Namespace) -> list[str]:
    """``[mpiexec, -n, N, python, -m, vanilla_nn.cli, train, ...]``: the same run with every option spelled
    out, except ``--workers``."""
    command = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(args.workers), sys.executable, "-m",
               "vanilla_nn.cli", "train", "--dataset", args.dataset, "--seed", str(args.seed), "--model",
               args.model, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr",
               repr(args.lr), "--out", args.out, "--dtype", args.dtype, "--sync-bn", args.sync_bn]
    for flag, value in (("--data-dir", args.data_dir), ("--limit", args.limit), ("--resume", args.resume)):
        if value is not None:
            command += [flag, str(value)]
    for flag in ("no_plots", "json", "no_progress"):
        if getattr(args, flag):
            command.append("--" + flag.replace("_", "-"))
    return command


# What MPICH's Hydra prints of its own when a job ends badly (its banner on stdout, its notices on stderr): the
# launcher says what happened in one line of its own instead.
_HYDRA_NOISE = re.compile(r"(\[mpiexec@|\[proxy:|=+\s*$|=   |YOUR APPLICATION TERMINATED|This typically refers to a "
                          r"problem with your application|Please see the FAQ page)")


def _relay(source: IO[bytes], target: IO[str]) -> None:
    """Copy ``source`` to ``target`` line by line, leaving out Hydra's own lines (and the blank line before its
    banner)."""
    blank = False
    for raw in iter(source.readline, b""):
        line = raw.decode(errors="replace")
        if _HYDRA_NOISE.match(line):
            blank = False
            continue
        with contextlib.suppress(Exception):
            if blank:
                target.write("\n")
            blank = not line.strip()
            if not blank:
                target.write(line)
                target.flush()
    with contextlib.suppress(Exception):
        if blank:
            target.write("\n")
        target.flush()


def launch_workers(args: argparse.Namespace) -> int:
    """Run this training in ``args.workers`` MPI processes (one BLAS thread each). A failing worker's one line is
    printed here and its exit status returned (the lowest rank's, taken from the job's report directory: see
    :data:`vanilla_nn.distributed.JOB_REPORT_ENV`). Ctrl-C is passed on to the workers (they keep the last
    completed epoch) and exits 130."""
    import importlib.util
    import threading

    from .. import distributed

    command = worker_command(args)
    if importlib.util.find_spec("mpi4py") is None:
        raise UsageError(f"--workers {args.workers} needs the dist extra (mpi4py, mpich): "
                         f"pip install 'vanilla-nn[dist]'")
    if not Path(command[0]).is_file():
        raise UsageError(f"--workers {args.workers} needs {command[0]}, which is missing (the mpich wheel of the "
                         f"dist extra provides it: pip install 'vanilla-nn[dist]')")
    with contextlib.suppress(AttributeError):
        sys.stdout.flush()
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="vanilla-nn-job-") as reports:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", distributed.JOB_REPORT_ENV: reports}
        # its own session: a terminal's Ctrl-C reaches this process only, which passes it on once (a second SIGINT
        # makes mpiexec abort the ranks at once, before they report what they kept)
        process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        relays = [threading.Thread(target=_relay, args=(pipe, stream), daemon=True)
                  for pipe, stream in ((process.stdout, sys.stdout), (process.stderr, sys.stderr))]
        for relay in relays:
            relay.start()
        try:
            code = process.wait()
        except KeyboardInterrupt:
            interrupted = True
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # mpiexec passes it to every rank
            try:
                process.wait(timeout=15)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                process.kill()
                process.wait()
            code = 130
        for relay in relays:
            relay.join(timeout=5)
        report = distributed.read_job_report(reports)
    if report is not None:
        status, line = report
        sys.stderr.write(line + "\n")
        return 130 if interrupted else status
    if interrupted:
        sys.stderr.write("vanilla-nn train: interrupted\n")
        return 130
    if code != 0:
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        sys.stderr.write(f"vanilla-nn train: the {args.workers} workers ended with {how} without saying why\n")
    return code if code >= 0 else 128 - code


def _train(args: argparse.Namespace, writer: bool) -> int:
    """The run (every rank under MPI; only the ``writer`` prints and writes)."""
    from .. import distributed

    out = Path(args.out)
    if writer:
        check_out(out)
        lock = lock_out(out)  # noqa: F841 - held until the process exits
    start = time.perf_counter()
    train_run, split, first = _setup(args, out)
    workers, n = distributed.world_size(), len(split.y_train)
    if workers > 1 and (args.batch_size < workers or 0 < n % args.batch_size < workers):
        raise UsageError(f"--batch-size {args.batch_size} leaves a batch of fewer images than the {workers} "
                         f"processes ({n} training images); choose a larger --batch-size or another --limit")
    distributed.broadcast_parameters(train_run.model)  # every rank starts from rank 0's weights
    sample = None if args.no_plots else (split.x_test[0], int(split.y_test[0]))
    epoch = first
    try:
        # overflow in a diverging run is reported once, as a divergence, not as NumPy's warnings on every rank
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(first, args.epochs + 1):
                train_epoch(train_run, split.x_train, split.y_train, split.x_test, split.y_test, epoch,
                            writer and not args.no_progress)
                if writer:
                    save_run(train_run, epoch, sample if epoch == args.epochs else None)
                else:
                    train_run.saved_epoch = epoch  # rank 0 wrote it: this rank's messages say so too
            if first > args.epochs and writer:  # resuming a finished run: write the final set again
                save_run(train_run, args.epochs, sample)
    except KeyboardInterrupt:
        if train_run.saved_epoch is None:
            kept = f"nothing was written to {out}"
        else:
            kept = (f"{out / CHECKPOINT} holds epoch {train_run.saved_epoch}; continue with the same arguments "
                    f"plus --resume {out}")
        raise Interrupted(f"interrupted in epoch {epoch}; {kept}") from None
    if writer:
        _summary(args, train_run, split, out, time.perf_counter() - start)
    return 0


def _summary(args: argparse.Namespace, train_run: Run, split: Any, out: Path, seconds: float) -> None:
    from .. import _io

    test_accuracy = train_run.history["test_accuracy"][-1]
    n_test = len(split.y_test)
    print(f"test accuracy {test_accuracy:.2%} ({round(test_accuracy * n_test)}/{n_test}) on {args.dataset} with "
          f"{args.model} after {args.epochs} epochs in {seconds:.1f} s (training {len(split.y_train)} images)")
    print(f"wrote {out}/:")
    print("  model.safetensors, model.npz          the weights (PyTorch's key names)")
    print(f"  {CHECKPOINT}                 weights, optimizer and RNG state (for --resume)")
    if not args.no_plots:
        print("  curves.png, filters.png, feature_maps.png   plots")
    print(f"  {HISTORY}, manifest.json            loss and accuracy per epoch; the file list")
    print("next:")
    data = "" if args.dataset == "digits" else f" --dataset {args.dataset} --data-dir {args.data_dir}"
    seed = "" if args.seed == 0 else f" --seed {args.seed}"
    print(f"  vanilla-nn predict --weights {out / 'model.safetensors'}{data}{seed}")
    print("  vanilla-nn compare conv2d --input-shape 2,3,5,7 --out-channels 4 --kernel-size 3 --stride 2")
    if args.json:
        print(_io.strict_json({"test_accuracy": test_accuracy, "seconds": round(seconds, 3),
                               "epochs": args.epochs}))
    with contextlib.suppress(AttributeError):
        sys.stdout.flush()
