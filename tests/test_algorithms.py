"""Every algorithm path of the convolution core against PyTorch, with a check that the path really ran.

The core (``vanilla_nn.functional._algorithms``) picks per shape: im2col+GEMM (``gemm``; its input gradient
either by the flipped-kernel correlation at stride 1 or by the col2im scatter), a plain GEMM for 1x1
kernels (``gemm1x1``), and a tap loop for depthwise convolutions (``depthwise``; a flat loop over
contiguous planes at stride 1, a blocked loop otherwise). Each case below names the kernels it must reach;
a spy counts their calls, so a case that silently took another path fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from checks import assert_close, with_layout
from oracle_torch import torch_conv

import vanilla_nn.functional as F
from vanilla_nn.functional import _algorithms as A


@pytest.fixture
def spy(monkeypatch):
    """``spy(name)`` wraps ``_algorithms.<name>``; the returned dict counts its calls."""
    counts: dict[str, int] = {}

    def install(name):
        original = getattr(A, name)
        counts[name] = 0

        def wrapper(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(A, name, wrapper)
        return counts

    return install


# (op, batch, c_in, c_out, spatial, kernel, options, layout, expected algorithm, kernels that must run)
CASES = [
    # gemm, stride 1, large activations: forward im2col GEMM, input grad by the flipped correlation
    ("conv2d", 2, 3, 4, (9, 8), (3, 3), {"padding": 1}, "strided", "gemm",
     ["_gemm_forward", "_adjoint_weight", "_gemm_weight_grad"]),
    ("conv1d", 2, 3, 5, (64,), (4,), {"padding": 2, "dilation": 2}, "contiguous", "gemm",
     ["_gemm_forward", "_adjoint_weight"]),
    ("conv3d", 1, 2, 3, (5, 6, 4), (3, 2, 3), {"padding": (1, 0, 1)}, "channels_last", "gemm",
     ["_gemm_forward", "_adjoint_weight"]),
    # gemm, stride 2: input grad by GEMM + col2im scatter
    ("conv2d", 2, 3, 4, (9, 8), (3, 3), {"padding": 1, "stride": 2}, "strided", "gemm",
     ["_gemm_forward", "_gemm_input_grad", "_gemm_weight_grad"]),
    # gemm, weight larger than the activations: col2im even at stride 1
    ("conv2d", 1, 16, 16, (3, 3), (3, 3), {"padding": 1}, "reversed", "gemm", ["_gemm_input_grad"]),
    # gemm with groups (not depthwise)
    ("conv2d", 2, 6, 4, (7, 6), (3, 2), {"groups": 2, "padding": 1}, "strided", "gemm",
     ["_gemm_forward", "_gemm_weight_grad"]),
    ("conv2d", 2, 6, 9, (7, 6), (3, 3), {"groups": 3, "stride": 2}, "contiguous", "gemm", ["_gemm_input_grad"]),
    # gemm1x1: stride 1 (no copy), stride 2, padding, groups, rank 1 and 3
    ("conv2d", 2, 5, 7, (6, 5), (1, 1), {}, "contiguous", "gemm1x1",
     ["_gemm1x1_forward", "_gemm1x1_input_grad", "_gemm1x1_weight_grad"]),
    ("conv2d", 2, 5, 7, (7, 6), (1, 1), {"stride": 2}, "strided", "gemm1x1", ["_gemm1x1_input_grad"]),
    ("conv2d", 2, 4, 6, (5, 5), (1, 1), {"padding": 1, "groups": 2}, "channels_last", "gemm1x1",
     ["_gemm1x1_forward"]),
    ("conv1d", 3, 4, 2, (9,), (1,), {"stride": 3}, "reversed", "gemm1x1", ["_gemm1x1_forward"]),
    ("conv3d", 1, 3, 4, (3, 4, 5), (1, 1, 1), {"stride": (1, 2, 1)}, "strided", "gemm1x1", ["_gemm1x1_forward"]),
    # depthwise, stride 1, planar (channels-first) input: the flat loop forward and input grad
    ("conv2d", 2, 4, 4, (9, 8), (3, 3), {"padding": 1, "groups": 4}, "contiguous", "depthwise",
     ["_depthwise_forward_flat", "_depthwise_weight_grad"]),
    ("conv1d", 2, 3, 3, (20,), (5,), {"padding": 4, "dilation": 2, "groups": 3}, "strided", "depthwise",
     ["_depthwise_forward_flat"]),
    ("conv3d", 1, 2, 2, (5, 4, 6), (3, 3, 2), {"padding": 1, "groups": 2}, "contiguous", "depthwise",
     ["_depthwise_forward_flat"]),
    # depthwise with a channels-last input: the blocked tap loop in channels-last memory
    ("conv2d", 2, 4, 4, (7, 6), (3, 3), {"padding": 1, "groups": 4}, "channels_last", "depthwise",
     ["_depthwise_forward"]),
    # depthwise, stride 2: blocked loops, forward and scatter
    ("conv2d", 2, 4, 4, (9, 8), (3, 3), {"padding": 1, "stride": 2, "groups": 4}, "contiguous", "depthwise",
     ["_depthwise_forward", "_depthwise_input_grad"]),
    # depthwise with channel multiplier 2: the input grad sums over the multiplier
    ("conv2d", 2, 3, 6, (6, 7), (3, 3), {"padding": 1, "groups": 3}, "strided", "depthwise",
     ["_depthwise_forward_flat", "_depthwise_input_grad"]),
    ("conv2d", 1, 3, 6, (6, 7), (2, 3), {"stride": 2, "groups": 3, "padding_mode": "reflect", "padding": 1},
     "contiguous", "depthwise", ["_depthwise_forward"]),
    # transposed convolutions: their forward is the input-grad kernel, their backward the forward kernel
    ("conv_transpose2d", 2, 4, 3, (5, 6), (4, 4), {"stride": 2, "padding": 1}, "strided", "gemm",
     ["_gemm_input_grad", "_gemm_forward"]),
    ("conv_transpose2d", 2, 4, 3, (5, 6), (3, 3), {"padding": 1}, "contiguous", "gemm", ["_adjoint_weight"]),
    ("conv_transpose1d", 2, 4, 2, (7,), (1,), {"stride": 2, "output_padding": 1}, "contiguous", "gemm1x1",
     ["_gemm1x1_input_grad"]),
    ("conv_transpose2d", 2, 3, 3, (5, 6), (3, 3), {"padding": 1, "groups": 3}, "contiguous", "depthwise",
     ["_depthwise_forward_flat"]),
    ("conv_transpose2d", 2, 3, 3, (5, 6), (3, 3), {"stride": 2, "groups": 3, "output_padding": 1}, "strided",
     "depthwise", ["_depthwise_input_grad", "_depthwise_weight_grad"]),
    ("conv_transpose3d", 1, 2, 4, (3, 4, 3), (2, 3, 2), {"stride": (2, 1, 1), "groups": 2}, "contiguous", "gemm",
     ["_gemm_input_grad"]),
]


def _ids():
    return [f"{c[0]}-{c[8]}-{'-'.join(f'{k}{v}' for k, v in c[6].items()) or 'plain'}-{c[7]}-{i}"
            for i, c in enumerate(CASES)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_algorithm_path_matches_torch(case, dtype, spy):
    op, batch, c_in, c_out, spatial, kernel, options, layout, algorithm, kernels = case
    transposed = op.startswith("conv_transpose")
    groups = options.get("groups", 1)
    # the core's choice is made on the underlying convolution (C_out and C_in swap for a transposed conv)
    conv_in = c_out if transposed else c_in
    assert A.choose(conv_in, kernel, groups) == algorithm
    counts = {}
    for name in kernels:
        counts = spy(name)
    rng = np.random.default_rng(len(op) + c_in * 7 + c_out)
    x = rng.standard_normal((batch, c_in, *spatial)).astype(dtype)
    w_shape = (c_in, c_out // groups, *kernel) if transposed else (c_out, c_in // groups, *kernel)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    forward, backward = getattr(F, op), getattr(F, op + "_backward")
    xl, wl = with_layout(x, layout), with_layout(w, layout)
    y = forward(xl, wl, b, **options)
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = backward(with_layout(gy, layout), xl, wl, b, **options)
    expected = torch_conv(op, x, w, b, gy, **options)
    for name, actual, reference in zip(("output", "grad_input", "grad_weight", "grad_bias"), (y, *grads), expected):
        assert_close(actual, reference, dtype, name)
    missing = [name for name, count in counts.items() if count == 0]
    assert not missing, f"the {algorithm} path did not run {missing}"


def test_choose():
    assert A.choose(32, (3, 3), 32) == "depthwise"
    assert A.choose(64, (1, 1), 1) == "gemm1x1"
    assert A.choose(64, (1, 1), 64) == "depthwise"
    assert A.choose(64, (3, 3), 2) == "gemm"
    assert A.choose(1, (3,), 1) == "gemm"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", [{"padding": 1}, {"stride": 2, "padding": (1, 0)}, {"groups": 2, "dilation": 2},
                                     {"padding": 2, "padding_mode": "circular"}])
def test_saved_forward_backward_reuses_windows(options, dtype, spy):
    """What layers call: the saved state's backward equals the functional backward and PyTorch, and the
    weight gradient reuses the forward's im2col matrix instead of building it again."""
    from vanilla_nn.functional.conv import conv_backward_saved, conv_forward_saving

    rng = np.random.default_rng(3)
    x = with_layout(rng.standard_normal((2, 4, 9, 8)).astype(dtype), "strided")
    w = rng.standard_normal((6, 4 // options.get("groups", 1), 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    counts = spy("_fill_cols")
    y, saved = conv_forward_saving(x, w, b, **options)
    gy = rng.standard_normal(y.shape).astype(dtype)
    before = counts["_fill_cols"]
    grads = conv_backward_saved(gy, saved)
    fills_saved = counts["_fill_cols"] - before
    before = counts["_fill_cols"]
    functional = F.conv2d_backward(gy, x, w, b, **options)
    fills_functional = counts["_fill_cols"] - before
    assert "cols" in saved and fills_saved == fills_functional - 1
    expected = torch_conv("conv2d", np.ascontiguousarray(x), w, b, gy, **options)
    for name, actual, again, reference in zip(("output", "grad_input", "grad_weight", "grad_bias"), (y, *grads),
                                              (y, *functional), expected):
        assert_close(actual, reference, dtype, name)
        np.testing.assert_array_equal(actual, again, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spatial, batch", [((6, 8), 3), ((5, 7), 2), ((2, 2), 1)])
def test_winograd_path(spatial, batch, dtype, spy, monkeypatch):
    """F(2x2, 3x3), even and odd output sizes, forward and (via the flipped correlation) grad_input."""
    monkeypatch.setattr(A, "WINOGRAD_MIN_CHANNELS", 2)
    monkeypatch.setattr(A, "WINOGRAD_ODD_OUTPUT", True)
    counts = spy("use_winograd")
    from vanilla_nn.functional import winograd

    calls = {"n": 0}
    original = winograd.correlate_winograd

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(winograd, "correlate_winograd", counting)
    rng = np.random.default_rng(5)
    x = with_layout(rng.standard_normal((batch, 3, *spatial)).astype(dtype), "strided")
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    per_image = winograd.workspace_per_image((spatial[0] + 2, spatial[1] + 2), 3, 4, np.dtype(dtype).itemsize)
    with F.workspace_limit(per_image):  # one image per chunk
        y = F.conv2d(x, w, b, padding=1)
        gy = rng.standard_normal(y.shape).astype(dtype)
        grads = F.conv2d_backward(gy, x, w, b, padding=1)
    assert counts["use_winograd"] >= 1 and calls["n"] >= 1
    expected = torch_conv("conv2d", np.ascontiguousarray(x), w, b, gy, padding=1)
    for name, actual, reference in zip(("output", "grad_input", "grad_weight", "grad_bias"), (y, *grads), expected):
        assert_close(actual, reference, dtype, name)


def test_winograd_chosen_for_wide_layers_only():
    assert A.use_winograd((8, 16, 16, 256), (256, 256, 3, 3), (1, 1), (1, 1), 1, 4)
    assert not A.use_winograd((8, 58, 58, 64), (64, 64, 3, 3), (1, 1), (1, 1), 1, 4)
    assert not A.use_winograd((8, 16, 16, 256), (256, 256, 3, 3), (2, 2), (1, 1), 1, 4)
    assert not A.use_winograd((8, 9, 9, 512), (512, 512, 3, 3), (1, 1), (1, 1), 1, 4)  # odd output
