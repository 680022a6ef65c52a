"""Batch normalisation as pure functions: forward, running-statistics update and backward.

Notation: input ``x (N, C)`` or ``(N, C, *S)``; per-channel statistics over the ``M = N * prod(S)`` values
of each channel; ``w``, ``b`` the optional affine weight and bias ``(C,)``; ``eps`` added to the variance.

    training:  mu = mean(x), var = mean((x - mu)^2)    (biased), over batch and space
    eval:      mu = running_mean, var = running_var
    x_hat = (x - mu) / sqrt(var + eps)
    y     = w * x_hat + b

    running update (PyTorch's, with the UNBIASED batch variance):
      new_mean = (1 - momentum) * running_mean + momentum * mu
      new_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)

Backward, with ``g = gy * w`` and means over batch and space:

    grad_b = sum(gy),  grad_w = sum(gy * x_hat)
    training:  grad_x = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps)
    eval:      grad_x = g / sqrt(running_var + eps)          (the statistics are constants)

Nothing here modifies its arguments: the caller stores the new running statistics it gets back.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ._args import as_float_array, check_bool, check_grad_output_shape, result_dtype

__all__ = ["batch_norm", "batch_norm_backward", "batch_norm_running_stats"]


def _check_number(op: str, name: str, value: Any, *, minimum: float | None = None) -> float:
    if value is None and name == "momentum":
        raise ValueError(f"{op}: momentum=None (a cumulative moving average) is not supported; pass a float "
                         f"such as 0.1")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{op}: {name}={value!r} must be a finite real number")
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: {name}={value!r} must be >= {minimum}")
    return float(value)


def _channel_arrays(op: str, channels: int, x: np.ndarray, **arrays: Any) -> list[np.ndarray | None]:
    """Each of ``arrays`` as a float ``(C,)`` array (or None)."""
    checked = []
    for name, value in arrays.items():
        if value is None:
            checked.append(None)
            continue
        a = as_float_array(value, name)
        if a.shape != (channels,):
            raise ValueError(f"{op}: {name}.shape={a.shape} must be ({channels},), one value per channel of "
                             f"input.shape={x.shape}")
        checked.append(a)
    return checked


def _check_input(op: str, input: Any) -> np.ndarray:
    x = as_float_array(input, "input")
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C) or (N, C, *S), got input.shape={x.shape}")
    return x


def _values_per_channel(x: np.ndarray) -> int:
    return x.size // x.shape[1] if x.shape[1] else 0


def _check_batch(op: str, x: np.ndarray) -> None:
    if _values_per_channel(x) <= 1:
        raise ValueError(f"{op}: batch statistics need more than 1 value per channel, got input.shape="
                         f"{x.shape}")


def _bn_args(op: str, input: Any, running_mean: Any, running_var: Any, weight: Any, bias: Any,
             training: Any, momentum: Any, eps: Any):
    x = _check_input(op, input)
    rm, rv, w, b = _channel_arrays(op, x.shape[1], x, running_mean=running_mean, running_var=running_var,
                                   weight=weight, bias=bias)
    training = check_bool(training, "training")
    _check_number(op, "momentum", momentum)
    eps = _check_number(op, "eps", eps, minimum=0.0)
    if training:
        _check_batch(op, x)
    elif rm is None or rv is None:
        raise ValueError(f"{op}: running_mean and running_var are required when training=False")
    return x, rm, rv, w, b, training, eps, result_dtype(x, rm, rv, w, b)


def _per_channel(a: np.ndarray, ndim: int) -> np.ndarray:
    """``(C,)`` -> ``(1, C, 1, ...)`` to broadcast against ``(N, C, *S)``."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


def _statistics(x: np.ndarray, rm, rv, training: bool, eps: float, dtype: np.dtype):
    """``(x - mu, 1 / sqrt(var + eps))`` broadcastable to ``x``, from the batch or the running stats."""
    x = x.astype(dtype, copy=False)
    if training:
        axes = (0, *range(2, x.ndim))
        centred = x - x.mean(axis=axes, keepdims=True)
        var = (centred * centred).mean(axis=axes, keepdims=True)
    else:
        centred = x - _per_channel(rm.astype(dtype, copy=False), x.ndim)
        var = _per_channel(rv.astype(dtype, copy=False), x.ndim)
    return centred, dtype.type(1) / np.sqrt(var + dtype.type(eps))


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> np.ndarray:
    """Batch normalisation, PyTorch's ``F.batch_norm`` without its in-place running-stats update.

    Args:
        input: ``(N, C)`` or ``(N, C, *S)``, float32 or float64.
        running_mean, running_var: ``(C,)``; used when ``training=False`` (may be None when training).
        weight, bias: optional ``(C,)`` affine parameters.
        training: normalise with the batch statistics (biased variance) instead of the running ones.
        momentum: only validated here; see :func:`batch_norm_running_stats` for the update.
        eps: added to the variance.

    Returns:
        ``(N, C, *S)`` in the promoted dtype of the arguments. The inputs are never modified.
    """
    x, rm, rv, w, b, training, eps, dtype = _bn_args("batch_norm", input, running_mean, running_var, weight,
                                                     bias, training, momentum, eps)
    centred, inv_std = _statistics(x, rm, rv, training, eps, dtype)
    y = centred * inv_std
    if w is not None:
        y *= _per_channel(w.astype(dtype, copy=False), x.ndim)
    if b is not None:
        y += _per_channel(b.astype(dtype, copy=False), x.ndim)
    return y


def batch_norm_running_stats(input: Any, running_mean: Any, running_var: Any,
                             momentum: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The running statistics after one training step on ``input``: ``(new_mean, new_var)``.

    ``new = (1 - momentum) * old + momentum * batch``, with the batch's UNBIASED variance (PyTorch's rule).
    ``momentum=None`` (PyTorch's cumulative average) is not supported. Each result keeps its argument's dtype.
    """
    op = "batch_norm_running_stats"
    x = _check_input(op, input)
    if running_mean is None or running_var is None:
        raise ValueError(f"{op}: running_mean and running_var are required")
    rm, rv = _channel_arrays(op, x.shape[1], x, running_mean=running_mean, running_var=running_var)
    m = _check_number(op, "momentum", momentum)
    _check_batch(op, x)
    dtype = result_dtype(x, rm, rv)
    xd = x.astype(dtype, copy=False)
    axes = (0, *range(2, x.ndim))
    count = _values_per_channel(x)
    mean = xd.mean(axis=axes)
    unbiased_var = ((xd - _per_channel(mean, x.ndim)) ** 2).sum(axis=axes) / dtype.type(count - 1)
    keep, take = dtype.type(1 - m), dtype.type(m)
    new_mean = keep * rm.astype(dtype, copy=False) + take * mean
    new_var = keep * rv.astype(dtype, copy=False) + take * unbiased_var
    return new_mean.astype(rm.dtype, copy=False), new_var.astype(rv.dtype, copy=False)


def batch_norm_backward(grad_output: Any, input: Any, running_mean: Any, running_var: Any, weight: Any = None,
                        bias: Any = None, training: bool = False, momentum: float = 0.1,
                        eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`batch_norm`, each in its argument's dtype.

    ``grad_weight``/``grad_bias`` are None when ``weight``/``bias`` is None. In training mode the batch
    statistics depend on the input, which adds the two mean terms of the formula in the module docstring.
    """
    x, rm, rv, w, b, training, eps, dtype = _bn_args("batch_norm", input, running_mean, running_var, weight,
                                                     bias, training, momentum, eps)
    gy = check_grad_output_shape("batch_norm", grad_output, x.shape).astype(dtype, copy=False)
    centred, inv_std = _statistics(x, rm, rv, training, eps, dtype)
    x_hat = centred * inv_std
    axes = (0, *range(2, x.ndim))
    grad_w = None if w is None else (gy * x_hat).sum(axis=axes).astype(w.dtype, copy=False)
    grad_b = None if b is None else gy.sum(axis=axes).astype(b.dtype, copy=False)
    g = gy if w is None else gy * _per_channel(w.astype(dtype, copy=False), x.ndim)
    if training:
        g = g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
    grad_x = (g * inv_std).astype(x.dtype, copy=False)
    return grad_x, grad_w, grad_b
