"""Convolution kernels on channels-last arrays, and the per-shape choice between them.

Notation as in :mod:`.conv`: batch ``N``; ``C_in``, ``C_out``; ``G`` groups with ``Cg = C_in / G`` and
``Cog = C_out / G`` channels each; kernel ``K`` with ``T = prod(K)`` taps; stride ``s``, dilation ``d``;
padded input ``Sp``, output ``O``, ``P = prod(O)``. Every array here is channels-last: ``(N, *S, C)``.

Three algorithms, one formula ``y[n, o, co] = sum_{k, c} xp[n, o*s + k*d, g*Cg + c] * w[co, c, k]``:

``gemm``
    im2col + GEMM. The windows ``(N, *O, *K, C)`` are a strided view of ``xp``; a chunk of them is copied
    into a reused workspace buffer (contiguous ``C`` runs, so the copy streams) and multiplied by the weight
    as ``(rows, T*Cg) @ (T*Cg, Cog)`` per group. The chunks (a few images, or a few output rows of one
    image) keep the buffer under the workspace cap and small enough to stay in cache for the GEMM.
    Backward: ``grad_w = cols^T @ gy`` (same chunks); ``grad_xp`` is ``gy @ w^T`` scattered back tap by
    tap (col2im), each tap one strided add of ``(rows, C)``.
``gemm1x1``
    Every kernel size 1: the "windows" are the input itself (subsampled by the stride), so the convolution
    is one GEMM ``(N*P, C_in) @ (C_in, C_out)`` with no im2col at all.
``depthwise``
    ``Cg = 1`` (one input channel per group): a GEMM per channel would be ``(N*P, T) @ (T, Cog)``, far too
    thin for BLAS. Instead a loop over the ``T`` taps of fused broadcasts, ``y += xp[tap window] * w[:, tap]``,
    run block by block (a few output rows at a time) so each block's operands stay in cache. It works on
    any memory layout, so the input is not transposed.

The choice (:func:`choose`) is by shape; float64 results are exact to rounding with every algorithm (no
transform-based algorithm is used: see benchmarks/README.md for what was measured).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .workspace import get_workspace_limit

# One chunk's scratch is at most this many bytes (and never above the workspace cap): about the size where
# the im2col block of a chunk is still in the last-level cache when the GEMM reads it.
CHUNK_BYTES = 8 * 2**20
# The depthwise tap loop works on blocks of about this many output elements (operands in L2).
DEPTHWISE_BLOCK_ELEMENTS = 1 << 16

ALGORITHMS = ("gemm", "gemm1x1", "depthwise")


def choose(c_in: int, kernel: tuple[int, ...], groups: int) -> str:
    """The algorithm for a convolution with ``c_in`` input channels, this kernel and these groups."""
    if groups > 1 and groups == c_in:
        return "depthwise"
    if all(k == 1 for k in kernel):
        return "gemm1x1"
    return "gemm"


def describe_case(kind: str, input_shape: tuple[int, ...], out_channels: int, kernel: tuple[int, ...],
                  stride: int, padding: int, groups: int) -> str:
    """The algorithm chosen for a benchmark case (``kind`` ``conv`` or ``conv_transpose``)."""
    c_in = input_shape[1]
    if kind == "conv":
        return choose(c_in, kernel, groups)
    # the forward of a transposed conv is the input gradient of a conv with C_out input channels
    return choose(out_channels, kernel, groups) + " (adjoint)"


# ----------------------------------------------------------------------------------------------------------
# Layout helpers
# ----------------------------------------------------------------------------------------------------------

def channels_last(a: np.ndarray) -> np.ndarray:
    """``(N, C, *S)`` -> ``(N, *S, C)``, a view."""
    return np.moveaxis(a, 1, -1)


def channels_first(a: np.ndarray) -> np.ndarray:
    """``(N, *S, C)`` -> ``(N, C, *S)``, a view."""
    return np.moveaxis(a, -1, 1)


def is_channels_first_memory(a: np.ndarray) -> bool:
    """Whether the channel axis of a channels-last array ``(N, *S, C)`` is outermost in memory after N."""
    return a.ndim > 2 and abs(a.strides[-1]) > max(abs(st) for st in a.strides[1:-1]) and a.shape[-1] > 1


def empty_like_layout(shape: tuple[int, ...], dtype: np.dtype, channels_first_memory: bool) -> np.ndarray:
    """An uninitialised channels-last array ``shape = (N, *S, C)``, stored channels-first if asked."""
    if not channels_first_memory:
        return np.empty(shape, dtype=dtype)
    return channels_last(np.empty((shape[0], shape[-1], *shape[1:-1]), dtype=dtype))


_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_channels_last(x: np.ndarray, pads: tuple[tuple[int, int], ...], mode: str = "zeros",
                      keep_layout: bool = False) -> np.ndarray:
    """Pad ``x (N, C, *S)`` spatially; return the padded array channels-last, ``(N, *Sp, C)``.

    The copy that pads also transposes into channels-last memory (one pass over the input), unless
    ``keep_layout`` asks to keep the input's memory order (the depthwise path reads any layout). An
    unpadded input that already is channels-last contiguous comes back as a view, without a copy.
    """
    x_cl = channels_last(x)
    padded = any(lo or hi for lo, hi in pads)
    channels_first_memory = keep_layout and is_channels_first_memory(x_cl)
    if not padded:
        if keep_layout or x_cl.flags.c_contiguous:
            return x_cl
        return np.ascontiguousarray(x_cl)
    if mode != "zeros":
        if channels_first_memory:
            return channels_last(np.pad(x, [(0, 0), (0, 0), *pads], mode=_NUMPY_MODES[mode]))
        return np.pad(x_cl, [(0, 0), *pads, (0, 0)], mode=_NUMPY_MODES[mode])
    spatial = x_cl.shape[1:-1]
    shape = (x_cl.shape[0], *(s + lo + hi for s, (lo, hi) in zip(spatial, pads)), x_cl.shape[-1])
    out = empty_like_layout(shape, x.dtype, channels_first_memory)
    interior = tuple(slice(lo, lo + s) for s, (lo, _) in zip(spatial, pads))
    out[(slice(None), *interior)] = x_cl
    for axis, (lo, hi) in enumerate(pads, start=1):  # zero the borders only
        lead = (slice(None),) * axis
        if lo:
            out[(*lead, slice(0, lo))] = 0
        if hi:
            out[(*lead, slice(shape[axis] - hi, shape[axis]))] = 0
    return out


def _window_view(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
                 out_spatial: tuple[int, ...]) -> np.ndarray:
    """``(N, *O, *K, C)`` view of a channels-last ``xp (N, *Sp, C)``: ``[n, o, k, c] = xp[n, o*s + k*d, c]``."""
    st = xp.strides
    spatial = st[1:-1]
    shape = (xp.shape[0], *out_spatial, *kernel, xp.shape[-1])
    strides = (st[0], *(a * s for a, s in zip(spatial, stride)), *(a * d for a, d in zip(spatial, dilation)), st[-1])
    return as_strided(xp, shape=shape, strides=strides, writeable=False)


def _tap_view(frame: np.ndarray, tap: tuple[int, ...], first_row: int, stride: tuple[int, ...],
              dilation: tuple[int, ...], out_spatial: tuple[int, ...]) -> np.ndarray:
    """The cells ``frame[:, (first_row + o0, o1, ...) * s + tap * d, :]`` read by one tap, for a block of rows."""
    index = [slice(None)]
    for axis, (k, s, d, o) in enumerate(zip(tap, stride, dilation, out_spatial)):
        start = k * d + (first_row * s if axis == 0 else 0)
        index.append(slice(start, start + s * (o - 1) + 1, s))
    return frame[tuple(index)]


def chunks(batch: int, rows: int, row_cost: int, budget: int) -> Iterator[tuple[int, int, int, int]]:
    """Blocks ``(n0, n1, r0, r1)`` of images and first-dim output rows costing at most ``budget`` each.

    Whole images when one fits (as many as fit), else a run of rows of one image (at least one row).
    """
    image_cost = rows * row_cost
    if image_cost <= budget:
        step = max(1, budget // max(image_cost, 1))
        for n0 in range(0, batch, step):
            yield n0, min(batch, n0 + step), 0, rows
        return
    step = max(1, budget // max(row_cost, 1))
    for n in range(batch):
        for r0 in range(0, rows, step):
            yield n, n + 1, r0, min(rows, r0 + step)


def _chunk_budget(itemsize: int) -> int:
    """Elements of scratch one chunk may use."""
    return max(1, min(CHUNK_BYTES, get_workspace_limit()) // itemsize)


# ----------------------------------------------------------------------------------------------------------
# Grouped GEMMs on row matrices: a (rows, G * ka) times per-group blocks
# ----------------------------------------------------------------------------------------------------------

def _gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out (rows, G*kb) = a (rows, G*ka) @ b (G, ka, kb)`` group by group (``out`` contiguous)."""
    groups, ka, kb = b.shape
    if groups == 1:
        np.matmul(a, b[0], out=out)
        return
    rows = a.shape[0]
    product = np.matmul(a.reshape(rows, groups, ka).transpose(1, 0, 2), b)  # (G, rows, kb)
    out.reshape(rows, groups, kb)[...] = product.transpose(1, 0, 2)


def _gemm_tn(a: np.ndarray, b: np.ndarray, groups: int) -> np.ndarray:
    """``(G, ka, kb)``: per group ``a_g^T @ b_g`` for ``a (rows, G*ka)``, ``b (rows, G*kb)``."""
    rows = a.shape[0]
    if groups == 1:
        return np.matmul(a.T, b)[None]
    a_g = a.reshape(rows, groups, a.shape[1] // groups).transpose(1, 2, 0)
    b_g = b.reshape(rows, groups, b.shape[1] // groups).transpose(1, 0, 2)
    return np.matmul(a_g, b_g)


def _weight_rows(w: np.ndarray, groups: int) -> np.ndarray:
    """``w (C_out, Cg, *K)`` -> ``(G, T*Cg, Cog)``, rows ordered (tap, channel) like the im2col columns."""
    c_out, c_group = w.shape[:2]
    kernel = w.shape[2:]
    n = len(kernel)
    w_g = w.reshape(groups, c_out // groups, c_group, *kernel)
    order = (0, *range(3, 3 + n), 2, 1)  # (G, *K, Cg, Cog)
    return np.ascontiguousarray(w_g.transpose(order)).reshape(groups, math.prod(kernel) * c_group, c_out // groups)


def _weight_from_rows(grad_rows: np.ndarray, c_out: int, c_group: int, kernel: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_weight_rows`: ``(G, T*Cg, Cog)`` -> ``(C_out, Cg, *K)``."""
    groups = grad_rows.shape[0]
    n = len(kernel)
    g = grad_rows.reshape(groups, *kernel, c_group, c_out // groups)
    order = (0, n + 2, n + 1, *range(1, n + 1))  # (G, Cog, Cg, *K)
    return np.ascontiguousarray(g.transpose(order)).reshape(c_out, c_group, *kernel)


# ----------------------------------------------------------------------------------------------------------
# gemm: im2col + GEMM, chunked
# ----------------------------------------------------------------------------------------------------------

def _fill_cols(buffer: np.ndarray, xp: np.ndarray, n0: int, n1: int, r0: int, r1: int, kernel, stride, dilation,
               out_spatial, groups: int) -> np.ndarray:
    """Copy the windows of images ``n0:n1``, output rows ``r0:r1`` into ``buffer``; ``(rows, G*T*Cg)``."""
    block_out = (r1 - r0, *out_spatial[1:])
    source = xp[n0:n1, r0 * stride[0]:]
    windows = _window_view(source, kernel, stride, dilation, block_out)  # (nb, *Ob, *K, C)
    rows = (n1 - n0) * math.prod(block_out)
    taps = math.prod(kernel)
    c_in = xp.shape[-1]
    cols = buffer[: rows * taps * c_in]
    if groups == 1:
        np.copyto(cols.reshape(windows.shape), windows)
    else:  # (nb, *Ob, *K, G, Cg) -> (nb, *Ob, G, *K, Cg): each group's columns contiguous
        n = len(kernel)
        split = windows.reshape(*windows.shape[:-1], groups, c_in // groups)
        lead = 1 + n
        order = (*range(lead), lead + n, *range(lead, lead + n), lead + n + 1)
        target = cols.reshape(n1 - n0, *block_out, groups, *kernel, c_in // groups)
        np.copyto(target, split.transpose(order))
    return cols.reshape(rows, taps * c_in)


def _gemm_forward(xp, w, stride, dilation, groups, out_spatial, y) -> None:
    kernel = w.shape[2:]
    c_out = w.shape[0]
    w_rows = _weight_rows(w, groups)
    taps_c = math.prod(kernel) * xp.shape[-1]
    row_cost = math.prod(out_spatial[1:]) * taps_c
    budget = _chunk_budget(xp.dtype.itemsize)
    buffer = np.empty(min(budget, xp.shape[0] * out_spatial[0] * row_cost) if row_cost <= budget else row_cost,
                      dtype=y.dtype)
    for n0, n1, r0, r1 in chunks(xp.shape[0], out_spatial[0], row_cost, budget):
        cols = _fill_cols(buffer, xp, n0, n1, r0, r1, kernel, stride, dilation, out_spatial, groups)
        out = y[n0:n1, r0:r1].reshape(cols.shape[0], c_out)
        _gemm(cols, w_rows, out)


def _gemm_weight_grad(xp, gy, kernel, stride, dilation, groups) -> np.ndarray:
    out_spatial = gy.shape[1:-1]
    c_out = gy.shape[-1]
    c_in = xp.shape[-1]
    taps_c = math.prod(kernel) * c_in
    row_cost = math.prod(out_spatial[1:]) * taps_c
    budget = _chunk_budget(xp.dtype.itemsize)
    buffer = np.empty(min(budget, xp.shape[0] * out_spatial[0] * row_cost) if row_cost <= budget else row_cost,
                      dtype=np.result_type(xp, gy))
    grad_rows = np.zeros((groups, taps_c // groups, c_out // groups), dtype=buffer.dtype)
    for n0, n1, r0, r1 in chunks(xp.shape[0], out_spatial[0], row_cost, budget):
        cols = _fill_cols(buffer, xp, n0, n1, r0, r1, kernel, stride, dilation, out_spatial, groups)
        gy_rows = gy[n0:n1, r0:r1].reshape(cols.shape[0], c_out)
        grad_rows += _gemm_tn(cols, gy_rows, groups)
    return _weight_from_rows(grad_rows, c_out, c_in // groups, kernel)


def _gemm_input_grad(gy, w, frame_spatial, stride, dilation, groups) -> np.ndarray:
    kernel = w.shape[2:]
    c_out, c_group = w.shape[:2]
    c_in = c_group * groups
    n = len(kernel)
    out_spatial = gy.shape[1:-1]
    w_rows_t = np.ascontiguousarray(_weight_rows(w, groups).transpose(0, 2, 1))  # (G, Cog, T*Cg)
    dtype = np.result_type(gy, w)
    frame = np.zeros((gy.shape[0], *frame_spatial, c_in), dtype=dtype)
    taps = math.prod(kernel)
    row_cost = math.prod(out_spatial[1:]) * taps * c_in
    budget = _chunk_budget(dtype.itemsize)
    buffer = np.empty(min(budget, gy.shape[0] * out_spatial[0] * row_cost) if row_cost <= budget else row_cost,
                      dtype=dtype)
    for n0, n1, r0, r1 in chunks(gy.shape[0], out_spatial[0], row_cost, budget):
        block_out = (r1 - r0, *out_spatial[1:])
        rows = (n1 - n0) * math.prod(block_out)
        dcols = buffer[: rows * taps * c_in].reshape(rows, taps * c_in)
        _gemm(gy[n0:n1, r0:r1].reshape(rows, c_out), w_rows_t, dcols)
        # dcols (rows, G, *K, Cg): scatter every tap's (rows, G, Cg) block onto the frame cells it read
        dcols = dcols.reshape(n1 - n0, *block_out, groups, *kernel, c_group)
        target = frame[n0:n1]
        for tap in itertools.product(*(range(k) for k in kernel)):
            cells = _tap_view(target, tap, r0, stride, dilation, block_out)
            cells = cells.reshape(*cells.shape[:-1], groups, c_group)
            cells += dcols[(Ellipsis, slice(None), *tap, slice(None))] if n else dcols
    return frame


# ----------------------------------------------------------------------------------------------------------
# gemm1x1: no windows at all
# ----------------------------------------------------------------------------------------------------------

def _subsampled(xp: np.ndarray, stride: tuple[int, ...], out_spatial: tuple[int, ...]) -> np.ndarray:
    return xp[(slice(None), *(slice(0, s * (o - 1) + 1, s) for s, o in zip(stride, out_spatial)))]


def _gemm1x1_forward(xp, w, stride, groups, out_spatial, y) -> None:
    rows = _subsampled(xp, stride, out_spatial).reshape(-1, xp.shape[-1])  # a view when stride is 1
    _gemm(rows, _weight_rows(w, groups), y.reshape(rows.shape[0], w.shape[0]))


def _gemm1x1_weight_grad(xp, gy, stride, groups) -> np.ndarray:
    rows = _subsampled(xp, stride, gy.shape[1:-1]).reshape(-1, xp.shape[-1])
    grad_rows = _gemm_tn(rows, gy.reshape(rows.shape[0], gy.shape[-1]), groups)
    return _weight_from_rows(grad_rows, gy.shape[-1], xp.shape[-1] // groups, (1,) * (xp.ndim - 2))


def _gemm1x1_input_grad(gy, w, frame_spatial, stride, groups) -> np.ndarray:
    out_spatial = gy.shape[1:-1]
    c_in = w.shape[1] * groups
    dtype = np.result_type(gy, w)
    w_rows_t = np.ascontiguousarray(_weight_rows(w, groups).transpose(0, 2, 1))
    gy_rows = gy.reshape(-1, gy.shape[-1])
    if tuple(frame_spatial) == tuple(out_spatial):  # stride 1 and nothing left over: the GEMM is the frame
        frame = np.empty((gy.shape[0], *frame_spatial, c_in), dtype=dtype)
        _gemm(gy_rows, w_rows_t, frame.reshape(gy_rows.shape[0], c_in))
        return frame
    frame = np.zeros((gy.shape[0], *frame_spatial, c_in), dtype=dtype)
    rows = np.empty((gy_rows.shape[0], c_in), dtype=dtype)
    _gemm(gy_rows, w_rows_t, rows)
    _subsampled(frame, stride, out_spatial)[...] = rows.reshape(*gy.shape[:-1], c_in)
    return frame


# ----------------------------------------------------------------------------------------------------------
# depthwise: a tap loop of broadcast multiply-adds, block by block, in the input's own memory layout
# ----------------------------------------------------------------------------------------------------------

def _depthwise_blocks(batch: int, out_spatial: tuple[int, ...], channels: int):
    return chunks(batch, out_spatial[0], math.prod(out_spatial[1:]) * channels, DEPTHWISE_BLOCK_ELEMENTS)


def _taps(kernel: tuple[int, ...]):
    return list(enumerate(itertools.product(*(range(k) for k in kernel))))


def _depthwise_forward(xp, w, stride, dilation, out_spatial, y) -> None:
    """``y[n, o, g*m + j] = sum_k xp[n, o*s + k*d, g] * w[g*m + j, 0, k]`` (``m = C_out / C_in``)."""
    kernel = w.shape[2:]
    c_in = xp.shape[-1]
    mult = w.shape[0] // c_in
    w_taps = w.reshape(c_in, mult, math.prod(kernel))  # (G, m, T)
    y_g = y.reshape(*y.shape[:-1], c_in, mult)
    scratch = empty_like_layout(y.shape, y.dtype, is_channels_first_memory(y))
    scratch_g = scratch.reshape(*scratch.shape[:-1], c_in, mult) if mult > 1 else None
    for n0, n1, r0, r1 in _depthwise_blocks(xp.shape[0], out_spatial, w.shape[0]):
        block_out = (r1 - r0, *out_spatial[1:])
        target = y_g[n0:n1, r0:r1]
        tmp = (scratch_g if mult > 1 else scratch)[n0:n1, r0:r1]
        if mult == 1:
            target = target[..., 0]
        for t, tap in _taps(kernel):
            cells = _tap_view(xp[n0:n1], tap, r0, stride, dilation, block_out)
            weights = w_taps[:, :, t] if mult > 1 else w_taps[:, 0, t]
            if mult > 1:
                cells = cells[..., None]
            if t == 0:
                np.multiply(cells, weights, out=target)
            else:
                np.multiply(cells, weights, out=tmp)
                target += tmp


def _depthwise_input_grad(gy, w, frame_spatial, stride, dilation, groups) -> np.ndarray:
    """``grad_xp[n, o*s + k*d, g] += sum_j gy[n, o, g*m + j] * w[g*m + j, 0, k]``, tap by tap."""
    kernel = w.shape[2:]
    c_out = gy.shape[-1]
    mult = c_out // groups
    w_taps = w.reshape(groups, mult, math.prod(kernel))
    out_spatial = gy.shape[1:-1]
    dtype = np.result_type(gy, w)
    channels_first_memory = is_channels_first_memory(gy)
    frame = empty_like_layout((gy.shape[0], *frame_spatial, groups), dtype, channels_first_memory)
    frame[...] = 0
    scratch = empty_like_layout((*gy.shape[:-1], groups), dtype, channels_first_memory)
    gy_g = gy.reshape(*gy.shape[:-1], groups, mult) if mult > 1 else gy
    for n0, n1, r0, r1 in _depthwise_blocks(gy.shape[0], out_spatial, c_out):
        block_out = (r1 - r0, *out_spatial[1:])
        source = gy_g[n0:n1, r0:r1]
        tmp = scratch[n0:n1, r0:r1]
        for t, tap in _taps(kernel):
            cells = _tap_view(frame[n0:n1], tap, r0, stride, dilation, block_out)
            if mult == 1:
                np.multiply(source, w_taps[:, 0, t], out=tmp)
            else:
                np.einsum("...gm,gm->...g", source, w_taps[:, :, t], out=tmp)
            cells += tmp
    return frame


def _depthwise_weight_grad(xp, gy, kernel, stride, dilation) -> np.ndarray:
    groups = xp.shape[-1]
    c_out = gy.shape[-1]
    mult = c_out // groups
    out_spatial = gy.shape[1:-1]
    dtype = np.result_type(xp, gy)
    grad = np.zeros((groups, mult, math.prod(kernel)), dtype=dtype)
    scratch = empty_like_layout(gy.shape, dtype, is_channels_first_memory(gy))
    gy_g = gy.reshape(*gy.shape[:-1], groups, mult)
    scratch_g = scratch.reshape(*scratch.shape[:-1], groups, mult)
    reduce_axes = tuple(range(1 + len(kernel)))
    for n0, n1, r0, r1 in _depthwise_blocks(xp.shape[0], out_spatial, c_out):
        block_out = (r1 - r0, *out_spatial[1:])
        source = gy_g[n0:n1, r0:r1]
        tmp = scratch_g[n0:n1, r0:r1]
        for t, tap in _taps(kernel):
            cells = _tap_view(xp[n0:n1], tap, r0, stride, dilation, block_out)[..., None]
            np.multiply(source, cells, out=tmp)
            grad[:, :, t] += tmp.sum(axis=reduce_axes)
    return grad.reshape(c_out, 1, *kernel)


# ----------------------------------------------------------------------------------------------------------
# Entry points (channels-last in and out)
# ----------------------------------------------------------------------------------------------------------

def correlate_cl(xp: np.ndarray, w: np.ndarray, stride: tuple[int, ...], dilation: tuple[int, ...], groups: int,
                 out_spatial: tuple[int, ...], algorithm: str | None = None) -> np.ndarray:
    """``y (N, *O, C_out)`` from a channels-last padded input ``xp (N, *Sp, C_in)`` (see module doc)."""
    algorithm = algorithm or choose(xp.shape[-1], w.shape[2:], groups)
    dtype = np.result_type(xp, w)
    shape = (xp.shape[0], *out_spatial, w.shape[0])
    if algorithm == "depthwise":
        y = empty_like_layout(shape, dtype, is_channels_first_memory(xp))
        _depthwise_forward(xp, w, stride, dilation, out_spatial, y)
        return y
    xp = xp if xp.flags.c_contiguous else np.ascontiguousarray(xp)
    y = np.empty(shape, dtype=dtype)
    if algorithm == "gemm1x1":
        _gemm1x1_forward(xp, w, stride, groups, out_spatial, y)
    else:
        _gemm_forward(xp, w, stride, dilation, groups, out_spatial, y)
    return y


def correlate_input_grad_cl(gy: np.ndarray, w: np.ndarray, frame_spatial: tuple[int, ...],
                            stride: tuple[int, ...], dilation: tuple[int, ...], groups: int,
                            algorithm: str | None = None) -> np.ndarray:
    """Adjoint of :func:`correlate_cl` in ``xp``: ``gy (N, *O, C_out)`` -> ``grad_xp (N, *Sp, C_in)``."""
    c_in = w.shape[1] * groups
    algorithm = algorithm or choose(c_in, w.shape[2:], groups)
    if algorithm == "depthwise":
        return _depthwise_input_grad(gy, w, frame_spatial, stride, dilation, groups)
    gy = gy if gy.flags.c_contiguous else np.ascontiguousarray(gy)
    if algorithm == "gemm1x1":
        return _gemm1x1_input_grad(gy, w, frame_spatial, stride, groups)
    return _gemm_input_grad(gy, w, frame_spatial, stride, dilation, groups)


def correlate_weight_grad_cl(xp: np.ndarray, gy: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
                             dilation: tuple[int, ...], groups: int, algorithm: str | None = None) -> np.ndarray:
    """Adjoint of :func:`correlate_cl` in ``w``: ``(C_out, C_in/G, *K)``."""
    algorithm = algorithm or choose(xp.shape[-1], kernel, groups)
    if algorithm == "depthwise":
        return _depthwise_weight_grad(xp, gy, kernel, stride, dilation)
    xp = xp if xp.flags.c_contiguous else np.ascontiguousarray(xp)
    gy = gy if gy.flags.c_contiguous else np.ascontiguousarray(gy)
    if algorithm == "gemm1x1":
        return _gemm1x1_weight_grad(xp, gy, stride, groups)
    return _gemm_weight_grad(xp, gy, kernel, stride, dilation, groups)
