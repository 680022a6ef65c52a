"""Convolution kernels on channels-last arrays, and the per-shape choice between them.

Notation as in :mod:`.conv`: batch ``N``; ``C_in``, ``C_out``; ``G`` groups with ``Cg = C_in / G`` and
``Cog = C_out / G`` channels each; kernel ``K`` with ``T = prod(K)`` taps; stride ``s``, dilation ``d``;
padded input ``Sp``, output ``O``, ``P = prod(O)``. Every array here is channels-last: ``(N, *S, C)``.

Four algorithms, one formula ``y[n, o, co] = sum_{k, c} xp[n, o*s + k*d, g*Cg + c] * w[co, c, k]``:

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

``winograd``
    F(2x2, 3x3) (:mod:`.winograd`) for 2-d 3x3 stride-1 layers wide enough (C >= 256) that the 2.25x fewer
    multiplies pay for its NumPy transform passes. Its transforms are exact in binary (additions and
    halvings), so float64 stays at rounding level (~1e-15) against the direct sum.

The choice (:func:`choose`, refined by :func:`use_winograd`) is by shape, from measurements recorded next to
the thresholds and in benchmarks/README.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from . import winograd
from .windows import window_view
from .workspace import get_workspace_limit

# One chunk's scratch is at most this many bytes (and never above the workspace cap): about the size where
# the im2col block of a chunk is still in the last-level cache when the GEMM reads it.
CHUNK_BYTES = 8 * 2**20
# The depthwise tap loop works on blocks of about this many output elements (operands in L2).
DEPTHWISE_BLOCK_ELEMENTS = 1 << 18
# The flat (stride-1) depthwise loop: smaller blocks, all operands contiguous runs.
FLAT_BLOCK_ELEMENTS = 1 << 16

ALGORITHMS = ("gemm", "gemm1x1", "depthwise", "winograd")
# Winograd F(2x2, 3x3) pays for its NumPy transform passes only for wide layers with even output sizes.
# Measured single-threaded, float32, batch 8 (ms, im2col GEMM vs Winograd): 64 ch @56: 21 vs 44;
# 128 ch @28: 16 vs 25; 256 ch @14: 15 vs 12; 512 ch @7 (odd: tiles overhang): 15 vs 17.
WINOGRAD_MIN_CHANNELS = 256
WINOGRAD_ODD_OUTPUT = False


def use_winograd(xp_shape: tuple[int, ...], w_shape: tuple[int, ...], stride, dilation, groups: int,
                 itemsize: int) -> bool:
    """Whether the im2col path should take Winograd F(2x2, 3x3) instead: 2-d, 3x3, stride 1, undilated,
    one group, wide enough, and one image's transform buffers within the workspace cap."""
    return (len(w_shape) == 4 and tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and groups == 1
            and min(w_shape[0], w_shape[1]) >= WINOGRAD_MIN_CHANNELS
            and (WINOGRAD_ODD_OUTPUT or all((s - 2) % 2 == 0 for s in xp_shape[1:3]))
            and winograd.workspace_per_image(xp_shape[1:3], w_shape[1], w_shape[0], itemsize)
            <= get_workspace_limit())


def choose(c_in: int, kernel: tuple[int, ...], groups: int) -> str:
    """The algorithm for a convolution with ``c_in`` input channels, this kernel and these groups."""
    if groups > 1 and groups == c_in:
        return "depthwise"
    if all(k == 1 for k in kernel):
        return "gemm1x1"
    return "gemm"  # refined to Winograd F(2x2, 3x3) by use_winograd() where it wins


def describe_case(kind: str, input_shape: tuple[int, ...], out_channels: int, kernel: tuple[int, ...],
                  stride: int, padding: int, groups: int) -> str:
    """The algorithm chosen for a benchmark case (``kind`` ``conv`` or ``conv_transpose``)."""
    c_in = input_shape[1]
    if kind == "conv":
        algorithm = choose(c_in, kernel, groups)
        frame = (input_shape[0], *(s + 2 * padding for s in input_shape[2:]), c_in)
        ones = (1,) * len(kernel)
        w_shape = (out_channels, c_in // groups, *kernel)
        if algorithm == "gemm" and use_winograd(frame, w_shape, (stride,) * len(kernel), ones, groups, 4):
            return "winograd"
        return algorithm
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
                      keep_layout: bool = False, planar: bool = False) -> np.ndarray:
    """Pad ``x (N, C, *S)`` spatially; return the padded array channels-last, ``(N, *Sp, C)``.

    The copy that pads also transposes into channels-last memory (one pass over the input), unless
    ``keep_layout`` asks to keep the input's memory order (the depthwise path reads any layout), or
    ``planar`` asks for contiguous ``(N, C, *Sp)`` planes. An unpadded input already in the wanted layout
    comes back as a view, without a copy.
    """
    x_cl = channels_last(x)
    padded = any(lo or hi for lo, hi in pads)
    channels_first_memory = planar or (keep_layout and is_channels_first_memory(x_cl))
    if planar and not padded:
        return channels_last(np.ascontiguousarray(x))
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
    return np.moveaxis(window_view(np.moveaxis(xp, -1, 1), kernel, stride, dilation, out_spatial), 1, -1)


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


def _weight_cols(w: np.ndarray, groups: int) -> np.ndarray:
    """``w (C_out, Cg, *K)`` -> ``(G, Cog, T*Cg)``, columns ordered (tap, channel) like the im2col columns.

    Only each output channel's small ``(Cg, T)`` block is transposed (cache-friendly; a view when ``T`` or
    ``Cg`` is 1). The forward GEMM uses its transpose as a view: BLAS reads either orientation.
    """
    c_out, c_group = w.shape[:2]
    taps = math.prod(w.shape[2:])
    blocks = w.reshape(groups, c_out // groups, c_group, taps).transpose(0, 1, 3, 2)
    if c_group > 1 and taps > 1:
        blocks = np.ascontiguousarray(blocks)
    return blocks.reshape(groups, c_out // groups, taps * c_group)


def _weight_from_cols(grad_cols: np.ndarray, c_group: int, kernel: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_weight_cols`: ``(G, Cog, T*Cg)`` -> ``(C_out, Cg, *K)``."""
    groups, c_out_group = grad_cols.shape[:2]
    taps = math.prod(kernel)
    blocks = grad_cols.reshape(groups * c_out_group, taps, c_group).transpose(0, 2, 1)
    return np.ascontiguousarray(blocks).reshape(groups * c_out_group, c_group, *kernel)


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


def _gemm_forward(xp, w, stride, dilation, groups, out_spatial, y) -> np.ndarray | None:
    """Fill ``y``; return the im2col matrix when it was built whole in one chunk (else None)."""
    kernel = w.shape[2:]
    c_out = w.shape[0]
    w_rows = _weight_cols(w, groups).transpose(0, 2, 1)  # (G, T*Cg, Cog), a view
    taps_c = math.prod(kernel) * xp.shape[-1]
    row_cost = math.prod(out_spatial[1:]) * taps_c
    budget = _chunk_budget(xp.dtype.itemsize)
    buffer = np.empty(min(budget, xp.shape[0] * out_spatial[0] * row_cost) if row_cost <= budget else row_cost,
                      dtype=y.dtype)
    blocks = list(chunks(xp.shape[0], out_spatial[0], row_cost, budget))
    cols = None
    for n0, n1, r0, r1 in blocks:
        cols = _fill_cols(buffer, xp, n0, n1, r0, r1, kernel, stride, dilation, out_spatial, groups)
        out = y[n0:n1, r0:r1].reshape(cols.shape[0], c_out)
        _gemm(cols, w_rows, out)
    return cols if len(blocks) == 1 else None


def _gemm_weight_grad(xp, gy, kernel, stride, dilation, groups, cols=None) -> np.ndarray:
    """``grad_w = cols^T @ gy`` chunk by chunk; ``cols``: the whole im2col matrix if the forward kept it."""
    out_spatial = gy.shape[1:-1]
    c_out = gy.shape[-1]
    c_in = xp.shape[-1]
    taps_c = math.prod(kernel) * c_in
    if cols is not None:
        grad_cols = _gemm_tn(gy.reshape(cols.shape[0], c_out), cols, groups)
        return _weight_from_cols(grad_cols, c_in // groups, kernel)
    row_cost = math.prod(out_spatial[1:]) * taps_c
    budget = _chunk_budget(xp.dtype.itemsize)
    buffer = np.empty(min(budget, xp.shape[0] * out_spatial[0] * row_cost) if row_cost <= budget else row_cost,
                      dtype=np.result_type(xp, gy))
    grad_cols = np.zeros((groups, c_out // groups, taps_c // groups), dtype=buffer.dtype)
    for n0, n1, r0, r1 in chunks(xp.shape[0], out_spatial[0], row_cost, budget):
        cols = _fill_cols(buffer, xp, n0, n1, r0, r1, kernel, stride, dilation, out_spatial, groups)
        gy_rows = gy[n0:n1, r0:r1].reshape(cols.shape[0], c_out)
        grad_cols += _gemm_tn(gy_rows, cols, groups)
    return _weight_from_cols(grad_cols, c_in // groups, kernel)


def _gemm_input_grad(gy, w, frame_spatial, stride, dilation, groups) -> np.ndarray:
    kernel = w.shape[2:]
    c_out, c_group = w.shape[:2]
    c_in = c_group * groups
    n = len(kernel)
    out_spatial = gy.shape[1:-1]
    w_cols = _weight_cols(w, groups)  # (G, Cog, T*Cg)
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
        _gemm(gy[n0:n1, r0:r1].reshape(rows, c_out), w_cols, dcols)
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
    _gemm(rows, _weight_cols(w, groups).transpose(0, 2, 1), y.reshape(rows.shape[0], w.shape[0]))


def _gemm1x1_weight_grad(xp, gy, stride, groups) -> np.ndarray:
    rows = _subsampled(xp, stride, gy.shape[1:-1]).reshape(-1, xp.shape[-1])
    grad_cols = _gemm_tn(gy.reshape(rows.shape[0], gy.shape[-1]), rows, groups)
    return _weight_from_cols(grad_cols, xp.shape[-1] // groups, (1,) * (xp.ndim - 2))


def _gemm1x1_input_grad(gy, w, frame_spatial, stride, groups) -> np.ndarray:
    out_spatial = gy.shape[1:-1]
    c_in = w.shape[1] * groups
    dtype = np.result_type(gy, w)
    w_cols = _weight_cols(w, groups)
    gy_rows = gy.reshape(-1, gy.shape[-1])
    if tuple(frame_spatial) == tuple(out_spatial):  # stride 1 and nothing left over: the GEMM is the frame
        frame = np.empty((gy.shape[0], *frame_spatial, c_in), dtype=dtype)
        _gemm(gy_rows, w_cols, frame.reshape(gy_rows.shape[0], c_in))
        return frame
    frame = np.zeros((gy.shape[0], *frame_spatial, c_in), dtype=dtype)
    rows = np.empty((gy_rows.shape[0], c_in), dtype=dtype)
    _gemm(gy_rows, w_cols, rows)
    _subsampled(frame, stride, out_spatial)[...] = rows.reshape(*gy.shape[:-1], c_in)
    return frame


# ----------------------------------------------------------------------------------------------------------
# depthwise: a tap loop of broadcast multiply-adds, block by block, in the input's own memory layout
# ----------------------------------------------------------------------------------------------------------

# Each array is handled as a "work view" in its own memory order, the channel axis split into (G, m):
# (N, G, m, *S) for channels-first memory, (N, *S, G, m) for channels-last, so that every ufunc runs along
# the innermost memory axis with the weights broadcast.

def _work(a: np.ndarray, cf: bool, groups: int) -> np.ndarray:
    """Work view of a channels-last-indexed array ``(N, *S, C)`` with ``C = G * m``."""
    if cf:
        a = channels_first(a)
        return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])
    return a.reshape(*a.shape[:-1], groups, a.shape[-1] // groups)


def _work_rows(a: np.ndarray, cf: bool, n0: int, n1: int, r0: int, r1: int) -> np.ndarray:
    return a[n0:n1, :, :, r0:r1] if cf else a[n0:n1, r0:r1]


def _work_tap(a: np.ndarray, cf: bool, tap, first_row: int, stride, dilation, block_out) -> np.ndarray:
    """The cells of work view ``a`` that one tap reads for a block of output rows (see :func:`_tap_view`)."""
    index = []
    for axis, (k, s, d, o) in enumerate(zip(tap, stride, dilation, block_out)):
        start = k * d + (first_row * s if axis == 0 else 0)
        index.append(slice(start, start + s * (o - 1) + 1, s))
    full = slice(None)
    return a[(full, full, full, *index)] if cf else a[(full, *index, full, full)]


def _work_weights(w_tap: np.ndarray, cf: bool, n: int) -> np.ndarray:
    """One tap's weights ``(G, m)`` shaped to broadcast against a work view."""
    return w_tap.reshape(*w_tap.shape, *([1] * n)) if cf else w_tap


def _depthwise_blocks(batch: int, out_spatial: tuple[int, ...], channels: int):
    return chunks(batch, out_spatial[0], math.prod(out_spatial[1:]) * channels, DEPTHWISE_BLOCK_ELEMENTS)


def _taps(kernel: tuple[int, ...]):
    return list(enumerate(itertools.product(*(range(k) for k in kernel))))


def _depthwise_forward(xp, w, stride, dilation, out_spatial, y) -> None:
    """``y[n, o, g*m + j] = sum_k xp[n, o*s + k*d, g] * w[g*m + j, 0, k]`` (``m = C_out / C_in``)."""
    kernel = w.shape[2:]
    groups = xp.shape[-1]
    w_taps = w.reshape(groups, w.shape[0] // groups, math.prod(kernel))  # (G, m, T)
    cf = is_channels_first_memory(y)
    x_w, y_w = _work(xp, cf, groups), _work(y, cf, groups)
    scratch = _work(empty_like_layout(y.shape, y.dtype, cf), cf, groups)
    for n0, n1, r0, r1 in _depthwise_blocks(xp.shape[0], out_spatial, w.shape[0]):
        block_out = (r1 - r0, *out_spatial[1:])
        target = _work_rows(y_w, cf, n0, n1, r0, r1)
        tmp = _work_rows(scratch, cf, n0, n1, r0, r1)
        source = x_w[n0:n1]
        for t, tap in _taps(kernel):
            cells = _work_tap(source, cf, tap, r0, stride, dilation, block_out)
            weights = _work_weights(w_taps[:, :, t], cf, len(kernel))
            if t == 0:
                np.multiply(cells, weights, out=target)
            else:
                np.multiply(cells, weights, out=tmp)
                target += tmp


def _is_planar(xp: np.ndarray) -> bool:
    """Whether a channels-last-indexed ``xp`` is stored as contiguous ``(N, C, *S)`` planes."""
    return channels_first(xp).flags.c_contiguous


def _depthwise_forward_flat(xp: np.ndarray, w: np.ndarray, dilation: tuple[int, ...],
                            out_spatial: tuple[int, ...]) -> np.ndarray:
    """Stride-1 depthwise correlation on contiguous planes, each plane read as one flat vector.

    With ``xp`` stored as ``(N, G, *Sp)`` planes, output position ``o`` has flat index
    ``i = sum_a o_a * st_a`` (``st`` the plane's element strides) and tap ``k`` reads ``xp_flat[i + off_k]``
    with ``off_k = sum_a k_a * d_a * st_a``. So each tap is one multiply-add of contiguous runs,
    ``y_flat[:, :, :L] += xp_flat[:, :, off_k:off_k + L] * w[:, :, k]``, computed over the padded frame's
    coordinates; the entries at frame positions outside ``O`` (the last columns of each row) are never read
    back. Returns ``(N, *O, G*m)`` (a view of ``(N, G*m, *Sp)`` planes).
    """
    x = channels_first(xp)
    batch, groups = x.shape[:2]
    frame = x.shape[2:]
    kernel = w.shape[2:]
    mult = w.shape[0] // groups
    plane = math.prod(frame)
    plane_strides = [math.prod(frame[a + 1:]) for a in range(len(frame))]
    length = sum((o - 1) * st for o, st in zip(out_spatial, plane_strides)) + 1
    offsets = [sum(k * d * st for k, d, st in zip(tap, dilation, plane_strides))
               for _, tap in _taps(kernel)]
    w_taps = w.reshape(groups, mult, len(offsets))
    x_flat = x.reshape(batch * groups, 1, plane)
    full = np.empty((batch * groups, mult, plane), dtype=np.result_type(xp, w))
    w_planes = np.broadcast_to(w_taps[None], (batch, groups, mult, len(offsets))).reshape(
        batch * groups, mult, len(offsets))
    planes_per_block = max(1, FLAT_BLOCK_ELEMENTS // (mult * length))
    span = length if planes_per_block > 1 or mult * length <= FLAT_BLOCK_ELEMENTS else max(
        1, FLAT_BLOCK_ELEMENTS // mult)
    scratch = np.empty((min(planes_per_block, batch * groups), mult, span), dtype=full.dtype)
    for p0 in range(0, batch * groups, planes_per_block):
        p1 = min(batch * groups, p0 + planes_per_block)
        for i0 in range(0, length, span):
            i1 = min(length, i0 + span)
            target = full[p0:p1, :, i0:i1]
            tmp = scratch[: p1 - p0, :, : i1 - i0]
            for t, off in enumerate(offsets):
                cells = x_flat[p0:p1, :, i0 + off:i1 + off]
                weights = w_planes[p0:p1, :, t:t + 1]
                if t == 0:
                    np.multiply(cells, weights, out=target)
                else:
                    np.multiply(cells, weights, out=tmp)
                    target += tmp
    y = full.reshape(batch, groups * mult, *frame)[(Ellipsis, *(slice(0, o) for o in out_spatial))]
    return channels_last(y)


def _depthwise_input_grad(gy, w, frame_spatial, stride, dilation, groups) -> np.ndarray:
    """``grad_xp[n, o*s + k*d, g] += sum_j gy[n, o, g*m + j] * w[g*m + j, 0, k]``, tap by tap."""
    kernel = w.shape[2:]
    c_out = gy.shape[-1]
    mult = c_out // groups
    w_taps = w.reshape(groups, mult, math.prod(kernel))
    out_spatial = gy.shape[1:-1]
    dtype = np.result_type(gy, w)
    cf = is_channels_first_memory(gy)
    frame = empty_like_layout((gy.shape[0], *frame_spatial, groups), dtype, cf)
    frame[...] = 0
    frame_w, gy_w = _work(frame, cf, groups), _work(gy, cf, groups)
    scratch = _work(empty_like_layout(gy.shape, dtype, cf), cf, groups)
    m_axis = 2 if cf else -1
    for n0, n1, r0, r1 in _depthwise_blocks(gy.shape[0], out_spatial, c_out):
        block_out = (r1 - r0, *out_spatial[1:])
        source = _work_rows(gy_w, cf, n0, n1, r0, r1)
        tmp = _work_rows(scratch, cf, n0, n1, r0, r1)
        target = frame_w[n0:n1]
        for t, tap in _taps(kernel):
            cells = _work_tap(target, cf, tap, r0, stride, dilation, block_out)
            np.multiply(source, _work_weights(w_taps[:, :, t], cf, len(kernel)), out=tmp)
            cells += tmp if mult == 1 else tmp.sum(axis=m_axis, keepdims=True)
    return frame


def _depthwise_weight_grad(xp, gy, kernel, stride, dilation) -> np.ndarray:
    """``grad_w[g*m + j, 0, k] = sum_{n, o} gy[n, o, g*m + j] * xp[n, o*s + k*d, g]``: one einsum per tap.

    Each einsum multiplies and sums in one pass over ``gy`` and the tap's strided view of ``xp``.
    """
    groups = xp.shape[-1]
    c_out = gy.shape[-1]
    mult = c_out // groups
    out_spatial = gy.shape[1:-1]
    grad = np.empty((groups, mult, math.prod(kernel)), dtype=np.result_type(xp, gy))
    cf = is_channels_first_memory(gy)
    x_w, gy_w = _work(xp, cf, groups), _work(gy, cf, groups)
    space = "abcdefhijkl"[: len(kernel)]
    subscripts = f"ngm{space},ng{space}->gm" if cf else f"n{space}gm,n{space}g->gm"
    for t, tap in _taps(kernel):
        cells = _work_tap(x_w, cf, tap, 0, stride, dilation, out_spatial)
        cells = cells[:, :, 0] if cf else cells[..., 0]
        grad[:, :, t] = np.einsum(subscripts, gy_w, cells)
    return grad.reshape(c_out, 1, *kernel)


# ----------------------------------------------------------------------------------------------------------
# Entry points (channels-last in and out)
# ----------------------------------------------------------------------------------------------------------

def correlate_cl(xp: np.ndarray, w: np.ndarray, stride: tuple[int, ...], dilation: tuple[int, ...], groups: int,
                 out_spatial: tuple[int, ...], algorithm: str | None = None, saved: dict | None = None
                 ) -> np.ndarray:
    """``y (N, *O, C_out)`` from a channels-last padded input ``xp (N, *Sp, C_in)`` (see module doc).

    ``saved``: a dict that receives ``"cols"``, the im2col matrix, when the im2col path built it whole
    (within the workspace cap), so that a layer's backward can reuse it for the weight gradient.
    """
    algorithm = algorithm or choose(xp.shape[-1], w.shape[2:], groups)
    dtype = np.result_type(xp, w)
    shape = (xp.shape[0], *out_spatial, w.shape[0])
    if algorithm == "depthwise":
        if all(st == 1 for st in stride) and _is_planar(xp):
            return _depthwise_forward_flat(xp, w, dilation, out_spatial)
        y = empty_like_layout(shape, dtype, is_channels_first_memory(xp))
        _depthwise_forward(xp, w, stride, dilation, out_spatial, y)
        return y
    y = np.empty(shape, dtype=dtype)
    if algorithm == "gemm1x1":  # copies only the (subsampled) rows it multiplies, if they are not contiguous
        _gemm1x1_forward(xp, w, stride, groups, out_spatial, y)
        return y
    xp = xp if xp.flags.c_contiguous else np.ascontiguousarray(xp)
    if use_winograd(xp.shape, w.shape, stride, dilation, groups, y.dtype.itemsize):
        per_image = winograd.workspace_per_image(xp.shape[1:3], w.shape[1], w.shape[0], y.dtype.itemsize)
        return winograd.correlate_winograd(xp, w, out_spatial, get_workspace_limit() // per_image)
    cols = _gemm_forward(xp, w, stride, dilation, groups, out_spatial, y)
    if saved is not None and cols is not None:
        saved["cols"] = cols
    return y


def correlate_input_grad_cl(gy: np.ndarray, w: np.ndarray, frame_spatial: tuple[int, ...],
                            stride: tuple[int, ...], dilation: tuple[int, ...], groups: int,
                            algorithm: str | None = None) -> np.ndarray:
    """Adjoint of :func:`correlate_cl` in ``xp``: ``gy (N, *O, C_out)`` -> ``grad_xp (N, *Sp, C_in)``."""
    c_in = w.shape[1] * groups
    algorithm = algorithm or choose(c_in, w.shape[2:], groups)
    if algorithm == "depthwise":
        if all(st == 1 for st in stride) and w.shape[0] == groups and _finite(w):
            # stride 1, one output channel per group: grad_xp is the correlation of gy, zero-padded by
            # d*(K-1) on each side, with the flipped kernel
            # (the frame may extend past the last tap's reach by a transposed conv's output_padding)
            pads = tuple((d * (k - 1), f - o) for k, d, f, o in zip(w.shape[2:], dilation, frame_spatial,
                                                                 gy.shape[1:-1]))
            gyp = pad_channels_last(channels_first(gy), pads, keep_layout=True, planar=True)
            flipped = w[(slice(None), slice(None), *(slice(None, None, -1),) * (w.ndim - 2))]
            return _depthwise_forward_flat(gyp, flipped, dilation, tuple(frame_spatial))
        return _depthwise_input_grad(gy, w, frame_spatial, stride, dilation, groups)
    if (algorithm == "gemm" and all(s == 1 for s in stride) and gy.size * math.prod(w.shape[2:]) >= 16 * w.size
            and _finite(w)):
        # stride 1, activations much larger than the weight: grad_xp is a correlation of gy, zero-padded by
        # d*(K-1), with the adjoint kernel. One im2col GEMM with a long inner dimension (T*C_out) instead of
        # a thin GEMM (inner dimension C_out) followed by a scatter of T strided adds.
        pads = tuple((d * (k - 1), f - o) for k, d, f, o in zip(w.shape[2:], dilation, frame_spatial, gy.shape[1:-1]))
        gyp = pad_channels_last(channels_first(gy), pads)
        return correlate_cl(gyp, _adjoint_weight(w, groups), stride, dilation, groups, tuple(frame_spatial), "gemm")
    gy = gy if gy.flags.c_contiguous else np.ascontiguousarray(gy)
    if algorithm == "gemm1x1":
        return _gemm1x1_input_grad(gy, w, frame_spatial, stride, groups)
    return _gemm_input_grad(gy, w, frame_spatial, stride, dilation, groups)


def _finite(w: np.ndarray) -> bool:
    """The correlation form of the input gradient adds ``0 * w`` terms over gy's zero padding: exact for a
    finite weight, but NaN where PyTorch (which only sums real terms) gives inf. Use it for finite weights."""
    return bool(np.isfinite(w).all())


def _adjoint_weight(w: np.ndarray, groups: int) -> np.ndarray:
    """``w (C_out, Cg, *K)`` -> ``w' (C_in, Cog, *K)``, ``w'[g*Cg + c, j, k] = w[g*Cog + j, c, K - 1 - k]``."""
    c_out, c_group = w.shape[:2]
    kernel = w.shape[2:]
    swapped = w.reshape(groups, c_out // groups, c_group, *kernel).swapaxes(1, 2)
    flipped = swapped[(Ellipsis, *(slice(None, None, -1),) * len(kernel))]
    return np.ascontiguousarray(flipped).reshape(groups * c_group, c_out // groups, *kernel)


def correlate_weight_grad_cl(xp: np.ndarray, gy: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
                             dilation: tuple[int, ...], groups: int, algorithm: str | None = None,
                             cols: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of :func:`correlate_cl` in ``w``: ``(C_out, C_in/G, *K)``; ``cols`` as saved by the forward."""
    algorithm = algorithm or choose(xp.shape[-1], kernel, groups)
    if algorithm == "depthwise":
        return _depthwise_weight_grad(xp, gy, kernel, stride, dilation)
    gy = gy if gy.flags.c_contiguous else np.ascontiguousarray(gy)
    if algorithm == "gemm1x1":
        return _gemm1x1_weight_grad(xp, gy, stride, groups)
    xp = xp if xp.flags.c_contiguous else np.ascontiguousarray(xp)
    return _gemm_weight_grad(xp, gy, kernel, stride, dilation, groups, cols if algorithm == "gemm" else None)
