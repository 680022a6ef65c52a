"""Batch, group and layer normalisation as pure functions: forward, running-statistics update and backward.

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
from ._dispatch import check_needs_input_grad

__all__ = ["batch_norm", "batch_norm_backward", "batch_norm_running_stats", "group_norm", "group_norm_backward",
           "layer_norm", "layer_norm_backward"]


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


def _reduce_axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _statistics(x: np.ndarray, rm, rv, training: bool, eps: float, dtype: np.dtype):
    """``(x - mu, 1 / sqrt(var + eps))``: a fresh centred array shaped like ``x`` (the caller may overwrite it)
    and ``(1, C, 1, ...)`` per-channel factors, from the batch or the running statistics.

    Training: ``mu`` one reduction pass, the centred copy one pass, the variance one squaring pass into a
    scratch buffer and one reduction (the two-pass variance, no cancellation).
    """
    x = x.astype(dtype, copy=False)
    if training:
        axes = _reduce_axes(x)
        centred = np.subtract(x, x.mean(axis=axes, keepdims=True))
        var = np.multiply(centred, centred).mean(axis=axes, keepdims=True)
    else:
        centred = np.subtract(x, _per_channel(rm.astype(dtype, copy=False), x.ndim))
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

    Raises:
        TypeError: an array is not a float array, ``training`` is not a bool, or ``momentum``/``eps`` is not
            a finite number.
        ValueError: ``input`` is not ``(N, C, ...)``, a per-channel array is not ``(C,)``, ``eps`` is
            negative, ``momentum`` is None, training with a single value per channel, or evaluating
            (``training=False``) without ``running_mean``/``running_var``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[-7.0], [1.0], [-1.0], [7.0]])   # N = 4, C = 1: mean 0, variance 25
        >>> F.batch_norm(x, None, None, training=True, eps=0.0).ravel()
        array([-1.4,  0.2, -0.2,  1.4])
        >>> F.batch_norm(x, np.array([1.0]), np.array([4.0]), eps=0.0).ravel()   # eval: (x - 1) / 2
        array([-4.,  0., -1.,  3.])
    """
    x, rm, rv, w, b, training, eps, dtype = _bn_args("batch_norm", input, running_mean, running_var, weight,
                                                     bias, training, momentum, eps)
    y, inv_std = _statistics(x, rm, rv, training, eps, dtype)
    # y = (x - mu) * (w / std) + b, in place on the centred copy: two passes after the statistics
    scale = inv_std if w is None else inv_std * _per_channel(w.astype(dtype, copy=False), x.ndim)
    y *= scale
    if b is not None:
        y += _per_channel(b.astype(dtype, copy=False), x.ndim)
    return y


def batch_norm_running_stats(input: Any, running_mean: Any, running_var: Any,
                             momentum: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The running statistics after one training step on ``input``: ``(new_mean, new_var)``.

    ``new = (1 - momentum) * old + momentum * batch``, with the batch's UNBIASED variance (PyTorch's rule).
    ``momentum=None`` (PyTorch's cumulative average) is not supported. Each result keeps its argument's dtype.

    Raises:
        TypeError: an array is not a float array, or ``momentum`` is not a finite number.
        ValueError: ``running_mean``/``running_var`` is None or not ``(C,)``, ``momentum`` is None, or
            ``input`` has a single value per channel.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[1.0], [3.0]])                  # mean 2; biased variance 1, unbiased 2
        >>> F.batch_norm_running_stats(x, np.zeros(1), np.ones(1), momentum=0.5)
        (array([1.]), array([1.5]))
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
    square = np.subtract(xd, _per_channel(mean, x.ndim))
    square *= square  # squared in place: one scratch array
    unbiased_var = square.sum(axis=axes) / dtype.type(count - 1)
    keep, take = dtype.type(1 - m), dtype.type(m)
    new_mean = keep * rm.astype(dtype, copy=False) + take * mean
    new_var = keep * rv.astype(dtype, copy=False) + take * unbiased_var
    return new_mean.astype(rm.dtype, copy=False), new_var.astype(rv.dtype, copy=False)


def batch_norm_backward(grad_output: Any, input: Any, running_mean: Any, running_var: Any, weight: Any = None,
                        bias: Any = None, training: bool = False, momentum: float = 0.1,
                        eps: float = 1e-5, *, needs_input_grad: Any = None
                        ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`batch_norm`, each in its argument's dtype.

    ``grad_weight``/``grad_bias`` are None when ``weight``/``bias`` is None. In training mode the batch
    statistics depend on the input, which adds the two mean terms of the formula in the module docstring.
    ``needs_input_grad`` (three bools, default all True) skips the gradients not asked for: they are None.

    Raises:
        TypeError, ValueError: as :func:`batch_norm`, and when ``grad_output`` is not a float array of
            ``input``'s shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[-7.0], [1.0], [-1.0], [7.0]])   # x_hat = (-1.4, 0.2, -0.2, 1.4), 1/std = 0.2
        >>> gy = np.array([[1.0], [0.0], [0.0], [0.0]])
        >>> gx, gw, gb = F.batch_norm_backward(gy, x, None, None, np.ones(1), np.zeros(1), training=True,
        ...                                    eps=0.0)
        >>> gx.ravel()                    # 0.2 * (gy - mean(gy) - x_hat * mean(gy * x_hat)); sums to 0
        array([ 0.052, -0.036, -0.064,  0.048])
        >>> gw, gb                        # sum(gy * x_hat), sum(gy)
        (array([-1.4]), array([1.]))
    """
    x, rm, rv, w, b, training, eps, dtype = _bn_args("batch_norm", input, running_mean, running_var, weight,
                                                     bias, training, momentum, eps)
    gy = check_grad_output_shape("batch_norm", grad_output, x.shape).astype(dtype, copy=False)
    needs = check_needs_input_grad("batch_norm", needs_input_grad, 3)
    axes = _reduce_axes(x)
    # Per channel, with d = x - mu, s = 1/std, w = 1 without weight, M values per channel:
    #   grad_b = sum(gy),  grad_w = s * sum(gy * d)
    #   training: grad_x = w s gy - (w s / M) sum(gy) - d * (w s^3 / M) sum(gy * d)
    #   eval:     grad_x = w s gy
    # so grad_x = k1 * gy + k2 * d + k3: two reductions and four passes, the products written into scratch.
    grad_x = grad_w = grad_b = None
    want_b, want_w = needs[2] and b is not None, needs[1] and w is not None
    sum_gy = gy.sum(axis=axes, keepdims=True) if want_b or (needs[0] and training) else None
    if want_b:
        grad_b = sum_gy.reshape(-1).astype(b.dtype, copy=False)
    if not (needs[0] or want_w):  # neither reads x - mu
        return grad_x, grad_w, grad_b
    centred, inv_std = _statistics(x, rm, rv, training, eps, dtype)
    product = None
    if want_w or (needs[0] and training):
        product = np.multiply(gy, centred)
        sum_gy_d = product.sum(axis=axes, keepdims=True)
    if want_w:
        grad_w = (sum_gy_d * inv_std).reshape(-1).astype(w.dtype, copy=False)
    if needs[0]:
        scale = inv_std if w is None else inv_std * _per_channel(w.astype(dtype, copy=False), x.ndim)
        grad_x = np.multiply(gy, scale, out=product)
        if training:
            count = dtype.type(_values_per_channel(x))
            centred *= -scale * inv_std * inv_std * sum_gy_d / count
            centred -= scale * sum_gy / count
            grad_x += centred
        grad_x = grad_x.astype(x.dtype, copy=False)
    return grad_x, grad_w, grad_b


# --- group norm and layer norm: statistics per sample over a group of values --------------------------------
#
# Both normalise each row of a 2-d view ``x2 (R, K)`` of the input (R rows of K values each):
#     x_hat = (x2 - mean(x2)) / sqrt(var(x2) + eps)            (biased variance, per row)
# and then apply an elementwise affine map. With ``g = gy * w`` viewed the same way, per row:
#     grad_x = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps)


def _check_eps(op: str, eps: Any) -> float:
    return _check_number(op, "eps", eps, minimum=0.0)


def _row_normalise(x2: np.ndarray, eps: float, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(x_hat, inv_std)`` of the rows of ``x2 (R, K)``, ``inv_std`` as ``(R, 1)``; K >= 1."""
    x2 = x2.astype(dtype, copy=False)
    centred = x2 - x2.mean(axis=1, keepdims=True)
    var = (centred * centred).mean(axis=1, keepdims=True)
    inv_std = dtype.type(1) / np.sqrt(var + dtype.type(eps))
    return centred * inv_std, inv_std


def _row_backward(g2: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray) -> np.ndarray:
    return (g2 - g2.mean(axis=1, keepdims=True) - x_hat * (g2 * x_hat).mean(axis=1, keepdims=True)) * inv_std


def _group_norm_args(op: str, input: Any, num_groups: Any, weight: Any, bias: Any, eps: Any):
    x = _check_input(op, input)
    if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral):
        raise TypeError(f"{op}: num_groups={num_groups!r} must be an int")
    channels = x.shape[1]
    if num_groups < 1 or channels % num_groups:
        raise ValueError(f"{op}: num_groups={num_groups} must be >= 1 and divide the {channels} channels of "
                         f"input.shape={x.shape}")
    w, b = _channel_arrays(op, channels, x, weight=weight, bias=bias)
    eps = _check_eps(op, eps)
    return x, int(num_groups), w, b, eps, result_dtype(x, w, b)


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> np.ndarray:
    """Group normalisation, PyTorch's ``F.group_norm``.

    The ``C`` channels of ``input (N, C, *S)`` are split into ``num_groups`` groups of ``C / G`` channels;
    each sample's group is normalised over its ``C / G * prod(S)`` values (biased variance), then
    ``y = w[c] * x_hat + b[c]`` per channel.

    Args:
        input: ``(N, C)`` or ``(N, C, *S)``, float32 or float64.
        num_groups: ``G``, dividing ``C``.
        weight, bias: optional ``(C,)`` affine parameters.
        eps: added to the variance.

    Returns:
        ``(N, C, *S)`` in the promoted dtype of the arguments.

    Raises:
        TypeError: an array is not a float array, ``num_groups`` is not an int, ``eps`` is not a number.
        ValueError: ``input`` is not ``(N, C, ...)``, ``num_groups`` does not divide ``C``, ``weight``/``bias``
            is not ``(C,)``, or ``eps`` is negative.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[[-7.0], [1.0], [-1.0], [7.0]]])   # N = 1, C = 4, one group: mean 0, variance 25
        >>> F.group_norm(x, 1, eps=0.0).ravel()
        array([-1.4,  0.2, -0.2,  1.4])
        >>> F.group_norm(x, 2, eps=0.0).ravel()               # groups (-7, 1) and (-1, 7)
        array([-1.,  1., -1.,  1.])
    """
    x, groups, w, b, eps, dtype = _group_norm_args("group_norm", input, num_groups, weight, bias, eps)
    if x.size == 0:
        return np.zeros(x.shape, dtype)
    x_hat, _ = _row_normalise(x.reshape(x.shape[0] * groups, -1), eps, dtype)
    y = x_hat.reshape(x.shape)
    if w is not None:
        y *= _per_channel(w.astype(dtype, copy=False), x.ndim)
    if b is not None:
        y += _per_channel(b.astype(dtype, copy=False), x.ndim)
    return y


def group_norm_backward(grad_output: Any, input: Any, num_groups: int, weight: Any = None, bias: Any = None,
                        eps: float = 1e-5, *, needs_input_grad: Any = None
                        ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`group_norm`, each in its argument's dtype.

    ``grad_weight = sum(gy * x_hat)``, ``grad_bias = sum(gy)`` over batch and space per channel (None when
    the argument is None); ``grad_input`` by the row formula above, each row one sample's group.
    ``needs_input_grad`` (three bools, default all True) skips the gradients not asked for: they are None.

    Raises:
        TypeError, ValueError: as :func:`group_norm`, and when ``grad_output`` is not a float array of
            ``input``'s shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[[-7.0], [1.0], [-1.0], [7.0]]])   # x_hat = (-1.4, 0.2, -0.2, 1.4), 1/std = 0.2
        >>> gy = np.array([[[1.0], [0.0], [0.0], [0.0]]])
        >>> gx, gw, gb = F.group_norm_backward(gy, x, 1, np.ones(4), np.zeros(4), eps=0.0)
        >>> gx.ravel()
        array([ 0.052, -0.036, -0.064,  0.048])
        >>> round(float(gw[0]), 12), gb   # sum(gy * x_hat), sum(gy) per channel
        (-1.4, array([1., 0., 0., 0.]))
    """
    op = "group_norm"
    x, groups, w, b, eps, dtype = _group_norm_args(op, input, num_groups, weight, bias, eps)
    gy = check_grad_output_shape(op, grad_output, x.shape).astype(dtype, copy=False)
    needs = check_needs_input_grad(op, needs_input_grad, 3)
    axes = (0, *range(2, x.ndim))
    if x.size == 0:
        zeros = np.zeros(x.shape[1], dtype)
        return (np.zeros(x.shape, x.dtype) if needs[0] else None,
                None if w is None or not needs[1] else zeros.astype(w.dtype),
                None if b is None or not needs[2] else zeros.astype(b.dtype))
    return _affine_rows_backward(gy, x, (x.shape[0] * groups, -1), axes, _per_channel, w, b, eps, dtype, needs)


def _affine_rows_backward(gy: np.ndarray, x: np.ndarray, rows: tuple[int, int], axes: tuple[int, ...],
                          per_channel: Any, w: np.ndarray | None, b: np.ndarray | None, eps: float,
                          dtype: np.dtype, needs: tuple[bool, ...]):
    """Group and layer norm's ``(grad_input, grad_weight, grad_bias)`` (those ``needs`` asks for) from the
    rows ``x.reshape(rows)``; ``axes`` are summed for the affine gradients, ``per_channel(a, ndim)`` lays
    ``w`` out against ``x``."""
    grad_x = grad_w = grad_b = None
    if needs[2] and b is not None:
        grad_b = gy.sum(axis=axes).astype(b.dtype, copy=False)
    if not (needs[0] or needs[1] and w is not None):  # neither reads x_hat
        return grad_x, grad_w, grad_b
    x_hat2, inv_std = _row_normalise(x.reshape(rows), eps, dtype)
    if needs[1] and w is not None:
        grad_w = (gy * x_hat2.reshape(x.shape)).sum(axis=axes).astype(w.dtype, copy=False)
    if needs[0]:
        g = gy if w is None else gy * per_channel(w.astype(dtype, copy=False), x.ndim)
        grad_x = _row_backward(g.reshape(rows), x_hat2, inv_std).reshape(x.shape).astype(x.dtype, copy=False)
    return grad_x, grad_w, grad_b


def _layer_norm_args(op: str, input: Any, normalized_shape: Any, weight: Any, bias: Any, eps: Any):
    x = as_float_array(input, "input")
    dims = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
    if (isinstance(normalized_shape, bool) or not isinstance(dims, (tuple, list))
            or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims)):
        raise TypeError(f"{op}: normalized_shape={normalized_shape!r} must be an int or a tuple of ints")
    shape = tuple(int(d) for d in dims)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"{op}: normalized_shape={shape} must be non-empty and equal the last dims of "
                         f"input.shape={x.shape}")
    checked = []
    for name, value in (("weight", weight), ("bias", bias)):
        a = None if value is None else as_float_array(value, name)
        if a is not None and a.shape != shape:
            raise ValueError(f"{op}: {name}.shape={a.shape} must equal normalized_shape={shape}")
        checked.append(a)
    w, b = checked
    eps = _check_eps(op, eps)
    return x, shape, w, b, eps, result_dtype(x, w, b)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> np.ndarray:
    """Layer normalisation, PyTorch's ``F.layer_norm``.

    Each slice of ``input (*, *normalized_shape)`` over its last ``len(normalized_shape)`` dims is normalised
    (biased variance), then ``y = w * x_hat + b`` elementwise with ``w``, ``b`` of ``normalized_shape``.

    Args:
        input: float32 or float64 whose last dims equal ``normalized_shape``.
        normalized_shape: an int or a tuple of ints.
        weight, bias: optional arrays of ``normalized_shape``.
        eps: added to the variance.

    Returns:
        ``input``'s shape, in the promoted dtype of the arguments.

    Raises:
        TypeError: an array is not a float array, ``normalized_shape`` is not ints, ``eps`` is not a number.
        ValueError: ``normalized_shape`` is empty or not the last dims of ``input``, ``weight``/``bias`` is
            not of ``normalized_shape``, or ``eps`` is negative.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[-7.0, 1.0, -1.0, 7.0], [1.0, 3.0, 1.0, 3.0]])
        >>> F.layer_norm(x, 4, eps=0.0)                       # each row: mean 0, variance 25; mean 2, var 1
        array([[-1.4,  0.2, -0.2,  1.4],
               [-1. ,  1. , -1. ,  1. ]])
    """
    x, shape, w, b, eps, dtype = _layer_norm_args("layer_norm", input, normalized_shape, weight, bias, eps)
    if x.size == 0:
        return np.zeros(x.shape, dtype)
    x_hat, _ = _row_normalise(x.reshape(-1, math.prod(shape)), eps, dtype)
    y = x_hat.reshape(x.shape)
    if w is not None:
        y *= w.astype(dtype, copy=False)
    if b is not None:
        y += b.astype(dtype, copy=False)
    return y


def layer_norm_backward(grad_output: Any, input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
                        eps: float = 1e-5, *, needs_input_grad: Any = None
                        ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`layer_norm`, each in its argument's dtype.

    ``grad_weight = sum(gy * x_hat)``, ``grad_bias = sum(gy)`` over the leading dims (None when the argument
    is None); ``grad_input`` by the row formula above, each row one normalised slice.
    ``needs_input_grad`` (three bools, default all True) skips the gradients not asked for: they are None.

    Raises:
        TypeError, ValueError: as :func:`layer_norm`, and when ``grad_output`` is not a float array of
            ``input``'s shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[-7.0, 1.0, -1.0, 7.0]])
        >>> gx, gw, gb = F.layer_norm_backward(np.array([[1.0, 0.0, 0.0, 0.0]]), x, 4, np.ones(4), eps=0.0)
        >>> gx, round(float(gw[0]), 12), gb   # the same row as group_norm's example; no bias, no grad_bias
        (array([[ 0.052, -0.036, -0.064,  0.048]]), -1.4, None)
    """
    op = "layer_norm"
    x, shape, w, b, eps, dtype = _layer_norm_args(op, input, normalized_shape, weight, bias, eps)
    gy = check_grad_output_shape(op, grad_output, x.shape).astype(dtype, copy=False)
    needs = check_needs_input_grad(op, needs_input_grad, 3)
    lead = tuple(range(x.ndim - len(shape)))
    if x.size == 0:
        return (np.zeros(x.shape, x.dtype) if needs[0] else None,
                None if w is None or not needs[1] else np.zeros(shape, w.dtype),
                None if b is None or not needs[2] else np.zeros(shape, b.dtype))
    return _affine_rows_backward(gy, x, (-1, math.prod(shape)), lead, _trailing, w, b, eps, dtype, needs)


def _trailing(a: np.ndarray, ndim: int) -> np.ndarray:
    """Layer norm's ``w`` broadcasts against the trailing dims as it is."""
    return a
