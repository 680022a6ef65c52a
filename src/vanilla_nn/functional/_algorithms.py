"""Convolution kernels on channels-last arrays, each following the plan of :mod:`.plan`.

Notation as in :mod:`.conv`: batch ``N``; ``C_in``, ``C_out``; ``G`` groups with ``Cg = C_in / G`` and
``Cog = C_out / G`` channels each; kernel ``K`` with ``T = prod(K)`` taps; stride ``s``, dilation ``d``;
padded input ``Sp``, output ``O``, ``P = prod(O)``. Arrays are indexed channels-last, ``(N, *S, C)``
(their memory order is the plan's: channels-last for the GEMM paths, planes for the channels-first GEMM,
any for depthwise and 1x1).

One formula, ``y[n, o, co] = sum_{k, c} xp[n, o*s + k*d, g*Cg + c] * w[co, c, k]``, six algorithms
(:class:`.plan.Algorithm`); every kernel has the same three entry points, ``forward(plan, xp, w)``,
``input_grad(plan, gy, w)`` and ``weight_grad(plan, xp, gy, cols)``, dispatched by :func:`correlate_cl`,
:func:`correlate_input_grad_cl` and :func:`correlate_weight_grad_cl`:

``gemm``
    im2col + GEMM. The windows ``(N, *O, *K, C)`` are a strided view of ``xp``; one box of them at a time
    (:class:`.plan.Chunking`) is copied into a reused buffer (contiguous ``C`` runs, so the copy streams) and
    multiplied by the weight as ``(rows, T*Cg) @ (T*Cg, Cog)`` per group. Backward: ``grad_w = cols^T @ gy``
    (same boxes); ``grad_xp`` by the plan's strategy: the correlation of the padded ``gy`` with the adjoint
    kernel (stride 1, many rows), or ``gy @ w^T`` scattered back tap by tap (col2im).
``gemm_cf``
    Few input channels (the 7x7 first layer): the same GEMM on contiguous ``(N, C, *Sp)`` planes, the im2col
    block ``(C*T, rows)`` copying whole output rows, ``y_n (C_out, rows) = W (C_out, C*T) @ cols``.
``gemm1x1``
    Every kernel size 1: the "windows" are the input itself (subsampled by the stride): one GEMM.
``depthwise``
    ``Cg = 1``: a loop over the ``T`` taps of fused broadcasts, ``y += xp[tap window] * w[:, tap]``, box by box
    so each box's operands stay in cache, in the input's own memory layout.
``winograd``
    F(2x2, 3x3) (:mod:`.winograd`) for wide 2-d 3x3 stride-1 layers.
``winograd_f4``
    F(4x4, 3x3) (:mod:`.winograd`) for 2-d 3x3 stride-1 layers of 32 to 255 channels (float32 only with
    ``plan.WINOGRAD_F4_FLOAT32``).

Scratch: every buffer that grows with the work is one box's worth (the plan sizes the boxes under the
workspace cap); the only full-size arrays are the returned ones (and their padded frames) and the padded
input, plus the padded ``grad_output`` of the correlation strategy, which the plan takes only when it fits
the cap.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from . import winograd
from .plan import (
    FLAT_BLOCK_ELEMENTS,
    WEIGHT_GRAD_BLOCK_ELEMENTS,
    Algorithm,
    Box,
    ConvGeometry,
    ConvPlan,
    InputGrad,
    Layout,
    WeightGrad,
    layout_of,
    plan_conv,
)
from .windows import window_view
from .workspace import get_workspace_limit

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


def pad_for(plan: ConvPlan, x: np.ndarray, pads, mode: str = "zeros") -> np.ndarray:
    """Pad ``x (N, C, *S)`` into the memory order the plan's forward reads; returns ``(N, C, *Sp)`` (a view)."""
    algorithm = plan.algorithm
    if algorithm == Algorithm.GEMM_CHANNELS_FIRST or (
            algorithm == Algorithm.DEPTHWISE and plan.geometry.stride == (1,) * len(pads)
            and plan.layout != Layout.CHANNELS_LAST):
        return channels_first(pad_channels_last(x, pads, mode, planar=True))
    keep = algorithm in (Algorithm.DEPTHWISE, Algorithm.GEMM1X1)  # 1x1 copies only its subsample, per box
    return channels_first(pad_channels_last(x, pads, mode, keep_layout=keep))


def rows_layout(plan: ConvPlan, a: np.ndarray) -> np.ndarray:
    """``a (N, C, *O)`` in the memory order the plan's kernels read a grad_output in (one copy at most)."""
    if plan.algorithm == Algorithm.DEPTHWISE:
        return a
    if plan.algorithm == Algorithm.GEMM_CHANNELS_FIRST:
        return np.ascontiguousarray(a)
    return channels_first(np.ascontiguousarray(channels_last(a)))


def _window_view(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
                 out_spatial: tuple[int, ...]) -> np.ndarray:
    """``(N, *O, *K, C)`` view of a channels-last ``xp (N, *Sp, C)``: ``[n, o, k, c] = xp[n, o*s + k*d, c]``."""
    return np.moveaxis(window_view(np.moveaxis(xp, -1, 1), kernel, stride, dilation, out_spatial), 1, -1)


# ----------------------------------------------------------------------------------------------------------
# Boxes of the output grid (N, *O): what one box reads and writes
# ----------------------------------------------------------------------------------------------------------

def _box_source(frame: np.ndarray, box: Box, stride: tuple[int, ...]) -> np.ndarray:
    """``frame (N, *Sp, C)`` from the first cell the box's windows read, images of the box only."""
    n0, nb = box.start[0], box.size[0]
    return frame[(slice(n0, n0 + nb), *(slice(o * s, None) for o, s in zip(box.start[1:], stride)))]


def _box_windows(xp: np.ndarray, box: Box, kernel, stride, dilation) -> np.ndarray:
    """``(nb, *box, *K, C)`` view of the windows of one box."""
    return _window_view(_box_source(xp, box, stride), kernel, stride, dilation, box.size[1:])


def _box_tap(frame: np.ndarray, tap: tuple[int, ...], box: Box, stride, dilation) -> np.ndarray:
    """The cells ``frame[n, (o + box start) * s + tap * d, :]`` one tap reads for the box, ``(nb, *box, C)``."""
    n0, nb = box.start[0], box.size[0]
    index = [slice(n0, n0 + nb)]
    for k, s, d, o0, o in zip(tap, stride, dilation, box.start[1:], box.size[1:]):
        start = o0 * s + k * d
        index.append(slice(start, start + s * (o - 1) + 1, s))
    return frame[tuple(index)]


def _box_rows(a: np.ndarray, box: Box, buffer: np.ndarray | None = None) -> np.ndarray:
    """``a (N, *O, C)`` restricted to the box as ``(rows, C)``: a view when possible, else copied to ``buffer``."""
    block = a[box.slices]
    rows = box.rows
    try:
        return np.reshape(block, (rows, a.shape[-1]), copy=False)
    except ValueError:
        out = (np.empty(rows * a.shape[-1], a.dtype) if buffer is None else buffer[: rows * a.shape[-1]])
        out = out.reshape(rows, a.shape[-1])
        np.copyto(out.reshape(block.shape), block)
        return out


def _subsampled(xp: np.ndarray, stride: tuple[int, ...], out_spatial: tuple[int, ...]) -> np.ndarray:
    return xp[(slice(None), *(slice(0, s * (o - 1) + 1, s) for s, o in zip(stride, out_spatial)))]


def _taps(kernel: tuple[int, ...]):
    return list(enumerate(itertools.product(*(range(k) for k in kernel))))


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
# gemm: im2col + GEMM, box by box
# ----------------------------------------------------------------------------------------------------------

def _fill_cols(buffer: np.ndarray, xp: np.ndarray, box: Box, kernel, stride, dilation, groups: int) -> np.ndarray:
    """Copy the windows of one box into ``buffer``; ``(rows, G*T*Cg)``."""
    windows = _box_windows(xp, box, kernel, stride, dilation)  # (nb, *box, *K, C)
    rows = box.rows
    taps = math.prod(kernel)
    c_in = xp.shape[-1]
    cols = buffer[: rows * taps * c_in]
    if groups == 1:
        np.copyto(cols.reshape(windows.shape), windows)
    else:  # (nb, *box, *K, G, Cg) -> (nb, *box, G, *K, Cg): each group's columns contiguous
        n = len(kernel)
        split = windows.reshape(*windows.shape[:-1], groups, c_in // groups)
        lead = 1 + n
        order = (*range(lead), lead + n, *range(lead, lead + n), lead + n + 1)
        target = cols.reshape(*box.size, groups, *kernel, c_in // groups)
        np.copyto(target, split.transpose(order))
    return cols.reshape(rows, taps * c_in)


def _gemm_forward(plan: ConvPlan, xp: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """``y (N, *O, C_out)`` (plus the bias, added to each box while it is in cache), and the im2col matrix
    when the plan builds it whole in one box (else None)."""
    g = plan.geometry
    y = np.empty((g.batch, *g.out_spatial, g.c_out), dtype=plan.dtype)
    w_rows = _weight_cols(w, g.groups).transpose(0, 2, 1)  # (G, T*Cg, Cog), a view
    chunking = plan.forward_chunks
    buffer = np.empty(chunking.max_rows * g.taps * g.c_in, dtype=plan.dtype)
    cols = None
    for box in chunking.boxes():
        cols = _fill_cols(buffer, xp, box, g.kernel, g.stride, g.dilation, g.groups)
        out = _box_rows(y, box)
        _gemm(cols, w_rows, out)
        if b is not None:
            out += b
    return y, (cols if chunking.whole else None)


def _gemm_weight_grad(plan: ConvPlan, xp: np.ndarray, gy: np.ndarray, cols: np.ndarray | None = None
                      ) -> np.ndarray:
    """``grad_w = cols^T @ gy`` box by box; ``cols``: the whole im2col matrix if the forward kept it."""
    g = plan.geometry
    c_group = g.c_in // g.groups
    if cols is not None:
        whole = Box((0,) * (gy.ndim - 1), gy.shape[:-1])
        grad_cols = _gemm_tn(_box_rows(gy, whole), cols, g.groups)
        return _weight_from_cols(grad_cols, c_group, g.kernel)
    chunking = plan.weight_chunks
    buffer = np.empty(chunking.max_rows * g.taps * g.c_in, dtype=plan.dtype)
    gy_buffer = np.empty(chunking.max_rows * g.c_out, dtype=plan.dtype)
    grad_cols = np.zeros((g.groups, g.c_out // g.groups, g.taps * c_group), dtype=plan.dtype)
    for box in chunking.boxes():
        cols = _fill_cols(buffer, xp, box, g.kernel, g.stride, g.dilation, g.groups)
        grad_cols += _gemm_tn(_box_rows(gy, box, gy_buffer), cols, g.groups)
    return _weight_from_cols(grad_cols, c_group, g.kernel)


def _gemm_input_grad(plan: ConvPlan, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """col2im: ``dcols = gy @ W`` per box, every tap's block added onto the frame cells it read."""
    g = plan.geometry
    c_group = g.c_in // g.groups
    w_cols = _weight_cols(w, g.groups)  # (G, Cog, T*Cg)
    frame = np.zeros((g.batch, *g.frame, g.c_in), dtype=plan.dtype)
    chunking = plan.input_chunks
    buffer = np.empty(chunking.max_rows * g.taps * g.c_in, dtype=plan.dtype)
    gy_buffer = np.empty(chunking.max_rows * g.c_out, dtype=plan.dtype)
    for box in chunking.boxes():
        rows = box.rows
        dcols = buffer[: rows * g.taps * g.c_in].reshape(rows, g.taps * g.c_in)
        _gemm(_box_rows(gy, box, gy_buffer), w_cols, dcols)
        # dcols (rows, G, *K, Cg): scatter every tap's (rows, G, Cg) block onto the frame cells it read
        dcols = dcols.reshape(*box.size, g.groups, *g.kernel, c_group)
        for _, tap in _taps(g.kernel):
            cells = _box_tap(frame, tap, box, g.stride, g.dilation)
            cells = cells.reshape(*cells.shape[:-1], g.groups, c_group)
            cells += dcols[(Ellipsis, slice(None), *tap, slice(None))]
    return frame


def _correlation_input_grad(plan: ConvPlan, gy: np.ndarray, w: np.ndarray) -> np.ndarray | None:
    """Stride 1: ``grad_xp`` is the correlation of ``gy``, zero-padded by ``d*(K-1)`` before and ``Sp - O``
    after, with the adjoint kernel: one im2col GEMM with a long inner dimension (``T*C_out``) instead of a
    thin GEMM (inner dimension ``C_out``) and ``T`` strided adds. None when the weight is not finite: the
    correlation would add ``0 * inf`` over the padding (NaN) where PyTorch, summing real terms only, gives inf.
    """
    g, inner = plan.geometry, plan.input_grad_plan
    w_adj = _adjoint_weight(w, g.groups)
    if not np.isfinite(w_adj).all():  # a guard on the weight copy made anyway, not a choice of strategy
        return None
    pads = tuple((d * (k - 1), f - o) for k, d, f, o in zip(g.kernel, g.dilation, g.frame, g.out_spatial))
    gyp = pad_channels_last(channels_first(gy), pads)
    return correlate_cl(gyp, w_adj, inner)[0]


def _adjoint_weight(w: np.ndarray, groups: int) -> np.ndarray:
    """``w (C_out, Cg, *K)`` -> ``w' (C_in, Cog, *K)``, ``w'[g*Cg + c, j, k] = w[g*Cog + j, c, K - 1 - k]``."""
    c_out, c_group = w.shape[:2]
    kernel = w.shape[2:]
    swapped = w.reshape(groups, c_out // groups, c_group, *kernel).swapaxes(1, 2)
    flipped = swapped[(Ellipsis, *(slice(None, None, -1),) * len(kernel))]
    return np.ascontiguousarray(flipped).reshape(groups * c_group, c_out // groups, *kernel)


# ----------------------------------------------------------------------------------------------------------
# gemm_view: 1-d, undilated, one group; the im2col matrix of each phase of outputs is a view
# ----------------------------------------------------------------------------------------------------------

def _phase_windows(xp: np.ndarray, plan: ConvPlan) -> list[tuple[slice, np.ndarray]]:
    """``(outputs, windows)`` per phase ``r < G = ceil(K / s)``: the outputs ``o = r, r + G, ...`` (a slice of
    ``O``) and their windows ``(N, Q_r, K*C_in)``, ``[n, q, k*C + c] = xp[n, (r + G*q)*s + k, c]``, a view of a
    contiguous channels-last ``xp (N, Lp, C_in)`` whose rows (``G*s*C_in >= K*C_in`` apart) do not overlap."""
    g = plan.geometry
    (kernel,), (stride,), (out,) = g.kernel, g.stride, g.out_spatial
    phases = -(-kernel // stride)
    batch, length, channels = xp.shape
    flat = xp.reshape(batch, length * channels)
    item = xp.dtype.itemsize
    result = []
    for r in range(min(phases, out)):
        count = len(range(r, out, phases))
        start = flat[:, r * stride * channels:]
        # the last value read, ((r + G*(count-1))*s + K)*C - 1, is inside the row: that window is a valid one
        windows = np.lib.stride_tricks.as_strided(
            start, (batch, count, kernel * channels), (flat.strides[0], phases * stride * channels * item, item),
            writeable=False)
        result.append((slice(r, out, phases), windows))
    return result


def _gemm_view_forward(plan: ConvPlan, xp: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
                       ) -> tuple[np.ndarray, None]:
    """``y[:, phase] = windows_phase (N, Q_r, K*C_in) @ W (K*C_in, C_out)``, written into strided output rows."""
    g = plan.geometry
    y = np.empty((g.batch, *g.out_spatial, g.c_out), dtype=plan.dtype)
    w_rows = _weight_cols(w, 1)[0].T  # (K*C_in, C_out), rows ordered (tap, channel) like a window
    for outputs, windows in _phase_windows(xp, plan):
        np.matmul(windows, w_rows, out=y[:, outputs])
    if b is not None:
        y += b
    return y, None


def _gemm_view_weight_grad(plan: ConvPlan, xp: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """``grad_W (C_out, K*C_in) = sum_{phase, n} gy[n, phase]^T @ windows_phase[n]``, one GEMM per phase and
    image on the views; ``gy`` read as channels-last rows (one copy if it is not)."""
    g = plan.geometry
    gy = gy if gy.flags.c_contiguous else np.ascontiguousarray(gy)
    grad = np.zeros((g.c_out, g.taps * g.c_in), dtype=plan.dtype)
    product = np.empty_like(grad)
    for outputs, windows in _phase_windows(xp, plan):
        for n in range(g.batch):
            np.matmul(gy[n, outputs].T, windows[n], out=product)
            grad += product
    return _weight_from_cols(grad[None], g.c_in, g.kernel)


# ----------------------------------------------------------------------------------------------------------
# gemm_cf: few input channels, im2col on contiguous planes
# ----------------------------------------------------------------------------------------------------------

def _planes_box(a_planes: np.ndarray, box: Box) -> np.ndarray:
    """``a (N, C, *O)`` restricted to one box of one image, ``(C, rows)`` (a view for contiguous planes)."""
    n = box.start[0]
    block = a_planes[(n, slice(None), *box.slices[1:])]
    try:
        return np.reshape(block, (a_planes.shape[1], box.rows // box.size[0]), copy=False)
    except ValueError:
        return np.ascontiguousarray(block).reshape(a_planes.shape[1], -1)


def _fill_cols_cf(buffer: np.ndarray, xp_planes: np.ndarray, box: Box, kernel, stride, dilation) -> np.ndarray:
    """The windows of one box of one image as ``(C*T, rows)``: runs of output rows, not of channels."""
    n = box.start[0]
    source = xp_planes[(slice(n, n + 1), slice(None), *(slice(o * s, None) for o, s in zip(box.start[1:], stride)))]
    windows = window_view(source, kernel, stride, dilation, box.size[1:])[0]  # (C, *box, *K)
    nd = len(kernel)
    order = (0, *range(1 + nd, 1 + 2 * nd), *range(1, 1 + nd))  # (C, *K, *box)
    c_in = xp_planes.shape[1]
    rows = math.prod(box.size[1:])
    cols = buffer[: c_in * math.prod(kernel) * rows]
    np.copyto(cols.reshape(c_in, *kernel, *box.size[1:]), windows.transpose(order))
    return cols.reshape(c_in * math.prod(kernel), rows)


def _cf_boxes(plan: ConvPlan):
    """Boxes of one image each (the channels-first kernels work image by image)."""
    for box in plan.forward_chunks.boxes():
        if box.size[0] == 1:
            yield box
        else:
            for n in range(box.start[0], box.start[0] + box.size[0]):
                yield Box((n, *box.start[1:]), (1, *box.size[1:]))


def _gemm_cf_forward(plan: ConvPlan, xp: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
                     ) -> tuple[np.ndarray, None]:
    """``y_n (C_out, rows) = W (C_out, C*T) @ cols_n (+ b)`` into contiguous output planes."""
    g = plan.geometry
    xp_planes = channels_first(xp)
    y = np.empty((g.batch, g.c_out, *g.out_spatial), dtype=plan.dtype)
    w2 = w.reshape(g.c_out, -1)
    buffer = _cf_buffer(plan)
    for box in _cf_boxes(plan):
        cols = _fill_cols_cf(buffer, xp_planes, box, g.kernel, g.stride, g.dilation)
        out = _planes_box(y, box)
        np.matmul(w2, cols, out=out)
        if b is not None:
            out += b[:, None]
    return channels_last(y), None


def _cf_buffer(plan: ConvPlan) -> np.ndarray:
    g, chunking = plan.geometry, plan.forward_chunks
    rows = g.positions if chunking.axis == 0 else chunking.max_rows
    return np.empty(rows * g.taps * g.c_in, dtype=plan.dtype)


def _gemm_cf_weight_grad(plan: ConvPlan, xp: np.ndarray, gy: np.ndarray, cols=None) -> np.ndarray:
    """``grad_W (C_out, C*T) = sum_n gy_n (C_out, rows) @ cols_n^T``."""
    g = plan.geometry
    xp_planes, gy_planes = channels_first(xp), channels_first(gy)
    buffer = _cf_buffer(plan)
    grad = np.zeros((g.c_out, g.c_in * g.taps), dtype=plan.dtype)
    for box in _cf_boxes(plan):
        cols = _fill_cols_cf(buffer, xp_planes, box, g.kernel, g.stride, g.dilation)
        grad += _planes_box(gy_planes, box) @ cols.T
    return grad.reshape(g.c_out, g.c_in, *g.kernel)


def _gemm_cf_input_grad(plan: ConvPlan, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``dcols_n (C*T, rows) = W^T @ gy_n``, each tap's ``(C, *box)`` block added onto its frame cells."""
    g = plan.geometry
    frame = np.zeros((g.batch, g.c_in, *g.frame), dtype=plan.dtype)
    gy_planes = channels_first(gy)
    w2t = w.reshape(g.c_out, -1).T
    buffer = _cf_buffer(plan)
    for box in _cf_boxes(plan):
        gy_box = _planes_box(gy_planes, box)
        dcols = buffer[: g.c_in * g.taps * gy_box.shape[1]].reshape(g.c_in * g.taps, gy_box.shape[1])
        np.matmul(w2t, gy_box, out=dcols)
        dcols = dcols.reshape(g.c_in, g.taps, *box.size[1:])
        target = channels_last(frame)
        for t, tap in _taps(g.kernel):
            cells = channels_first(_box_tap(target, tap, box, g.stride, g.dilation))[0]  # (C, *box)
            cells += dcols[:, t]
    return channels_last(frame)


# ----------------------------------------------------------------------------------------------------------
# gemm1x1: no windows at all
# ----------------------------------------------------------------------------------------------------------

def _image_matrices(a: np.ndarray) -> np.ndarray | None:
    """A channels-last-indexed ``a (N, *S, C)`` as ``(N, C, P)`` matrices BLAS reads in place, or None.

    A view when the spatial axes merge into one (contiguous planes, or channels-last memory) and one of the two
    matrix axes has unit stride with the other spanning it; None otherwise (a subsampled or cropped view).
    """
    cf = channels_first(a)
    batch, channels = cf.shape[:2]
    positions = math.prod(cf.shape[2:])
    try:
        m = np.reshape(cf, (batch, channels, positions), copy=False)
    except ValueError:
        return None
    item = a.dtype.itemsize
    s_c, s_p = m.strides[1:]
    if channels > 1 and positions > 1 and not ((s_p == item and s_c >= positions * item)
                                               or (s_c == item and s_p >= channels * item)):
        return None
    return m


def _gemm1x1_forward(plan: ConvPlan, xp: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
                     ) -> tuple[np.ndarray, None]:
    g = plan.geometry
    y = np.empty((g.batch, *g.out_spatial, g.c_out), dtype=plan.dtype)
    rows = _subsampled(xp, g.stride, g.out_spatial)  # (N, *O, C_in), a view
    w_rows = _weight_cols(w, g.groups).transpose(0, 2, 1)
    chunking = plan.forward_chunks
    buffer = None if chunking.whole and _contiguous_rows(rows) else np.empty(chunking.max_rows * g.c_in, plan.dtype)
    for box in chunking.boxes():
        out = _box_rows(y, box)
        _gemm(_box_rows(rows, box, buffer), w_rows, out)
        if b is not None:
            out += b
    return y, None


def _contiguous_rows(a: np.ndarray) -> bool:
    try:
        np.reshape(a, (-1, a.shape[-1]), copy=False)
        return True
    except ValueError:
        return False


def _gemm1x1_weight_grad(plan: ConvPlan, xp: np.ndarray, gy: np.ndarray, cols=None) -> np.ndarray:
    g = plan.geometry
    if g.groups == 1 and tuple(g.frame) == tuple(g.out_spatial):
        x_m, gy_m = _image_matrices(xp), _image_matrices(gy)
        if x_m is not None and gy_m is not None:
            return _gemm1x1_weight_grad_images(plan, x_m, gy_m)
    rows = _subsampled(xp, g.stride, g.out_spatial)
    chunking = plan.weight_chunks
    buffer = np.empty(chunking.max_rows * g.c_in, plan.dtype)
    gy_buffer = np.empty(chunking.max_rows * g.c_out, plan.dtype)
    grad_cols = np.zeros((g.groups, g.c_out // g.groups, g.c_in // g.groups), dtype=plan.dtype)
    for box in chunking.boxes():
        grad_cols += _gemm_tn(_box_rows(gy, box, gy_buffer), _box_rows(rows, box, buffer), g.groups)
    return _weight_from_cols(grad_cols, g.c_in // g.groups, g.kernel)


def _gemm1x1_weight_grad_images(plan: ConvPlan, x_m: np.ndarray, gy_m: np.ndarray) -> np.ndarray:
    """Stride 1, one group: ``grad_W = sum_n gy_n (C_out, P) @ x_n^T (P, C_in)``, one GEMM per image reading
    both operands in place in whatever memory order they have (BLAS takes either orientation): no copies, and
    two weight-sized buffers (the sum and one image's product)."""
    g = plan.geometry
    grad = np.zeros((g.c_out, g.c_in), dtype=plan.dtype)
    product = np.empty_like(grad)
    for n in range(g.batch):
        np.matmul(gy_m[n], x_m[n].T, out=product)
        grad += product
    return grad.reshape(g.c_out, g.c_in, *g.kernel)


def _gemm1x1_input_grad(plan: ConvPlan, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
    g = plan.geometry
    w_cols = _weight_cols(w, g.groups)
    whole = tuple(g.frame) == tuple(g.out_spatial)  # stride 1 and nothing left over: the GEMM is the frame
    frame = (np.empty if whole else np.zeros)((g.batch, *g.frame, g.c_in), dtype=plan.dtype)
    target = _subsampled(frame, g.stride, g.out_spatial)
    chunking = plan.input_chunks
    gy_buffer = np.empty(chunking.max_rows * g.c_out, plan.dtype)
    buffer = None if whole else np.empty(chunking.max_rows * g.c_in, plan.dtype)
    for box in chunking.boxes():
        gy_rows = _box_rows(gy, box, gy_buffer)
        if whole:
            _gemm(gy_rows, w_cols, _box_rows(target, box))
        else:
            out = buffer[: box.rows * g.c_in].reshape(box.rows, g.c_in)
            _gemm(gy_rows, w_cols, out)
            target[box.slices] = out.reshape(*box.size, g.c_in)
    return frame


# ----------------------------------------------------------------------------------------------------------
# depthwise: a tap loop of broadcast multiply-adds, box by box, in the input's own memory layout
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


def _work_box(a: np.ndarray, cf: bool, box: Box) -> np.ndarray:
    """Work view ``a`` (output-shaped) restricted to one box."""
    n, rest = box.slices[0], box.slices[1:]
    full = slice(None)
    return a[(n, full, full, *rest)] if cf else a[(n, *rest)]


def _work_tap(a: np.ndarray, cf: bool, tap, box: Box, stride, dilation) -> np.ndarray:
    """The cells of work view ``a`` (frame-shaped) that one tap reads for one box."""
    n0, nb = box.start[0], box.size[0]
    index = []
    for k, s, d, o0, o in zip(tap, stride, dilation, box.start[1:], box.size[1:]):
        start = o0 * s + k * d
        index.append(slice(start, start + s * (o - 1) + 1, s))
    n, full = slice(n0, n0 + nb), slice(None)
    return a[(n, full, full, *index)] if cf else a[(n, *index, full, full)]


def _work_weights(w_tap: np.ndarray, cf: bool, n: int) -> np.ndarray:
    """One tap's weights ``(G, m)`` shaped to broadcast against a work view."""
    return w_tap.reshape(*w_tap.shape, *([1] * n)) if cf else w_tap


def _scratch(buffer: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return buffer[: math.prod(shape)].reshape(shape)


def _depthwise_forward(plan: ConvPlan, xp: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
                       ) -> tuple[np.ndarray, None]:
    """``y[n, o, g*m + j] = b[g*m + j] + sum_k xp[n, o*s + k*d, g] * w[g*m + j, 0, k]`` (``m = C_out / C_in``)."""
    g = plan.geometry
    if all(st == 1 for st in g.stride) and _is_planar(xp):
        return _depthwise_forward_flat(plan, xp, w, g.dilation, g.out_spatial, b), None
    if _phases_fit(plan, xp):
        return _depthwise_forward_flat(plan, xp, w, g.dilation, g.out_spatial, b, g.stride), None
    y = _depthwise_forward_boxes(plan, xp, w)
    if b is not None:
        y += b
    return y, None


def _depthwise_forward_boxes(plan: ConvPlan, xp: np.ndarray, w: np.ndarray) -> np.ndarray:
    g = plan.geometry
    kernel, groups = g.kernel, g.groups
    w_taps = w.reshape(groups, g.c_out // groups, g.taps)  # (G, m, T)
    cf = is_channels_first_memory(xp)
    y = empty_like_layout((g.batch, *g.out_spatial, g.c_out), plan.dtype, cf)
    x_w, y_w = _work(xp, cf, groups), _work(y, cf, groups)
    buffer = np.empty(plan.forward_chunks.max_rows * g.c_out, dtype=plan.dtype)
    for box in plan.forward_chunks.boxes():
        target = _work_box(y_w, cf, box)
        tmp = _scratch(buffer, target.shape)
        for t, tap in _taps(kernel):
            cells = _work_tap(x_w, cf, tap, box, g.stride, g.dilation)
            weights = _work_weights(w_taps[:, :, t], cf, len(kernel))
            if t == 0:
                np.multiply(cells, weights, out=target)
            else:
                np.multiply(cells, weights, out=tmp)
                target += tmp
    return y


def _is_planar(xp: np.ndarray) -> bool:
    """Whether a channels-last-indexed ``xp`` is stored as contiguous ``(N, C, *S)`` planes."""
    return channels_first(xp).flags.c_contiguous


def _phase_frame(frame: tuple[int, ...], stride: tuple[int, ...]) -> tuple[int, ...]:
    """The common frame of the ``prod(s)`` phases of a frame: ``ceil(Sp / s)`` per dim."""
    return tuple(-(-f // st) for f, st in zip(frame, stride))


def _phases_fit(plan: ConvPlan, a: np.ndarray) -> bool:
    """Stride > 1, channels-first memory, and one phase-split copy of ``a``'s frame within the cap (twice for
    the input gradient's copy of ``grad_output`` and its phase-split result)."""
    g = plan.geometry
    if all(st == 1 for st in g.stride) or not is_channels_first_memory(a):
        return False
    split = math.prod(g.stride) * math.prod(_phase_frame(g.frame, g.stride)) * g.batch * g.c_in
    return 2 * split * plan.dtype.itemsize <= plan.workspace


def _phase_planes(x: np.ndarray, stride: tuple[int, ...]) -> np.ndarray:
    """``x (N, C, *Sp)`` split by stride phase: ``(N*C, prod(s), prod(F))`` contiguous, F = ceil(Sp / s), with
    ``[n*C + c, p, j] = x[n, c, j_a * s_a + p_a]`` (``p``, ``j`` raveled) and zeros past each phase's end."""
    batch, channels = x.shape[:2]
    frame = _phase_frame(x.shape[2:], stride)
    if all(f * st == size for f, st, size in zip(frame, stride, x.shape[2:])):
        # every dim divisible: one copy of the view (N, C, F_0, s_0, F_1, s_1, ...) -> (N, C, *s, *F)
        # (measured 8 x 144 x 58 x 58, stride 2: 5.4 ms, against 20 ms for zeros and a copy per phase)
        n = len(stride)
        split = x.reshape(batch, channels, *(v for f, st in zip(frame, stride) for v in (f, st)))
        order = (0, 1, *(3 + 2 * a for a in range(n)), *(2 + 2 * a for a in range(n)))
        out = np.empty((batch, channels, *stride, *frame), dtype=x.dtype)
        np.copyto(out, split.transpose(order))
        return out.reshape(batch * channels, math.prod(stride), math.prod(frame))
    out = np.zeros((batch, channels, *stride, *frame), dtype=x.dtype)
    for phase in itertools.product(*(range(st) for st in stride)):
        source = x[(slice(None), slice(None), *(slice(p, None, st) for p, st in zip(phase, stride)))]
        out[(slice(None), slice(None), *phase, *(slice(0, n) for n in source.shape[2:]))] = source
    return out.reshape(batch * channels, math.prod(stride), math.prod(frame))


def _phase_taps(kernel, dilation, stride, plane_strides) -> list[tuple[int, int]]:
    """``(phase, offset)`` of each tap: tap ``k`` reads cell ``o*s + k*d`` = phase ``(k*d) % s`` at phase-frame
    position ``o + (k*d) // s``, flat offset ``sum_a ((k_a d_a) // s_a) st_a`` from output ``o``'s index."""
    taps = []
    for _, tap in _taps(kernel):
        phase = np.ravel_multi_index(tuple((k * d) % st for k, d, st in zip(tap, dilation, stride)), stride)
        offset = sum(((k * d) // st) * pst for k, d, st, pst in zip(tap, dilation, stride, plane_strides))
        taps.append((int(phase), offset))
    return taps


def _depthwise_forward_flat(plan: ConvPlan, xp: np.ndarray, w: np.ndarray, dilation: tuple[int, ...],
                            out_spatial: tuple[int, ...], b: np.ndarray | None = None,
                            stride: tuple[int, ...] | None = None) -> np.ndarray:
    """Stride-1 depthwise correlation on contiguous planes, each plane read as one flat vector.

    With ``xp`` stored as ``(N, G, *Sp)`` planes, output position ``o`` has flat index
    ``i = sum_a o_a * st_a`` (``st`` the plane's element strides) and tap ``k`` reads ``xp_flat[i + off_k]``
    with ``off_k = sum_a k_a * d_a * st_a``. So each tap is one multiply-add of contiguous runs,
    ``y_flat[:, :, :L] += xp_flat[:, :, off_k:off_k + L] * w[:, :, k]``, computed over the padded frame's
    coordinates; the entries at frame positions outside ``O`` (the last columns of each row) are never read
    back. The bias ``b (G*m,)``, if any, is added to each block after its first tap, while it is in cache.
    Returns ``(N, *O, G*m)`` (a view of ``(N, G*m, *Sp)`` planes).

    With a ``stride`` > 1 the input (any channels-first memory) is first copied split by stride phase
    (:func:`_phase_planes`): tap ``k`` then reads phase ``(k*d) % s`` at offset ``(k*d) // s`` with unit
    stride, and the same loop runs over the phases' common frame ``ceil(Sp / s)``.
    """
    x = channels_first(xp)
    batch, groups = x.shape[:2]
    kernel = w.shape[2:]
    mult = w.shape[0] // groups
    if stride is None or all(st == 1 for st in stride):
        frame = x.shape[2:]
        stride = (1,) * len(frame)
        x_flat = x.reshape(batch * groups, 1, math.prod(frame))
    else:
        frame = _phase_frame(x.shape[2:], stride)
        x_flat = _phase_planes(x, stride)
    plane = math.prod(frame)
    plane_strides = [math.prod(frame[a + 1:]) for a in range(len(frame))]
    length = sum((o - 1) * st for o, st in zip(out_spatial, plane_strides)) + 1
    offsets = _phase_taps(kernel, dilation, stride, plane_strides)
    w_taps = w.reshape(groups, mult, len(offsets))
    full = np.empty((batch * groups, mult, plane), dtype=np.result_type(xp, w))
    block = max(1, min(FLAT_BLOCK_ELEMENTS, plan.workspace // full.dtype.itemsize))
    planes_per_block = max(1, block // (mult * length))
    span = length if planes_per_block > 1 or mult * length <= block else max(1, block // mult)
    scratch = np.empty((min(planes_per_block, batch * groups), mult, span), dtype=full.dtype)
    for p0 in range(0, batch * groups, planes_per_block):
        p1 = min(batch * groups, p0 + planes_per_block)
        channel = np.arange(p0, p1) % groups
        weights_block = w_taps[channel]  # (planes, m, T): the weights of each plane
        bias_block = None if b is None else b.reshape(groups, mult, 1)[channel]
        for i0 in range(0, length, span):
            i1 = min(length, i0 + span)
            target = full[p0:p1, :, i0:i1]
            tmp = scratch[: p1 - p0, :, : i1 - i0]
            for t, (phase, off) in enumerate(offsets):
                cells = x_flat[p0:p1, phase:phase + 1, i0 + off:i1 + off]
                weights = weights_block[:, :, t:t + 1]
                if t == 0:
                    np.multiply(cells, weights, out=target)
                    if bias_block is not None:
                        target += bias_block
                else:
                    np.multiply(cells, weights, out=tmp)
                    target += tmp
    y = full.reshape(batch, groups * mult, *frame)[(Ellipsis, *(slice(0, o) for o in out_spatial))]
    return channels_last(y)


def _depthwise_input_grad(plan: ConvPlan, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``grad_xp[n, o*s + k*d, g] += sum_j gy[n, o, g*m + j] * w[g*m + j, 0, k]``: the plan's strategy."""
    g = plan.geometry
    if plan.input_grad == InputGrad.DEPTHWISE_CORRELATION and np.isfinite(w).all():
        # stride 1, one output channel per group: grad_xp is the correlation of gy, zero-padded by d*(K-1)
        # before and Sp - O after, with the flipped kernel (the isfinite guard: see _correlation_input_grad)
        pads = tuple((d * (k - 1), f - o) for k, d, f, o in zip(g.kernel, g.dilation, g.frame, g.out_spatial))
        gyp = pad_channels_last(channels_first(gy), pads, keep_layout=True, planar=True)
        flipped = w[(slice(None), slice(None), *(slice(None, None, -1),) * (w.ndim - 2))]
        return _depthwise_forward_flat(plan, gyp, flipped, g.dilation, tuple(g.frame))
    if g.c_out == g.groups and _phases_fit(plan, gy) and np.isfinite(w).all():
        # (the isfinite guard: the zeros around grad_output times an infinite weight would add NaN)
        return _depthwise_input_grad_phases(plan, gy, w)
    return _depthwise_input_grad_boxes(plan, gy, w)


def _depthwise_input_grad_phases(plan: ConvPlan, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Stride > 1, one output channel per group: the scatter ``grad_xp[o*s + k*d] += gy[o] * w[k]`` on the frame
    split by stride phase, where tap ``k`` adds to phase ``(k*d) % s`` at offset ``(k*d) // s`` (see
    :func:`_phase_taps`): per block of images (``gy`` copied into the phases' frame strides, zeros outside ``O``)
    a multiply-add of contiguous runs per tap; then one pass puts the phases back into ``(N, C, *Sp)`` planes."""
    g = plan.geometry
    stride, channels = g.stride, g.c_in
    frame = _phase_frame(g.frame, stride)
    plane_strides = [math.prod(frame[a + 1:]) for a in range(len(frame))]
    taps = _phase_taps(g.kernel, g.dilation, stride, plane_strides)
    split = np.zeros((g.batch * channels, math.prod(stride), math.prod(frame)), dtype=plan.dtype)
    w_taps = w.reshape(channels, g.taps)
    tmp = None
    for n0, n1, flat in _frame_blocks(plan, gy, frame):
        length = flat.shape[1]
        weights = np.tile(w_taps, (n1 - n0, 1))  # (planes, T): each plane's channel weights
        block = split[n0 * channels:n1 * channels]
        tmp = np.empty_like(flat) if tmp is None or tmp.shape != flat.shape else tmp
        for t, (phase, off) in enumerate(taps):
            np.multiply(flat, weights[:, t:t + 1], out=tmp)
            block[:, phase, off:off + length] += tmp
    split = split.reshape(g.batch, channels, *stride, *frame)
    out = np.empty((g.batch, channels, *g.frame), dtype=plan.dtype)
    for phase in itertools.product(*(range(st) for st in stride)):
        target = out[(slice(None), slice(None), *(slice(p, None, st) for p, st in zip(phase, stride)))]
        target[...] = split[(slice(None), slice(None), *phase, *(slice(0, n) for n in target.shape[2:]))]
    return channels_last(out)


def _depthwise_input_grad_boxes(plan: ConvPlan, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
    g = plan.geometry
    kernel, groups = g.kernel, g.groups
    mult = g.c_out // groups
    w_taps = w.reshape(groups, mult, g.taps)
    cf = is_channels_first_memory(gy)
    frame = empty_like_layout((g.batch, *g.frame, groups), plan.dtype, cf)
    frame[...] = 0
    frame_w, gy_w = _work(frame, cf, groups), _work(gy, cf, groups)
    buffer = np.empty(plan.input_chunks.max_rows * g.c_out, dtype=plan.dtype)
    m_axis = 2 if cf else -1
    for box in plan.input_chunks.boxes():
        source = _work_box(gy_w, cf, box)
        tmp = _scratch(buffer, source.shape)
        for t, tap in _taps(kernel):
            cells = _work_tap(frame_w, cf, tap, box, g.stride, g.dilation)
            np.multiply(source, _work_weights(w_taps[:, :, t], cf, len(kernel)), out=tmp)
            cells += tmp if mult == 1 else tmp.sum(axis=m_axis, keepdims=True)
    return frame


def _depthwise_weight_grad(plan: ConvPlan, xp: np.ndarray, gy: np.ndarray, cols=None) -> np.ndarray:
    """``grad_w[g*m + j, 0, k] = sum_{n, o} gy[n, o, g*m + j] * xp[n, o*s + k*d, g]``: the plan's strategy."""
    grad = None
    if plan.weight_grad == WeightGrad.DEPTHWISE_FLAT:
        if all(st == 1 for st in plan.geometry.stride) and _is_planar(xp):
            grad = _depthwise_weight_grad_flat(plan, xp, gy)
        elif _phases_fit(plan, xp):
            grad = _depthwise_weight_grad_phases(plan, xp, gy)
    # The flat sums also multiply input cells no window reads by the zeros around grad_output: 0 * inf would
    # make NaN where the exact sum is finite. A non-finite result is recomputed tap by tap (a guard on the
    # (C, K) result, not a pass over the input).
    if grad is not None and np.isfinite(grad).all():
        return grad
    return _depthwise_weight_grad_taps(plan, xp, gy)


def _frame_blocks(plan: ConvPlan, gy: np.ndarray, frame: tuple[int, ...]) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(n0, n1, gy_flat)``: ``gy (N, *O, C)`` a block of images at a time, copied into a zeroed buffer with the
    strides of ``frame`` (entries at frame positions outside ``O`` stay 0), ``(planes, L)`` flat, ``L`` ending
    at the last output position."""
    g = plan.geometry
    batch, channels = g.batch, g.c_out
    plane_strides = [math.prod(frame[a + 1:]) for a in range(len(frame))]
    length = sum((o - 1) * st for o, st in zip(g.out_spatial, plane_strides)) + 1
    rows = (g.out_spatial[0], *frame[1:])  # the frame's rows that hold outputs
    per_image = channels * math.prod(rows)
    block = min(WEIGHT_GRAD_BLOCK_ELEMENTS, plan.workspace // plan.dtype.itemsize)
    images = max(1, min(batch, block // max(per_image, 1)))
    scratch = np.zeros((images, channels, *rows), dtype=plan.dtype)
    inner = scratch[(slice(None), slice(None), *(slice(0, o) for o in g.out_spatial))]
    gy_cf = channels_first(gy)
    for n0 in range(0, batch, images):
        n1 = min(batch, n0 + images)
        inner[: n1 - n0] = gy_cf[n0:n1]
        yield n0, n1, scratch[: n1 - n0].reshape((n1 - n0) * channels, -1)[:, :length]


def _depthwise_weight_grad_phases(plan: ConvPlan, xp: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Stride > 1, one output channel per group: as :func:`_depthwise_weight_grad_flat` on the input split by
    stride phase (:func:`_phase_planes`), one einsum (a dot product per plane) per tap and block of images."""
    g = plan.geometry
    phases = _phase_planes(channels_first(xp), g.stride)
    frame = _phase_frame(g.frame, g.stride)
    plane_strides = [math.prod(frame[a + 1:]) for a in range(len(frame))]
    taps = _phase_taps(g.kernel, g.dilation, g.stride, plane_strides)
    channels = g.c_in
    grad = np.zeros((channels, g.taps), dtype=plan.dtype)
    for n0, n1, flat in _frame_blocks(plan, gy, frame):
        length = flat.shape[1]
        block = phases[n0 * channels:n1 * channels]
        for t, (phase, off) in enumerate(taps):
            part = np.einsum("pl,pl->p", block[:, phase, off:off + length], flat)
            grad[:, t] += part.reshape(n1 - n0, channels).sum(axis=0)
    return grad.reshape(g.c_out, 1, *g.kernel)


def _depthwise_weight_grad_flat(plan: ConvPlan, xp: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Stride 1, one output channel per group, ``xp`` stored as contiguous ``(N, C, *Sp)`` planes.

    As in :func:`_depthwise_forward_flat`, output position ``o`` of a plane has flat index ``i = sum_a o_a st_a``
    in the frame and tap ``k`` reads ``xp_flat[i + off_k]``. ``gy`` is copied, a block of images at a time, into
    a zeroed frame-strided buffer (its entries at frame positions outside ``O`` stay 0), so that
    ``grad_w[c, k] = sum_n sum_i gy_frame[n, c, i] * xp_flat[n, c, off_k + i]`` is one einsum of contiguous runs
    per block, reading each plane of the block once per tap while it is in cache.
    """
    g = plan.geometry
    x = channels_first(xp)
    batch, channels = x.shape[:2]
    frame, kernel = tuple(x.shape[2:]), g.kernel
    plane = math.prod(frame)
    plane_strides = [math.prod(frame[a + 1:]) for a in range(len(frame))]
    length = sum((o - 1) * st for o, st in zip(g.out_spatial, plane_strides)) + 1
    item = x.dtype.itemsize
    x_flat = x.reshape(batch * channels, plane)
    # (planes, *K, length): [p, k, i] = xp_flat[p, i + sum_a k_a d_a st_a]; the last read is the plane's last cell
    taps_view = np.lib.stride_tricks.as_strided(
        x_flat, (batch * channels, *kernel, length),
        (x_flat.strides[0], *(d * st * item for d, st in zip(g.dilation, plane_strides)), item), writeable=False)
    space = "abcdefhijk"[: len(kernel)]
    grad = np.zeros((channels, *kernel), dtype=plan.dtype)
    for n0, n1, flat in _frame_blocks(plan, gy, frame):
        part = np.einsum(f"p{space}l,pl->p{space}", taps_view[n0 * channels:n1 * channels], flat)
        grad += part.reshape(n1 - n0, channels, *kernel).sum(axis=0)
    return grad.reshape(g.c_out, 1, *kernel)


def _depthwise_weight_grad_taps(plan: ConvPlan, xp: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """One einsum per tap: each multiplies and sums in one pass over ``gy`` and the tap's strided view of ``xp``."""
    g = plan.geometry
    kernel, groups = g.kernel, g.groups
    mult = g.c_out // groups
    grad = np.empty((groups, mult, g.taps), dtype=plan.dtype)
    cf = is_channels_first_memory(gy)
    x_w, gy_w = _work(xp, cf, groups), _work(gy, cf, groups)
    space = "abcdefhijkl"[: len(kernel)]
    subscripts = f"ngm{space},ng{space}->gm" if cf else f"n{space}gm,n{space}g->gm"
    box = Box((0,) * (1 + len(kernel)), (g.batch, *g.out_spatial))  # einsum needs no scratch: one box
    for t, tap in _taps(kernel):
        cells = _work_tap(x_w, cf, tap, box, g.stride, g.dilation)
        cells = cells[:, :, 0] if cf else cells[..., 0]
        grad[:, :, t] = np.einsum(subscripts, gy_w, cells)
    return grad.reshape(g.c_out, 1, *kernel)


# ----------------------------------------------------------------------------------------------------------
# winograd
# ----------------------------------------------------------------------------------------------------------

def _winograd_forward(plan: ConvPlan, xp: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, None]:
    g = plan.geometry
    xp = xp if xp.flags.c_contiguous else np.ascontiguousarray(xp)
    per_image = winograd.workspace_per_image(g.frame, g.c_in, g.c_out, plan.dtype.itemsize)
    images = max(1, (plan.workspace - winograd.kernel_bytes(g.c_in, g.c_out, plan.dtype.itemsize)) // per_image)
    return winograd.correlate_winograd(xp, w, g.out_spatial, images), None


def _winograd_f4_forward(plan: ConvPlan, xp: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, None]:
    """F(4x4, 3x3), whole images per chunk as the plan's ``forward_chunks`` says."""
    xp = xp if xp.flags.c_contiguous else np.ascontiguousarray(xp)
    return winograd.correlate_winograd_f4(xp, w, plan.geometry.out_spatial, plan.forward_chunks.step), None


# ----------------------------------------------------------------------------------------------------------
# Entry points (channels-last in and out), dispatching on the plan
# ----------------------------------------------------------------------------------------------------------

def conv_plan(xp_cl: np.ndarray, w: np.ndarray, stride, dilation, groups: int, out_spatial=None,
              layout: Layout | None = None, dtype=None) -> ConvPlan:
    """The plan for correlating a channels-last ``xp (N, *Sp, C_in)`` with ``w``."""
    geometry = ConvGeometry.of(xp_cl.shape, w.shape, stride, dilation, groups, out_spatial)
    if layout is None:
        layout = layout_of(channels_first(xp_cl))
    return plan_conv(geometry, np.result_type(xp_cl, w) if dtype is None else dtype, layout)


def correlate_cl(xp: np.ndarray, w: np.ndarray, plan: ConvPlan, b: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """``y (N, *O, C_out) (+ b)`` from a channels-last padded input ``xp (N, *Sp, C_in)`` (see module doc),
    and the im2col matrix when the plan builds it whole (a layer keeps it for the weight gradient), else None.

    The GEMM paths add the bias box by box right after each GEMM, while the box is in cache.
    """
    algorithm = plan.algorithm
    if algorithm == Algorithm.GEMM1X1:
        return _gemm1x1_forward(plan, xp, w, b)
    if algorithm == Algorithm.GEMM_CHANNELS_FIRST:
        xp = xp if _is_planar(xp) else channels_last(np.ascontiguousarray(channels_first(xp)))
        return _gemm_cf_forward(plan, xp, w, b)
    if algorithm == Algorithm.GEMM:
        return _gemm_forward(plan, xp if xp.flags.c_contiguous else np.ascontiguousarray(xp), w, b)
    if algorithm == Algorithm.GEMM_VIEW:
        return _gemm_view_forward(plan, xp if xp.flags.c_contiguous else np.ascontiguousarray(xp), w, b)
    if algorithm == Algorithm.DEPTHWISE:
        return _depthwise_forward(plan, xp, w, b)
    if algorithm == Algorithm.WINOGRAD_F4:
        y, cols = _winograd_f4_forward(plan, xp, w)
    else:
        y, cols = _winograd_forward(plan, xp if xp.flags.c_contiguous else np.ascontiguousarray(xp), w)
    if b is not None:
        y += b
    return y, cols


def correlate_input_grad_cl(gy: np.ndarray, w: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Adjoint of :func:`correlate_cl` in ``xp``: ``gy (N, *O, C_out)`` -> ``grad_xp (N, *Sp, C_in)``."""
    strategy = plan.input_grad
    if strategy in (InputGrad.DEPTHWISE_CORRELATION, InputGrad.DEPTHWISE_SCATTER):
        return _depthwise_input_grad(plan, gy, w)
    if strategy == InputGrad.GEMM1X1:
        return _gemm1x1_input_grad(plan, gy, w)
    if strategy == InputGrad.CHANNELS_FIRST_SCATTER:
        return _gemm_cf_input_grad(plan, gy, w)
    if strategy == InputGrad.CORRELATION:
        grad = _correlation_input_grad(plan, gy, w)
        if grad is not None:
            return grad
    return _gemm_input_grad(plan, gy, w)


def correlate_weight_grad_cl(xp: np.ndarray, gy: np.ndarray, plan: ConvPlan, cols: np.ndarray | None = None
                             ) -> np.ndarray:
    """Adjoint of :func:`correlate_cl` in ``w``: ``(C_out, C_in/G, *K)``; ``cols`` as the forward returned it."""
    algorithm = plan.algorithm
    if algorithm == Algorithm.DEPTHWISE:
        return _depthwise_weight_grad(plan, xp, gy)
    if algorithm == Algorithm.GEMM1X1:
        return _gemm1x1_weight_grad(plan, xp, gy)
    if algorithm == Algorithm.GEMM_CHANNELS_FIRST:
        xp = xp if _is_planar(xp) else channels_last(np.ascontiguousarray(channels_first(xp)))
        return _gemm_cf_weight_grad(plan, xp, gy)
    xp = xp if xp.flags.c_contiguous else np.ascontiguousarray(xp)
    if algorithm == Algorithm.GEMM_VIEW:
        return _gemm_view_weight_grad(plan, xp, gy)
    return _gemm_weight_grad(plan, xp, gy, cols if algorithm == Algorithm.GEMM else None)


def describe_case(kind: str, input_shape: tuple[int, ...], out_channels: int, kernel: tuple[int, ...],
                  stride: int, padding: int, groups: int, dtype=np.float32) -> str:
    """The planned algorithm for a benchmark case (``kind`` ``conv`` or ``conv_transpose``), one word."""
    n = len(kernel)
    if kind == "conv":
        frame = tuple(s + 2 * padding for s in input_shape[2:])
        w_shape = (out_channels, input_shape[1] // groups, *kernel)
        geometry = ConvGeometry.of((input_shape[0], *frame, input_shape[1]), w_shape, (stride,) * n, (1,) * n,
                                   groups)
        return plan_conv(geometry, dtype, Layout.PLANAR).algorithm.value
    # the forward of a transposed conv is the input gradient of a conv with C_out input channels
    size = input_shape[2:]
    frame = tuple((s - 1) * stride + k for s, k in zip(size, kernel))
    geometry = ConvGeometry(input_shape[0], out_channels, input_shape[1], groups, frame, tuple(kernel),
                            (stride,) * n, (1,) * n, tuple(size))
    return f"{plan_conv(geometry, dtype, Layout.PLANAR).input_grad.value} (adjoint)"


__all__ = ["Algorithm", "InputGrad", "Layout", "ConvPlan", "conv_plan", "correlate_cl", "correlate_input_grad_cl",
           "correlate_weight_grad_cl", "get_workspace_limit"]
