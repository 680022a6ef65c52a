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

__all__ = ["dropout", "dropout_backward", "dropout_mask", "dropout2d", "dropout2d_backward", "dropout2d_mask_shape"]


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

    Raises:
        TypeError: ``p`` is not a number, ``rng`` is not a ``Generator``, or ``dtype`` is not float32/float64.
        ValueError: ``p`` is outside ``[0, 1]``, or ``shape`` is not an int or a tuple of non-negative ints.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> mask = F.dropout_mask((1000,), p=0.25, rng=np.random.default_rng(0))
        >>> sorted(set(mask.tolist()))                    # dropped, or kept and scaled by 1 / (1 - p)
        [0.0, 1.3333333333333333]
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

    Raises:
        TypeError: ``input`` or ``mask`` is not a float array, ``p`` is not a number, ``training`` is not a
            bool, or ``rng`` is not a ``Generator``.
        ValueError: ``p`` is outside ``[0, 1]``, or ``mask.shape != input.shape``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x, mask = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 0.0, 2.0, 0.0])   # p = 0.5
        >>> F.dropout(x, 0.5, mask=mask), F.dropout(x, 0.5, training=False)
        (array([2., 0., 6., 0.]), array([1., 2., 3., 4.]))
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

    Raises:
        TypeError: as :func:`dropout`, and when ``grad_output`` is not a float array.
        ValueError: as :func:`dropout`, ``grad_output.shape != input.shape``, or no ``mask`` in training with
            ``p > 0``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x, mask = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 0.0, 2.0, 0.0])
        >>> F.dropout_backward(np.ones(4), x, 0.5, mask=mask)                  # the same mask as forward
        (array([2., 0., 2., 0.]),)
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


# --- dropout2d: one mask value per channel ----------------------------------------------------------------


def dropout2d_mask_shape(input_shape: Any) -> tuple[int, ...]:
    """The channel mask's shape for an input ``(N, C, H, W)`` -> ``(N, C, 1, 1)``, or ``(C, H, W)`` ->
    ``(C, 1, 1)``: one value per (sample and) channel, broadcast over ``H, W``.

    Raises:
        ValueError: ``input_shape`` is not 3-d or 4-d.

    Examples:
        >>> import vanilla_nn.functional as F
        >>> F.dropout2d_mask_shape((8, 3, 5, 5)), F.dropout2d_mask_shape((3, 5, 5))
        ((8, 3, 1, 1), (3, 1, 1))
    """
    shape = tuple(input_shape)
    if len(shape) not in (3, 4):
        raise ValueError(f"dropout2d: input must be (N, C, H, W) or (C, H, W), got input.shape={shape}")
    return (*shape[:-2], 1, 1)


def _check_channel_mask(op: str, mask: Any, x: np.ndarray) -> np.ndarray:
    m = as_float_array(mask, "mask")
    expected = dropout2d_mask_shape(x.shape)
    if m.shape != expected:
        raise ValueError(f"{op}: mask.shape={m.shape} must be {expected}, one value per channel of "
                         f"input.shape={x.shape}")
    return m.astype(x.dtype, copy=False)


def _dropout2d_input(op: str, input: Any, p: Any, training: Any) -> tuple[np.ndarray, float, bool]:
    x = as_float_array(input, "input")
    dropout2d_mask_shape(x.shape)
    return x, _check_p(op, p), check_bool(training, "training")


def dropout2d(input: Any, p: float = 0.5, training: bool = True, *, mask: Any = None,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """Channel-wise dropout, PyTorch's ``F.dropout2d``: ``input * mask`` in training, a copy otherwise.

    ``mask`` has one value per channel, shape :func:`dropout2d_mask_shape` (``(N, C, 1, 1)`` or
    ``(C, 1, 1)``): ``1 / (1 - p)`` for a kept channel, 0 for a dropped one; without it one is drawn from
    ``rng`` (or a fresh ``np.random.default_rng()``). To backpropagate, draw it with
    ``dropout_mask(dropout2d_mask_shape(x.shape), p, rng)`` and pass it here and to
    :func:`dropout2d_backward`.

    Raises:
        TypeError: ``input`` or ``mask`` is not a float array, ``p`` is not a number, ``training`` is not a
            bool, or ``rng`` is not a ``Generator``.
        ValueError: ``input`` is not 3-d or 4-d, ``p`` is outside ``[0, 1]``, or ``mask`` has the wrong shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.ones((1, 2, 2, 2))
        >>> F.dropout2d(x, 0.5, mask=np.array([0.0, 2.0]).reshape(1, 2, 1, 1))[0]   # channel 0 dropped
        array([[[0., 0.],
                [0., 0.]],
        <BLANKLINE>
               [[2., 2.],
                [2., 2.]]])
    """
    op = "dropout2d"
    x, p, training = _dropout2d_input(op, input, p, training)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"{op}: rng={rng!r} must be a numpy.random.Generator or None")
    if not training:
        return x.copy()
    if mask is None:
        mask = dropout_mask(dropout2d_mask_shape(x.shape), p, rng if rng is not None else np.random.default_rng(),
                            x.dtype)
    return x * _check_channel_mask(op, mask, x)


def dropout2d_backward(grad_output: Any, input: Any, p: float = 0.5, training: bool = True, *,
                       mask: Any = None) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`dropout2d`: ``grad_output * mask`` (the forward's channel mask) in
    training, ``grad_output`` otherwise. In training with ``p > 0`` the mask is required.

    Raises:
        TypeError: as :func:`dropout2d`, and when ``grad_output`` is not a float array.
        ValueError: as :func:`dropout2d`, ``grad_output.shape != input.shape``, or no ``mask`` in training
            with ``p > 0``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> mask = np.array([2.0, 0.0]).reshape(2, 1, 1)                         # unbatched (C, H, W)
        >>> F.dropout2d_backward(np.ones((2, 1, 3)), np.ones((2, 1, 3)), mask=mask)[0].ravel()
        array([2., 2., 2., 0., 0., 0.])
    """
    op = "dropout2d_backward"
    x, p, training = _dropout2d_input(op, input, p, training)
    gy = check_grad_output_shape(op, grad_output, x.shape).astype(x.dtype)
    if not training or (mask is None and p == 0.0):
        return (gy,)
    if mask is None:
        raise ValueError(f"{op}: mask is required when training=True and p={p} > 0: draw it with "
                         f"dropout_mask(dropout2d_mask_shape(input.shape), p, rng) and pass the same mask to "
                         f"dropout2d")
    return (gy * _check_channel_mask(op, mask, x),)
