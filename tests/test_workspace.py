"""The workspace cap is a bound: chunked convolutions equal unchunked ones and PyTorch, and the peak scratch of
every op stays under the cap plus the returned arrays plus one padded copy of the input, on adversarial shapes
(one output row's windows far above the cap, huge channel counts, large dilation)."""

from __future__ import annotations

import numpy as np
import pytest
from checks import with_layout
from oracle_torch import torch_conv

import vanilla_nn.functional as F
from benchmarks.harness import peak_extra_bytes
from vanilla_nn.functional import plan as P
from vanilla_nn.functional.workspace import DEFAULT_WORKSPACE_LIMIT


@pytest.fixture
def chunk_counter(monkeypatch):
    """Counts the boxes that :meth:`plan.Chunking.boxes` hands out."""
    count = {"blocks": 0}
    original = P.Chunking.boxes

    def counting(self):
        for box in original(self):
            count["blocks"] += 1
            yield box

    monkeypatch.setattr(P.Chunking, "boxes", counting)
    return count


# (op, x shape, w shape, options): one im2col (gemm) case per rank and kind, so every chunked kernel runs
CASES = [
    ("conv2d", (3, 2, 9, 8), (4, 2, 3, 3), {"padding": 1}),
    ("conv2d", (3, 2, 9, 8), (4, 2, 3, 3), {"padding": 1, "stride": 2}),
    ("conv2d", (2, 4, 7, 6), (6, 2, 3, 2), {"groups": 2, "dilation": (2, 1)}),
    ("conv1d", (2, 3, 30), (4, 3, 5), {"padding": 2}),
    ("conv3d", (2, 2, 5, 4, 6), (3, 2, 2, 3, 3), {"padding": 1, "stride": (1, 2, 1)}),
    ("conv_transpose2d", (2, 3, 5, 6), (3, 2, 4, 4), {"stride": 2, "padding": 1}),
    ("conv_transpose1d", (2, 3, 9), (3, 2, 3), {"padding": 1}),
]


def run(op, x, w, b, gy, options):
    forward, backward = getattr(F, op), getattr(F, op + "_backward")
    y = forward(x, w, b, **options)
    return (y, *backward(gy, x, w, b, **options))


@pytest.mark.parametrize("limit", [1, 32, 256])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op, x_shape, w_shape, options", CASES)
def test_chunked_equals_unchunked_and_torch(op, x_shape, w_shape, options, dtype, limit, chunk_counter):
    rng = np.random.default_rng(sum(x_shape) + limit)
    x = with_layout(rng.standard_normal(x_shape).astype(dtype), "strided")
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[1] * options.get("groups", 1) if op.startswith("conv_t") else w_shape[0])
    b = b.astype(dtype)
    y_shape = getattr(F, op)(x, w, b, **options).shape
    gy = rng.standard_normal(y_shape).astype(dtype)

    whole = run(op, x, w, b, gy, options)
    blocks_whole = chunk_counter["blocks"]
    with F.workspace_limit(limit):
        assert F.get_workspace_limit() == limit
        chunked = run(op, x, w, b, gy, options)
    assert F.get_workspace_limit() == DEFAULT_WORKSPACE_LIMIT
    assert chunk_counter["blocks"] - blocks_whole > blocks_whole, "the small cap did not split the work"

    expected = torch_conv(op, np.ascontiguousarray(x), w, b, gy, **options)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    tol = 1e-10 if dtype == np.float64 else 1e-5
    for name, a, c, e in zip(("output", "grad_input", "grad_weight", "grad_bias"), chunked, whole, expected):
        assert a.dtype == c.dtype == dtype, name
        scale = max(float(np.max(np.abs(e))), 1e-3)
        # forward and grad_input are computed row by row: chunking changes nothing; the weight gradient
        # adds the chunks' partial sums, so it may differ in the last bits
        np.testing.assert_allclose(a, c, rtol=rtol, atol=rtol * scale, err_msg=name)
        assert float(np.max(np.abs(a.astype(np.float64) - e))) / scale <= tol, name


def _owned_bytes(arrays) -> int:
    """Bytes the arrays keep alive: the buffer each one views (a cropped frame counts whole)."""
    owners = {}
    for a in arrays:
        if a is None:
            continue
        while isinstance(a.base, np.ndarray):
            a = a.base
        owners[id(a)] = a.nbytes
    return sum(owners.values())


def _peak_scratch(fn):
    """``(peak bytes above the start minus what the result keeps alive, result)`` of one call, by tracemalloc."""
    peak, result = peak_extra_bytes(fn)
    arrays = result if isinstance(result, tuple) else (result,)
    return peak - _owned_bytes(arrays), result


# (op, x shape, w shape, options, cap): each defeats the old row-at-least chunking or a full-size temporary
ADVERSARIAL = [
    # long rows: one output row's windows are 36x the cap (the (1, 1024, 3, 32768) at 16 MiB, scaled)
    ("conv2d", (1, 256, 3, 4096), (4, 256, 3, 3), {}, 2**20),
    # huge channel count: one output position's window is 144 KiB, a row of 5 positions 720 KiB
    ("conv2d", (1, 4096, 3, 5), (2, 4096, 3, 3), {"padding": 1}, 512 * 2**10),
    # large dilation along a long row, stride 2 (the col2im scatter)
    ("conv2d", (1, 64, 2, 2048), (8, 64, 1, 5), {"dilation": (1, 300), "stride": (1, 2)}, 128 * 2**10),
    ("conv1d", (2, 128, 8192), (16, 128, 9), {"dilation": 50, "padding": 200}, 256 * 2**10),
    ("conv3d", (1, 32, 2, 2, 4096), (4, 32, 2, 2, 3), {"padding": (0, 0, 1)}, 128 * 2**10),
    # depthwise on long rows (flat loop and boxed loop), few channels (channels-first GEMM), 1x1 strided
    ("conv2d", (1, 512, 3, 2048), (512, 1, 3, 3), {"groups": 512, "padding": 1}, 256 * 2**10),
    ("conv2d", (1, 256, 3, 2048), (256, 1, 3, 3), {"groups": 256, "stride": 2}, 256 * 2**10),
    ("conv2d", (1, 3, 7, 8192), (16, 3, 7, 7), {"stride": 2, "padding": 3}, 128 * 2**10),
    ("conv2d", (1, 512, 2, 4096), (8, 512, 1, 1), {"stride": 2}, 128 * 2**10),
    ("conv_transpose2d", (1, 64, 2, 2048), (64, 8, 3, 3), {"stride": 2, "padding": 1}, 256 * 2**10),
]


@pytest.mark.parametrize("op, x_shape, w_shape, options, cap", ADVERSARIAL,
                         ids=[f"{c[0]}-{'x'.join(map(str, c[1]))}-w{'x'.join(map(str, c[2]))}" for c in ADVERSARIAL])
def test_peak_scratch_is_bounded_by_the_cap(op, x_shape, w_shape, options, cap):
    """forward and backward each: peak - returned <= cap + one padded copy of the input (tracemalloc), and
    the results equal the unchunked ones and PyTorch's."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32) / np.float32(np.sqrt(np.prod(w_shape[1:])))
    forward, backward = getattr(F, op), getattr(F, op + "_backward")
    with F.workspace_limit(cap):
        scratch_fwd, y = _peak_scratch(lambda: forward(x, w, **options))
        gy = rng.standard_normal(y.shape, dtype=np.float32)
        scratch_bwd, grads = _peak_scratch(lambda: backward(gy, x, w, **options))
    # one padded copy of the correlation's input: x for a convolution, grad_output for a transposed one
    pads = options.get("padding", 0)
    nd = len(x_shape) - 2
    pads = (pads,) * nd if isinstance(pads, int) else pads
    source = gy if op.startswith("conv_transpose") else x
    padded = source.itemsize * source.shape[0] * source.shape[1] * int(np.prod(
        [s + 2 * p for s, p in zip(source.shape[2:], pads)]))
    # tracemalloc also counts Python objects: the views and boxes of each step, and the tuples kept on Python's
    # free lists (freed, but never handed back to the allocator tracemalloc watches): at most a few 100 KiB
    slack = 256 * 2**10
    # a transposed convolution's backward also reads its input in channels-last memory (one copy, as its
    # saved state keeps it: the same arrays on both paths keep the saved path equal bit for bit)
    extra_backward = x.nbytes if op.startswith("conv_transpose") else 0
    for name, scratch in (("forward", scratch_fwd), ("backward", scratch_bwd - extra_backward)):
        assert scratch <= cap + padded + slack, (f"{name}: {scratch / 2**20:.2f} MiB of scratch > cap "
                                                 f"{cap / 2**20:.2f} MiB + padded input {padded / 2**20:.2f} MiB")
    whole = (forward(x, w, **options), *backward(gy, x, w, **options))
    expected = torch_conv(op, x, w, None, gy, **options)
    for name, a, c, e in zip(("output", "grad_input", "grad_weight"), (y, *grads), whole, expected):
        scale = max(float(np.max(np.abs(e))), 1e-3)
        # equal to rounding: the weight gradient adds the boxes' partial sums, and under a small cap the plan
        # may take the other input-gradient strategy (scatter instead of correlation), which sums in another order
        tol = 5e-6 if name == "grad_weight" else 1e-6
        assert float(np.max(np.abs(a.astype(np.float64) - c))) / scale <= tol, name
        assert float(np.max(np.abs(a.astype(np.float64) - e))) / scale <= 1e-5, name


def test_peak_scratch_unchunked_builds_the_whole_matrix():
    """The other side of the bound: without a small cap the im2col matrix is built whole (so the bound above
    is the chunking's doing, not a measurement that misses allocations)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8, 32, 32))
    w = rng.standard_normal((8, 8, 3, 3))
    full_cols = 4 * 32 * 32 * 8 * 9 * 8  # bytes of the whole im2col matrix
    whole, _ = _peak_scratch(lambda: F.conv2d(x, w, padding=1))
    with F.workspace_limit(256 * 2**10):
        chunked, _ = _peak_scratch(lambda: F.conv2d(x, w, padding=1))
    assert whole > full_cols * 0.9
    assert chunked <= 256 * 2**10 + 4 * 8 * 34 * 34 * 8


@pytest.mark.parametrize("shape, position_bytes, budget", [
    ((3, 5, 4), 10, 1), ((3, 5, 4), 10, 25), ((3, 5, 4), 10, 45), ((3, 5, 4), 10, 420), ((4, 7), 3, 1000),
    ((0, 5), 10, 10), ((2, 1, 50), 10, 100), ((2, 3, 4, 5), 8, 100), ((1, 3, 4096), 9216, 2**20)])
def test_chunking_covers_every_position_once_within_budget(shape, position_bytes, budget):
    chunking = P.Chunking.fit(shape, position_bytes, budget)
    seen = np.zeros(shape, dtype=int)
    count = 0
    for box in chunking.boxes():
        assert box.rows * position_bytes <= max(budget, position_bytes)
        seen[box.slices] += 1
        count += 1
    assert (seen == 1).all() and count == len(chunking)
    coarser = P.Chunking.fit(shape, position_bytes, budget * 4)
    assert len(coarser) <= len(chunking)


def test_set_workspace_limit_returns_previous_and_restores_default():
    previous = F.set_workspace_limit(12345)
    try:
        assert F.get_workspace_limit() == 12345
        assert F.set_workspace_limit(None) == 12345
        assert F.get_workspace_limit() == DEFAULT_WORKSPACE_LIMIT
    finally:
        F.set_workspace_limit(previous)


@pytest.mark.parametrize("limit, exception", [(0, ValueError), (-5, ValueError), (1.5, TypeError), ("1MB", TypeError),
                                              (True, TypeError)])
def test_bad_workspace_limit(limit, exception):
    with pytest.raises(exception, match="limit"):
        F.set_workspace_limit(limit)
    with pytest.raises(exception, match="limit"), F.workspace_limit(limit):
        pass
    assert F.get_workspace_limit() == DEFAULT_WORKSPACE_LIMIT
