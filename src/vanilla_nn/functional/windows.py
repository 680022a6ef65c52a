"""The sliding-window view (im2col) and its adjoint (col2im), for any number of spatial dims.

Notation: batch ``N``, channels ``C``, padded spatial shape ``Sp``, kernel ``K``, stride ``s``,
dilation ``d``, output spatial shape ``O`` with ``P = prod(O)`` positions.

Window ``(o, k)`` of a padded input ``xp`` reads ``xp[n, c, o * s + k * d]`` (per spatial dim). With stride
and dilation folded into the view's strides, every window is a view of ``xp`` without copying; one
contiguous copy of it is the im2col matrix, and one GEMM with the weight is the convolution.

``col2im`` is the adjoint: it adds each window's entries back to where they were read from. It loops over
the ``prod(K)`` kernel taps only; each tap adds one strided slice of shape ``(N, *O, C)`` at once.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._args import WindowSpec, check_window_grad_output, fold_spec, unfold_spec
from .padding import pad_spatial, pad_spatial_backward


def window_view(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
                dilation: tuple[int, ...], out_spatial: tuple[int, ...]) -> np.ndarray:
    """Read-only view ``(N, C, *O, *K)`` of ``xp (N, C, *Sp)`` with ``view[n, c, o, k] = xp[n, c, o*s + k*d]``.

    Works on any memory layout (non-contiguous, channels-last, negative strides): only strides change.
    """
    n_spatial = len(kernel)
    lead_strides = xp.strides[: xp.ndim - n_spatial]
    spatial_strides = xp.strides[xp.ndim - n_spatial:]
    shape = xp.shape[: xp.ndim - n_spatial] + tuple(out_spatial) + tuple(kernel)
    strides = (lead_strides + tuple(st * s for st, s in zip(spatial_strides, stride))
               + tuple(st * d for st, d in zip(spatial_strides, dilation)))
    return as_strided(xp, shape=shape, strides=strides, writeable=False)


def im2col(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
           out_spatial: tuple[int, ...]) -> np.ndarray:
    """The im2col matrix of ``xp (N, C, *Sp)`` as a contiguous array ``(N, *O, C, *K)``.

    Reshaped to ``(N * P, C * prod(K))`` it has one receptive field per row (channel-major, then taps).
    """
    windows = window_view(xp, kernel, stride, dilation, out_spatial)
    n_spatial = len(kernel)
    # (N, C, *O, *K) -> (N, *O, C, *K)
    order = (0, *range(2, 2 + n_spatial), 1, *range(2 + n_spatial, 2 + 2 * n_spatial))
    return np.ascontiguousarray(windows.transpose(order))


def tap_slices(tap: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
               out_spatial: tuple[int, ...]) -> tuple[slice, ...]:
    """Spatial slices of the padded frame that kernel tap ``k`` reads: ``k*d, k*d + s, ..., k*d + s*(O-1)``."""
    return tuple(slice(k * d, k * d + s * (o - 1) + 1, s)
                 for k, s, d, o in zip(tap, stride, dilation, out_spatial))


def col2im(cols: np.ndarray, frame_spatial: tuple[int, ...], stride: tuple[int, ...],
           dilation: tuple[int, ...]) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add ``cols (N, *O, C, *K)`` into a frame ``(N, C, *Sp)``.

    ``frame[n, c, o*s + k*d] += cols[n, o, c, k]`` for every output position ``o`` and tap ``k``. The frame
    is channels-last in memory; the returned array is an ``(N, C, *Sp)`` view of it.
    """
    n_spatial = len(frame_spatial)
    batch = cols.shape[0]
    out_spatial = cols.shape[1:1 + n_spatial]
    channels = cols.shape[1 + n_spatial]
    kernel = cols.shape[2 + n_spatial:]
    frame = np.zeros((batch, *frame_spatial, channels), dtype=cols.dtype)
    for tap in itertools.product(*(range(k) for k in kernel)):
        frame[(slice(None), *tap_slices(tap, stride, dilation, out_spatial))] += cols[(Ellipsis, *tap)]
    return np.moveaxis(frame, -1, 1)


# ----------------------------------------------------------------------------------------------------------
# unfold / fold: the im2col matrix in PyTorch's layout (N, C * prod(K), L), and its adjoint
# ----------------------------------------------------------------------------------------------------------

def _image_to_columns(image: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """Zero-pad ``image (N, C, *S)`` and gather its blocks as ``(N, C * prod(K), L)``."""
    padded = pad_spatial(image, spec.pads)
    windows = window_view(padded, spec.kernel, spec.stride, spec.dilation, spec.blocks)  # (N, C, *O, *K)
    n_spatial = spec.ndim
    order = (0, 1, *range(2 + n_spatial, 2 + 2 * n_spatial), *range(2, 2 + n_spatial))  # (N, C, *K, *O)
    rows = spec.channels * math.prod(spec.kernel)
    columns = windows.transpose(order).reshape(image.shape[0], rows, math.prod(spec.blocks))
    if not columns.flags.writeable or np.may_share_memory(columns, image):
        # kernel 1 or a kernel covering the whole image: the reshape is a (read-only) view; return a new array
        columns = columns.copy()
    return columns


def _columns_to_image(columns: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """Adjoint of :func:`_image_to_columns`: scatter-add ``(N, C * prod(K), L)`` into ``(N, C, *S)``."""
    n_spatial = spec.ndim
    blocks = columns.reshape(columns.shape[0], spec.channels, *spec.kernel, *spec.blocks)  # (N, C, *K, *O)
    order = (0, *range(2 + n_spatial, 2 + 2 * n_spatial), 1, *range(2, 2 + n_spatial))  # (N, *O, C, *K)
    padded_spatial = tuple(s + lo + hi for s, (lo, hi) in zip(spec.image_spatial, spec.pads))
    frame = col2im(blocks.transpose(order), padded_spatial, spec.stride, spec.dilation)
    return pad_spatial_backward(frame, spec.pads)


def _batched(array: np.ndarray, spec: WindowSpec) -> np.ndarray:
    return array if spec.batched else array[None]


def _unbatched(array: np.ndarray, spec: WindowSpec) -> np.ndarray:
    return array if spec.batched else array[0]


def unfold(input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> np.ndarray:
    """Extract sliding blocks (im2col), PyTorch's ``torch.nn.functional.unfold`` for any number of dims.

    Input ``(N, C, *S)`` or unbatched ``(C, *S)`` -> ``(N, C * prod(K), L)``. The number of spatial dims is
    the length of ``kernel_size``, ``dilation``, ``padding`` or ``stride`` where one is a tuple, else 2 as in
    PyTorch (``kernel_size=(3,)`` for 1-d, ``(3, 3, 3)`` for 3-d);
    row ``c * prod(K) + t`` is channel ``c`` at kernel tap ``t`` (C-order), column ``l`` the block position
    (C-order over the ``L = prod(O)`` output positions). ``padding`` is zero padding: an int, one int per
    dim, or ``(before, after)`` pairs. A convolution is ``weight.reshape(C_out, -1) @ unfold(x, K)``.

    Raises:
        TypeError: ``input`` is not a float32/float64 array, or an option is not an int (tuple).
        ValueError: ``input`` has the wrong rank for ``kernel_size``, a kernel size, stride or dilation below 1,
            negative padding, or a dilated kernel larger than the padded input; the message names the
            argument and the shapes.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.unfold(np.arange(9.0).reshape(1, 1, 3, 3), kernel_size=2)[0]
        array([[0., 1., 3., 4.],
               [1., 2., 4., 5.],
               [3., 4., 6., 7.],
               [4., 5., 7., 8.]])
    """
    spec, x = unfold_spec("unfold", input, kernel_size, dilation, padding, stride)
    return _unbatched(_image_to_columns(_batched(x, spec), spec), spec)


def unfold_backward(grad_output: Any, input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                    stride: Any = 1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`unfold`: col2im of ``grad_output``, overlapping blocks summed.

    That is :func:`fold` of ``grad_output``, just as :func:`fold_backward` is :func:`unfold`: each is the
    other's adjoint.

    Raises:
        TypeError, ValueError: as :func:`unfold`, and when ``grad_output`` is not shaped like its output.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.zeros((1, 1, 3, 3))
        >>> (grad_x,) = F.unfold_backward(np.ones((1, 4, 4)), x, kernel_size=2)
        >>> grad_x[0, 0]                  # how many 2 x 2 blocks hold each pixel
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])
    """
    spec, x = unfold_spec("unfold", input, kernel_size, dilation, padding, stride)
    gy = check_window_grad_output("unfold", grad_output, spec.columns_shape(x.shape[0] if spec.batched else None))
    grad = _columns_to_image(_batched(gy.astype(x.dtype, copy=False), spec), spec)
    return (_unbatched(grad, spec),)


def fold(input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> np.ndarray:
    """Combine sliding blocks into an image (col2im), PyTorch's ``torch.nn.functional.fold`` for any rank.

    Input ``(N, C * prod(K), L)`` (or ``(C * prod(K), L)``) -> ``(N, C, *output_size)``, summing where blocks
    overlap: the adjoint of :func:`unfold` (``fold(unfold(x))`` is ``x`` times each pixel's block count).

    Raises:
        TypeError: ``input`` is not a float32/float64 array, or an option is not an int (tuple).
        ValueError: ``input.shape[-2]`` is not divisible by ``prod(kernel_size)``, its ``L`` does not match
            the number of blocks that ``output_size`` gives, or an option is out of range (as :func:`unfold`).

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.full((1, 1, 3, 3), 2.0)
        >>> F.fold(F.unfold(x, kernel_size=2), output_size=(3, 3), kernel_size=2)[0, 0]
        array([[2., 4., 2.],
               [4., 8., 4.],
               [2., 4., 2.]])
    """
    spec, x = fold_spec("fold", input, output_size, kernel_size, dilation, padding, stride)
    return _unbatched(_columns_to_image(_batched(x, spec), spec), spec)


def fold_backward(grad_output: Any, input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1,
                  padding: Any = 0, stride: Any = 1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`fold`: the unfold (im2col) of ``grad_output``.

    Raises:
        TypeError, ValueError: as :func:`fold`, and when ``grad_output`` is not shaped like its output.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> gy = np.arange(9.0).reshape(1, 1, 3, 3)
        >>> F.fold_backward(gy, np.zeros((1, 4, 4)), output_size=3, kernel_size=2)[0][0]   # = unfold(gy)
        array([[0., 1., 3., 4.],
               [1., 2., 4., 5.],
               [3., 4., 6., 7.],
               [4., 5., 7., 8.]])
    """
    spec, x = fold_spec("fold", input, output_size, kernel_size, dilation, padding, stride)
    gy = check_window_grad_output("fold", grad_output, spec.image_shape(x.shape[0] if spec.batched else None))
    grad = _image_to_columns(_batched(gy.astype(x.dtype, copy=False), spec), spec)
    return (_unbatched(grad, spec),)
