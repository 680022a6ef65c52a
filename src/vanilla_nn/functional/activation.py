"""Element-wise activations and ``flatten``, each with its backward (PyTorch's semantics).

For an input ``x`` of any shape and upstream gradient ``gy`` of the same shape:

    relu(x)        = max(x, 0)                  grad = 0 if x <= 0 else gy    (0 at x == 0; gy at NaN, as PyTorch)
    leaky_relu(x)  = x if x > 0 else a * x      grad = gy if x > 0 else a * gy
    sigmoid(x)     = 1 / (1 + exp(-x))          grad = gy * y * (1 - y)
    tanh(x)        = tanh(x)                    grad = gy * (1 - y^2)

NaN propagates through every forward. ``sigmoid`` never overflows: it uses ``exp(-|x|)`` on both sides.
``flatten`` merges dims ``start_dim..end_dim`` into one; its backward reshapes back.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ._args import _is_int, as_float_array, check_grad_output_shape

__all__ = [
    "relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "sigmoid", "sigmoid_backward",
    "tanh", "tanh_backward", "flatten", "flatten_backward",
]


def _input_and_grad(op: str, grad_output: Any, input: Any) -> tuple[np.ndarray, np.ndarray]:
    x = as_float_array(input, "input")
    gy = check_grad_output_shape(op, grad_output, x.shape).astype(x.dtype, copy=False)
    return x, gy


def relu(input: Any) -> np.ndarray:
    """``max(input, 0)`` element-wise, any shape; NaN stays NaN."""
    x = as_float_array(input, "input")
    return np.maximum(x, x.dtype.type(0))


def relu_backward(grad_output: Any, input: Any) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`relu`: 0 where ``input <= 0`` (also at 0), else ``grad_output``.

    Like PyTorch, a NaN input (NaN output) passes the gradient through.
    """
    x, gy = _input_and_grad("relu", grad_output, input)
    return (np.where(x <= 0, x.dtype.type(0), gy),)


def _check_slope(negative_slope: Any) -> float:
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"leaky_relu: negative_slope={negative_slope!r} must be a real number")
    if not math.isfinite(negative_slope):
        raise ValueError(f"leaky_relu: negative_slope={negative_slope!r} must be finite")
    return float(negative_slope)


def leaky_relu(input: Any, negative_slope: float = 0.01) -> np.ndarray:
    """``input`` where positive, ``negative_slope * input`` elsewhere; any shape."""
    x = as_float_array(input, "input")
    slope = x.dtype.type(_check_slope(negative_slope))
    with np.errstate(invalid="ignore"):  # -inf * 0 is NaN, as in PyTorch
        return np.where(x > 0, x, x * slope)


def leaky_relu_backward(grad_output: Any, input: Any, negative_slope: float = 0.01) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`leaky_relu`: ``grad_output`` where ``input > 0``, else scaled by the slope."""
    slope = _check_slope(negative_slope)
    x, gy = _input_and_grad("leaky_relu", grad_output, input)
    return (np.where(x > 0, gy, gy * x.dtype.type(slope)),)


def sigmoid(input: Any) -> np.ndarray:
    """``1 / (1 + exp(-input))`` element-wise, computed without overflow for any finite input."""
    x = as_float_array(input, "input")
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow on either side
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def sigmoid_backward(grad_output: Any, input: Any) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`sigmoid`: ``grad_output * y * (1 - y)`` with ``y = sigmoid(input)``."""
    x, gy = _input_and_grad("sigmoid", grad_output, input)
    y = sigmoid(x)
    return (gy * (x.dtype.type(1) - y) * y,)


def tanh(input: Any) -> np.ndarray:
    """Hyperbolic tangent element-wise."""
    return np.tanh(as_float_array(input, "input"))


def tanh_backward(grad_output: Any, input: Any) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`tanh`: ``grad_output * (1 - y^2)`` with ``y = tanh(input)``."""
    x, gy = _input_and_grad("tanh", grad_output, input)
    y = np.tanh(x)
    return (gy * (x.dtype.type(1) - y * y),)


def _flatten_shape(x: np.ndarray, start_dim: Any, end_dim: Any) -> tuple[int, ...]:
    rank = max(x.ndim, 1)  # a 0-d input flattens to (1,), as in PyTorch
    dims = []
    for name, dim in (("start_dim", start_dim), ("end_dim", end_dim)):
        if not _is_int(dim):
            raise TypeError(f"flatten: {name}={dim!r} must be an int")
        if not -rank <= dim < rank:
            raise ValueError(f"flatten: {name}={dim} is out of range for input.shape={x.shape} "
                             f"(expected {-rank} <= {name} < {rank})")
        dims.append(int(dim) % rank)
    start, end = dims
    if start > end:
        raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for input.shape={x.shape}")
    shape = x.shape if x.ndim else (1,)
    return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]


def flatten(input: Any, start_dim: int = 1, end_dim: int = -1) -> np.ndarray:
    """Merge dims ``start_dim..end_dim`` (inclusive; negative counts from the end) into one.

    ``(N, C, H, W)`` with the defaults gives ``(N, C*H*W)``. Like PyTorch, the result is a view of the
    input where the memory layout allows it (a copy otherwise).
    """
    x = as_float_array(input, "input")
    return x.reshape(_flatten_shape(x, start_dim, end_dim))


def flatten_backward(grad_output: Any, input: Any, start_dim: int = 1, end_dim: int = -1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`flatten`: ``grad_output`` reshaped to ``input.shape``."""
    x = as_float_array(input, "input")
    gy = check_grad_output_shape("flatten", grad_output, _flatten_shape(x, start_dim, end_dim))
    return (gy.reshape(x.shape).astype(x.dtype, copy=False),)
