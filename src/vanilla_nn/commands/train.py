"""Train the LeNet-style CNN of vanilla_nn.models.lenet with NumPy alone, and write weights and plots.

Writes into --out: model.npz and model.safetensors (PyTorch's key names), curves.png (loss and accuracy per
epoch), filters.png (the first layer's filters) and feature_maps.png (first-layer maps of a test image).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._common import add_dataset_arguments, load_dataset, optional, predict_logits
from ._plots import save_plots


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training set (default 30)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    parser.add_argument("--lr", type=float, default=2e-3,
                        help="Adam's learning rate in the first epoch, decayed per epoch on a cosine (default 2e-3)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--out", default="runs/latest", help="output directory (default runs/latest)")
    parser.add_argument("--json", action="store_true",
                        help='print {"test_accuracy", "seconds", "epochs"} as one JSON line at the end')
    parser.add_argument("--no-progress", action="store_true",
                        help="no per-epoch progress (a bar on a terminal, otherwise one line per epoch)")


def _check(args: argparse.Namespace) -> None:
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.lr > 0:
        raise SystemExit(f"--lr must be > 0, got {args.lr}")
    if args.limit is not None and args.limit < 1:
        raise SystemExit(f"--limit must be >= 1, got {args.limit}")


def train_model(model: Any, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, epochs: int,
                batch_size: int, lr: float, seed: int, progress: bool) -> dict[str, list[float]]:
    """Adam + cross-entropy with a cosine learning-rate decay from ``lr`` (per epoch); returns per-epoch train
    loss, train accuracy and test accuracy."""
    from .. import nn, optim
    from ..data import batches

    tqdm = optional("tqdm").tqdm
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": [], "train_accuracy": [], "test_accuracy": []}
    n_batches = -(-len(x) // batch_size)
    live_bar = progress and sys.stderr.isatty()  # a log file gets one line per epoch instead of a redrawn bar
    for epoch in range(1, epochs + 1):
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{epochs}", file=sys.stderr, disable=not live_bar,
                   leave=True, dynamic_ncols=True)
        for xb, yb in batches(x, y, batch_size, rng=rng):
            logits = model(xb)
            loss = loss_fn(logits, yb)
            optimizer.zero_grad()
            model.backward(loss_fn.backward())
            optimizer.step()
            total_loss += loss * len(yb)
            correct += int((logits.argmax(axis=1) == yb).sum())
            seen += len(yb)
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
        test_accuracy = float((predict_logits(model, x_test).argmax(axis=1) == y_test).mean())
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}", test=f"{test_accuracy:.3f}")
        bar.close()
        if progress and not live_bar:
            print(f"epoch {epoch}/{epochs}: loss {total_loss / seen:.4f}, train accuracy {correct / seen:.3f}, "
                  f"test accuracy {test_accuracy:.3f}", file=sys.stderr)
        history["loss"].append(total_loss / seen)
        history["train_accuracy"].append(correct / seen)
        history["test_accuracy"].append(test_accuracy)
    return history


def run(args: argparse.Namespace) -> int:
    _check(args)
    from ..models import lenet
    from ..nn import serialization

    start = time.perf_counter()
    split = load_dataset(args)
    x, y = split.x_train, split.y_train
    if args.limit is not None:
        x, y = x[:args.limit], y[:args.limit]
    model = lenet(in_channels=x.shape[1], num_classes=max(10, int(y.max()) + 1), image_size=x.shape[-2:],
                  rng=np.random.default_rng(args.seed))
    progress = not args.no_progress
    history = train_model(model, x, y, split.x_test, split.y_test, args.epochs, args.batch_size, args.lr,
                          args.seed, progress)
    seconds = time.perf_counter() - start
    test_accuracy = history["test_accuracy"][-1]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    serialization.save(state, out / "model.npz")
    serialization.save(state, out / "model.safetensors")
    save_plots(model, history, split.x_test[0], int(split.y_test[0]), out)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    n_test = len(split.y_test)
    print(f"test accuracy {test_accuracy:.2%} ({round(test_accuracy * n_test)}/{n_test}) on {args.dataset} after "
          f"{args.epochs} epochs in {seconds:.1f} s (training {len(y)} images)")
    print(f"wrote {out}/: model.npz, model.safetensors, curves.png, filters.png, feature_maps.png, history.json")
    if args.json:
        print(json.dumps({"test_accuracy": test_accuracy, "seconds": round(seconds, 3), "epochs": args.epochs}))
    return 0
