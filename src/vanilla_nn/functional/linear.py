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
from ._dispatch import check_needs_input_grad

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

    Raises:
        TypeError: an argument is not a float32/float64 array.
        ValueError: ``weight`` is not 2-d, ``input``'s last dim is not ``in``, or ``bias`` is not ``(out,)``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[1.0, 2.0]])
        >>> w = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]])    # 2 -> 3 features
        >>> F.linear(x, w, bias=np.array([0.0, 0.0, 1.0]))
        array([[ 1.,  3., -1.]])
    """
    x, w, b, dtype = _linear_args("linear", input, weight, bias)
    y = np.matmul(x.astype(dtype, copy=False), w.astype(dtype, copy=False).T)
    if b is not None:
        y += b.astype(dtype, copy=False)
    return y


def linear_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, *,
                    needs_input_grad: Any = None) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`linear`, each in its argument's dtype.

    ``grad_output`` has the output's shape ``(*, out)``; ``grad_bias`` is None when ``bias`` is None.
    ``needs_input_grad`` (three bools, default all True) skips the gradients not asked for: they are None.

    Raises:
        TypeError, ValueError: as :func:`linear`, and when ``grad_output`` is not a float array of shape
            ``(*, out)``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x, w, b = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]]), np.zeros(3)
        >>> gx, gw, gb = F.linear_backward(np.ones((1, 3)), x, w, b)
        >>> gx, gb                        # gy @ W; the sum of gy over rows
        (array([[2., 0.]]), array([1., 1., 1.]))
        >>> gw                            # gy^T @ x
        array([[1., 2.],
               [1., 2.],
               [1., 2.]])
    """
    x, w, b, dtype = _linear_args("linear", input, weight, bias)
    gy = check_grad_output_shape("linear", grad_output, x.shape[:-1] + (w.shape[0],)).astype(dtype, copy=False)
    needs = check_needs_input_grad("linear", needs_input_grad, 3)
    rows_gy = gy.reshape(-1, w.shape[0])
    grad_x = grad_w = grad_b = None
    if needs[0]:
        grad_x = np.matmul(gy, w.astype(dtype, copy=False)).astype(x.dtype, copy=False)
    if needs[1]:
        rows_x = x.astype(dtype, copy=False).reshape(-1, w.shape[1])
        grad_w = np.matmul(rows_gy.T, rows_x).astype(w.dtype, copy=False)
    if needs[2] and b is not None:
        grad_b = rows_gy.sum(axis=0).astype(b.dtype, copy=False)
    return grad_x, grad_w, grad_b
