"""Fully connected layer: ``y = x W^T + b``, PyTorch's ``torch.nn.functional.linear``, and its backward.

Notation: input ``x (*, in)`` with any leading dims ``*`` (``M`` rows once flattened), weight
``W (out, in)``, bias ``b (out,)``, output ``y (*, out)``.

    y        = x W^T + b
    grad_x   = gy W                      (*, in)
    grad_W   = sum over rows of gy^T x   (out, in)
    grad_b   = sum over rows of gy       (out,)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._args import as_float_array, check_grad_output_shape, result_dtype

__all__ = ["linear", "linear_backward"]


def _linear_args(op: str, input: Any, weight: Any, bias: Any):
    x = as_float_array(input, "input")
    w = as_float_array(weight, "weight")
    b = None if bias is None else as_float_array(bias, "bias")
    if w.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-d (out_features, in_features), got weight.shape={w.shape}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{op}: input's last dim must equal in_features = weight.shape[1] = {w.shape[1]}, "
                         f"got input.shape={x.shape}, weight.shape={w.shape}")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"{op}: bias.shape={b.shape} must be ({w.shape[0]},), one value per output feature "
                         f"of weight.shape={w.shape}")
    return x, w, b, result_dtype(x, w, b)


def linear(input: Any, weight: Any, bias: Any = None) -> np.ndarray:
    """``y = input @ weight.T + bias``: input ``(*, in)``, weight ``(out, in)``, bias ``(out,)`` -> ``(*, out)``.

    The result has the promoted dtype of the arguments.
    """
    x, w, b, dtype = _linear_args("linear", input, weight, bias)
    y = np.matmul(x.astype(dtype, copy=False), w.astype(dtype, copy=False).T)
    if b is not None:
        y += b.astype(dtype, copy=False)
    return y


def linear_backward(grad_output: Any, input: Any, weight: Any,
                    bias: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`linear`, each in its argument's dtype.

    ``grad_output`` has the output's shape ``(*, out)``; ``grad_bias`` is None when ``bias`` is None.
    """
    x, w, b, dtype = _linear_args("linear", input, weight, bias)
    gy = check_grad_output_shape("linear", grad_output, x.shape[:-1] + (w.shape[0],)).astype(dtype, copy=False)
    rows_gy = gy.reshape(-1, w.shape[0])
    rows_x = x.astype(dtype, copy=False).reshape(-1, w.shape[1])
    grad_x = np.matmul(gy, w.astype(dtype, copy=False)).astype(x.dtype, copy=False)
    grad_w = np.matmul(rows_gy.T, rows_x).astype(w.dtype, copy=False)
    grad_b = None if b is None else rows_gy.sum(axis=0).astype(b.dtype, copy=False)
    return grad_x, grad_w, grad_b
