"""Classify images with weights from `vanilla-nn train` (or PyTorch weights of the same LeNet network).

--weights takes a .safetensors or .npz state dict with PyTorch's key names. The network is the one the run
trained (train records --model in model.safetensors and in manifest.json beside the weights); weights with
no record are read as the LeNet of `train`. Without --images it classifies the dataset's test split and
prints the accuracy; --images FILE.npy ... classifies arrays of shape (N, C, H, W), (N, H, W) or (H, W)
(uint8 0..255 or float 0..1). Weights that are not finite are refused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ._common import (
    InputError,
    add_dataset_arguments,
    check_dataset_arguments,
    class_name,
    load_dataset,
    non_negative_int,
    predict_logits,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True,
                        help="model.safetensors or model.npz written by train (or PyTorch's LeNet weights); "
                             "required")
    add_dataset_arguments(parser, "seed of the digits train/test split whose test images are classified: use "
                                  "the training run's --seed to classify that run's test split")
    parser.add_argument("--images", nargs="+", default=None, metavar="FILE.npy",
                        help="classify these arrays instead of the test split (default: the test split)")
    parser.add_argument("--show", type=non_negative_int, default=10,
                        help="print at most this many test predictions, >= 0 (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON line at the end (default: off)")


def _load_images(path: str, channels: int) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise InputError(f"--images {path}: cannot read a .npy array ({error})") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"--images {path}: a .npz archive; give one .npy array per file")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255
    elif array.dtype.kind == "f":
        if array.size and not np.isfinite(array).all():
            raise InputError(f"--images {path}: holds NaN or inf values; the images must lie in 0..1")
        if array.size and not (array.min() >= 0 and array.max() <= 1):
            raise InputError(f"--images {path}: float values must lie in 0..1, found {array.min():g}.."
                             f"{array.max():g}; scale them, or save uint8 0..255")
        array = array.astype(np.float32)
    else:
        raise InputError(f"--images {path}: dtype {array.dtype}; use uint8 (0..255) or float (0..1)")
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        array = array[:, None] if channels == 1 else array[None]
    elif array.ndim != 4:
        raise InputError(f"--images {path}: shape {array.shape}; expected (N, C, H, W), (N, H, W) or (H, W)")
    if array.shape[1] != channels:
        raise InputError(f"--images {path}: {array.shape[1]} channels, the weights expect {channels}")
    if len(array) == 0:
        raise InputError(f"--images {path}: no images (shape {array.shape})")
    return array


def _saved_model(path: Path) -> tuple[str, dict[str, Any]] | None:
    """The model name and config that train recorded for the weights at ``path``, or None."""
    from . import _checkpoint

    if path.suffix == ".safetensors":
        try:
            metadata = _checkpoint.read_safetensors(path)[1]
        except Exception:  # unreadable: the weights loader reports it
            metadata = {}
        if "vanilla_nn.model" in metadata:
            try:
                return metadata["vanilla_nn.model"], dict(json.loads(metadata["vanilla_nn.config"]))
            except (KeyError, ValueError, TypeError):
                raise InputError(f"--weights {path}: damaged vanilla_nn metadata") from None
    manifest = path.parent / "manifest.json"
    if manifest.is_file():
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))["info"]
            return str(info["model"]), dict(info["config"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return None


def _check_against_manifest(path: Path) -> None:
    """Weights from a `train` run directory must match what its manifest.json records for them (else a save
    was cut short by a crash and the directory may mix two runs)."""
    from .._io import MANIFEST, _sha256

    manifest = path.parent / MANIFEST
    try:
        entry = json.loads(manifest.read_text(encoding="utf-8"))["files"][path.name]
        recorded = (int(entry["bytes"]), str(entry["sha256"]))
    except (OSError, ValueError, KeyError, TypeError):
        return  # no manifest, or it does not list these weights: nothing to check against
    if (path.stat().st_size, _sha256(path)) != recorded:
        raise InputError(f"--weights {path}: does not match {manifest} (a save was cut short; the directory may "
                         f"mix two runs)")


class Weights:
    """Weights read from --weights, with the network they belong to."""

    def __init__(self, path: Path) -> None:
        from ..models import lenet_config
        from ..nn import serialization

        self.path = path
        _check_against_manifest(path)
        try:
            self.state = serialization.load(path)
        except (OSError, ValueError, EOFError) as error:
            raise InputError(f"--weights {path}: {error}") from None
        except Exception as error:  # a reader's own error type (zipfile, safetensors)
            raise InputError(f"--weights {path}: cannot read it ({type(error).__name__}: {error})") from None
        for key, value in self.state.items():
            array = np.asarray(value)
            if array.dtype.kind in "fc" and not np.isfinite(array).all():
                raise InputError(f"--weights {path}: {key} holds NaN or inf values (a diverged run?); refusing "
                                 f"to predict with them")
        saved = _saved_model(path)
        self.name, self.config = saved if saved is not None else ("lenet", {})
        try:
            if self.name == "lenet":
                self.channels = int(lenet_config(self.state)["in_channels"])
            else:
                self.channels = int(self.config["in_channels"])
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"--weights {path}: {error}") from None

    def model(self, image_size: tuple[int, ...]) -> Any:
        """The network for ``image_size`` images with these weights loaded."""
        from ..models import lenet_from_state_dict
        from .train import build_model

        try:
            if self.name == "lenet":
                return lenet_from_state_dict(self.state, tuple(image_size))
            model = build_model(self.name, self.config, 0)
            model.load_state_dict(self.state)
            return model
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InputError(f"--weights {self.path}: {error}") from None


def run(args: argparse.Namespace) -> int:
    check_dataset_arguments(args)
    weights = Weights(Path(args.weights))
    result: dict = {}
    if args.images:
        images_of = {path: _load_images(path, weights.channels) for path in args.images}  # all checked first
        result["predictions"] = {}
        for path, images in images_of.items():
            logits = predict_logits(weights.model(images.shape[-2:]), images)
            labels = logits.argmax(axis=1)
            result["predictions"][path] = labels.tolist()
            for index, label in enumerate(labels):
                print(f"{Path(path).name}[{index}]: {class_name(args.dataset, int(label))}")
    else:
        split = load_dataset(args)
        if split.x_test.shape[1] != weights.channels:
            raise InputError(f"--weights {args.weights}: made for {weights.channels}-channel images, the "
                             f"{args.dataset} images have {split.x_test.shape[1]}")
        model = weights.model(split.x_test.shape[-2:])
        labels = predict_logits(model, split.x_test).argmax(axis=1)
        for index in range(min(args.show, len(labels))):
            print(f"test[{index}]: predicted {class_name(args.dataset, int(labels[index]))}, "
                  f"true {class_name(args.dataset, int(split.y_test[index]))}")
        accuracy = float((labels == split.y_test).mean())
        print(f"test accuracy {accuracy:.2%} ({int((labels == split.y_test).sum())}/{len(labels)}) on {args.dataset}")
        result = {"test_accuracy": accuracy, "predictions": labels.tolist()}
    if args.json:
        from .._io import strict_json

        print(strict_json(result))
    return 0
