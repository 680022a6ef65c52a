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

import numpy as np
from numpy.lib.stride_tricks import as_strided


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
