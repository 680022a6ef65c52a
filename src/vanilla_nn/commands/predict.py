"""Classify images with LeNet weights from `vanilla-nn train` (or PyTorch weights of the same network).

--weights takes a .npz or .safetensors state dict with PyTorch's key names. Without --images it classifies
the dataset's test split and prints the accuracy; --images FILE.npy ... classifies arrays of shape
(N, C, H, W), (N, H, W) or (H, W) (uint8 0..255 or float 0..1).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ._common import add_dataset_arguments, class_name, load_dataset, predict_logits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="model.npz or model.safetensors")
    add_dataset_arguments(parser)
    parser.add_argument("--images", nargs="+", default=None, metavar="FILE.npy", help="images to classify")
    parser.add_argument("--show", type=int, default=10, help="print at most this many test predictions")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")


def _load_images(path: str, channels: int) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise SystemExit(f"--images {path}: cannot read a .npy array ({error})") from error
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255
    elif array.dtype.kind == "f":
        array = array.astype(np.float32)
    else:
        raise SystemExit(f"--images {path}: dtype {array.dtype}; use uint8 (0..255) or float (0..1)")
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        array = array[:, None] if channels == 1 else array[None]
    elif array.ndim != 4:
        raise SystemExit(f"--images {path}: shape {array.shape}; expected (N, C, H, W), (N, H, W) or (H, W)")
    if array.shape[1] != channels:
        raise SystemExit(f"--images {path}: {array.shape[1]} channels, the weights expect {channels}")
    return array


def run(args: argparse.Namespace) -> int:
    from ..models import lenet_config, lenet_from_state_dict
    from ..nn import serialization

    try:
        state = serialization.load(args.weights)
        channels = lenet_config(state)["in_channels"]
    except (OSError, ValueError, ModuleNotFoundError) as error:
        raise SystemExit(f"--weights: {error}") from error

    def build(image_size: tuple[int, int]):
        try:
            return lenet_from_state_dict(state, image_size)
        except ValueError as error:
            raise SystemExit(f"--weights {args.weights}: {error}") from error

    result: dict = {}
    if args.images:
        result["predictions"] = {}
        for path in args.images:
            images = _load_images(path, channels)
            model = build(images.shape[-2:])
            logits = predict_logits(model, images)
            labels = logits.argmax(axis=1)
            result["predictions"][path] = labels.tolist()
            for index, label in enumerate(labels):
                print(f"{Path(path).name}[{index}]: {class_name(args.dataset, int(label))}")
    else:
        split = load_dataset(args)
        model = build(split.x_test.shape[-2:])
        labels = predict_logits(model, split.x_test).argmax(axis=1)
        for index in range(min(args.show, len(labels))):
            print(f"test[{index}]: predicted {class_name(args.dataset, int(labels[index]))}, "
                  f"true {class_name(args.dataset, int(split.y_test[index]))}")
        accuracy = float((labels == split.y_test).mean())
        print(f"test accuracy {accuracy:.2%} ({int((labels == split.y_test).sum())}/{len(labels)}) on {args.dataset}")
        result = {"test_accuracy": accuracy, "predictions": labels.tolist()}
    if args.json:
        print(json.dumps(result))
    return 0
