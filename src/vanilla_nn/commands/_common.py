"""Shared pieces of the commands: the error types of the CLI's error policy, checked argument types, dataset
choice, batched inference, optional imports.

The policy (applied once, in ``vanilla_nn.cli.main``): a :class:`UsageError` exits 2 with argparse's usage
line and message, an :class:`InputError` (bad data or file) exits 1 with one line naming the file and the
problem, Ctrl-C exits 130 with one line; no traceback is ever shown.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from vanilla_nn._extras import import_optional

DATASETS = ("digits", "mnist", "fashion-mnist")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


class CommandError(Exception):
    """A failure a command reports as one line (no traceback) and the exit status ``exit_code``."""

    exit_code = 1


class UsageError(CommandError):
    """A bad option value or combination: exit 2 after argparse's usage line."""

    exit_code = 2


class InputError(CommandError):
    """Bad data or a bad file (the message names it): exit 1."""


class Interrupted(CommandError):
    """Ctrl-C, reported as one line (saying what was kept): exit 130."""

    exit_code = 130


# -- argument types: argparse turns their ArgumentTypeError into a usage error (exit 2) -------------------------

SEED_LIMIT = 2**128  # NumPy's SeedSequence takes any non-negative int; 128 bits is all the entropy it keeps


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    """An int >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer (>= 1)")
    return value


def non_negative_int(text: str) -> int:
    """An int >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be an integer >= 0")
    return value


def seed(text: str) -> int:
    """A NumPy seed: an int with 0 <= seed < 2**128."""
    value = _int(text)
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"{value} must be an integer with 0 <= seed < 2**128")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return value


def add_dataset_arguments(parser: argparse.ArgumentParser, seed_help: str) -> None:
    parser.add_argument("--dataset", choices=DATASETS, default="digits",
                        help="digits: scikit-learn's 8x8 digits (nothing to download); mnist and fashion-mnist: "
                             "the standard IDX files in --data-dir (default: %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help="directory with the four IDX files (raw or .gz); needed for mnist and "
                             "fashion-mnist (default: none)")
    parser.add_argument("--seed", type=seed, default=0, help=seed_help + " (0 <= seed < 2**128; default: "
                        "%(default)s)")


def check_dataset_arguments(args: argparse.Namespace) -> None:
    """Usage errors of the dataset options, before anything is loaded."""
    if args.dataset != "digits" and args.data_dir is None:
        raise UsageError(f"--dataset {args.dataset} needs --data-dir DIR with the IDX files "
                         f"(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...)")


def load_dataset(args: argparse.Namespace) -> Any:
    """The chosen dataset as :class:`vanilla_nn.data.Split`; a bad file is an :class:`InputError`."""
    from .. import data

    check_dataset_arguments(args)
    if args.dataset == "digits":
        return data.load_digits(seed=args.seed)
    kind = "fashion" if args.dataset == "fashion-mnist" else "mnist"
    try:
        split = data.load_mnist(args.data_dir, kind=kind)
    except (OSError, ValueError, EOFError) as error:
        raise InputError(f"cannot load {args.dataset}: {error}") from None
    for part, images in (("train", split.x_train), ("test", split.x_test)):
        if len(images) == 0:
            raise InputError(f"cannot use {args.dataset} from {args.data_dir}: the {part} split has no images")
    return split


def class_name(dataset: str, label: int) -> str:
    return FASHION_CLASSES[label] if dataset == "fashion-mnist" and 0 <= label < 10 else str(label)


def predict_logits(model: Any, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits for ``images`` in eval mode, in batches."""
    model.eval()
    return np.concatenate([model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def optional(module: str, extra: str = "cli") -> Any:
    """Import an optional dependency of a command, or raise :class:`MissingExtra` naming the extra."""
    return import_optional(module, extra, "this command")
