"""The textbook NumPy convolution: channels-first im2col + ``np.tensordot``, and its backward.

This is the form most NumPy courses and blog series teach (DeZero's ``functions_conv`` is the best-known
one): pad the input, copy each kernel tap's strided slice into a ``(N, C, *K, *O)`` column array, contract it
with the weight by ``tensordot``; the backward contracts ``grad_output`` with the same columns for the weight
gradient, and with the weight for the columns' gradient, which ``col2im`` adds back tap by tap. Written here
for any number of spatial dims, with groups (one ``tensordot`` per group) and the transposed convolution
(its forward is the convolution's input gradient, as in DeZero's ``Deconv2d``). Only the benchmark uses it,
as a baseline: it is not part of the library.
"""

from __future__ import annotations

import itertools

import numpy as np


def _out_size(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _tap_slices(tap, stride, out):
    return tuple(slice(k, k + s * o, s) for k, s, o in zip(tap, stride, out))


def im2col(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """``(N, C, *S)`` -> columns ``(N, C, *K, *O)``, ``col[n, c, k, o] = xp[n, c, o*s + k]``."""
    out = tuple(_out_size(s, k, st, p) for s, k, st, p in zip(x.shape[2:], kernel, stride, padding))
    # one extra stride - 1 at the end so every tap's slice has O entries (as in DeZero)
    img = np.pad(x, [(0, 0), (0, 0), *[(p, p + s - 1) for p, s in zip(padding, stride)]])
    col = np.empty((*x.shape[:2], *kernel, *out), dtype=x.dtype)
    for tap in itertools.product(*(range(k) for k in kernel)):
        col[(slice(None), slice(None), *tap)] = img[(slice(None), slice(None), *_tap_slices(tap, stride, out))]
    return col


def col2im(col: np.ndarray, in_spatial, kernel, stride, padding) -> np.ndarray:
    """Adjoint of :func:`im2col`: add every column back where it was read; ``(N, C, *S)``."""
    nd = len(kernel)
    out = col.shape[2 + nd:]
    frame = tuple(s + 2 * p + st - 1 for s, p, st in zip(in_spatial, padding, stride))
    img = np.zeros((*col.shape[:2], *frame), dtype=col.dtype)
    for tap in itertools.product(*(range(k) for k in kernel)):
        img[(slice(None), slice(None), *_tap_slices(tap, stride, out))] += col[(slice(None), slice(None), *tap)]
    return img[(slice(None), slice(None), *(slice(p, p + s) for p, s in zip(padding, in_spatial)))]


def _groups(a: np.ndarray, groups: int, axis: int):
    return np.split(a, groups, axis=axis)


def conv_forward(x, w, b, stride, padding, groups=1):
    """``y (N, C_out, *O)``: per group ``tensordot(col, W, ((1, *K axes), (1, *K axes)))``."""
    nd = w.ndim - 2
    kernel = w.shape[2:]
    col = im2col(x, kernel, stride, padding)
    axes = tuple(range(1, 2 + nd))
    parts = [np.tensordot(c, wg, (axes, axes)) for c, wg in zip(_groups(col, groups, 1), _groups(w, groups, 0))]
    y = np.concatenate(parts, axis=-1) if groups > 1 else parts[0]  # (N, *O, C_out)
    if b is not None:
        y += b
    return np.moveaxis(y, -1, 1)


def conv_backward(gy, x, w, b, stride, padding, groups=1):
    """``(grad_x, grad_w, grad_b)``: ``grad_w = tensordot(gy, col)``, ``grad_col = tensordot(W, gy)`` + col2im."""
    nd = w.ndim - 2
    kernel = w.shape[2:]
    col = im2col(x, kernel, stride, padding)  # the textbook keeps it from the forward; rebuilt here
    spatial = tuple(range(2, 2 + nd))
    grad_w, grad_col = [], []
    for c, wg, g in zip(_groups(col, groups, 1), _groups(w, groups, 0), _groups(gy, groups, 1)):
        grad_w.append(np.tensordot(g, c, ((0, *spatial), (0, *range(2 + nd, 2 + 2 * nd)))))
        grad_col.append(np.moveaxis(np.tensordot(wg, g, (0, 1)), 1 + nd, 0))  # (N, C/G, *K, *O)
    grad_x = col2im(np.concatenate(grad_col, axis=1) if groups > 1 else grad_col[0], x.shape[2:], kernel, stride,
                    padding)
    grad_b = None if b is None else gy.sum(axis=(0, *spatial))
    return grad_x, np.concatenate(grad_w, axis=0) if groups > 1 else grad_w[0], grad_b


def conv_transpose_forward(x, w, b, stride, padding, groups=1):
    """``y (N, C_out, *O)``: ``col = tensordot(W, x)``, then col2im (DeZero's ``Deconv2d``)."""
    nd = w.ndim - 2
    kernel = w.shape[2:]
    out = tuple((s - 1) * st - 2 * p + k for s, st, p, k in zip(x.shape[2:], stride, padding, kernel))
    cols = [np.moveaxis(np.tensordot(wg, xg, (0, 1)), 1 + nd, 0)  # (N, C_out/G, *K, *S)
            for wg, xg in zip(_groups(w, groups, 0), _groups(x, groups, 1))]
    y = col2im(np.concatenate(cols, axis=1) if groups > 1 else cols[0], out, kernel, stride, padding)
    if b is not None:
        y = y + b.reshape(-1, *([1] * nd))
    return y


def conv_transpose_backward(gy, x, w, b, stride, padding, groups=1):
    """``grad_x`` is the convolution of ``gy`` with ``W``; ``grad_w = tensordot(x, im2col(gy))``."""
    nd = w.ndim - 2
    kernel = w.shape[2:]
    col = im2col(gy, kernel, stride, padding)  # (N, C_out, *K, *S)
    spatial = tuple(range(2, 2 + nd))
    axes = tuple(range(1, 2 + nd))
    grad_x, grad_w = [], []
    for c, wg, xg in zip(_groups(col, groups, 1), _groups(w, groups, 0), _groups(x, groups, 1)):
        grad_x.append(np.moveaxis(np.tensordot(c, wg, (axes, axes)), -1, 1))
        grad_w.append(np.tensordot(xg, c, ((0, *spatial), (0, *range(2 + nd, 2 + 2 * nd)))))
    grad_b = None if b is None else gy.sum(axis=(0, *spatial))
    return (np.concatenate(grad_x, axis=1) if groups > 1 else grad_x[0],
            np.concatenate(grad_w, axis=0) if groups > 1 else grad_w[0], grad_b)
