"""Gradient clipping with ``torch.nn.utils``' rules: ``clip_grad_norm_`` and ``clip_grad_value_``; and the
eval-mode conv + batch norm fusion of :mod:`vanilla_nn.nn.fusion` (``fuse_conv_bn_eval``,
``fuse_conv_bn_weights``, the ``fold_batch_norm`` switch).

The clipping functions act in place on the ``.grad`` arrays of the given parameters (their trailing underscore
says so); parameters whose ``grad`` is None are skipped.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .fusion import fold_batch_norm, fuse_conv_bn_eval, fuse_conv_bn_weights, is_folding_enabled

__all__ = ["clip_grad_norm_", "clip_grad_value_", "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fold_batch_norm",
           "is_folding_enabled"]


def _grads(parameters: Any) -> list[np.ndarray]:
    """The non-None ``.grad`` arrays of one parameter or an iterable of parameters."""
    if hasattr(parameters, "grad") and hasattr(parameters, "data"):
        parameters = [parameters]
    elif isinstance(parameters, np.ndarray) or not isinstance(parameters, Iterable):
        raise TypeError(f"parameters must be a Parameter or an iterable of Parameters, got "
                        f"{type(parameters).__name__}")
    grads = []
    for index, param in enumerate(parameters):
        if not hasattr(param, "grad"):
            raise TypeError(f"parameters[{index}] is a {type(param).__name__}, not a Parameter")
        if param.grad is not None:
            if not isinstance(param.grad, np.ndarray) or param.grad.dtype.kind != "f":
                raise TypeError(f"parameters[{index}].grad must be a floating-point ndarray, got "
                                f"{type(param.grad).__name__}")
            grads.append(param.grad)
    return grads


def _vector_norm(values: np.ndarray, p: float) -> np.ndarray:
    """``torch.linalg.vector_norm(values, p)`` over all entries: ``(sum |x|^p)^(1/p)``; max/min ``|x|`` for
    ``p = +-inf``; the count of non-zeros for ``p = 0``. Computed and returned in ``values``' dtype."""
    magnitude = np.abs(values.ravel())
    if p == math.inf:
        return np.max(magnitude, initial=0).astype(values.dtype)
    if p == -math.inf:
        return np.min(magnitude, initial=np.inf).astype(values.dtype)
    if p == 0:
        return np.asarray(np.count_nonzero(magnitude), dtype=values.dtype)
    if p == 1:
        return np.sum(magnitude, dtype=values.dtype)
    if p == 2:
        return np.sqrt(np.sum(magnitude * magnitude, dtype=values.dtype))
    power = values.dtype.type(p)
    return np.sum(magnitude**power, dtype=values.dtype) ** (1 / power)


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float | str = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> np.floating:
    """Scale all gradients together so that their joint ``norm_type``-norm is at most ``max_norm``.

    ``total = || (||g_1||_p, ..., ||g_k||_p) ||_p`` (the norm of all gradients seen as one vector), then every
    ``g *= min(max_norm / (total + 1e-6), 1)``, as ``torch.nn.utils.clip_grad_norm_``. ``norm_type`` is a
    number, ``inf``/``-inf`` or the string ``"inf"``; ``foreach`` is accepted for PyTorch compatibility and
    ignored. Returns ``total`` (before clipping) as a NumPy scalar of the gradients' dtype (float32 0 when no
    parameter has a gradient).

    Raises:
        TypeError: ``parameters`` is not a parameter or iterable of them, ``max_norm``/``norm_type`` not a
            number.
        RuntimeError: ``error_if_nonfinite`` and the total norm is NaN or infinite (as PyTorch).

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn.nn import Parameter
        >>> from vanilla_nn.nn.utils import clip_grad_norm_
        >>> a, b = Parameter(np.zeros(1)), Parameter(np.zeros(1))
        >>> a.grad, b.grad = np.array([3.0]), np.array([4.0])
        >>> float(clip_grad_norm_([a, b], max_norm=1.0))      # sqrt(3^2 + 4^2)
        5.0
        >>> np.round(np.concatenate([a.grad, b.grad]), 6)     # scaled by 1 / (5 + 1e-6)
        array([0.6, 0.8])
    """
    if not isinstance(max_norm, numbers.Real) or isinstance(max_norm, bool):
        raise TypeError(f"max_norm={max_norm!r} must be a number")
    try:
        p = float(norm_type)
    except (TypeError, ValueError) as error:
        raise TypeError(f"norm_type={norm_type!r} must be a number, inf or 'inf'") from error
    if foreach not in (None, True, False):
        raise TypeError(f"foreach={foreach!r} must be None or a bool")
    grads = _grads(parameters)
    if not grads:
        return np.float32(0.0)
    dtype = np.result_type(*grads)
    norms = np.stack([_vector_norm(g, p).astype(dtype) for g in grads])
    total = _vector_norm(norms, p)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {p} for gradients from `parameters` is non-finite, so it "
                           f"cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           f"norm anyway, set `error_if_nonfinite=False`")
    # PyTorch evaluates max_norm / (total + 1e-6) as reciprocal(total + 1e-6) * max_norm, in the grads' dtype
    coefficient = np.minimum(np.reciprocal(total + dtype.type(1e-6)) * dtype.type(float(max_norm)),
                             dtype.type(1.0))
    with np.errstate(invalid="ignore"):  # inf * 0 when the norm is infinite: NaN, as PyTorch
        for grad in grads:
            grad *= coefficient.astype(grad.dtype)
    return dtype.type(total)


def clip_grad_value_(parameters: Any, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]`` in place (``torch.nn.utils.clip_grad_value_``).

    Raises:
        TypeError: ``parameters`` is not a parameter or iterable of them, or ``clip_value`` is not a number.
    """
    if not isinstance(clip_value, numbers.Real) or isinstance(clip_value, bool):
        raise TypeError(f"clip_value={clip_value!r} must be a number")
    for grad in _grads(parameters):
        np.clip(grad, -float(clip_value), float(clip_value), out=grad)
