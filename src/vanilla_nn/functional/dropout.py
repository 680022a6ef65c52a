"""Inverted dropout with an explicit mask, so forward and backward are pure functions.

In training, each element is kept with probability ``1 - p`` and scaled by ``1 / (1 - p)``; ``mask`` holds
exactly those factors (0 where dropped), so

    y      = x * mask
    grad_x = gy * mask

In evaluation (``training=False``) dropout is the identity. Draw the mask once with :func:`dropout_mask`
(from a seeded ``np.random.Generator``) and pass the same mask to :func:`dropout` and
:func:`dropout_backward`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._args import FLOAT_DTYPES, _is_int, as_float_array, check_bool, check_grad_output_shape

__all__ = ["dropout", "dropout_backward", "dropout_mask"]


def _check_p(op: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{op}: p={p!r} must be a probability, a float in [0, 1]")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p={p!r} must be in [0, 1]")
    return float(p)


def _check_mask(op: str, mask: Any, x: np.ndarray) -> np.ndarray:
    m = as_float_array(mask, "mask")
    if m.shape != x.shape:
        raise ValueError(f"{op}: mask.shape={m.shape} must equal input.shape={x.shape}")
    return m.astype(x.dtype, copy=False)


def dropout_mask(shape: Any, p: float, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    """A dropout mask of ``shape``: ``1 / (1 - p)`` with probability ``1 - p``, else 0 (all 0 when ``p == 1``).

    ``rng`` must be a ``np.random.Generator`` (``np.random.default_rng(seed)``); ``dtype`` float32/float64.
    """
    op = "dropout_mask"
    p = _check_p(op, p)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{op}: rng={rng!r} must be a numpy.random.Generator, e.g. np.random.default_rng(0)")
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"{op}: dtype={dtype!r} must be float32 or float64") from error
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: dtype={dtype!r} must be float32 or float64")
    dims = (shape,) if _is_int(shape) else shape
    if not isinstance(dims, (tuple, list)) or not all(_is_int(d) and d >= 0 for d in dims):
        raise ValueError(f"{op}: shape={shape!r} must be an int or a tuple of non-negative ints")
    if p == 1.0:
        return np.zeros(dims, dtype=dtype)
    keep = rng.random(dims) >= p
    return keep.astype(dtype) / dtype.type(1.0 - p)


def dropout(input: Any, p: float = 0.5, training: bool = True, *, mask: Any = None,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """``input * mask`` in training, a copy of ``input`` otherwise.

    Without ``mask`` one is drawn from ``rng`` (or a fresh ``np.random.default_rng()``); to backpropagate,
    draw it with :func:`dropout_mask` and pass it here and to :func:`dropout_backward`.
    """
    op = "dropout"
    x = as_float_array(input, "input")
    p = _check_p(op, p)
    training = check_bool(training, "training")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"{op}: rng={rng!r} must be a numpy.random.Generator or None")
    if not training:
        return x.copy()
    if mask is None:
        mask = dropout_mask(x.shape, p, rng if rng is not None else np.random.default_rng(), x.dtype)
    return x * _check_mask(op, mask, x)


def dropout_backward(grad_output: Any, input: Any, p: float = 0.5, training: bool = True, *,
                     mask: Any = None) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`dropout`: ``grad_output * mask`` in training, ``grad_output`` otherwise.

    In training with ``p > 0`` the forward's ``mask`` is required.
    """
    op = "dropout_backward"
    x = as_float_array(input, "input")
    p = _check_p(op, p)
    training = check_bool(training, "training")
    gy = check_grad_output_shape(op, grad_output, x.shape).astype(x.dtype)
    if not training or (mask is None and p == 0.0):
        return (gy,)
    if mask is None:
        raise ValueError(f"{op}: mask is required when training=True and p={p} > 0: draw it with "
                         f"dropout_mask(input.shape, p, rng) and pass the same mask to dropout")
    return (gy * _check_mask(op, mask, x),)
