"""The fast convolution path against PyTorch: forward and every gradient, every option, every rank.

Two kinds of test: a Chainer-style grid of named configurations (easy to read when one fails), and a
hypothesis property test that draws whole configurations (rank, shapes, stride, padding kind, dilation,
groups, bias, padding mode, dtype, memory layout).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from checks import LAYOUTS, assert_close, with_layout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle_torch import explicit_pads, torch_conv

import vanilla_nn.functional as F


def run_case(op, x, w, b, options, dtype, layout="strided", seed=0):
    """Run ``op`` and its backward on arrays in ``layout`` and compare everything with PyTorch."""
    rng = np.random.default_rng(seed)
    x, w = x.astype(dtype), w.astype(dtype)
    b = None if b is None else b.astype(dtype)
    forward, backward = getattr(F, op), getattr(F, op + "_backward")
    xl, wl = with_layout(x, layout), with_layout(w, layout)
    bl = None if b is None else with_layout(b, layout)
    copies = [a.copy() for a in (xl, wl) + (() if bl is None else (bl,))]
    y = forward(xl, wl, bl, **options)
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = backward(with_layout(gy, layout), xl, wl, bl, **options)
    expected = torch_conv(op, x, w, b, gy, **options)
    # the same sums over absolute values: the scale float32 rounding error is relative to
    magnitudes = torch_conv(op, *(None if a is None else np.abs(a).astype(np.float64) for a in (x, w, b, gy)),
                            **options)
    for name, actual, reference, magnitude in zip(("output", "grad_input", "grad_weight", "grad_bias"),
                                                  (y, *grads), expected, magnitudes):
        if reference is None:
            assert actual is None, f"{name} should be None"
        else:
            assert_close(actual, reference, dtype, name, magnitude=magnitude)
    for before, after in zip(copies, (xl, wl) + (() if bl is None else (bl,))):
        np.testing.assert_array_equal(before, after, err_msg="an input was modified")


def random_case(rng, ndim, batch, c_in, c_out, spatial, kernel, transposed=False, groups=1, bias=True):
    x = rng.standard_normal((batch, c_in, *spatial))
    shape = (c_in, c_out // groups, *kernel) if transposed else (c_out, c_in // groups, *kernel)
    w = rng.standard_normal(shape)
    b = rng.standard_normal(c_out) if bias else None
    return x, w, b


# ---------------------------------------------------------------------------------------------------------
# Grid: named configurations per rank
# ---------------------------------------------------------------------------------------------------------

CONV_OPTIONS = [
    {},
    {"stride": 2},
    {"stride": (1, 2, 3)},
    {"padding": 1},
    {"padding": (2, 0, 1)},
    {"padding": ((1, 0), (0, 2), (2, 1))},
    {"padding": "valid"},
    {"padding": "same"},
    {"padding": "same", "stride": 2},
    {"padding": "same", "stride": (3, 1, 2), "dilation": 2},
    {"dilation": 2},
    {"dilation": (1, 2, 1), "padding": 2, "stride": 2},
    {"groups": 2},
    {"groups": 4},  # depthwise: groups == in_channels, channel multiplier 2
    {"padding": 2, "padding_mode": "reflect"},
    {"padding": ((2, 1), (0, 2), (1, 0)), "padding_mode": "reflect", "stride": 2},
    {"padding": 3, "padding_mode": "replicate"},
    {"padding": ((0, 4), (3, 1), (1, 2)), "padding_mode": "replicate", "dilation": 2},
    {"padding": 2, "padding_mode": "circular", "groups": 2},
    {"padding": "same", "padding_mode": "circular", "stride": 2},
]


def per_rank(options, ndim):
    """Trim the 3-entry tuples in a grid entry to ``ndim`` entries."""
    return {key: value[:ndim] if isinstance(value, tuple) else value for key, value in options.items()}


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("options", CONV_OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_torch(ndim, options, dtype, bias):
    options = per_rank(options, ndim)
    rng = np.random.default_rng(ndim)
    x, w, b = random_case(rng, ndim, 2, 4, 8, (7, 6, 5)[:ndim], (3, 2, 3)[:ndim],
                          groups=options.get("groups", 1), bias=bias)
    run_case(f"conv{ndim}d", x, w, b, options, dtype)


TRANSPOSE_OPTIONS = [
    {},
    {"stride": 2},
    {"stride": 2, "output_padding": 1},
    {"stride": (3, 1, 2), "output_padding": (2, 0, 1), "padding": (1, 0, 2)},
    {"padding": 1},
    {"padding": ((0, 2), (1, 0), (1, 1))},
    {"dilation": 2},
    {"dilation": 3, "output_padding": 2},  # output_padding < dilation although stride is 1
    {"dilation": (2, 1, 3), "stride": 2, "padding": 2, "output_padding": 1},
    {"groups": 2},
    {"groups": 4, "stride": 2},
]


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("options", TRANSPOSE_OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose_matches_torch(ndim, options, dtype, bias):
    options = per_rank(options, ndim)
    rng = np.random.default_rng(10 + ndim)
    x, w, b = random_case(rng, ndim, 2, 4, 8, (5, 4, 3)[:ndim], (3, 2, 3)[:ndim], transposed=True,
                          groups=options.get("groups", 1), bias=bias)
    run_case(f"conv_transpose{ndim}d", x, w, b, options, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_every_memory_layout(layout, op):
    rng = np.random.default_rng(3)
    transposed = op.startswith("conv_transpose")
    x, w, b = random_case(rng, 2, 3, 4, 6, (6, 5), (3, 3), transposed=transposed, groups=2)
    options = {"stride": 2, "padding": 1, "groups": 2}
    run_case(op, x, w, b, options, np.float64, layout=layout)


@pytest.mark.parametrize("op", ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                                "conv_transpose3d"])
def test_unbatched_input(op):
    ndim = int(op[-2])
    rng = np.random.default_rng(4)
    x, w, b = random_case(rng, ndim, 1, 2, 4, (5, 4, 3)[:ndim], (2, 3, 2)[:ndim],
                          transposed=op.startswith("conv_transpose"))
    run_case(op, x[0], w, b, {"stride": 2, "padding": 1}, np.float64)


def test_nd_functions_are_the_rank_specific_ones():
    rng = np.random.default_rng(5)
    x, w, b = random_case(rng, 2, 2, 3, 4, (6, 6), (3, 3))
    np.testing.assert_array_equal(F.conv_nd(x, w, b, 2, 1), F.conv2d(x, w, b, 2, 1))
    wt = rng.standard_normal((3, 4, 3, 3))
    np.testing.assert_array_equal(F.conv_transpose_nd(x, wt, b, 2, 1, 1), F.conv_transpose2d(x, wt, b, 2, 1, 1))


# ---------------------------------------------------------------------------------------------------------
# Property test: whole configurations drawn by hypothesis
# ---------------------------------------------------------------------------------------------------------

@st.composite
def conv_configurations(draw):
    ndim = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    size_limit = 6 if ndim < 3 else 4
    spatial = tuple(draw(st.integers(1, size_limit)) + dilation[i] * (kernel[i] - 1) for i in range(ndim))
    options = {"stride": draw(st.sampled_from([stride, stride[0]])) if len(set(stride)) == 1 else stride,
               "dilation": dilation, "groups": groups}
    if transposed:
        pad_kind = draw(st.sampled_from(["int", "tuple", "pairs"]))
        options["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        # the uncropped output frame; the crop (lo + hi <= frame - 1) must leave at least one element
        frame = [(spatial[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 + options["output_padding"][i]
                 for i in range(ndim)]
        pads = [(draw(st.integers(0, (f - 1) // 2)), draw(st.integers(0, (f - 1) // 2))) for f in frame]
    else:
        pad_kind = draw(st.sampled_from(["int", "tuple", "pairs", "same", "valid"]))
        options["padding_mode"] = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
        pads = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim)]
        if options["padding_mode"] == "reflect":  # reflect needs pad < size, circular pad <= size
            pads = [(min(lo, s - 1), min(hi, s - 1)) for (lo, hi), s in zip(pads, spatial)]
        elif options["padding_mode"] == "circular":
            pads = [(min(lo, s), min(hi, s)) for (lo, hi), s in zip(pads, spatial)]
        if pad_kind == "same":
            same = explicit_pads("same", spatial, kernel, stride, dilation)
            if any(max(lo, hi) >= s for (lo, hi), s in zip(same, spatial)):
                options["padding_mode"] = "zeros"
    if pad_kind == "int":
        options["padding"] = min(lo for lo, _ in pads)
    elif pad_kind == "tuple":
        options["padding"] = tuple(lo for lo, _ in pads)
    elif pad_kind == "pairs":
        options["padding"] = tuple(pads)
    else:
        options["padding"] = pad_kind
    op = f"conv_transpose{ndim}d" if transposed else f"conv{ndim}d"
    batch = draw(st.integers(0, 2))
    bias = draw(st.booleans())
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    layout = draw(st.sampled_from(LAYOUTS))
    seed = draw(st.integers(0, 2**31))
    return op, batch, c_in, c_out, spatial, kernel, options, bias, dtype, layout, seed


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configurations())
def test_property_matches_torch(config):
    op, batch, c_in, c_out, spatial, kernel, options, bias, dtype, layout, seed = config
    rng = np.random.default_rng(seed)
    transposed = op.startswith("conv_transpose")
    x, w, b = random_case(rng, len(spatial), batch, c_in, c_out, spatial, kernel, transposed=transposed,
                          groups=options["groups"], bias=bias)
    run_case(op, x, w, b, options, dtype, layout=layout, seed=seed)


# ---------------------------------------------------------------------------------------------------------
# Numerics: dtypes, special values, empty batches
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("dtypes", list(itertools.product([np.float32, np.float64], repeat=3)))
def test_mixed_precision_promotes_and_gradients_keep_their_dtype(op, dtypes):
    rng = np.random.default_rng(6)
    x, w, b = random_case(rng, 2, 2, 3, 3, (5, 5), (3, 3), transposed=op.startswith("conv_transpose"))
    x, w, b = (a.astype(t) for a, t in zip((x, w, b), dtypes))
    y = getattr(F, op)(x, w, b, padding=1)
    assert y.dtype == np.result_type(*dtypes)
    grads = getattr(F, op + "_backward")(np.ones_like(y), x, w, b, padding=1)
    assert [g.dtype for g in grads] == [np.dtype(t) for t in dtypes]


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_nan_and_inf_propagate_like_torch(op):
    rng = np.random.default_rng(7)
    x, w, b = random_case(rng, 2, 1, 2, 2, (6, 6), (3, 3), transposed=op.startswith("conv_transpose"))
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 4, 4] = np.inf
    y = getattr(F, op)(x, w, b, padding=1)
    gy = rng.standard_normal(y.shape)
    grads = getattr(F, op + "_backward")(gy, x, w, b, padding=1)
    expected = torch_conv(op, x, w, b, gy, padding=1)
    for actual, reference in zip((y, *grads), expected):
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(reference))
        np.testing.assert_array_equal(np.isinf(actual), np.isinf(reference))
        finite = np.isfinite(reference)
        np.testing.assert_allclose(actual[finite], reference[finite], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                                "conv_transpose3d"])
def test_empty_batch(op):
    ndim = int(op[-2])
    transposed = op.startswith("conv_transpose")
    rng = np.random.default_rng(8)
    x, w, b = random_case(rng, ndim, 0, 2, 4, (5,) * ndim, (3,) * ndim, transposed=transposed)
    y = getattr(F, op)(x, w, b, stride=2, padding=1)
    expected = torch_conv(op, x, w, b, stride=2, padding=1)[0]
    assert y.shape == expected.shape
    gx, gw, gb = getattr(F, op + "_backward")(np.zeros(y.shape), x, w, b, stride=2, padding=1)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, np.zeros_like(w))
    np.testing.assert_array_equal(gb, np.zeros_like(b))
