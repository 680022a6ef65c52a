"""Max, average, adaptive average/max pooling and max unpooling over any number of spatial dims, with
hand-derived backward.

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

Max pooling's ``return_indices`` are PyTorch's: the flat position (C order over ``S``) of each window's
argmax in the input, per ``(n, c)``, int64. :func:`max_pool_forward_saving` keeps the argmax in a frozen
:class:`MaxPoolSaved`, and :func:`max_pool_backward_saved` scatters to it without searching again (the
layers' explicit path; the same scatter as ``max_pool{n}d_backward``, so equal to it exactly).

Adaptive max pooling takes the max over the adaptive windows above, PyTorch's tie rule (first maximum in C
order over the window, the last NaN wins); the max of a box is the max over each dim in turn, so each dim is
reduced separately, carrying the winning positions. Its backward adds each ``gy`` at its argmax.

Max unpooling is the scatter ``y[n, c].flat[indices[n, c, i]] = x[n, c, i]`` into zeros of PyTorch's output
size ``(S - 1)*s + K - 2p`` (or ``output_size``, within ``s`` of it); its backward is the gather
``grad_x[n, c, i] = gy[n, c].flat[indices[n, c, i]]``.

Ops with a second output (``return_indices=True``) return ``(output, indices)``: only the first output is
differentiable; ``*_backward`` takes the gradient of the output.

Everything loops over kernel taps (or adaptive window lengths) at most, never over batch, channels or
positions.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._args import (
    PoolSpec,
    _is_int,
    check_bool,
    check_grad_output_shape,
    check_max,
    check_spatial_input,
    ntuple,
    pool_spec,
)
from .padding import pad_spatial
from .windows import col2im, tap_slices, window_view

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_backward", "max_pool2d_backward",
    "max_pool3d_backward",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "avg_pool1d_backward", "avg_pool2d_backward",
    "avg_pool3d_backward",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d_backward", "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_max_pool1d_backward",
    "adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward",
    "max_unpool1d", "max_unpool2d", "max_unpool3d", "max_unpool1d_backward", "max_unpool2d_backward",
    "max_unpool3d_backward",
    "MaxPoolSaved", "max_pool_forward_saving", "max_pool_backward_saved",
    "AdaptiveMaxPoolSaved", "adaptive_max_pool_forward_saving", "adaptive_max_pool_backward_saved",
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


def _channels_last_windows(x: np.ndarray, spec: PoolSpec) -> list[np.ndarray]:
    """The input copied once into a ``-inf`` frame ``(N, *frame, C)``, and each tap's strided view ``(N, *O, C)``
    of it, in tap order (C order over the kernel)."""
    frame = np.full((x.shape[0], *spec.frame, x.shape[1]), -np.inf, dtype=x.dtype)
    inside = tuple(slice(p, p + size) for p, size in zip(spec.padding, spec.in_spatial))
    frame[(slice(None), *inside, slice(None))] = np.moveaxis(x, 1, -1)
    return [frame[(slice(None), *tap_slices(tap, spec.stride, spec.dilation, spec.out_spatial), slice(None))]
            for tap in _taps(spec.kernel)]


def _window_maxima(windows: list[np.ndarray]) -> np.ndarray:
    """The elementwise maximum of the tap views, one ``np.maximum`` per tap (a NaN propagates)."""
    best = windows[0].copy()
    for values in windows[1:]:
        np.maximum(best, values, out=best)
    return best


def _max_and_argmax(x: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima ``(N, C, *O)`` and their flat tap index for a batched input, PyTorch's tie rules: the first
    maximum in tap order over the cells inside the input, and a NaN wins (the last NaN, as PyTorch's
    ``val > max || isnan(val)`` scan keeps it).

    Channels-last, as :func:`_max_only`: one copy into a ``-inf`` frame ``(N, *frame, C)``, the maxima by one
    ``np.maximum`` per tap, then the index by one comparison ``values == best`` per tap taken in reverse order (so
    the first equal tap is written last); windows whose maximum is ``-inf`` keep their first inside tap (the
    padding reads ``-inf`` too). An input with a NaN takes the scan ``values > best or isnan(values)`` instead.
    The index is the smallest unsigned type that holds the kernel's size; both results are ``(N, C, *O)`` views
    of channels-last memory. ResNet-18's max pool (8 x 64 x 112 x 112, 1 thread, CPU time): 149 ms here against 487 ms
    with the channels-first scan it replaced (which kept an int64 index).
    """
    n, c = x.shape[:2]
    windows = _channels_last_windows(x, spec)
    shape = (n, *spec.out_spatial, c)
    first_inside = _first_valid_tap(spec)[..., None]
    index = np.empty(shape, dtype=np.min_scalar_type(len(windows)))
    chosen = np.empty(shape, dtype=bool)
    if np.isnan(x).any():
        best = np.full(shape, -np.inf, dtype=x.dtype)
        index[...] = first_inside
        for t, values in enumerate(windows):
            np.greater(values, best, out=chosen)
            chosen |= np.isnan(values)
            np.copyto(best, values, where=chosen)
            np.copyto(index, t, where=chosen, casting="unsafe")
    else:
        best = _window_maxima(windows)
        for t in range(len(windows) - 1, -1, -1):
            np.equal(windows[t], best, out=chosen)
            np.copyto(index, t, where=chosen, casting="unsafe")
        np.equal(best, -np.inf, out=chosen)
        np.copyto(index, np.broadcast_to(first_inside, shape), where=chosen, casting="unsafe")
    return np.moveaxis(best, -1, 1), np.moveaxis(index, -1, 1)


def _max_only(x: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """Window maxima ``(N, C, *O)`` of a batched input without the argmax (inference: nothing to route back).

    Channels-last throughout: the input is copied once into a ``-inf`` frame ``(N, *frame, C)`` and each tap
    is one ``np.maximum`` into the result over contiguous channel runs; the result is returned as an
    ``(N, C, *O)`` view of channels-last memory, the layout the convolutions read and write. A NaN wins its
    window (``np.maximum`` propagates it), as in :func:`_max_and_argmax` and PyTorch; on ties the first tap's
    value is kept. ResNet-18's max pool (8 x 64 x 112 x 112): 44 ms here against 442 ms with the argmax.
    """
    windows = _channels_last_windows(x, spec)
    return np.moveaxis(_window_maxima(windows), -1, 1)


@dataclass(frozen=True)
class MaxPoolSaved:
    """What a max pooling's backward needs, kept by its forward: the spec and each window's argmax.

    ``argmax`` is ``(N, C, *O)`` (batched even for an unbatched input), the flat index (C order over the
    kernel) of the winning tap of each window, in the smallest unsigned type that holds the kernel's size;
    ``dtype`` is the input's.
    """

    op: str
    spec: PoolSpec
    argmax: np.ndarray
    dtype: np.dtype

    def input_indices(self) -> np.ndarray:
        """PyTorch's ``return_indices``: the flat input position (C order over ``S``) of each maximum, int64."""
        return _unbatched(_tap_to_input_index(self.argmax, self.spec), self.spec.batched)


def _tap_to_input_index(index: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """Flat input index (C order over ``S``) of each window's winning tap: PyTorch's ``return_indices``.

    Per dim the tap ``k`` of window ``o`` reads input cell ``o*s + k*d - p``.
    """
    taps = np.unravel_index(index, spec.kernel)
    flat = np.zeros(index.shape, dtype=np.int64)
    for axis, (k, s, d, p, size) in enumerate(zip(taps, spec.stride, spec.dilation, spec.padding,
                                                     spec.in_spatial)):
        shape = [1] * index.ndim
        shape[2 + axis] = spec.out_spatial[axis]
        position = np.arange(spec.out_spatial[axis]).reshape(shape) * s + k * d - p
        flat = flat * size + position
    return flat


def _scatter_taps(gy: np.ndarray, index: np.ndarray, spec: PoolSpec, dtype: np.dtype) -> np.ndarray:
    """``grad_input (N, C, *S)``: each ``gy`` entry added at its window's winning tap."""
    grad_frame = np.zeros(gy.shape[:2] + spec.frame, dtype=dtype)
    for t, tap in enumerate(_taps(spec.kernel)):
        window = (slice(None), slice(None), *tap_slices(tap, spec.stride, spec.dilation, spec.out_spatial))
        grad_frame[window] += np.where(index == t, gy, 0)
    return _crop(grad_frame, spec)


def _max_pool_rank(kernel_size: Any, input: Any, ndim: int | None) -> int:
    if ndim is not None:
        return ndim
    if isinstance(kernel_size, (tuple, list)):
        return len(kernel_size)
    return max(np.ndim(input) - 2, 1)


def max_pool_forward_saving(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                            ceil_mode: bool = False, *, ndim: int | None = None) -> tuple[np.ndarray, MaxPoolSaved]:
    """:func:`max_pool2d` (or its 1-d/3-d kin), also returning the argmax for :func:`max_pool_backward_saved`.

    The rank is ``ndim``, else the length of a tuple ``kernel_size``, else ``input.ndim - 2`` (batched).
    The backward then scatters ``grad_output`` to the kept argmax instead of searching the windows again.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> from vanilla_nn.functional.pool import max_pool_backward_saved, max_pool_forward_saving
        >>> y, saved = max_pool_forward_saving(np.array([[[1.0, 3.0, 2.0]]]), 2, stride=1)
        >>> y, max_pool_backward_saved(np.ones((1, 1, 2)), saved)
        (array([[[3., 3.]]]), (array([[[0., 2., 0.]]]),))
    """
    n = _max_pool_rank(kernel_size, input, ndim)
    op = f"max_pool{n}d"
    spec, x = pool_spec(op, n, input, kernel_size, stride, padding, dilation, ceil_mode)
    y, index = _max_and_argmax(_batched(x, spec.batched), spec)
    return _unbatched(y, spec.batched), MaxPoolSaved(op, spec, index, x.dtype)


def max_pool_backward_saved(grad_output: Any, saved: MaxPoolSaved) -> tuple[np.ndarray]:
    """``(grad_input,)`` from the state of :func:`max_pool_forward_saving`; equal to ``max_pool{n}d_backward``."""
    spec = saved.spec
    batch_shape = saved.argmax.shape[:2] if spec.batched else saved.argmax.shape[1:2]
    gy = check_grad_output_shape(saved.op, grad_output, batch_shape + spec.out_spatial)
    gy = _batched(gy, spec.batched).astype(saved.dtype, copy=False)
    return (_unbatched(_scatter_taps(gy, saved.argmax, spec, saved.dtype), spec.batched),)


def _max_pool(op: str, ndim: int, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: Any, return_indices: Any) -> Any:
    with_indices = check_bool(return_indices, "return_indices")
    spec, x = pool_spec(op, ndim, input, kernel_size, stride, padding, dilation, ceil_mode)
    if not with_indices:
        return _unbatched(_max_only(_batched(x, spec.batched), spec), spec.batched)
    y, index = _max_and_argmax(_batched(x, spec.batched), spec)
    return _unbatched(y, spec.batched), _unbatched(_tap_to_input_index(index, spec), spec.batched)


def _max_pool_backward(op: str, ndim: int, grad_output: Any, input: Any, kernel_size: Any, stride: Any,
                       padding: Any, dilation: Any, ceil_mode: Any, return_indices: Any) -> tuple[np.ndarray]:
    check_bool(return_indices, "return_indices")
    spec, x = pool_spec(op, ndim, input, kernel_size, stride, padding, dilation, ceil_mode)
    gy = check_grad_output_shape(op, grad_output, spec.output_shape(x.shape))
    x_b = _batched(x, spec.batched)
    gy = _batched(gy, spec.batched).astype(x.dtype, copy=False)
    _, index = _max_and_argmax(x_b, spec)
    return (_unbatched(_scatter_taps(gy, index, spec, x.dtype), spec.batched),)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-d max pooling: ``(N, C, L)`` -> ``(N, C, L_out)``; arguments as :func:`max_pool2d`.

    Raises:
        TypeError, ValueError: as :func:`max_pool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[[1.0, 3.0, 2.0, 5.0, 4.0]]])
        >>> F.max_pool1d(x, 2), F.max_pool1d(x, 2, ceil_mode=True)   # ceil_mode keeps the last, partial window
        (array([[[3., 5.]]]), array([[[3., 5., 4.]]]))
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-d max pooling, PyTorch's ``torch.nn.functional.max_pool2d`` in NumPy.

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, float32 or float64.
        kernel_size: int or one int per spatial dim.
        stride: int, one per dim, or None for ``kernel_size``.
        padding: int or one per dim, at most ``kernel_size // 2``; padded cells are ``-inf``.
        dilation: spacing between kernel taps, >= 1.
        ceil_mode: round the output size up; the last window must still start inside the input or the left
            padding.
        return_indices: also return each maximum's position, PyTorch's indices: the flat index into the
            input's spatial dims (``h * W + w``) per ``(n, c)``, int64, the shape of the output (the input of
            :func:`max_unpool2d`). Only the first output is differentiable.

    Returns:
        ``(N, C, OH, OW)`` in the input's dtype, ``OH = floor_or_ceil((H + 2p - d*(KH - 1) - 1) / s) + 1``;
        ``(output, indices)`` with ``return_indices``.

    Raises:
        TypeError: ``input`` is not a float32/float64 array, an option is not an int (tuple), or
            ``ceil_mode``/``return_indices`` is not a bool.
        ValueError: ``input`` is not ``(N, C, *S)`` or ``(C, *S)`` for this rank, a kernel size, stride or
            dilation below 1, ``padding`` negative or above ``kernel_size // 2``, or an empty output; the
            message names the argument and the shapes.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> F.max_pool2d(x, 2)[0, 0]
        array([[ 5.,  7.],
               [13., 15.]])
        >>> F.max_pool2d(x, 2, return_indices=True)[1][0, 0]   # flat positions h * 4 + w of the maxima
        array([[ 5,  7],
               [13, 15]])
        >>> F.max_pool2d(-np.ones((1, 1, 2, 2)), 2, padding=1)[0, 0]  # -inf padding: a pad never wins
        array([[-1., -1.],
               [-1., -1.]])
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-d max pooling: ``(N, C, D, H, W)`` -> ``(N, C, *O)``; arguments as :func:`max_pool2d`.

    Raises:
        TypeError, ValueError: as :func:`max_pool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.max_pool3d(np.ones((2, 3, 4, 6, 8)), kernel_size=(2, 3, 4)).shape
        (2, 3, 2, 2, 2)
    """
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        return_indices=False):
    """``(grad_input,)`` of :func:`max_pool1d`; see :func:`max_pool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`max_pool2d_backward` (example there).
    """
    return _max_pool_backward("max_pool1d", 1, grad_output, input, kernel_size, stride, padding, dilation,
                              ceil_mode, return_indices)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        return_indices=False):
    """``(grad_input,)`` of :func:`max_pool2d`: each ``grad_output`` entry goes to its window's argmax.

    The argmax is recomputed from ``input`` with PyTorch's rule (first maximum in window order; NaN wins);
    :func:`vanilla_nn.functional.pool.max_pool_forward_saving` keeps it instead. Overlapping windows that
    share an argmax add their gradients there. ``return_indices`` is accepted (the forward's arguments) and
    changes nothing: ``grad_output`` is the gradient of the pooled values; the indices have none.
    :func:`max_pool1d_backward` and :func:`max_pool3d_backward` work the same way.

    Raises:
        TypeError, ValueError: as :func:`max_pool2d`, and when ``grad_output`` is not a float array of the
            output's shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> F.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2)[0][0, 0]   # 1 at each window's maximum
        array([[0., 0., 0., 0.],
               [0., 1., 0., 1.],
               [0., 0., 0., 0.],
               [0., 1., 0., 1.]])
        >>> x = np.array([[[1.0, 3.0, 2.0]]])           # both stride-1 windows pick the 3
        >>> F.max_pool1d_backward(np.ones((1, 1, 2)), x, kernel_size=2, stride=1)
        (array([[[0., 2., 0.]]]),)
    """
    return _max_pool_backward("max_pool2d", 2, grad_output, input, kernel_size, stride, padding, dilation,
                              ceil_mode, return_indices)


def max_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        return_indices=False):
    """``(grad_input,)`` of :func:`max_pool3d`; see :func:`max_pool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`max_pool2d_backward` (example there).
    """
    return _max_pool_backward("max_pool3d", 3, grad_output, input, kernel_size, stride, padding, dilation,
                              ceil_mode, return_indices)


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
              count_include_pad: Any, divisor_override: Any) -> tuple[PoolSpec, np.ndarray, np.ndarray]:
    """Spec, input and the divisor ``D`` (``(*O)``, or a scalar with ``divisor_override``) in the input's dtype."""
    spec, x = pool_spec(op, ndim, input, kernel_size, stride, padding, 1, ceil_mode)
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"{op}: count_include_pad={count_include_pad!r} must be True or False")
    if divisor_override is None:
        return spec, x, _avg_divisor(spec, bool(count_include_pad), x.dtype)
    if not _is_int(divisor_override):
        raise TypeError(f"{op}: divisor_override={divisor_override!r} must be an int or None")
    if divisor_override == 0:
        raise ValueError(f"{op}: divisor_override={divisor_override!r} must not be 0")
    return spec, x, np.asarray(divisor_override, dtype=x.dtype)


def _avg_pool(op: str, ndim: int, input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: Any,
              count_include_pad: Any, divisor_override: Any = None) -> np.ndarray:
    spec, x, divisor = _avg_spec(op, ndim, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                 divisor_override)
    xp = pad_spatial(_batched(x, spec.batched), spec.pads)
    windows = window_view(xp, spec.kernel, spec.stride, spec.dilation, spec.out_spatial)
    sums = windows.sum(axis=tuple(range(-ndim, 0)))
    return _unbatched(sums / divisor, spec.batched)


def _avg_pool_backward(op: str, ndim: int, grad_output: Any, input: Any, kernel_size: Any, stride: Any,
                       padding: Any, ceil_mode: Any, count_include_pad: Any,
                       divisor_override: Any = None) -> tuple[np.ndarray]:
    spec, x, divisor = _avg_spec(op, ndim, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                 divisor_override)
    gy = check_grad_output_shape(op, grad_output, spec.output_shape(x.shape))
    gy = _batched(gy, spec.batched).astype(x.dtype, copy=False)
    share = np.moveaxis(gy / divisor, 1, -1)  # (N, *O, C)
    cols = np.broadcast_to(share[(Ellipsis, *([None] * ndim))], share.shape + spec.kernel)  # (N, *O, C, *K)
    grad_frame = col2im(cols, spec.frame, spec.stride, spec.dilation)
    return (_unbatched(_crop(grad_frame, spec), spec.batched),)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-d average pooling: ``(N, C, L)`` -> ``(N, C, L_out)``; arguments as :func:`avg_pool2d`.

    Raises:
        TypeError, ValueError: as :func:`avg_pool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.avg_pool1d(np.array([[[1.0, 3.0, 2.0, 6.0]]]), kernel_size=2)
        array([[[2., 4.]]])
    """
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-d average pooling, PyTorch's ``torch.nn.functional.avg_pool2d`` in NumPy.

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, float32 or float64.
        kernel_size, stride, padding, ceil_mode: as :func:`max_pool2d` (padded cells are 0).
        count_include_pad: divide by the window's size including the zero padding (but never beyond the
            padded end in ``ceil_mode``); False divides by the number of input cells in the window.
        divisor_override: a nonzero int dividing every window's sum instead (None: the rule above).
            :func:`avg_pool1d` has none, as in PyTorch.

    Returns:
        ``(N, C, OH, OW)`` in the input's dtype.

    Raises:
        TypeError: ``input`` is not a float32/float64 array, an option is not an int (tuple),
            ``ceil_mode``/``count_include_pad`` is not a bool, or ``divisor_override`` is not an int.
        ValueError: ``input`` is not ``(N, C, *S)`` or ``(C, *S)`` for this rank, a kernel size or stride
            below 1, ``padding`` negative or above ``kernel_size // 2``, an empty output, or
            ``divisor_override=0``; the message names the argument and the shapes.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]])
        >>> x = np.ones((1, 1, 3))                     # windows [pad, x0] and [x1, x2]
        >>> F.avg_pool1d(x, 2, padding=1), F.avg_pool1d(x, 2, padding=1, count_include_pad=False)
        (array([[[0.5, 1. ]]]), array([[[1., 1.]]]))
        >>> F.avg_pool2d(np.ones((1, 1, 2, 2)), 2, divisor_override=2)[0, 0]   # the sum 4 over 2
        array([[2.]])
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3-d average pooling: ``(N, C, D, H, W)`` -> ``(N, C, *O)``; arguments as :func:`avg_pool2d`.

    Raises:
        TypeError, ValueError: as :func:`avg_pool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> y = F.avg_pool3d(np.ones((1, 2, 4, 4, 4)), 2, stride=1)
        >>> y.shape, float(y.max())
        ((1, 2, 3, 3, 3), 1.0)
    """
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """``(grad_input,)`` of :func:`avg_pool1d`; see :func:`avg_pool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`avg_pool2d_backward` (example there).
    """
    return _avg_pool_backward("avg_pool1d", 1, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad)


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """``(grad_input,)`` of :func:`avg_pool2d`: each window spreads ``gy[o] / D[o]`` over its cells (col2im).

    ``D[o]`` is the forward's divisor (see the module notes); :func:`avg_pool1d_backward` and
    :func:`avg_pool3d_backward` work the same way.

    Raises:
        TypeError, ValueError: as :func:`avg_pool2d`, and when ``grad_output`` is not a float array of the
            output's shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.avg_pool2d_backward(np.ones((1, 1, 1, 1)), np.zeros((1, 1, 2, 2)), 2)[0][0, 0]
        array([[0.25, 0.25],
               [0.25, 0.25]])
        >>> x = np.zeros((1, 1, 3))                    # windows [pad, x0] and [x1, x2], both divided by 2
        >>> F.avg_pool1d_backward(np.ones((1, 1, 2)), x, 2, padding=1)
        (array([[[0.5, 0.5, 0.5]]]),)
    """
    return _avg_pool_backward("avg_pool2d", 2, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, divisor_override)


def avg_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """``(grad_input,)`` of :func:`avg_pool3d`; see :func:`avg_pool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`avg_pool2d_backward` (example there).
    """
    return _avg_pool_backward("avg_pool3d", 3, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, divisor_override)


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
    if any(v < 0 for v in sizes):
        raise ValueError(f"{op}: output_size={output_size!r} must be >= 0 in every dim")
    check_max(output_size, f"{op}: output_size", sizes)
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
    """Adaptive average pooling ``(N, C, L)`` -> ``(N, C, output_size)``; see :func:`adaptive_avg_pool2d`.

    Raises:
        TypeError, ValueError: as :func:`adaptive_avg_pool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.adaptive_avg_pool1d(np.arange(5.0).reshape(1, 1, 5), 3)   # windows [0, 2), [1, 4), [3, 5)
        array([[[0.5, 2. , 3.5]]])
    """
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling, PyTorch's ``torch.nn.functional.adaptive_avg_pool2d`` in NumPy.

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, float32 or float64.
        output_size: int or ``(OH, OW)``; a None entry keeps that input size.

    Returns:
        ``(N, C, OH, OW)``; cell ``(i, j)`` averages rows ``[floor(i*H/OH), ceil((i+1)*H/OH))`` and the
        columns likewise.

    Raises:
        TypeError: ``input`` is not a float32/float64 array, or ``output_size`` is not an int or a tuple of
            ints (or None).
        ValueError: ``input`` is not ``(N, C, H, W)`` or ``(C, H, W)``, or ``output_size`` has the wrong
            length or an entry below 1.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> F.adaptive_avg_pool2d(x, 2)[0, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]])
        >>> F.adaptive_avg_pool2d(x, (1, None)).shape  # None keeps that size
        (1, 1, 1, 4)
    """
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """Adaptive average pooling ``(N, C, D, H, W)`` -> ``(N, C, *output_size)``; see :func:`adaptive_avg_pool2d`.

    Raises:
        TypeError, ValueError: as :func:`adaptive_avg_pool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.adaptive_avg_pool3d(np.ones((2, 3, 5, 6, 7)), (1, 2, 3)).shape
        (2, 3, 1, 2, 3)
    """
    return _adaptive_avg_pool("adaptive_avg_pool3d", 3, input, output_size)


def adaptive_avg_pool1d_backward(grad_output, input, output_size):
    """``(grad_input,)`` of :func:`adaptive_avg_pool1d`; see :func:`adaptive_avg_pool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`adaptive_avg_pool2d_backward` (example there).
    """
    return _adaptive_avg_pool_backward("adaptive_avg_pool1d", 1, grad_output, input, output_size)


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    """``(grad_input,)`` of :func:`adaptive_avg_pool2d`: the averaging matrices' transposes, per axis.

    Each window spreads its gradient evenly over its cells; cells in two overlapping windows get both
    shares. :func:`adaptive_avg_pool1d_backward` and :func:`adaptive_avg_pool3d_backward` work the same way.

    Raises:
        TypeError, ValueError: as :func:`adaptive_avg_pool2d`, and when ``grad_output`` is not a float array
            of the output's shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.zeros((1, 1, 5))                    # windows [0, 2), [1, 4), [3, 5): lengths 2, 3, 2
        >>> F.adaptive_avg_pool1d_backward(np.array([[[2.0, 3.0, 2.0]]]), x, 3)
        (array([[[1., 2., 1., 2., 1.]]]),)
    """
    return _adaptive_avg_pool_backward("adaptive_avg_pool2d", 2, grad_output, input, output_size)


def adaptive_avg_pool3d_backward(grad_output, input, output_size):
    """``(grad_input,)`` of :func:`adaptive_avg_pool3d`; see :func:`adaptive_avg_pool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`adaptive_avg_pool2d_backward` (example there).
    """
    return _adaptive_avg_pool_backward("adaptive_avg_pool3d", 3, grad_output, input, output_size)



# ----------------------------------------------------------------------------------------------------------
# Adaptive max pooling
# ----------------------------------------------------------------------------------------------------------

def _window_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive window ``o``: ``[floor(o*S/O), ceil((o+1)*S/O))`` as ``(start, end)`` arrays of length ``O``."""
    o = np.arange(out)
    return (o * size) // out, -((-(o + 1) * size) // out)


def _adaptive_max_and_argmax(x: np.ndarray, out: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima ``(N, C, *O)`` and their flat input index (C order over ``S``), PyTorch's tie rules.

    The max of a box is the max over each dim in turn; reducing the last dim first and taking the first
    maximum (or the last NaN) of each line gives the first maximum (last NaN) of the box in C order.
    """
    ndim = len(out)
    spatial = x.shape[2:]
    values, positions = x, []  # positions: the input cell of each dim already reduced, shaped like values
    for axis in reversed(range(ndim)):
        ax = 2 + axis
        start, end = _window_bounds(spatial[axis], out[axis])
        shape = [1] * x.ndim
        shape[ax] = out[axis]
        best = chosen = None
        carried: list[np.ndarray] = []
        with np.errstate(invalid="ignore"):
            for t in range(int((end - start).max(initial=1))):
                cell = np.minimum(start + t, spatial[axis] - 1)
                candidate = np.take(values, cell, axis=ax)
                if best is None:
                    best = candidate
                    chosen = np.broadcast_to(cell.reshape(shape), candidate.shape).copy()
                    carried = [np.take(p, cell, axis=ax) for p in positions]
                    continue
                better = ((candidate > best) | np.isnan(candidate)) & (start + t < end).reshape(shape)
                np.copyto(best, candidate, where=better)
                np.copyto(chosen, cell.reshape(shape), where=better)
                for kept, p in zip(carried, positions):
                    np.copyto(kept, np.take(p, cell, axis=ax), where=better)
        values, positions = best, [chosen, *carried]
    flat = np.zeros(values.shape, dtype=np.int64)
    for size, p in zip(spatial, positions):
        flat = flat * size + p
    return values, flat


def _scatter_flat(values: np.ndarray, index: np.ndarray, spatial: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``(N, C, *spatial)`` zeros with ``values[n, c, ...]`` added at flat position ``index[n, c, ...]``."""
    rows = values.shape[0] * values.shape[1]
    plane = math.prod(spatial)
    keys = (np.arange(rows)[:, None] * plane + index.reshape(rows, math.prod(index.shape[2:]))).ravel()
    sums = np.bincount(keys, weights=values.reshape(-1).astype(np.float64), minlength=rows * plane)
    return sums.astype(dtype).reshape(values.shape[:2] + tuple(spatial))


@dataclass(frozen=True)
class AdaptiveMaxPoolSaved:
    """What an adaptive max pooling's backward needs: the flat input index of each maximum ``(N, C, *O)``
    (batched), the input's spatial shape, whether it was batched, and its dtype."""

    op: str
    argmax: np.ndarray
    in_spatial: tuple[int, ...]
    batched: bool
    dtype: np.dtype

    def input_indices(self) -> np.ndarray:
        """PyTorch's ``return_indices``: the flat input position of each maximum, int64 (a copy)."""
        return _unbatched(self.argmax, self.batched).copy()


def _adaptive_max_setup(op: str, ndim: int, input: Any, output_size: Any, return_indices: Any):
    check_bool(return_indices, "return_indices")
    x, batched = check_spatial_input(op, input, ndim)
    out = _adaptive_output_size(op, output_size, tuple(x.shape[-ndim:]))
    return x, batched, out


def adaptive_max_pool_forward_saving(input: Any, output_size: Any, *, ndim: int | None = None
                                     ) -> tuple[np.ndarray, AdaptiveMaxPoolSaved]:
    """:func:`adaptive_max_pool2d` (or 1-d/3-d: ``ndim``, else the length of a tuple ``output_size``, else
    ``input.ndim - 2``), also returning the argmax for :func:`adaptive_max_pool_backward_saved`."""
    n = ndim if ndim is not None else (len(output_size) if isinstance(output_size, (tuple, list))
                                       else max(np.ndim(input) - 2, 1))
    op = f"adaptive_max_pool{n}d"
    x, batched, out = _adaptive_max_setup(op, n, input, output_size, False)
    y, index = _adaptive_max_and_argmax(_batched(x, batched), out)
    return _unbatched(y, batched), AdaptiveMaxPoolSaved(op, index, tuple(x.shape[-n:]), batched, x.dtype)


def adaptive_max_pool_backward_saved(grad_output: Any, saved: AdaptiveMaxPoolSaved) -> tuple[np.ndarray]:
    """``(grad_input,)`` from :func:`adaptive_max_pool_forward_saving`; equal to ``adaptive_max_pool{n}d_backward``."""
    shape = saved.argmax.shape if saved.batched else saved.argmax.shape[1:]
    gy = _batched(check_grad_output_shape(saved.op, grad_output, shape), saved.batched)
    return (_unbatched(_scatter_flat(gy, saved.argmax, saved.in_spatial, saved.dtype), saved.batched),)


def _adaptive_max_pool(op: str, ndim: int, input: Any, output_size: Any, return_indices: Any) -> Any:
    x, batched, out = _adaptive_max_setup(op, ndim, input, output_size, return_indices)
    y, index = _adaptive_max_and_argmax(_batched(x, batched), out)
    if return_indices:
        return _unbatched(y, batched), _unbatched(index, batched)
    return _unbatched(y, batched)


def _adaptive_max_pool_backward(op: str, ndim: int, grad_output: Any, input: Any, output_size: Any,
                                return_indices: Any) -> tuple[np.ndarray]:
    x, batched, out = _adaptive_max_setup(op, ndim, input, output_size, return_indices)
    gy = check_grad_output_shape(op, grad_output, x.shape[:-ndim] + out)
    _, index = _adaptive_max_and_argmax(_batched(x, batched), out)
    return (_unbatched(_scatter_flat(_batched(gy, batched), index, tuple(x.shape[-ndim:]), x.dtype), batched),)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Adaptive max pooling ``(N, C, L)`` -> ``(N, C, output_size)``; see :func:`adaptive_max_pool2d`.

    Raises:
        TypeError, ValueError: as :func:`adaptive_max_pool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.adaptive_max_pool1d(np.array([[[1.0, 5.0, 2.0, 0.0, 4.0]]]), 3, return_indices=True)
        (array([[[5., 5., 4.]]]), array([[[1, 1, 4]]]))
    """
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Adaptive max pooling, PyTorch's ``torch.nn.functional.adaptive_max_pool2d`` in NumPy.

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, float32 or float64.
        output_size: int or ``(OH, OW)``; a None entry keeps that input size.
        return_indices: also return the flat input index (``h * W + w``, int64) of each maximum. Only the
            first output is differentiable.

    Returns:
        ``(N, C, OH, OW)``: cell ``(i, j)`` is the max over rows ``[floor(i*H/OH), ceil((i+1)*H/OH))`` and the
        columns likewise (the first maximum in C order wins a tie; a NaN wins over numbers); with
        ``return_indices``, ``(output, indices)``.

    Raises:
        TypeError: ``input`` is not a float32/float64 array, ``output_size`` is not an int or a tuple of
            ints (or None), or ``return_indices`` is not a bool.
        ValueError: ``input`` is not ``(N, C, H, W)`` or ``(C, H, W)`` (or has an empty channel or spatial
            dim), or ``output_size`` has the wrong length or a negative entry.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> F.adaptive_max_pool2d(x, 2)[0, 0]
        array([[ 5.,  7.],
               [13., 15.]])
    """
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Adaptive max pooling ``(N, C, D, H, W)`` -> ``(N, C, *output_size)``; see :func:`adaptive_max_pool2d`.

    Raises:
        TypeError, ValueError: as :func:`adaptive_max_pool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.adaptive_max_pool3d(np.ones((2, 3, 5, 6, 7)), (1, 2, 3)).shape
        (2, 3, 1, 2, 3)
    """
    return _adaptive_max_pool("adaptive_max_pool3d", 3, input, output_size, return_indices)


def adaptive_max_pool1d_backward(grad_output, input, output_size, return_indices=False):
    """``(grad_input,)`` of :func:`adaptive_max_pool1d`; see :func:`adaptive_max_pool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`adaptive_max_pool2d_backward` (example there).
    """
    return _adaptive_max_pool_backward("adaptive_max_pool1d", 1, grad_output, input, output_size, return_indices)


def adaptive_max_pool2d_backward(grad_output, input, output_size, return_indices=False):
    """``(grad_input,)`` of :func:`adaptive_max_pool2d`: each ``grad_output`` entry goes to its window's maximum.

    Overlapping windows that share a maximum add their gradients there. ``return_indices`` changes nothing
    (``grad_output`` is the gradient of the pooled values). The 1-d and 3-d backwards work the same way.

    Raises:
        TypeError, ValueError: as :func:`adaptive_max_pool2d`, and when ``grad_output`` is not a float array
            of the output's shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[[1.0, 5.0, 2.0, 0.0, 4.0]]])   # windows [0, 2), [1, 4), [3, 5) all but one pick 5
        >>> F.adaptive_max_pool1d_backward(np.ones((1, 1, 3)), x, 3)
        (array([[[0., 2., 0., 0., 1.]]]),)
    """
    return _adaptive_max_pool_backward("adaptive_max_pool2d", 2, grad_output, input, output_size, return_indices)


def adaptive_max_pool3d_backward(grad_output, input, output_size, return_indices=False):
    """``(grad_input,)`` of :func:`adaptive_max_pool3d`; see :func:`adaptive_max_pool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`adaptive_max_pool2d_backward` (example there).
    """
    return _adaptive_max_pool_backward("adaptive_max_pool3d", 3, grad_output, input, output_size, return_indices)


# ----------------------------------------------------------------------------------------------------------
# Max unpooling
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnpoolSpec:
    """A max unpooling: rank, whether batched, and the output's spatial shape."""

    ndim: int
    batched: bool
    out_spatial: tuple[int, ...]


def _unpool_spec(op: str, ndim: int, input: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any,
                 output_size: Any) -> tuple[UnpoolSpec, np.ndarray, np.ndarray]:
    """Validate a max unpooling's arguments (PyTorch's rules); return its spec, input and indices."""
    x, batched = check_spatial_input(op, input, ndim)
    index = np.asarray(indices)
    if not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"{op}: indices has dtype {index.dtype}; it must hold integers (the int64 indices of "
                        f"max_pool{ndim}d(..., return_indices=True))")
    if index.shape != x.shape:
        raise ValueError(f"{op}: indices.shape={tuple(index.shape)} must equal input.shape={tuple(x.shape)}")
    kernel = ntuple(kernel_size, ndim, "kernel_size", minimum=1)
    strides = kernel if stride is None else ntuple(stride, ndim, "stride", minimum=1)
    pads = ntuple(padding, ndim, "padding")
    spatial = tuple(x.shape[-ndim:])
    default = tuple((size - 1) * s + k - 2 * p for size, s, k, p in zip(spatial, strides, kernel, pads))
    if output_size is None:
        out = default
    else:
        if not isinstance(output_size, (tuple, list)) or not all(_is_int(v) for v in output_size):
            raise TypeError(f"{op}: output_size={output_size!r} must be None or a tuple of {ndim} ints "
                            f"(or {ndim + 2} with N and C)")
        sizes = tuple(int(v) for v in output_size)
        if len(sizes) == ndim + 2:
            sizes = sizes[2:]
        if len(sizes) != ndim:
            raise ValueError(f"{op}: output_size={output_size!r} must have {ndim} or {ndim + 2} entries, "
                             f"not {len(sizes)}")
        for axis, (size, d, s) in enumerate(zip(sizes, default, strides)):
            if not d - s < size < d + s:
                raise ValueError(f"{op}: output_size={output_size!r} is out of range in spatial dim {axis}: "
                                 f"it must be between {d - s} and {d + s} exclusive for input.shape="
                                 f"{tuple(x.shape)}, kernel_size={kernel}, stride={strides}, padding={pads}")
        out = sizes
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: the output would be empty ({out}) for input.shape={tuple(x.shape)}, "
                         f"kernel_size={kernel}, stride={strides}, padding={pads}")
    plane = math.prod(out)
    if index.size and (index.min() < 0 or index.max() >= plane):
        bad = index.min() if index.min() < 0 else index.max()
        raise ValueError(f"{op}: indices holds {int(bad)}, outside [0, {plane}) for the output's spatial "
                         f"shape {out}")
    return UnpoolSpec(ndim, batched, out), x, index.astype(np.int64, copy=False)


def _max_unpool(op: str, ndim: int, input: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any,
                output_size: Any) -> np.ndarray:
    spec, x, index = _unpool_spec(op, ndim, input, indices, kernel_size, stride, padding, output_size)
    x, index = _batched(x, spec.batched), _batched(index, spec.batched)
    rows, plane = x.shape[0] * x.shape[1], math.prod(spec.out_spatial)
    keys = (np.arange(rows)[:, None] * plane + index.reshape(rows, math.prod(index.shape[2:]))).ravel()
    # a position named twice keeps the last value written, as PyTorch's loop does
    last = keys.size - 1 - np.unique(keys[::-1], return_index=True)[1]
    y = np.zeros(rows * plane, dtype=x.dtype)
    y[keys[last]] = x.reshape(-1)[last]
    return _unbatched(y.reshape(x.shape[:2] + spec.out_spatial), spec.batched)


def _max_unpool_backward(op: str, ndim: int, grad_output: Any, input: Any, indices: Any, kernel_size: Any,
                         stride: Any, padding: Any, output_size: Any) -> tuple[np.ndarray]:
    spec, x, index = _unpool_spec(op, ndim, input, indices, kernel_size, stride, padding, output_size)
    gy = check_grad_output_shape(op, grad_output, x.shape[:-ndim] + spec.out_spatial)
    gy, index = _batched(gy, spec.batched), _batched(index, spec.batched)
    rows = gy.shape[0] * gy.shape[1]
    flat = gy.astype(x.dtype, copy=False).reshape(rows, math.prod(spec.out_spatial))
    grad = np.take_along_axis(flat, index.reshape(rows, math.prod(index.shape[2:])), axis=1)
    return (_unbatched(grad.reshape(index.shape), spec.batched),)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """1-d max unpooling ``(N, C, L)`` -> ``(N, C, L_out)``; see :func:`max_unpool2d`.

    Raises:
        TypeError, ValueError: as :func:`max_unpool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> y, i = F.max_pool1d(np.array([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2, return_indices=True)
        >>> F.max_unpool1d(y, i, 2), F.max_unpool1d(y, i, 2, output_size=(5,))
        (array([[[0., 3., 0., 5.]]]), array([[[0., 3., 0., 5., 0.]]]))
    """
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Max unpooling, PyTorch's ``torch.nn.functional.max_unpool2d``: the partial inverse of max pooling.

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, float32 or float64 (pooled values).
        indices: integers of ``input``'s shape, flat positions in the output's spatial plane per ``(n, c)``
            (those of :func:`max_pool2d` with ``return_indices=True``); not differentiable.
        kernel_size, stride, padding: the max pooling's (``stride`` defaults to ``kernel_size``).
        output_size: None for ``(H - 1)*s + K - 2p`` per dim, or the spatial sizes (optionally with N and C
            first), each strictly within ``stride`` of that default (PyTorch's rule).

    Returns:
        ``(N, C, OH, OW)`` zeros with ``input[n, c, i]`` at ``indices[n, c, i]`` (a position named twice
        keeps the last value).

    Raises:
        TypeError: ``input`` is not a float32/float64 array, ``indices`` not integers, an option not an int
            (tuple).
        ValueError: ``input`` is not ``(N, C, H, W)`` or ``(C, H, W)``, ``indices.shape`` differs, an index
            outside the output plane, ``output_size`` of the wrong length or out of range, or an empty output.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2)[0, 0]
        array([[ 0.,  0.,  0.,  0.],
               [ 0.,  5.,  0.,  7.],
               [ 0.,  0.,  0.,  0.],
               [ 0., 13.,  0., 15.]])
    """
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """3-d max unpooling ``(N, C, D, H, W)`` -> ``(N, C, *O)``; see :func:`max_unpool2d`.

    Raises:
        TypeError, ValueError: as :func:`max_unpool2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.max_unpool3d(np.ones((1, 2, 2, 2, 2)), np.zeros((1, 2, 2, 2, 2), dtype=np.int64), 2).shape
        (1, 2, 4, 4, 4)
    """
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)


def max_unpool1d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """``(grad_input,)`` of :func:`max_unpool1d`; see :func:`max_unpool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`max_unpool2d_backward` (example there).
    """
    return _max_unpool_backward("max_unpool1d", 1, grad_output, input, indices, kernel_size, stride, padding,
                                output_size)


def max_unpool2d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """``(grad_input,)`` of :func:`max_unpool2d`: ``grad_input[n, c, i] = grad_output[n, c].flat[indices[n, c, i]]``.

    ``indices`` gets no gradient. Every input cell reads its position, also when two cells name the same one
    (PyTorch's gather). :func:`max_unpool1d_backward` and :func:`max_unpool3d_backward` work the same way.

    Raises:
        TypeError, ValueError: as :func:`max_unpool2d`, and when ``grad_output`` is not a float array of the
            output's shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> gy = np.arange(4.0).reshape(1, 1, 4)
        >>> F.max_unpool1d_backward(gy, np.ones((1, 1, 2)), np.array([[[1, 2]]]), 2)
        (array([[[1., 2.]]]),)
    """
    return _max_unpool_backward("max_unpool2d", 2, grad_output, input, indices, kernel_size, stride, padding,
                                output_size)


def max_unpool3d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """``(grad_input,)`` of :func:`max_unpool3d`; see :func:`max_unpool2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`max_unpool2d_backward` (example there).
    """
    return _max_unpool_backward("max_unpool3d", 3, grad_output, input, indices, kernel_size, stride, padding,
                                output_size)
