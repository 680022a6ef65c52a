"""Reusable model definitions.

:func:`lenet` is the small LeNet-style CNN that ``vanilla-nn train`` trains::

    0 Conv2d(C, c1, k, padding=k//2)  1 ReLU  2 MaxPool2d(2)
    3 Conv2d(c1, c2, k, padding=k//2) 4 ReLU  5 MaxPool2d(2)
    6 Flatten  7 Linear(c2 * (H//4) * (W//4), hidden)  8 ReLU  9 Linear(hidden, classes)

Defaults ``c1, c2 = 32, 64``, ``k = 3``, ``hidden = 128``: on the 8x8 digits, 30 epochs of Adam reach about
98% test accuracy. The same ``torch.nn.Sequential`` has the same state-dict keys (``"0.weight"``, ``"7.bias"``
...), so weights move between the two unchanged. :func:`lenet_from_state_dict` rebuilds the matching network
from weights.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import nn

__all__ = ["lenet", "lenet_config", "lenet_from_state_dict", "LENET_KEYS"]

LENET_KEYS = ("0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias")


def _size(value: Any) -> tuple[int, int]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, numbers.Integral)
                                                                           for v in value)):
        raise TypeError(f"image_size={value!r} must be an int or an (H, W) pair of ints")
    if min(value) < 4:
        raise ValueError(f"image_size={tuple(value)} must be at least 4 x 4 (two 2 x 2 poolings)")
    return int(value[0]), int(value[1])


def lenet(in_channels: int = 1, num_classes: int = 10, image_size: int | tuple[int, int] = 8,
          channels: tuple[int, int] = (32, 64), hidden: int = 128, kernel_size: int = 3,
          dtype: Any = np.float32, rng: Any = None) -> nn.Sequential:
    """The LeNet-style CNN above for ``(N, in_channels, H, W)`` images (``image_size = H`` or ``(H, W)``).

    Raises:
        TypeError: ``image_size`` is not an int or an ``(H, W)`` pair.
        ValueError: an image smaller than 4 x 4, or ``kernel_size`` not a positive odd int.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn.models import lenet
        >>> model = lenet(channels=(4, 8), hidden=16, rng=0)      # a narrow one for 8 x 8 digits
        >>> model(np.zeros((3, 1, 8, 8), dtype=np.float32)).shape
        (3, 10)
        >>> [key for key in model.state_dict() if key.endswith("weight")]
        ['0.weight', '3.weight', '7.weight', '9.weight']
    """
    height, width = _size(image_size)
    if not isinstance(kernel_size, numbers.Integral) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size!r} must be a positive odd int (padding keeps the size)")
    c1, c2 = channels
    rng = nn.init.as_generator(rng)
    pad = kernel_size // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, kernel_size, padding=pad, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, kernel_size, padding=pad, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * (height // 4) * (width // 4), hidden, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.Linear(hidden, num_classes, dtype=dtype, rng=rng),
    )


def lenet_config(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`lenet` keyword arguments (all but ``image_size``) that fit ``state_dict``, plus
    ``"flat_features"`` (``c2 * (H//4) * (W//4)``) for checking an image size."""
    missing = [key for key in LENET_KEYS if key not in state_dict]
    if missing:
        raise ValueError(f"these weights are not a vanilla-nn LeNet: missing key(s) {', '.join(missing)} "
                         f"(found {', '.join(list(state_dict)[:6])}...)")
    shapes = {key: tuple(np.shape(state_dict[key])) for key in LENET_KEYS}
    conv1, conv2, fc1, fc2 = shapes["0.weight"], shapes["3.weight"], shapes["7.weight"], shapes["9.weight"]
    if len(conv1) != 4 or len(conv2) != 4 or len(fc1) != 2 or len(fc2) != 2:
        raise ValueError(f"these weights are not a vanilla-nn LeNet: unexpected shapes {shapes}")
    return {"in_channels": conv1[1], "channels": (conv1[0], conv2[0]), "kernel_size": conv1[2],
            "hidden": fc1[0], "num_classes": fc2[0], "flat_features": fc1[1]}


def lenet_from_state_dict(state_dict: Mapping[str, Any], image_size: int | tuple[int, int],
                          dtype: Any = np.float32) -> nn.Sequential:
    """A :func:`lenet` shaped like ``state_dict`` for ``image_size`` images, with those weights loaded."""
    config = lenet_config(state_dict)
    flat = config.pop("flat_features")
    height, width = _size(image_size)
    expected = config["channels"][1] * (height // 4) * (width // 4)
    if expected != flat:
        raise ValueError(f"these weights expect {flat} features after the convolutions but {height} x {width} "
                         f"images give {expected}; use images of the size the network was trained on")
    model = lenet(image_size=(height, width), dtype=dtype, rng=0, **config)
    model.load_state_dict(state_dict)
    return model
