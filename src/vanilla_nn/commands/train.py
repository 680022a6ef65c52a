"""Train a network of vanilla_nn.models (default: the LeNet-style CNN) with NumPy alone; write weights and plots.

Writes into --out, after every completed epoch and atomically as one consistent set (manifest.json, written
last, lists each file's size and SHA-256): model.safetensors and model.npz (PyTorch's key names),
checkpoint.safetensors (weights, optimizer, scheduler and RNG state: --resume continues from it) and
history.json (loss and accuracy per epoch); after the last epoch also curves.png, filters.png and
feature_maps.png. Ctrl-C keeps the last completed epoch; `--resume DIR` with the same arguments then ends
bit-identical to an uninterrupted run. A non-finite loss or weight stops the run (exit 1) and leaves --out as
the last good epoch wrote it. One run at a time writes into a directory (a lock file, .vanilla-nn-train.lock).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
TRAINING_ARGS = ("dataset", "seed", "model", "epochs", "batch_size", "lr", "limit")


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


def build_model(name: str, config: dict[str, Any], seed: int) -> Any:
    """Model ``name`` with ``config``, initialised from ``seed`` (the layers' global generator, which dropout
    draws from, is reseeded too)."""
    from .. import models, nn

    nn.init.manual_seed(seed)
    if name == "lenet":
        return models.lenet(**{**config, "image_size": tuple(config["image_size"])}, rng=np.random.default_rng(seed))
    return getattr(models, name)(**config, rng=np.random.default_rng(seed))


# -- the training loop ----------------------------------------------------------------------------------------

class Diverged(CommandError):
    """A non-finite loss or weight: the run stops (exit 1) without writing."""


def _step(model: Any, loss_fn: Any, optimizer: Any, xb: np.ndarray, yb: np.ndarray, tape: bool
          ) -> tuple[float, np.ndarray]:
    """One optimizer step, on the autograd tape (``tape``) or the layers' explicit backward (Sequential models
    only); returns the batch's mean loss and logits."""
    optimizer.zero_grad()
    if tape:
        import vanilla_nn as vn

        logits = model(vn.tensor(xb))
        loss = loss_fn(logits, yb)
        loss.backward()
        optimizer.step()
        return float(loss.data), np.asarray(logits.data)
    logits = model(xb)
    loss = loss_fn(logits, yb)
    model.backward(loss_fn.backward())
    optimizer.step()
    return float(loss), logits


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
    from .. import nn
    from .._io import _fault_point
    from ..data import batches

    args, model = run.args, run.model
    loss_fn = nn.CrossEntropyLoss()
    live_bar = progress and sys.stderr.isatty()  # a log file gets one line per epoch instead of a redrawn bar
    tqdm = optional("tqdm").tqdm if live_bar else _NoBar
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    with tqdm(total=-(-len(x) // args.batch_size), desc=f"epoch {epoch}/{args.epochs}", file=sys.stderr,
              disable=not live_bar, leave=True, dynamic_ncols=True) as bar:
        for step, (xb, yb) in enumerate(batches(x, y, args.batch_size, rng=run.batch_rng), start=1):
            _fault_point("step")  # tests interrupt here: "step#5" is the 5th step of the process
            loss, logits = _step(model, loss_fn, run.optimizer, xb, yb, run.tape)
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
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
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
        if checkpoint.args.get(name) != getattr(args, name):
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"--resume {args.resume}: the checkpoint was made with {flag} "
                             f"{checkpoint.args.get(name)}, this run has {getattr(args, name)}; resume with the "
                             f"same arguments")
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
    split = split._replace(x_train=x, y_train=y)
    num_classes = max(10, int(y.max()) + 1, int(split.y_test.max()) + 1)
    config = model_config(args.model, x.shape[1], num_classes, tuple(x.shape[-2:]))
    try:
        model = build_model(args.model, config, args.seed)
        model.eval()
        predict_logits(model, x[:1])
    except ValueError as error:
        raise InputError(f"the {args.dataset} images (shape {x.shape[1:]}) do not fit --model {args.model}: "
                         f"{error}") from None
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
    check_dataset_arguments(args)
    _check_model_available(args.model)
    for flag, value in (("--out", args.out), ("--resume", args.resume)):
        if value is not None and not value.strip():
            raise UsageError(f"{flag} must name a directory, got an empty string")
    out = Path(args.out)
    check_out(out)
    lock = lock_out(out)  # noqa: F841 - held until the process exits
    start = time.perf_counter()
    train_run, split, first = _setup(args, out)
    sample = None if args.no_plots else (split.x_test[0], int(split.y_test[0]))
    epoch = first
    try:
        for epoch in range(first, args.epochs + 1):
            train_epoch(train_run, split.x_train, split.y_train, split.x_test, split.y_test, epoch,
                        not args.no_progress)
            save_run(train_run, epoch, sample if epoch == args.epochs else None)
        if first > args.epochs:  # resuming a finished run: write the final set again
            save_run(train_run, args.epochs, sample)
    except KeyboardInterrupt:
        if train_run.saved_epoch is None:
            kept = f"nothing was written to {out}"
        else:
            kept = (f"{out / CHECKPOINT} holds epoch {train_run.saved_epoch}; continue with the same arguments "
                    f"plus --resume {out}")
        raise Interrupted(f"interrupted in epoch {epoch}; {kept}") from None
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
