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
from vanilla_nn.functional import plan as P


@pytest.fixture(autouse=True)
def winograd_f4_in_float32(monkeypatch):
    """Every test here plans F(4x4, 3x3) for float32 as for float64 (plan.WINOGRAD_F4_FLOAT32, off by default for
    accuracy through deep networks): the float32 path is tested whatever the default;
    test_winograd_f4_float32_gate tests the switch."""
    monkeypatch.setattr(P, "WINOGRAD_F4_FLOAT32", True)


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


# (op, batch, c_in, c_out, spatial, kernel, options, layout, planned (algorithm, input_grad), kernels that must run)
CASES = [
    # gemm, stride 1, large activations: forward im2col GEMM, input grad by the flipped correlation
    ("conv2d", 2, 5, 4, (9, 8), (3, 3), {"padding": 1}, "strided", ("gemm", "correlation"),
     ["_gemm_forward", "_adjoint_weight", "_gemm_weight_grad"]),
    ("conv1d", 2, 5, 5, (64,), (4,), {"padding": 2, "dilation": 2}, "contiguous", ("gemm", "correlation"),
     ["_gemm_forward", "_adjoint_weight"]),
    ("conv3d", 1, 6, 3, (5, 6, 4), (3, 2, 3), {"padding": (1, 0, 1)}, "channels_last", ("gemm", "correlation"),
     ["_gemm_forward", "_adjoint_weight"]),
    # gemm, stride 2: input grad by GEMM + col2im scatter
    ("conv2d", 2, 5, 4, (9, 8), (3, 3), {"padding": 1, "stride": 2}, "strided", ("gemm", "scatter"),
     ["_gemm_forward", "_gemm_input_grad", "_gemm_weight_grad"]),
    # gemm, weight larger than the activations: col2im even at stride 1
    ("conv2d", 1, 16, 16, (3, 3), (3, 3), {"padding": 1}, "reversed", ("gemm", "scatter"), ["_gemm_input_grad"]),
    # gemm with groups (not depthwise)
    ("conv2d", 2, 6, 4, (7, 6), (3, 2), {"groups": 2, "padding": 1}, "strided", ("gemm", "correlation"),
     ["_gemm_forward", "_gemm_weight_grad"]),
    ("conv2d", 2, 6, 9, (7, 6), (3, 3), {"groups": 3, "stride": 2}, "contiguous", ("gemm", "scatter"),
     ["_gemm_input_grad"]),
    # gemm_view: 1-d, undilated, one group: the windows of each phase of outputs are a view, G = ceil(K / s) GEMMs
    ("conv1d", 2, 5, 6, (47,), (3,), {"padding": 1}, "contiguous", ("gemm_view", "correlation"),
     ["_gemm_view_forward", "_gemm_view_weight_grad", "_adjoint_weight"]),
    ("conv1d", 3, 6, 4, (20,), (5,), {"padding": 2, "stride": 2}, "strided", ("gemm_view", "scatter"),
     ["_gemm_view_forward", "_gemm_view_weight_grad", "_gemm_input_grad"]),
    ("conv1d", 2, 5, 3, (19,), (2,), {"stride": 3}, "channels_last", ("gemm_view", "scatter"),
     ["_gemm_view_forward", "_gemm_view_weight_grad"]),
    ("conv_transpose1d", 2, 6, 5, (9,), (4,), {"stride": 2, "padding": 1}, "contiguous", ("gemm_view", "scatter"),
     ["_gemm_input_grad", "_gemm_view_forward", "_gemm_view_weight_grad"]),
    # gemm_cf: few input channels, channels-first im2col (stride 2: its own scatter; stride 1: the correlation)
    ("conv2d", 2, 3, 4, (11, 10), (7, 7), {"padding": 3, "stride": 2}, "strided", ("gemm_cf", "scatter_cf"),
     ["_gemm_cf_forward", "_gemm_cf_input_grad", "_gemm_cf_weight_grad"]),
    ("conv2d", 2, 3, 4, (9, 8), (3, 3), {"padding": 1}, "channels_last", ("gemm_cf", "correlation"),
     ["_gemm_cf_forward", "_adjoint_weight", "_gemm_cf_weight_grad"]),
    ("conv1d", 2, 1, 5, (30,), (4,), {"padding": 2, "dilation": 2, "stride": 3}, "reversed", ("gemm_cf", "scatter_cf"),
     ["_gemm_cf_forward", "_gemm_cf_input_grad"]),
    ("conv3d", 1, 2, 3, (5, 6, 4), (3, 2, 3), {"padding": (1, 0, 1), "stride": (1, 2, 1)}, "contiguous",
     ("gemm_cf", "scatter_cf"), ["_gemm_cf_forward", "_gemm_cf_input_grad", "_gemm_cf_weight_grad"]),
    # gemm1x1: stride 1 (no copy), stride 2, padding, groups, rank 1 and 3; stride 1: the weight gradient one GEMM
    # per image in either memory order
    ("conv2d", 2, 5, 7, (6, 5), (1, 1), {}, "contiguous", ("gemm1x1", "gemm1x1"),
     ["_gemm1x1_forward", "_gemm1x1_input_grad", "_gemm1x1_weight_grad_images"]),
    ("conv2d", 2, 5, 7, (6, 5), (1, 1), {"padding": 1}, "channels_last", ("gemm1x1", "gemm1x1"),
     ["_gemm1x1_forward", "_gemm1x1_input_grad", "_gemm1x1_weight_grad_images"]),
    ("conv1d", 3, 4, 6, (9,), (1,), {}, "contiguous", ("gemm1x1", "gemm1x1"),
     ["_gemm1x1_forward", "_gemm1x1_input_grad", "_gemm1x1_weight_grad_images"]),
    ("conv2d", 2, 5, 7, (7, 6), (1, 1), {"stride": 2}, "strided", ("gemm1x1", "gemm1x1"), ["_gemm1x1_input_grad"]),
    ("conv2d", 2, 4, 6, (5, 5), (1, 1), {"padding": 1, "groups": 2}, "channels_last", ("gemm1x1", "gemm1x1"),
     ["_gemm1x1_forward"]),
    ("conv1d", 3, 4, 2, (9,), (1,), {"stride": 3}, "reversed", ("gemm1x1", "gemm1x1"), ["_gemm1x1_forward"]),
    ("conv3d", 1, 3, 4, (3, 4, 5), (1, 1, 1), {"stride": (1, 2, 1)}, "strided", ("gemm1x1", "gemm1x1"),
     ["_gemm1x1_forward"]),
    # depthwise, stride 1, channels-first input: padded into planes, the flat loop forward and input grad
    ("conv2d", 2, 4, 4, (9, 8), (3, 3), {"padding": 1, "groups": 4}, "contiguous",
     ("depthwise", "depthwise_correlation"), ["_depthwise_forward_flat", "_depthwise_weight_grad_flat"]),
    ("conv1d", 2, 3, 3, (20,), (5,), {"padding": 4, "dilation": 2, "groups": 3}, "strided",
     ("depthwise", "depthwise_correlation"), ["_depthwise_forward_flat", "_depthwise_weight_grad_flat"]),
    ("conv3d", 1, 2, 2, (5, 4, 6), (3, 3, 2), {"padding": 1, "groups": 2}, "contiguous",
     ("depthwise", "depthwise_correlation"), ["_depthwise_forward_flat", "_depthwise_weight_grad_flat"]),
    # depthwise with a channels-last input: the boxed tap loop in channels-last memory
    ("conv2d", 2, 4, 4, (7, 6), (3, 3), {"padding": 1, "groups": 4}, "channels_last",
     ("depthwise", "depthwise_correlation"), ["_depthwise_forward_boxes", "_depthwise_weight_grad_taps"]),
    # depthwise, stride 2: on channel planes, the flat loop over the input split by stride phase; channels-last:
    # boxed loops, forward and scatter
    ("conv2d", 2, 4, 4, (9, 8), (3, 3), {"padding": 1, "stride": 2, "groups": 4}, "contiguous",
     ("depthwise", "depthwise_scatter"), ["_depthwise_forward_flat", "_phase_planes", "_depthwise_weight_grad_phases",
                                          "_depthwise_input_grad_phases"]),
    ("conv2d", 2, 5, 5, (8, 6), (3, 3), {"padding": 1, "stride": 2, "groups": 5}, "contiguous",  # frame divisible
     ("depthwise", "depthwise_scatter"), ["_depthwise_forward_flat", "_depthwise_weight_grad_phases",
                                          "_depthwise_input_grad_phases"]),
    ("conv2d", 2, 4, 4, (9, 8), (3, 3), {"padding": 1, "stride": 2, "groups": 4}, "channels_last",
     ("depthwise", "depthwise_scatter"), ["_depthwise_forward_boxes", "_depthwise_input_grad_boxes",
                                          "_depthwise_weight_grad_taps"]),
    ("conv3d", 1, 2, 2, (7, 6, 9), (3, 2, 3), {"padding": 1, "stride": (2, 1, 3), "dilation": (1, 2, 1),
                                               "groups": 2}, "strided",
     ("depthwise", "depthwise_scatter"), ["_depthwise_forward_flat", "_depthwise_weight_grad_phases",
                                          "_depthwise_input_grad_phases"]),
    # depthwise with channel multiplier 2: the input grad sums over the multiplier
    ("conv2d", 2, 3, 6, (6, 7), (3, 3), {"padding": 1, "groups": 3}, "strided", ("depthwise", "depthwise_scatter"),
     ["_depthwise_forward_flat", "_depthwise_input_grad_boxes", "_depthwise_weight_grad_taps"]),
    ("conv2d", 1, 3, 6, (6, 7), (2, 3), {"stride": 2, "groups": 3, "padding_mode": "reflect", "padding": 1},
     "contiguous", ("depthwise", "depthwise_scatter"), ["_depthwise_forward_flat", "_phase_planes"]),
    # winograd_f4: 2-d 3x3 stride 1, 32 to 255 channels; its input grad by the scatter (few rows per channel) or by
    # the flipped correlation, itself F(4x4) (the transposed conv's forward too)
    ("conv2d", 1, 32, 32, (8, 8), (3, 3), {"padding": 1}, "strided", ("winograd_f4", "scatter"),
     ["_winograd_f4_forward", "_gemm_input_grad", "_gemm_weight_grad"]),
    ("conv2d", 1, 32, 40, (28, 28), (3, 3), {"padding": 1}, "contiguous", ("winograd_f4", "correlation"),
     ["_winograd_f4_forward", "_adjoint_weight", "_gemm_weight_grad"]),
    ("conv_transpose2d", 1, 32, 32, (28, 28), (3, 3), {"padding": 1}, "channels_last", ("winograd_f4", "correlation"),
     ["_winograd_f4_forward", "_adjoint_weight"]),
    # transposed convolutions: their forward is the input-grad kernel, their backward the forward kernel
    ("conv_transpose2d", 2, 4, 5, (5, 6), (4, 4), {"stride": 2, "padding": 1}, "strided", ("gemm", "scatter"),
     ["_gemm_input_grad", "_gemm_forward"]),
    ("conv_transpose2d", 2, 4, 5, (9, 8), (3, 3), {"padding": 1}, "contiguous", ("gemm", "correlation"),
     ["_adjoint_weight"]),
    ("conv_transpose2d", 2, 4, 3, (5, 6), (4, 4), {"stride": 2, "padding": 1}, "channels_last",
     ("gemm_cf", "scatter_cf"), ["_gemm_cf_input_grad", "_gemm_cf_forward", "_gemm_cf_weight_grad"]),
    ("conv_transpose1d", 2, 4, 2, (7,), (1,), {"stride": 2, "output_padding": 1}, "contiguous",
     ("gemm1x1", "gemm1x1"), ["_gemm1x1_input_grad"]),
    ("conv_transpose2d", 2, 3, 3, (5, 6), (3, 3), {"padding": 1, "groups": 3}, "contiguous",
     ("depthwise", "depthwise_correlation"), ["_depthwise_forward_flat", "_depthwise_weight_grad_flat"]),
    ("conv_transpose2d", 2, 3, 3, (5, 6), (3, 3), {"stride": 2, "groups": 3, "output_padding": 1}, "strided",
     ("depthwise", "depthwise_scatter"), ["_depthwise_input_grad_phases", "_depthwise_weight_grad_phases"]),
    ("conv_transpose3d", 1, 2, 4, (3, 4, 3), (2, 3, 2), {"stride": (2, 1, 1), "groups": 2}, "contiguous",
     ("gemm", "scatter"), ["_gemm_input_grad"]),
]


def _ids():
    return [f"{c[0]}-{c[8][0]}-{'-'.join(f'{k}{v}' for k, v in c[6].items()) or 'plain'}-{c[7]}-{i}"
            for i, c in enumerate(CASES)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_algorithm_path_matches_torch(case, dtype, spy):
    op, batch, c_in, c_out, spatial, kernel, options, layout, planned, kernels = case
    transposed = op.startswith("conv_transpose")
    groups = options.get("groups", 1)
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
    # the plan is made on the underlying convolution (C_out and C_in swap for a transposed conv)
    plan = _plan_of(op, xl, wl, options)
    assert (plan.algorithm.value, plan.input_grad.value) == planned, plan.describe()
    algorithm = planned[0]
    y = forward(xl, wl, b, **options)
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = backward(with_layout(gy, layout), xl, wl, b, **options)
    expected = torch_conv(op, x, w, b, gy, **options)
    for name, actual, reference in zip(("output", "grad_input", "grad_weight", "grad_bias"), (y, *grads), expected):
        assert_close(actual, reference, dtype, name)
    missing = [name for name, count in counts.items() if count == 0]
    assert not missing, f"the {algorithm} path did not run {missing}"


def _plan_of(op, x, w, options):
    """The plan the functional op makes for these arguments."""
    from vanilla_nn.functional import conv as C
    from vanilla_nn.functional._args import conv_spec, conv_transpose_spec

    ndim = w.ndim - 2
    if op.startswith("conv_transpose"):
        names = ("stride", "padding", "output_padding", "groups", "dilation")
        defaults = (1, 0, 0, 1, 1)
        args = [options.get(n, d) for n, d in zip(names, defaults)]
        spec, xc, wc, _ = conv_transpose_spec(op, ndim, x, w, None, *args)
        return C.conv_transpose_plan_for(spec, xc, wc)
    names = ("stride", "padding", "dilation", "groups", "padding_mode")
    defaults = (1, 0, 1, 1, "zeros")
    spec, xc, wc, _ = conv_spec(op, ndim, x, w, None, *[options.get(n, d) for n, d in zip(names, defaults)])
    return C.conv_plan_for(spec, xc, wc)


def _geometry(c_in, c_out, kernel, groups=1, size=16, batch=8, stride=1):
    n = len(kernel)
    frame = (size + 2,) * n
    return P.ConvGeometry.of((batch, *frame, c_in), (c_out, c_in // groups, *kernel), (stride,) * n, (1,) * n,
                             groups)


def test_plan_algorithm_by_shape():
    def algorithm(*args, **kwargs):
        return P.plan_conv(_geometry(*args, **kwargs), np.float32).algorithm

    assert algorithm(32, 32, (3, 3), groups=32) == P.Algorithm.DEPTHWISE
    assert algorithm(64, 64, (1, 1)) == P.Algorithm.GEMM1X1
    assert algorithm(64, 64, (1, 1), groups=64) == P.Algorithm.DEPTHWISE
    assert algorithm(64, 64, (3, 3), groups=2) == P.Algorithm.GEMM
    assert algorithm(3, 64, (7, 7), stride=2) == P.Algorithm.GEMM_CHANNELS_FIRST
    assert algorithm(1, 8, (3,)) == P.Algorithm.GEMM_CHANNELS_FIRST
    assert algorithm(5, 8, (3,)) == P.Algorithm.GEMM_VIEW
    assert algorithm(6, 8, (3,), groups=2) == P.Algorithm.GEMM


def test_plan_is_frozen_and_printable():
    plan = P.plan_conv(_geometry(64, 64, (3, 3), size=56), np.float32)
    with pytest.raises(AttributeError):
        plan.algorithm = P.Algorithm.WINOGRAD
    assert plan.describe().startswith("winograd_f4, grad_input correlation (winograd_f4)")
    assert plan.input_grad_plan.geometry.c_in == 64 and plan.input_grad_plan.geometry.frame == (60, 60)


def test_plan_input_grad_strategy_by_rows_per_channel_and_workspace():
    """Correlation when N*P/C_in >= the threshold and the padded grad_output fits the cap; else scatter."""
    deep = P.plan_conv(_geometry(512, 512, (3, 3), size=7), np.float32)    # N*P/C_in < 1
    wide = P.plan_conv(_geometry(64, 64, (3, 3), size=56), np.float32)     # 392
    assert deep.input_grad == P.InputGrad.SCATTER and wide.input_grad == P.InputGrad.CORRELATION
    padded_gy = 8 * 60 * 60 * 64 * 4
    small = P.plan_conv(_geometry(64, 64, (3, 3), size=56), np.float32, workspace=padded_gy // 2)
    assert small.input_grad == P.InputGrad.SCATTER


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", [{"padding": 1}, {"stride": 2, "padding": (1, 0)}, {"groups": 2, "dilation": 2},
                                     {"padding": 2, "padding_mode": "circular"}])
def test_saved_forward_backward_reuses_windows(options, dtype, spy):
    """What layers call: the saved state's backward equals the functional backward and PyTorch, and the
    weight gradient reuses the forward's im2col matrix instead of building it again."""
    from vanilla_nn.functional.conv import ConvSaved, conv_backward_saved, conv_forward_saving

    rng = np.random.default_rng(3)
    x = with_layout(rng.standard_normal((2, 6, 9, 8)).astype(dtype), "strided")
    w = rng.standard_normal((6, 6 // options.get("groups", 1), 3, 3)).astype(dtype)
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
    assert isinstance(saved, ConvSaved) and saved.cols is not None and fills_saved == fills_functional - 1
    expected = torch_conv("conv2d", np.ascontiguousarray(x), w, b, gy, **options)
    for name, actual, again, reference in zip(("output", "grad_input", "grad_weight", "grad_bias"), (y, *grads),
                                              (y, *functional), expected):
        assert_close(actual, reference, dtype, name)
        np.testing.assert_array_equal(actual, again, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_saved_path_equals_functional_backward_exactly(case, dtype):
    """``conv*_forward_saving`` + ``conv*_backward_saved`` (what layers and the tape call) give the forward and
    the gradients of ``conv*`` / ``conv*_backward`` bit for bit, on every planned path."""
    from vanilla_nn.functional import conv as C

    op, batch, c_in, c_out, spatial, kernel, options, layout, _, _ = case
    transposed = op.startswith("conv_transpose")
    groups = options.get("groups", 1)
    rng = np.random.default_rng(11 + c_in)
    x = with_layout(rng.standard_normal((batch, c_in, *spatial)).astype(dtype), layout)
    w_shape = (c_in, c_out // groups, *kernel) if transposed else (c_out, c_in // groups, *kernel)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    if transposed:
        y, saved = C.conv_transpose_forward_saving(x, w, b, **options)
        assert isinstance(saved, C.ConvTransposeSaved)
        forward, backward, saved_backward = F.conv_transpose_nd, F.conv_transpose_nd_backward, \
            C.conv_transpose_backward_saved
    else:
        y, saved = C.conv_forward_saving(x, w, b, **options)
        assert isinstance(saved, C.ConvSaved)
        forward, backward, saved_backward = F.conv_nd, F.conv_nd_backward, C.conv_backward_saved
    with pytest.raises(AttributeError):  # frozen
        saved.w = w
    gy = with_layout(rng.standard_normal(y.shape).astype(dtype), layout)
    np.testing.assert_array_equal(y, forward(x, w, b, **options))
    for name, a, e in zip(("grad_input", "grad_weight", "grad_bias"), saved_backward(gy, saved),
                          backward(gy, x, w, b, **options)):
        assert a.dtype == e.dtype == dtype, name
        np.testing.assert_array_equal(a, e, err_msg=name)


def test_saved_state_type_is_checked():
    from vanilla_nn.functional import conv as C

    with pytest.raises(TypeError, match="saved"):
        C.conv_backward_saved(np.ones((1, 1, 2)), {"xp": None})
    _, saved = C.conv_forward_saving(np.ones((1, 1, 4)), np.ones((1, 1, 3)))
    with pytest.raises(TypeError, match="ConvTransposeSaved"):
        C.conv_transpose_backward_saved(np.ones((1, 1, 2)), saved)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spatial, batch", [((6, 8), 3), ((5, 7), 2), ((2, 2), 1)])
def test_winograd_path(spatial, batch, dtype, spy, monkeypatch):
    """F(2x2, 3x3), even and odd output sizes, forward and (via the flipped correlation) grad_input."""
    monkeypatch.setattr(P, "WINOGRAD_MIN_CHANNELS", 5)
    monkeypatch.setattr(P, "WINOGRAD_ODD_OUTPUT", True)
    counts = spy("_winograd_forward")
    from vanilla_nn.functional import winograd

    calls = {"n": 0}
    original = winograd.correlate_winograd

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(winograd, "correlate_winograd", counting)
    rng = np.random.default_rng(5)
    x = with_layout(rng.standard_normal((batch, 5, *spatial)).astype(dtype), "strided")
    w = rng.standard_normal((6, 5, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    item = np.dtype(dtype).itemsize
    per_image = winograd.workspace_per_image((spatial[0] + 2, spatial[1] + 2), 5, 6, item)
    with F.workspace_limit(per_image + winograd.kernel_bytes(5, 6, item)):  # one image per chunk
        y = F.conv2d(x, w, b, padding=1)
        gy = rng.standard_normal(y.shape).astype(dtype)
        grads = F.conv2d_backward(gy, x, w, b, padding=1)
    assert counts["_winograd_forward"] >= 1 and calls["n"] >= 1
    expected = torch_conv("conv2d", np.ascontiguousarray(x), w, b, gy, padding=1)
    for name, actual, reference in zip(("output", "grad_input", "grad_weight", "grad_bias"), (y, *grads), expected):
        assert_close(actual, reference, dtype, name)


def test_winograd_chosen_for_wide_layers_only():
    def fits(xp_shape, w_shape, stride):
        geometry = P.ConvGeometry.of(xp_shape, w_shape, (stride, stride), (1, 1), 1)
        return P.winograd_fits(geometry, 4, F.get_workspace_limit())

    assert fits((8, 16, 16, 256), (256, 256, 3, 3), 1)
    assert not fits((8, 58, 58, 64), (64, 64, 3, 3), 1)
    assert not fits((8, 16, 16, 256), (256, 256, 3, 3), 2)
    assert not fits((8, 9, 9, 512), (512, 512, 3, 3), 1)  # odd output


def test_toom_cook_reproduces_lavin_gray_f4():
    """With Lavin & Gray's points 0, 1, -1, 2, -2, infinity, the construction gives their published F(4x4, 3x3)
    matrices (arXiv:1509.09308, section 4.2), typed here from the paper."""
    from fractions import Fraction

    from vanilla_nn.functional import winograd

    bt = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
          [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    g = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
         [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
    at = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
    points = tuple(Fraction(p) for p in (0, 1, -1, 2, -2))
    ours = [np.array(m, dtype=np.float64) for m in winograd.toom_cook(points, 4, 3)]
    for name, actual, published in zip(("A^T", "G", "B^T"), ours, (at, g, bt)):
        np.testing.assert_allclose(actual, published, rtol=1e-15, atol=1e-15, err_msg=name)
    with pytest.raises(ValueError, match="points"):
        winograd.toom_cook(points[:4], 4, 3)


@pytest.mark.parametrize("points", [(0, 1, -1, 2, -2), (0, 1, -1, 2, "-1/2"), (0, 1, -1, "1/2", "-1/2")])
def test_toom_cook_f4_is_a_correlation(points):
    """``A^T [(G g) * (B^T d)] = correlate(d, g)`` in 1-d, and the 2-d nesting of the module's Kronecker
    matrices equals the direct 3x3 correlation of a 6x6 tile (NumPy's correlate and a plain loop as oracles)."""
    from fractions import Fraction

    from vanilla_nn.functional import winograd

    at, g, bt = (np.array(m, dtype=np.float64) for m in winograd.toom_cook(tuple(Fraction(p) for p in points), 4, 3))
    rng = np.random.default_rng(0)
    d, k = rng.standard_normal(6), rng.standard_normal(3)
    np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), np.correlate(d, k, "valid"), rtol=1e-13, atol=1e-13)
    tile, kernel = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
    direct = np.array([[np.sum(tile[i:i + 3, j:j + 3] * kernel) for j in range(4)] for i in range(4)])
    if points == (0, 1, -1, 2, "-1/2"):  # the module's own points and Kronecker matrices
        at, g, bt = winograd._AT4, winograd._G4, winograd._BT4
        y = winograd._AA4 @ ((winograd._GG4 @ kernel.ravel()) * (winograd._BB4 @ tile.ravel()))
        np.testing.assert_allclose(y.reshape(4, 4), direct, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(at @ ((g @ kernel @ g.T) * (bt @ tile @ bt.T)) @ at.T, direct, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spatial, batch, images", [((8, 8), 3, 2), ((6, 10), 2, 1), ((5, 7), 2, 2), ((2, 2), 1, 1),
                                                    ((12, 4), 3, 3)])
def test_winograd_f4_path(spatial, batch, images, dtype, spy, monkeypatch):
    """F(4x4, 3x3): output sizes multiple of 4 or not (tiles overhang), chunks of ``images`` images (a short last
    chunk), forward and grad_input (the flipped correlation, itself F(4x4)) against PyTorch."""
    from vanilla_nn.functional import winograd

    monkeypatch.setattr(P, "WINOGRAD_F4_MIN_CHANNELS", 5)
    monkeypatch.setattr(P, "WINOGRAD_F4_MAX_WASTE", 10.0)
    counts = spy("_winograd_f4_forward")
    steps = []
    original = winograd.correlate_winograd_f4

    def recording(xp, w, out_spatial, images_per_chunk):
        steps.append(images_per_chunk)
        return original(xp, w, out_spatial, images_per_chunk)

    monkeypatch.setattr(winograd, "correlate_winograd_f4", recording)
    rng = np.random.default_rng(7)
    x = with_layout(rng.standard_normal((batch, 5, *spatial)).astype(dtype), "strided")
    w = rng.standard_normal((6, 5, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    tiles = -(-spatial[0] // 4) * -(-spatial[1] // 4)
    monkeypatch.setattr(P, "WINOGRAD_F4_TILE_ROWS", images * tiles)
    y = F.conv2d(x, w, b, padding=1)
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = F.conv2d_backward(gy, x, w, b, padding=1)
    correlation = batch * spatial[0] * spatial[1] >= P.CORRELATION_MIN_ROWS_PER_CHANNEL * 5
    assert counts["_winograd_f4_forward"] == (2 if correlation else 1) and steps[0] == images
    expected = torch_conv("conv2d", np.ascontiguousarray(x), w, b, gy, padding=1)
    for name, actual, reference in zip(("output", "grad_input", "grad_weight", "grad_bias"), (y, *grads), expected):
        assert actual.dtype == dtype
        assert_close(actual, reference, dtype, name)


def test_winograd_f4_kernel_leaves_inputs_alone_and_respects_the_cap():
    """The kernel returns a fresh array, keeps its inputs, and the plan's chunks fit the workspace cap."""
    from vanilla_nn.functional import winograd

    rng = np.random.default_rng(1)
    xp = rng.standard_normal((3, 10, 10, 64)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    x_copy, w_copy = xp.copy(), w.copy()
    geometry = P.ConvGeometry.of(xp.shape, w.shape, (1, 1), (1, 1), 1)
    per_image = winograd.workspace_per_image_f4(geometry.frame, 64, 64, 4)
    cap = 2 * per_image + winograd.kernel_bytes_f4(64, 64, 4)
    plan = P.plan_conv(geometry, np.float32, workspace=cap)
    assert plan.algorithm == P.Algorithm.WINOGRAD_F4 and plan.forward_chunks.step == 2
    assert plan.forward_chunks.box_bytes + winograd.kernel_bytes_f4(64, 64, 4) <= cap
    y, _ = A.correlate_cl(xp, w, plan)
    np.testing.assert_array_equal(xp, x_copy)
    np.testing.assert_array_equal(w, w_copy)
    assert not np.shares_memory(y, xp) and y.dtype == np.float32
    expected = torch_conv("conv2d", np.moveaxis(xp, -1, 1).astype(np.float64), w.astype(np.float64))[0]
    assert_close(np.moveaxis(y, -1, 1), expected.astype(np.float32), np.float32, "output")
    too_small = P.plan_conv(geometry, np.float32, workspace=per_image)  # the kernel alone does not fit: im2col
    assert too_small.algorithm == P.Algorithm.GEMM


def test_winograd_f4_chosen_where_measured():
    """F(4x4, 3x3) where plan.py's measurement has it beat F(2x2) and the im2col GEMM: ResNet-18 layers 1 and 2."""
    def algorithm(c_in, size, c_out=None, stride=1, groups=1, kernel=(3, 3), dtype=np.float32):
        geometry = _geometry(c_in, c_out or c_in, kernel, groups=groups, size=size, stride=stride)
        return P.plan_conv(geometry, dtype).algorithm

    assert algorithm(64, 56) == P.Algorithm.WINOGRAD_F4            # layer 1
    assert algorithm(128, 28) == P.Algorithm.WINOGRAD_F4           # layer 2
    assert algorithm(64, 56, dtype=np.float64) == P.Algorithm.WINOGRAD_F4
    assert algorithm(32, 56, c_out=128) == P.Algorithm.WINOGRAD_F4
    assert algorithm(256, 14) == P.Algorithm.WINOGRAD              # layer 3: F(2x2)
    assert algorithm(512, 7) == P.Algorithm.GEMM                   # layer 4
    assert algorithm(128, 28, c_out=256) == P.Algorithm.GEMM       # 256 out: neither range
    assert algorithm(16, 56) == P.Algorithm.GEMM                   # below the measured range
    assert algorithm(64, 7) == P.Algorithm.GEMM                    # 4x4 tiles overhang 7x7 by 31%
    assert algorithm(64, 56, stride=2) == P.Algorithm.GEMM
    assert algorithm(64, 56, groups=2) == P.Algorithm.GEMM
    assert algorithm(64, 56, kernel=(3,)) == P.Algorithm.GEMM_VIEW              # 1-d: no Winograd
    assert algorithm(64, 56, kernel=(5, 5)) == P.Algorithm.GEMM


def test_winograd_f4_float32_gate(monkeypatch):
    """float64 always plans F(4x4) where it fits; float32 only with ``WINOGRAD_F4_FLOAT32``."""
    geometry = _geometry(64, 64, (3, 3), size=56)
    monkeypatch.setattr(P, "WINOGRAD_F4_FLOAT32", False)
    assert P.plan_conv(geometry, np.float64).algorithm == P.Algorithm.WINOGRAD_F4
    assert P.plan_conv(geometry, np.float32).algorithm == P.Algorithm.GEMM
    monkeypatch.setattr(P, "WINOGRAD_F4_FLOAT32", True)
    assert P.plan_conv(geometry, np.float32).algorithm == P.Algorithm.WINOGRAD_F4
