"""The workspace cap: chunked convolutions equal unchunked ones and PyTorch, and memory stays bounded."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from checks import with_layout
from oracle_torch import torch_conv

import vanilla_nn.functional as F
from vanilla_nn.functional import _algorithms as A
from vanilla_nn.functional.workspace import DEFAULT_WORKSPACE_LIMIT


@pytest.fixture
def chunk_counter(monkeypatch):
    """Counts the blocks that :func:`_algorithms.chunks` hands out."""
    count = {"blocks": 0}
    original = A.chunks

    def counting(*args, **kwargs):
        for block in original(*args, **kwargs):
            count["blocks"] += 1
            yield block

    monkeypatch.setattr(A, "chunks", counting)
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


def test_peak_memory_stays_under_the_cap():
    """With a 256 KiB cap the im2col buffer (about 5 MiB unchunked) never exists whole.

    Besides the capped scratch, forward+backward makes input-sized copies: the padded input, grad_output
    in channels-last memory and its zero-padded copy (the stride-1 input gradient is a correlation of it).
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8, 32, 32))
    w = rng.standard_normal((8, 8, 3, 3))
    gy = rng.standard_normal((4, 8, 32, 32))
    full_cols = 4 * 32 * 32 * 8 * 9 * 8  # bytes of the whole im2col matrix
    cap = 256 * 2**10
    padded_bytes = 4 * 8 * 34 * 34 * 8  # one padded copy of x or of gy
    peaks = {}
    for limit in (None, cap):
        with F.workspace_limit(limit):
            tracemalloc.start()
            try:
                base, _ = tracemalloc.get_traced_memory()
                y = F.conv2d(x, w, padding=1)
                grads = F.conv2d_backward(gy, x, w, padding=1)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        returned = y.nbytes + sum(g.nbytes for g in grads if g is not None)
        peaks[limit] = peak - base - returned
    assert peaks[None] > full_cols * 0.9, "the unchunked run should build the whole im2col matrix"
    assert peaks[cap] <= cap + 3 * padded_bytes + 16 * w.nbytes, f"peak {peaks[cap]} bytes: cap {cap} + copies"
    assert peaks[cap] < peaks[None] / 3


def test_chunks_cover_every_row_once():
    for batch, rows, row_cost, budget in [(3, 5, 10, 1), (3, 5, 10, 25), (3, 5, 10, 120), (4, 7, 3, 1000),
                                          (0, 5, 10, 10), (2, 1, 50, 10)]:
        seen = np.zeros((batch, rows), dtype=int)
        for n0, n1, r0, r1 in A.chunks(batch, rows, row_cost, budget):
            assert (n1 - n0) * (r1 - r0) * row_cost <= max(budget, row_cost)
            seen[n0:n1, r0:r1] += 1
        assert (seen == 1).all()


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
