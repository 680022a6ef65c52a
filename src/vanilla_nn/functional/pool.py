"""Max, average and adaptive average pooling over any number of spatial dims, with hand-derived backward.

Notation (per spatial dim): input ``(N, C, *S)`` (or unbatched ``(C, *S)``), kernel ``K``, stride ``s``
(defaults to ``K``), symmetric padding ``p`` (at most ``K // 2``), dilation ``d``, output ``(N, C, *O)``.
Window ``o`` reads the padded input ``xp`` at ``o*s + k*d`` for every kernel tap ``k``; the padded frame is
extended at the end in ``ceil_mode`` so that the last window always fits.

Max pooling (padding is ``-inf``, never 0, so a padded cell never wins):

    y[n, c, o]  = max_k xp[n, c, o*s + k*d]
    grad_xp[q]  = sum_{o, k : o*s + k*d = q, k = argmax of window o} gy[o]

The argmax follows PyTorch: the first maximum in window (C) order over the cells inside the input, and a NaN
always wins (the last NaN of the window). A window of ``-inf`` picks its first cell inside the input.

Average pooling (padding is 0):

    y[n, c, o]  = sum_k xp[n, c, o*s + k] / D[o]
    grad_xp[q]  = sum_{o, k : o*s + k = q} gy[o] / D[o]

with PyTorch's divisor ``D[o] = prod over dims`` of the window's length clipped to the padded input
``[-p, S + p)`` (``count_include_pad=True``) or to the input ``[0, S)`` (``count_include_pad=False``).

Adaptive average pooling averages window ``o`` over ``[floor(o*S/O), ceil((o+1)*S/O))``. Windows vary in
length, but the average is separable: one ``(O, S)`` averaging matrix per dim, applied along its axis;
the backward applies the transposes.

Everything loops over kernel taps at most, never over batch, channels or positions.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ._args import PoolSpec, _is_int, check_grad_output_shape, check_spatial_input, pool_spec
from .padding import pad_spatial
from .windows import col2im, tap_slices, window_view

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_backward", "max_pool2d_backward",
    "max_pool3d_backward",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "avg_pool1d_backward", "avg_pool2d_backward",
    "avg_pool3d_backward",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d_backward", "adaptive_avg_pool3d_backward",
]


def _batched(a: np.ndarray, batched: bool) -> np.ndarray:
    return a if batched else a[None]


def _unbatched(a: np.ndarray, batched: bool) -> np.ndarray:
    return a if batched else a[0]


def _crop(frame: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """The input's part ``(N, C, *S)`` of a gradient on the padded frame ``(N, C, *frame)``."""
    return frame[(Ellipsis, *(slice(p, p + size) for p, size in zip(spec.padding, spec.in_spatial)))]


def _taps(kernel: tuple[int, ...]):
    return itertools.product(*(range(k) for k in kernel))


# ----------------------------------------------------------------------------------------------------------
# Max pooling
# ----------------------------------------------------------------------------------------------------------

def _first_valid_tap(spec: PoolSpec) -> np.ndarray:
    """``(*O)`` flat index (C order over ``K``) of each window's first tap inside the input.

    Per dim the first tap ``k`` with ``o*s + k*d - p >= 0`` is ``ceil((p - o*s) / d)`` (at least 0); the
    inside cells form a box, so the first one in C order takes the first tap of every dim.
    """
    per_dim = [np.clip(-((np.arange(o) * s - p) // d), 0, k - 1)
               for o, s, p, d, k in zip(spec.out_spatial, spec.stride, spec.padding, spec.dilation, spec.kernel)]
    return np.ravel_multi_index(np.ix_(*per_dim), spec.kernel)


def _max_and_argmax(x: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima ``(N, C, *O)`` and their flat tap index for a batched input, PyTorch's tie rules."""
    xp = np.pad(x, ((0, 0), (0, 0), *spec.pads), constant_values=-np.inf)
    shape = x.shape[:2] + spec.out_spatial
    best = np.full(shape, -np.inf, dtype=x.dtype)
    index = np.array(np.broadcast_to(_first_valid_tap(spec), shape))
    with np.errstate(invalid="ignore"):
        for t, tap in enumerate(_taps(spec.kernel)):
            values = xp[(slice(None), slice(None), *tap_slices(tap, spec.stride, spec.dilation, spec.out_spatial))]
            better = (values > best) | np.isnan(values)
            np.copyto(best, values, where=better)
            index[better] = t
    return best, index


def _max_pool(op: str, ndim: int, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: Any) -> np.ndarray:
    spec, x = pool_spec(op, ndim, input, kernel_size, stride, padding, dilation, ceil_mode)
    y, _ = _max_and_argmax(_batched(x, spec.batched), spec)
    return _unbatched(y, spec.batched)


def _max_pool_backward(op: str, ndim: int, grad_output: Any, input: Any, kernel_size: Any, stride: Any,
                       padding: Any, dilation: Any, ceil_mode: Any) -> tuple[np.ndarray]:
    spec, x = pool_spec(op, ndim, input, kernel_size, stride, padding, dilation, ceil_mode)
    gy = check_grad_output_shape(op, grad_output, spec.output_shape(x.shape))
    x_b = _batched(x, spec.batched)
    gy = _batched(gy, spec.batched).astype(x.dtype, copy=False)
    _, index = _max_and_argmax(x_b, spec)
    grad_frame = np.zeros(x_b.shape[:2] + spec.frame, dtype=x.dtype)
    for t, tap in enumerate(_taps(spec.kernel)):
        window = (slice(None), slice(None), *tap_slices(tap, spec.stride, spec.dilation, spec.out_spatial))
        grad_frame[window] += np.where(index == t, gy, 0)
    return (_unbatched(_crop(grad_frame, spec), spec.batched),)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """1-d max pooling: ``(N, C, L)`` -> ``(N, C, L_out)``; arguments as :func:`max_pool2d`."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """2-d max pooling, PyTorch's ``torch.nn.functional.max_pool2d`` in NumPy.

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, float32 or float64.
        kernel_size: int or one int per spatial dim.
        stride: int, one per dim, or None for ``kernel_size``.
        padding: int or one per dim, at most ``kernel_size // 2``; padded cells are ``-inf``.
        dilation: spacing between kernel taps, >= 1.
        ceil_mode: round the output size up; the last window must still start inside the input or the left
            padding.

    Returns:
        ``(N, C, OH, OW)`` in the input's dtype, ``OH = floor_or_ceil((H + 2p - d*(KH - 1) - 1) / s) + 1``.
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """3-d max pooling: ``(N, C, D, H, W)`` -> ``(N, C, *O)``; arguments as :func:`max_pool2d`."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """``(grad_input,)`` of :func:`max_pool1d`; see :func:`max_pool2d_backward`."""
    return _max_pool_backward("max_pool1d", 1, grad_output, input, kernel_size, stride, padding, dilation,
                              ceil_mode)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """``(grad_input,)`` of :func:`max_pool2d`: each ``grad_output`` entry goes to its window's argmax.

    The argmax is recomputed from ``input`` with PyTorch's rule (first maximum in window order; NaN wins).
    Overlapping windows that share an argmax add their gradients there.
    """
    return _max_pool_backward("max_pool2d", 2, grad_output, input, kernel_size, stride, padding, dilation,
                              ceil_mode)


def max_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """``(grad_input,)`` of :func:`max_pool3d`; see :func:`max_pool2d_backward`."""
    return _max_pool_backward("max_pool3d", 3, grad_output, input, kernel_size, stride, padding, dilation,
                              ceil_mode)


# ----------------------------------------------------------------------------------------------------------
# Average pooling
# ----------------------------------------------------------------------------------------------------------

def _avg_divisor(spec: PoolSpec, count_include_pad: bool, dtype: np.dtype) -> np.ndarray:
    """PyTorch's divisor ``(*O)``: the product over dims of each window's clipped length."""
    lengths = []
    for size, k, s, p, o in zip(spec.in_spatial, spec.kernel, spec.stride, spec.padding, spec.out_spatial):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)  # a ceil_mode window is clipped at the padded end
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        lengths.append(end - start)
    divisor = np.ones((), dtype=np.int64)
    for length in lengths:
        divisor = np.multiply.outer(divisor, length)
    return divisor.astype(dtype)


def _avg_spec(op: str, ndim: int, input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: Any,
              count_include_pad: Any) -> tuple[PoolSpec, np.ndarray, bool]:
    spec, x = pool_spec(op, ndim, input, kernel_size, stride, padding, 1, ceil_mode)
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"{op}: count_include_pad={count_include_pad!r} must be True or False")
    return spec, x, bool(count_include_pad)


def _avg_pool(op: str, ndim: int, input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: Any,
              count_include_pad: Any) -> np.ndarray:
    spec, x, include_pad = _avg_spec(op, ndim, input, kernel_size, stride, padding, ceil_mode,
                                     count_include_pad)
    xp = pad_spatial(_batched(x, spec.batched), spec.pads)
    windows = window_view(xp, spec.kernel, spec.stride, spec.dilation, spec.out_spatial)
    sums = windows.sum(axis=tuple(range(-ndim, 0)))
    return _unbatched(sums / _avg_divisor(spec, include_pad, x.dtype), spec.batched)


def _avg_pool_backward(op: str, ndim: int, grad_output: Any, input: Any, kernel_size: Any, stride: Any,
                       padding: Any, ceil_mode: Any, count_include_pad: Any) -> tuple[np.ndarray]:
    spec, x, include_pad = _avg_spec(op, ndim, input, kernel_size, stride, padding, ceil_mode,
                                     count_include_pad)
    gy = check_grad_output_shape(op, grad_output, spec.output_shape(x.shape))
    gy = _batched(gy, spec.batched).astype(x.dtype, copy=False)
    share = np.moveaxis(gy / _avg_divisor(spec, include_pad, x.dtype), 1, -1)  # (N, *O, C)
    cols = np.broadcast_to(share[(Ellipsis, *([None] * ndim))], share.shape + spec.kernel)  # (N, *O, C, *K)
    grad_frame = col2im(cols, spec.frame, spec.stride, spec.dilation)
    return (_unbatched(_crop(grad_frame, spec), spec.batched),)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-d average pooling: ``(N, C, L)`` -> ``(N, C, L_out)``; arguments as :func:`avg_pool2d`."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """2-d average pooling, PyTorch's ``torch.nn.functional.avg_pool2d`` in NumPy (no ``divisor_override``).

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, float32 or float64.
        kernel_size, stride, padding, ceil_mode: as :func:`max_pool2d` (padded cells are 0).
        count_include_pad: divide by the window's size including the zero padding (but never beyond the
            padded end in ``ceil_mode``); False divides by the number of input cells in the window.

    Returns:
        ``(N, C, OH, OW)`` in the input's dtype.
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """3-d average pooling: ``(N, C, D, H, W)`` -> ``(N, C, *O)``; arguments as :func:`avg_pool2d`."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """``(grad_input,)`` of :func:`avg_pool1d`; see :func:`avg_pool2d_backward`."""
    return _avg_pool_backward("avg_pool1d", 1, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad)


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """``(grad_input,)`` of :func:`avg_pool2d`: each window spreads ``gy[o] / D[o]`` over its cells (col2im)."""
    return _avg_pool_backward("avg_pool2d", 2, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad)


def avg_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """``(grad_input,)`` of :func:`avg_pool3d`; see :func:`avg_pool2d_backward`."""
    return _avg_pool_backward("avg_pool3d", 3, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad)


# ----------------------------------------------------------------------------------------------------------
# Adaptive average pooling
# ----------------------------------------------------------------------------------------------------------

def _adaptive_output_size(op: str, output_size: Any, spatial: tuple[int, ...]) -> tuple[int, ...]:
    """``output_size`` as one int per dim; an int is repeated, a None entry keeps the input's size."""
    ndim = len(spatial)
    if _is_int(output_size):
        sizes = (int(output_size),) * ndim
    elif isinstance(output_size, (tuple, list)) and all(v is None or _is_int(v) for v in output_size):
        if len(output_size) != ndim:
            raise ValueError(f"{op}: output_size={output_size!r} must have {ndim} entries, one per spatial "
                             f"dimension, not {len(output_size)}")
        sizes = tuple(size if v is None else int(v) for v, size in zip(output_size, spatial))
    else:
        raise TypeError(f"{op}: output_size={output_size!r} must be an int or a tuple of {ndim} ints (or None)")
    if any(v < 1 for v in sizes):
        raise ValueError(f"{op}: output_size={output_size!r} must be >= 1 in every dim")
    return sizes


def _averaging_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """``A (O, S)`` with ``A[o, i] = 1 / len`` on window ``o = [floor(o*S/O), ceil((o+1)*S/O))``, else 0."""
    o = np.arange(out)
    start = (o * size) // out
    end = -((-(o + 1) * size) // out)
    cells = np.arange(size)
    inside = (cells >= start[:, None]) & (cells < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _along_axes(a: np.ndarray, matrices: list[np.ndarray], transpose: bool) -> np.ndarray:
    """Apply ``matrices[i]`` (or its transpose) along the ``i``-th of the trailing ``len(matrices)`` axes."""
    first = a.ndim - len(matrices)
    for i, matrix in enumerate(matrices):
        moved = np.moveaxis(a, first + i, -1)
        a = np.moveaxis(moved @ (matrix if transpose else matrix.T), -1, first + i)
    return a


def _adaptive_setup(op: str, ndim: int, input: Any, output_size: Any):
    x, _ = check_spatial_input(op, input, ndim)
    spatial = tuple(x.shape[-ndim:])
    out = _adaptive_output_size(op, output_size, spatial)
    matrices = [_averaging_matrix(size, o, x.dtype) for size, o in zip(spatial, out)]
    return x, out, matrices


def _adaptive_avg_pool(op: str, ndim: int, input: Any, output_size: Any) -> np.ndarray:
    x, _, matrices = _adaptive_setup(op, ndim, input, output_size)
    return _along_axes(x, matrices, transpose=False)


def _adaptive_avg_pool_backward(op: str, ndim: int, grad_output: Any, input: Any,
                                output_size: Any) -> tuple[np.ndarray]:
    x, out, matrices = _adaptive_setup(op, ndim, input, output_size)
    gy = check_grad_output_shape(op, grad_output, x.shape[:-ndim] + out)
    return (_along_axes(gy.astype(x.dtype, copy=False), matrices, transpose=True),)


def adaptive_avg_pool1d(input, output_size):
    """Adaptive average pooling ``(N, C, L)`` -> ``(N, C, output_size)``; see :func:`adaptive_avg_pool2d`."""
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling, PyTorch's ``torch.nn.functional.adaptive_avg_pool2d`` in NumPy.

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, float32 or float64.
        output_size: int or ``(OH, OW)``; a None entry keeps that input size.

    Returns:
        ``(N, C, OH, OW)``; cell ``(i, j)`` averages rows ``[floor(i*H/OH), ceil((i+1)*H/OH))`` and the
        columns likewise.
    """
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """Adaptive average pooling ``(N, C, D, H, W)`` -> ``(N, C, *output_size)``."""
    return _adaptive_avg_pool("adaptive_avg_pool3d", 3, input, output_size)


def adaptive_avg_pool1d_backward(grad_output, input, output_size):
    """``(grad_input,)`` of :func:`adaptive_avg_pool1d`."""
    return _adaptive_avg_pool_backward("adaptive_avg_pool1d", 1, grad_output, input, output_size)


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    """``(grad_input,)`` of :func:`adaptive_avg_pool2d`: the averaging matrices' transposes, per axis."""
    return _adaptive_avg_pool_backward("adaptive_avg_pool2d", 2, grad_output, input, output_size)


def adaptive_avg_pool3d_backward(grad_output, input, output_size):
    """``(grad_input,)`` of :func:`adaptive_avg_pool3d`."""
    return _adaptive_avg_pool_backward("adaptive_avg_pool3d", 3, grad_output, input, output_size)
