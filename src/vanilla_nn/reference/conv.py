"""Convolution and transposed convolution as plain loops: one output element, one kernel tap at a time.

Notation: N batch, G groups, C_in / C_out channels; per spatial dim: S input size, K kernel size,
O output size, s stride, d dilation, p = (p_before, p_after) padding. Spatial indices ``o``, ``k``, ``i``
are tuples with one entry per spatial dim and every formula below holds per dim.

Convolution, weight ``(C_out, C_in / G, *K)``; output channel ``co`` belongs to group
``g = co // (C_out / G)`` and reads input channels ``ci = g * (C_in / G) + j``::

    y[n, co, o] = b[co] + sum_{j, k} w[co, j, k] * x_pad[n, ci, o * s + k * d]

where ``x_pad`` is ``x`` padded by ``p`` on each side; padded coordinate ``q`` reads input element
``q - p_before`` if inside, else whatever ``padding_mode`` maps it to (zero, mirror, clamp or wrap).

Transposed convolution, weight ``(C_in, C_out / G, *K)``: the adjoint of the above. Input element ``i`` with
tap ``k`` lands at frame coordinate ``f = i * s + k * d`` of the frame ``(S - 1) * s + d * (K - 1) + 1 +
output_padding``; the output is the frame cropped by ``p``, so output ``o`` sits at ``f = o + p_before``.
Gathered one output element at a time::

    y[n, co, o] = b[co] + sum_{j, k} x[n, ci, i] * w[ci, c, k]
                  over the taps where i = (o + p_before - k * d) / s is an integer in [0, S)

with ``co = g * (C_out / G) + c`` and ``ci = g * (C_in / G) + j``.

Both are "a sum of products ``x[...] * w[...]`` per output element"; only the rule that lists the taps
differs. The backward walks the same taps and sends each product's gradient back to both factors::

    grad_x[n, ci, i] += gy[n, co, o] * w[...]      grad_w[...] += gy[n, co, o] * x[n, ci, i]
    grad_b[co] += gy[n, co, o]

A padded position that reads a real input element (reflect/replicate/circular) passes its gradient to
that element, so gradients flow through the padding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product
from typing import Any

import numpy as np

from vanilla_nn.functional._args import ConvSpec, check_grad_output, conv_spec, conv_transpose_spec

# A tap: (input channel ci, input spatial index or None for a zero of the padding, full weight index).
Tap = tuple[int, tuple[int, ...] | None, tuple[int, ...]]
Grads = tuple[np.ndarray, np.ndarray, np.ndarray | None]
TapRule = Callable[[ConvSpec, int, int, tuple[int, ...]], Iterator[Tap]]


def source_index(q: int, size: int, mode: str) -> int | None:
    """Input coordinate that padded coordinate ``q`` (counted from the input's first element) reads.

    ``None`` means a zero. reflect mirrors without repeating the edge (-1 -> 1), replicate clamps
    (-1 -> 0), circular wraps (-1 -> size - 1).
    """
    if 0 <= q < size:
        return q
    if mode == "zeros":
        return None
    if mode == "reflect":
        return -q if q < 0 else 2 * (size - 1) - q
    if mode == "replicate":
        return min(max(q, 0), size - 1)
    return q % size  # circular


def _conv_taps(spec: ConvSpec, in_channels: int, co: int, o: tuple[int, ...]) -> Iterator[Tap]:
    """Taps of a convolution's output ``y[:, co, *o]``.

    A tap on a zero of the padding is still a term of the sum (``0 * w``, so an inf or NaN weight gives
    NaN there, as in PyTorch); it is yielded with index None.
    """
    group_in = in_channels // spec.groups                   # C_in / G
    g = co // (spec.out_channels // spec.groups)            # the group of output channel co
    for j in range(group_in):
        ci = g * group_in + j
        for k in product(*(range(size) for size in spec.kernel)):
            src = []
            for o_i, k_i, s_i, d_i, (lo, _), size in zip(o, k, spec.stride, spec.dilation, spec.pads,
                                                          spec.in_spatial, strict=True):
                q = o_i * s_i + k_i * d_i - lo              # padded coordinate, relative to the input
                src.append(source_index(q, size, spec.padding_mode))
            yield ci, None if None in src else tuple(src), (co, j) + k


def _conv_transpose_taps(spec: ConvSpec, in_channels: int, co: int, o: tuple[int, ...]) -> Iterator[Tap]:
    """Taps of a transposed convolution's output ``y[:, co, *o]``."""
    group_out = spec.out_channels // spec.groups            # C_out / G
    group_in = in_channels // spec.groups                   # C_in / G
    g, c = divmod(co, group_out)
    for j in range(group_in):
        ci = g * group_in + j
        for k in product(*(range(size) for size in spec.kernel)):
            src = []
            for o_i, k_i, s_i, d_i, (lo, _), size in zip(o, k, spec.stride, spec.dilation, spec.pads,
                                                          spec.in_spatial, strict=True):
                f = o_i + lo - k_i * d_i                    # frame coordinate minus the tap offset = i * s
                if f % s_i or not 0 <= f // s_i < size:
                    break                                   # no input element lands here with this tap
                src.append(f // s_i)
            else:
                yield ci, tuple(src), (ci, c) + k


def _batched(spec: ConvSpec, array: np.ndarray) -> np.ndarray:
    return array if spec.batched else array[np.newaxis]


@np.errstate(invalid="ignore", over="ignore")   # inf and NaN propagate silently, as in PyTorch
def _gather_forward(taps: TapRule, spec: ConvSpec, x: np.ndarray, w: np.ndarray,
                    b: np.ndarray | None) -> np.ndarray:
    """``y[n, co, o] = b[co] + sum over taps of x[n, ci, i] * w[...]``, in ``spec.dtype``."""
    x = _batched(spec, x).astype(spec.dtype, copy=False)
    w = w.astype(spec.dtype, copy=False)
    batch, in_channels = x.shape[:2]
    y = np.zeros((batch, spec.out_channels) + spec.out_spatial, dtype=spec.dtype)
    for n, co in product(range(batch), range(spec.out_channels)):
        for o in product(*(range(size) for size in spec.out_spatial)):
            total = spec.dtype.type(0 if b is None else b[co])
            for ci, i, w_index in taps(spec, in_channels, co, o):
                total += (0 if i is None else x[(n, ci) + i]) * w[w_index]
            y[(n, co) + o] = total
    return y if spec.batched else y[0]


@np.errstate(invalid="ignore", over="ignore")
def _gather_backward(taps: TapRule, spec: ConvSpec, gy: np.ndarray, x: np.ndarray, w: np.ndarray,
                     b: np.ndarray | None) -> Grads:
    """Send ``gy[n, co, o]`` back along every tap of the forward; each gradient in its argument's dtype."""
    dtype = np.result_type(spec.dtype, gy.dtype)
    gy = _batched(spec, gy).astype(dtype, copy=False)
    xb = _batched(spec, x).astype(dtype, copy=False)
    wc = w.astype(dtype, copy=False)
    batch, in_channels = xb.shape[:2]
    gx = np.zeros(xb.shape, dtype=dtype)
    gw = np.zeros(w.shape, dtype=dtype)
    gb = None if b is None else np.zeros(b.shape, dtype=dtype)
    # A transposed convolution's output is its frame cropped by the padding; the crop's adjoint extends gy
    # with zeros to the whole frame, so its backward also visits the cropped positions, with gy = 0 there
    # (this only shows as 0 * inf = NaN, as in PyTorch).
    visited = ([range(-lo, size - lo) for size, (lo, _) in zip(spec.frame, spec.pads, strict=True)]
               if spec.frame else [range(size) for size in spec.out_spatial])
    for n, co in product(range(batch), range(spec.out_channels)):
        for o in product(*visited):
            inside = all(0 <= o_i < size for o_i, size in zip(o, spec.out_spatial, strict=True))
            g = gy[(n, co) + o] if inside else dtype.type(0)
            if gb is not None and inside:
                gb[co] += g                                  # dy/db[co] = 1 for every output of channel co
            for ci, i, w_index in taps(spec, in_channels, co, o):
                if i is not None:
                    gx[(n, ci) + i] += g * wc[w_index]       # d(x * w)/dx = w
                gw[w_index] += g * (0 if i is None else xb[(n, ci) + i])    # d(x * w)/dw = x
    gx = gx if spec.batched else gx[0]
    return gx.astype(x.dtype), gw.astype(w.dtype), None if gb is None else gb.astype(b.dtype)


def _batch(spec: ConvSpec, x: np.ndarray) -> int | None:
    return x.shape[0] if spec.batched else None


# --- the general N-d forms --------------------------------------------------------------------------------

def conv_nd(ndim: int, input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
            dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros") -> np.ndarray:
    """Convolution over ``ndim`` spatial dims: ``(N, C_in, *S)`` -> ``(N, C_out, *O)``."""
    spec, x, w, b = conv_spec(f"conv{ndim}d", ndim, input, weight, bias, stride, padding, dilation, groups,
                              padding_mode)
    return _gather_forward(_conv_taps, spec, x, w, b)


def conv_nd_backward(ndim: int, grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros"
                     ) -> Grads:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`conv_nd`; ``grad_bias`` is None without bias."""
    op = f"conv{ndim}d_backward"
    spec, x, w, b = conv_spec(op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    gy = check_grad_output(op, grad_output, spec, _batch(spec, x))
    return _gather_backward(_conv_taps, spec, gy, x, w, b)


def conv_transpose_nd(ndim: int, input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                      output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> np.ndarray:
    """Transposed convolution over ``ndim`` spatial dims: ``(N, C_in, *S)`` -> ``(N, C_out, *O)``."""
    spec, x, w, b = conv_transpose_spec(f"conv_transpose{ndim}d", ndim, input, weight, bias, stride, padding,
                                        output_padding, groups, dilation)
    return _gather_forward(_conv_transpose_taps, spec, x, w, b)


def conv_transpose_nd_backward(ndim: int, grad_output: Any, input: Any, weight: Any, bias: Any = None,
                               stride: Any = 1, padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                               dilation: Any = 1) -> Grads:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose_nd`."""
    op = f"conv_transpose{ndim}d_backward"
    spec, x, w, b = conv_transpose_spec(op, ndim, input, weight, bias, stride, padding, output_padding,
                                        groups, dilation)
    gy = check_grad_output(op, grad_output, spec, _batch(spec, x))
    return _gather_backward(_conv_transpose_taps, spec, gy, x, w, b)


# --- rank-specific wrappers (PyTorch's names and signatures) ----------------------------------------------

def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1, padding_mode: str = "zeros") -> np.ndarray:
    """1-d convolution: ``(N, C_in, L)`` -> ``(N, C_out, L_out)``."""
    return conv_nd(1, input, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1, padding_mode: str = "zeros") -> np.ndarray:
    """2-d convolution: ``(N, C_in, H, W)`` -> ``(N, C_out, H_out, W_out)``."""
    return conv_nd(2, input, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1, padding_mode: str = "zeros") -> np.ndarray:
    """3-d convolution: ``(N, C_in, D, H, W)`` -> ``(N, C_out, D_out, H_out, W_out)``."""
    return conv_nd(3, input, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv1d_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                    padding: Any = 0, dilation: Any = 1, groups: int = 1,
                    padding_mode: str = "zeros") -> Grads:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`conv1d`."""
    return conv_nd_backward(1, grad_output, input, weight, bias, stride, padding, dilation, groups,
                            padding_mode)


def conv2d_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                    padding: Any = 0, dilation: Any = 1, groups: int = 1,
                    padding_mode: str = "zeros") -> Grads:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`conv2d`."""
    return conv_nd_backward(2, grad_output, input, weight, bias, stride, padding, dilation, groups,
                            padding_mode)


def conv3d_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                    padding: Any = 0, dilation: Any = 1, groups: int = 1,
                    padding_mode: str = "zeros") -> Grads:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`conv3d`."""
    return conv_nd_backward(3, grad_output, input, weight, bias, stride, padding, dilation, groups,
                            padding_mode)


def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> np.ndarray:
    """1-d transposed convolution: ``(N, C_in, L)`` -> ``(N, C_out, L_out)``."""
    return conv_transpose_nd(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> np.ndarray:
    """2-d transposed convolution: ``(N, C_in, H, W)`` -> ``(N, C_out, H_out, W_out)``."""
    return conv_transpose_nd(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> np.ndarray:
    """3-d transposed convolution: ``(N, C_in, D, H, W)`` -> ``(N, C_out, D_out, H_out, W_out)``."""
    return conv_transpose_nd(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose1d_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                              padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                              dilation: Any = 1) -> Grads:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose1d`."""
    return conv_transpose_nd_backward(1, grad_output, input, weight, bias, stride, padding, output_padding,
                                      groups, dilation)


def conv_transpose2d_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                              padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                              dilation: Any = 1) -> Grads:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose2d`."""
    return conv_transpose_nd_backward(2, grad_output, input, weight, bias, stride, padding, output_padding,
                                      groups, dilation)


def conv_transpose3d_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                              padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                              dilation: Any = 1) -> Grads:
    """``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose3d`."""
    return conv_transpose_nd_backward(3, grad_output, input, weight, bias, stride, padding, output_padding,
                                      groups, dilation)
