"""Shared pieces of ``train`` and ``predict``: dataset choice, batched inference, optional imports."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from vanilla_nn._extras import import_optional

DATASETS = ("digits", "mnist", "fashion-mnist")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, default="digits",
                        help="digits: scikit-learn's 8x8 digits (default, nothing to download); mnist and "
                             "fashion-mnist: the standard IDX files in --data-dir")
    parser.add_argument("--data-dir", default=None, help="directory with the four IDX files (raw or .gz)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the digits train/test split (train: also of the initial weights and the "
                             "batch order; default 0)")


def load_dataset(args: argparse.Namespace) -> Any:
    """The chosen dataset as :class:`vanilla_nn.data.Split`; errors are ``SystemExit`` with a message."""
    from .. import data

    if args.dataset == "digits":
        return data.load_digits(seed=args.seed)
    if args.data_dir is None:
        raise SystemExit(f"--dataset {args.dataset} needs --data-dir DIR with the IDX files "
                         f"(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...)")
    kind = "fashion" if args.dataset == "fashion-mnist" else "mnist"
    try:
        return data.load_mnist(args.data_dir, kind=kind)
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot load {args.dataset}: {error}") from error


def class_name(dataset: str, label: int) -> str:
    return FASHION_CLASSES[label] if dataset == "fashion-mnist" and 0 <= label < 10 else str(label)


def predict_logits(model: Any, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits for ``images`` in eval mode, in batches."""
    model.eval()
    return np.concatenate([model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def optional(module: str, extra: str = "cli") -> Any:
    """Import an optional dependency of a command, or raise :class:`MissingExtra` naming the extra."""
    return import_optional(module, extra, "this command")
