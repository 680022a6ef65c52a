"""Softmax, log-softmax, cross-entropy and mean squared error, each with its backward.

Notation: logits ``x (N, C)`` or ``(N, C, *S)`` (or unbatched ``(C,)``), class-index targets
``t (N, *S)`` with values in ``[0, C)``, label smoothing ``e``, ``M`` = number of target elements.

    log_softmax(x)_c = x_c - m - log(sum_j exp(x_j - m)),   m = max_j x_j   (never overflows)
    softmax(x)       = exp(log_softmax(x))
    cross_entropy    = -(1 - e) * logp[t] - (e / C) * sum_c logp_c     per element, then reduced
    grad (per elem)  = softmax(x) - q,   q = (1 - e) * onehot(t) + e / C
    mse_loss         = (x - y)^2 per element, then reduced;  grad_x = 2 (x - y) gy,  grad_y = -grad_x

Reductions: ``"mean"`` (divides by ``M``), ``"sum"``, ``"none"`` (per element). For ``"mean"``/``"sum"``
the backward takes a scalar ``grad_output``; for ``"none"`` one of the loss's shape.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._args import _is_int, as_float_array, check_grad_output_shape, result_dtype

__all__ = [
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward", "mse_loss", "mse_loss_backward",
]

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction={reduction!r} must be one of {REDUCTIONS}")
    return reduction


def _check_dim(op: str, dim: Any, x: np.ndarray) -> int:
    if not _is_int(dim):
        raise TypeError(f"{op}: dim={dim!r} must be an int")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"{op}: dim={dim} is out of range for input.shape={x.shape} "
                         f"(expected {-x.ndim} <= dim < {x.ndim})")
    return int(dim) % x.ndim


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(input: Any, dim: int = 1) -> np.ndarray:
    """``x - logsumexp(x)`` along ``dim``, shifted by the maximum so it never overflows."""
    x = as_float_array(input, "input")
    return _log_softmax(x, _check_dim("log_softmax", dim, x))


def log_softmax_backward(grad_output: Any, input: Any, dim: int = 1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`log_softmax`: ``gy - softmax(x) * sum(gy)`` along ``dim``."""
    x = as_float_array(input, "input")
    axis = _check_dim("log_softmax", dim, x)
    gy = check_grad_output_shape("log_softmax", grad_output, x.shape).astype(x.dtype, copy=False)
    return (gy - _softmax(x, axis) * gy.sum(axis=axis, keepdims=True),)


def softmax(input: Any, dim: int = 1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``dim``, shifted by the maximum so it never overflows."""
    x = as_float_array(input, "input")
    return _softmax(x, _check_dim("softmax", dim, x))


def softmax_backward(grad_output: Any, input: Any, dim: int = 1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`softmax`: ``y * (gy - sum(gy * y))`` along ``dim``, ``y = softmax(x)``."""
    x = as_float_array(input, "input")
    axis = _check_dim("softmax", dim, x)
    gy = check_grad_output_shape("softmax", grad_output, x.shape).astype(x.dtype, copy=False)
    y = _softmax(x, axis)
    return (y * (gy - (gy * y).sum(axis=axis, keepdims=True)),)


# ----------------------------------------------------------------------------------------------------------
# Cross-entropy
# ----------------------------------------------------------------------------------------------------------

def _cross_entropy_args(input: Any, target: Any, reduction: Any, label_smoothing: Any):
    """Validate; return logits, integer targets, the class axis, the reduction and the smoothing."""
    op = "cross_entropy"
    x = as_float_array(input, "input")
    if x.ndim < 1:
        raise ValueError(f"{op}: input must be logits (N, C), (N, C, *S) or unbatched (C,), got "
                         f"input.shape={x.shape}")
    reduction = _check_reduction(op, reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"{op}: label_smoothing={label_smoothing!r} must be a float in [0, 1]")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing={label_smoothing!r} must be in [0, 1]")
    t = target if isinstance(target, np.ndarray) else np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"{op}: target has dtype {t.dtype} (target.shape={t.shape}); it must hold integer "
                        f"class indices, e.g. target.astype(np.int64) (class probabilities are not supported)")
    axis = 0 if x.ndim == 1 else 1
    classes = x.shape[axis]
    expected = x.shape[:axis] + x.shape[axis + 1:]
    if t.shape != expected:
        raise ValueError(f"{op}: target.shape={t.shape} must be input.shape={x.shape} without the class dim "
                         f"{axis}, i.e. {expected}")
    if classes < 1:
        raise ValueError(f"{op}: input needs at least one class, got input.shape={x.shape}")
    if t.size and (t.min() < 0 or t.max() >= classes):
        raise ValueError(f"{op}: target holds class indices in [{t.min()}, {t.max()}] but input has "
                         f"{classes} classes (valid: 0 .. {classes - 1}; target.shape={t.shape}, "
                         f"target.dtype={t.dtype})")
    return x, t, axis, reduction, float(label_smoothing)


def cross_entropy(input: Any, target: Any, reduction: str = "mean", label_smoothing: float = 0.0) -> np.ndarray:
    """Cross-entropy of logits against class indices, PyTorch's ``F.cross_entropy`` (no weights/ignore_index).

    Args:
        input: logits ``(N, C)``, ``(N, C, *S)`` or unbatched ``(C,)``, float32 or float64.
        target: integer class indices ``(N,)``, ``(N, *S)`` or ``()``, each in ``[0, C)``.
        reduction: ``"mean"`` (over all target elements), ``"sum"`` or ``"none"``.
        label_smoothing: ``e`` in ``[0, 1]``: the target becomes ``(1 - e) * onehot + e / C``.

    Returns:
        A 0-d array for ``"mean"``/``"sum"``, else the per-element losses shaped like ``target``;
        in the input's dtype.
    """
    x, t, axis, reduction, smoothing = _cross_entropy_args(input, target, reduction, label_smoothing)
    logp = _log_softmax(x, axis)
    loss = -np.take_along_axis(logp, np.expand_dims(t, axis), axis=axis).squeeze(axis)
    if smoothing:
        loss = (1.0 - smoothing) * loss - smoothing * logp.mean(axis=axis)
    loss = loss.astype(x.dtype, copy=False)
    if reduction == "none":
        return loss
    return np.asarray(loss.mean() if reduction == "mean" else loss.sum(), dtype=x.dtype)


def cross_entropy_backward(grad_output: Any, input: Any, target: Any, reduction: str = "mean",
                           label_smoothing: float = 0.0) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`cross_entropy`: ``(softmax(x) - q) * gy`` (``/ M`` for ``"mean"``).

    ``grad_output`` is a scalar for ``"mean"``/``"sum"`` and shaped like ``target`` for ``"none"``.
    The target gets no gradient (it is an index).
    """
    x, t, axis, reduction, smoothing = _cross_entropy_args(input, target, reduction, label_smoothing)
    gy = check_grad_output_shape("cross_entropy", grad_output, t.shape if reduction == "none" else ())
    gy = gy.astype(x.dtype, copy=False)
    classes = x.shape[axis]
    grad = _softmax(x, axis)
    if smoothing:
        grad -= x.dtype.type(smoothing / classes)
    index = np.expand_dims(t, axis)
    np.put_along_axis(grad, index, np.take_along_axis(grad, index, axis=axis) - (1.0 - smoothing), axis=axis)
    if reduction == "none":
        grad *= np.expand_dims(gy, axis)
    elif reduction == "sum":
        grad *= gy
    else:
        grad *= gy / x.dtype.type(max(t.size, 1))
    return (grad,)


# ----------------------------------------------------------------------------------------------------------
# Mean squared error
# ----------------------------------------------------------------------------------------------------------

def _mse_args(input: Any, target: Any, reduction: Any):
    x = as_float_array(input, "input")
    y = as_float_array(target, "target")
    if x.shape != y.shape:
        raise ValueError(f"mse_loss: target.shape={y.shape} must equal input.shape={x.shape} (no broadcasting)")
    return x, y, _check_reduction("mse_loss", reduction), result_dtype(x, y)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> np.ndarray:
    """Mean squared error ``(input - target)^2``, reduced by ``"mean"``, ``"sum"`` or ``"none"``.

    ``input`` and ``target`` are float arrays of one shape; the result has their promoted dtype
    (a 0-d array unless ``reduction="none"``).
    """
    x, y, reduction, dtype = _mse_args(input, target, reduction)
    diff = x.astype(dtype, copy=False) - y.astype(dtype, copy=False)
    loss = diff * diff
    if reduction == "none":
        return loss
    return np.asarray(loss.mean() if reduction == "mean" else loss.sum(), dtype=dtype)


def mse_loss_backward(grad_output: Any, input: Any, target: Any,
                      reduction: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """``(grad_input, grad_target)`` of :func:`mse_loss`: ``+-2 (input - target) * gy`` (``/ size`` for mean)."""
    x, y, reduction, dtype = _mse_args(input, target, reduction)
    gy = check_grad_output_shape("mse_loss", grad_output, x.shape if reduction == "none" else ())
    diff = x.astype(dtype, copy=False) - y.astype(dtype, copy=False)
    scale = gy.astype(dtype, copy=False) * dtype.type(2)
    if reduction == "mean":
        scale = scale / dtype.type(max(x.size, 1))
    grad = diff * scale
    return grad.astype(x.dtype, copy=False), (-grad).astype(y.dtype, copy=False)
