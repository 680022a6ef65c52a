"""The loop reference (vanilla_nn.reference) against PyTorch, against finite differences, and against itself
as an adjoint pair (unfold/fold). Inputs are non-contiguous views unless a test says otherwise."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from checks import assert_close, with_layout
from oracle_torch import torch_conv, torch_fold, torch_unfold

import vanilla_nn.reference as R


class PerDim(tuple):
    """A per-dimension option written for 3 spatial dims; a test of rank d uses its first d entries."""


def at_rank(options: dict[str, Any], ndim: int) -> dict[str, Any]:
    return {k: tuple(v[:ndim]) if isinstance(v, PerDim) else v for k, v in options.items()}


def random(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64,
           layout: str = "strided") -> np.ndarray:
    array = with_layout(rng.standard_normal(shape).astype(dtype), layout)
    assert layout == "contiguous" or not array.flags.c_contiguous or array.size <= 1
    return array


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


# --- convolution -----------------------------------------------------------------------------------------

SPATIAL = {1: (7,), 2: (6, 5), 3: (5, 4, 3)}
KERNEL = {1: (3,), 2: (3, 2), 3: (3, 2, 2)}
CHANNELS = (3, 2)   # (C_in, C_out) unless a case says otherwise

CONV_CASES = {
    "plain": {},
    "stride2": dict(stride=2),
    "stride_per_dim": dict(stride=PerDim((2, 1, 3))),
    "pad_int": dict(padding=1),
    "pad_per_dim": dict(padding=PerDim((2, 0, 1))),
    "pad_pairs": dict(padding=PerDim(((0, 2), (1, 0), (2, 1)))),
    "valid": dict(padding="valid"),
    "same_s1": dict(padding="same"),
    "same_s1_dilated": dict(padding="same", dilation=2),
    "same_s2": dict(padding="same", stride=2),
    "same_s2_dilated": dict(padding="same", stride=PerDim((2, 3, 2)), dilation=PerDim((2, 1, 2))),
    "dilation": dict(dilation=PerDim((2, 1, 2))),
    "groups": dict(groups=2, channels=(4, 6)),
    "depthwise": dict(groups=3, channels=(3, 6)),
    "reflect": dict(padding=PerDim(((2, 1), (1, 0), (1, 2))), padding_mode="reflect"),
    "reflect_same_dilated": dict(padding="same", dilation=2, padding_mode="reflect"),
    "replicate": dict(padding=2, stride=2, padding_mode="replicate"),
    "circular": dict(padding=PerDim((1, 2, 3)), padding_mode="circular"),
    "circular_groups": dict(padding=1, stride=2, groups=2, channels=(4, 6), padding_mode="circular"),
    "mixed": dict(stride=2, dilation=PerDim((2, 1, 1)), padding=PerDim(((1, 0), (0, 2), (1, 1))), groups=3,
                  channels=(3, 6), padding_mode="replicate"),
}


def conv_arrays(rng, ndim, case, dtype, bias, layout="strided", batch=2):
    options = at_rank({k: v for k, v in case.items() if k != "channels"}, ndim)
    c_in, c_out = case.get("channels", CHANNELS)
    x = random(rng, (batch, c_in) + SPATIAL[ndim], dtype, layout)
    w = random(rng, (c_out, c_in // options.get("groups", 1)) + KERNEL[ndim], dtype, layout)
    b = random(rng, (c_out,), dtype, layout) if bias else None
    return x, w, b, options


def check_conv(rng, op, x, w, b, options):
    """Reference forward and backward of ``op`` equal torch's in values and dtypes."""
    y = getattr(R, op)(x, w, b, **options)
    gy = random(rng, y.shape, y.dtype)
    expected_y, expected_gx, expected_gw, expected_gb = torch_conv(op, x, w, b, gy, **options)
    gx, gw, gb = getattr(R, f"{op}_backward")(gy, x, w, b, **options)
    assert_close(y, expected_y)
    assert_close(gx, expected_gx, x.dtype)
    assert_close(gw, expected_gw, w.dtype)
    if b is None:
        assert gb is None
    else:
        assert_close(gb, expected_gb, b.dtype)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_conv_matches_torch(rng, ndim, case, dtype, bias):
    x, w, b, options = conv_arrays(rng, ndim, case, dtype, bias)
    check_conv(rng, f"conv{ndim}d", x, w, b, options)


TRANSPOSE_SPATIAL = {1: (5,), 2: (4, 3), 3: (3, 3, 2)}
TRANSPOSE_CASES = {
    "plain": {},
    "stride2": dict(stride=2),
    "stride_per_dim_output_padding": dict(stride=PerDim((2, 3, 2)), output_padding=PerDim((1, 2, 0))),
    "pad_int": dict(padding=1),
    "pad_per_dim": dict(padding=PerDim((2, 0, 1))),
    "pad_pairs": dict(padding=PerDim(((0, 2), (1, 0), (2, 1))), stride=2),
    "dilation": dict(dilation=PerDim((2, 1, 3))),
    "output_padding_below_dilation": dict(dilation=2, output_padding=1),
    "groups": dict(groups=2, channels=(4, 6)),
    "depthwise": dict(groups=3, channels=(3, 6)),
    "mixed": dict(stride=2, dilation=2, padding=PerDim(((1, 0), (0, 2), (1, 1))), output_padding=1, groups=3,
                  channels=(3, 6)),
}


def transpose_arrays(rng, ndim, case, dtype, bias, layout="strided", batch=2):
    options = at_rank({k: v for k, v in case.items() if k != "channels"}, ndim)
    c_in, c_out = case.get("channels", CHANNELS)
    x = random(rng, (batch, c_in) + TRANSPOSE_SPATIAL[ndim], dtype, layout)
    w = random(rng, (c_in, c_out // options.get("groups", 1)) + KERNEL[ndim], dtype, layout)
    b = random(rng, (c_out,), dtype, layout) if bias else None
    return x, w, b, options


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", TRANSPOSE_CASES.values(), ids=TRANSPOSE_CASES.keys())
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_conv_transpose_matches_torch(rng, ndim, case, dtype, bias):
    x, w, b, options = transpose_arrays(rng, ndim, case, dtype, bias)
    check_conv(rng, f"conv_transpose{ndim}d", x, w, b, options)


@pytest.mark.parametrize("layout", ["contiguous", "strided", "transposed", "reversed"])
@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_transpose"])
def test_memory_layouts(rng, layout, transposed):
    ndim, case = 2, dict(stride=2, padding=PerDim(((1, 0), (0, 1), (1, 1))), groups=3, channels=(3, 6))
    make = transpose_arrays if transposed else conv_arrays
    x, w, b, options = make(rng, ndim, case, np.float64, True, layout)
    check_conv(rng, f"conv{'_transpose' if transposed else ''}{ndim}d", x, w, b, options)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_unbatched_input(rng, ndim):
    x, w, b, options = conv_arrays(rng, ndim, CONV_CASES["reflect"], np.float64, True)
    check_conv(rng, f"conv{ndim}d", x[0], w, b, options)
    x, w, b, options = transpose_arrays(rng, ndim, TRANSPOSE_CASES["pad_pairs"], np.float64, True)
    check_conv(rng, f"conv_transpose{ndim}d", x[0], w, b, options)


def test_empty_batch(rng):
    x, w, b, options = conv_arrays(rng, 2, CONV_CASES["circular"], np.float32, True, batch=0)
    check_conv(rng, "conv2d", x, w, b, options)
    x, w, b, options = transpose_arrays(rng, 2, TRANSPOSE_CASES["stride2"], np.float32, True, batch=0)
    check_conv(rng, "conv_transpose2d", x, w, b, options)


@pytest.mark.parametrize("op", ["conv1d", "conv_transpose1d"])
def test_mixed_precision_promotes_and_keeps_gradient_dtypes(rng, op):
    x = random(rng, (2, 3, 6), np.float32)
    w = random(rng, (3, 2, 3) if "transpose" in op else (2, 3, 3), np.float64)
    b = random(rng, (2,), np.float32)
    y = getattr(R, op)(x, w, b, stride=2)
    assert y.dtype == np.float64
    check_conv(rng, op, x, w, b, dict(stride=2))   # gx float32, gw float64, gb float32


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_transpose"])
def test_inputs_are_not_modified(rng, transposed):
    make, op = (transpose_arrays, "conv_transpose2d") if transposed else (conv_arrays, "conv2d")
    x, w, b, options = make(rng, 2, CONV_CASES["groups"], np.float64, True)
    gy = random(rng, getattr(R, op)(x, w, b, **options).shape)
    arrays = (gy, x, w, b)
    copies = [a.copy() for a in arrays]
    getattr(R, f"{op}_backward")(*arrays, **options)
    for array, copy in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(array, copy)


NAN_INF_CASES = [
    ("conv1d", dict(padding=2, dilation=2)),
    ("conv2d", dict(padding="same", stride=2)),
    ("conv2d", dict(padding=1, padding_mode="reflect")),
    ("conv3d", dict(stride=2, padding=((1, 0), (0, 1), (1, 1)))),
    ("conv_transpose1d", dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose2d", dict(stride=(1, 2), dilation=2)),
    ("conv_transpose3d", dict(stride=2, padding=((1, 0), (0, 2), (1, 0)))),
]


@pytest.mark.parametrize("op, options", NAN_INF_CASES)
def test_nan_and_inf_propagate_as_in_torch(rng, op, options):
    """An inf weight meets the zeros of the padding (0 * inf = NaN in PyTorch); a NaN input spreads."""
    ndim = int(op[-2])
    make = transpose_arrays if "transpose" in op else conv_arrays
    x, w, b, _ = make(rng, ndim, {}, np.float64, True)
    x[(0, 1) + (1,) * ndim] = np.nan
    x[(1, 2) + (0,) * ndim] = -np.inf
    w[(1, 0) + (0,) * ndim] = np.inf
    w[(0, 1) + (1,) * ndim] = -np.inf
    check_conv(rng, op, x, w, b, options)


@pytest.mark.parametrize("mode, numpy_mode", [("reflect", "reflect"), ("replicate", "edge"),
                                               ("circular", "wrap"), ("zeros", "constant")])
def test_source_index_matches_numpy_pad(mode, numpy_mode):
    size, pad = 5, 4
    padded = np.pad(np.arange(size) + 1, pad, mode=numpy_mode)   # values 1..size, 0 for a zero pad
    mapped = [R.source_index(q, size, mode) for q in range(-pad, size + pad)]
    assert [0 if i is None else i + 1 for i in mapped] == padded.tolist()


@pytest.mark.parametrize("spatial, kernel, stride", [((9,), (4,), (2,)), ((7, 5), (2, 4), (2, 3)),
                                                    ((5, 4, 6), (3, 2, 4), (2, 3, 2))])
def test_same_padding_at_stride_matches_tensorflow(rng, spatial, kernel, stride):
    """TensorFlow's SAME is the rule at stride > 1 (the odd pixel at the end); torch has no such mode."""
    tf = pytest.importorskip("tensorflow")
    x = random(rng, (2, 3) + spatial)
    w = random(rng, (4, 3) + kernel)
    y = R.conv_nd(len(spatial), x, w, stride=stride, padding="same")
    channels_last = np.moveaxis(x, 1, -1)
    filters = np.moveaxis(w, (0, 1), (-1, -2))       # (*K, C_in, C_out)
    expected = tf.nn.convolution(channels_last, filters, strides=stride, padding="SAME").numpy()
    assert_close(y, np.moveaxis(expected, -1, 1))


# --- finite differences ----------------------------------------------------------------------------------

def directional_check(rng, forward, backward, arrays, **options):
    """Each gradient dotted with a random direction = the central difference of <gy, forward> (float64)."""
    gy = random(rng, forward(*arrays, **options).shape)
    grads = backward(gy, *arrays, **options)
    eps = 1e-3      # the ops are linear in each argument, so the central difference has no truncation error
    for index, (array, grad) in enumerate(zip(arrays, grads, strict=False)):
        if array is None:
            continue
        direction = rng.standard_normal(array.shape)

        def objective(step, index=index, array=array, direction=direction):
            moved = list(arrays)
            moved[index] = array + step * direction
            return np.sum(gy * forward(*moved, **options))

        numeric = (objective(eps) - objective(-eps)) / (2 * eps)
        np.testing.assert_allclose(np.sum(grad * direction), numeric, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("op, case", [
    ("conv2d", dict(stride=2, padding=((2, 1), (1, 0)), groups=3, channels=(3, 6), padding_mode="reflect")),
    ("conv1d", dict(dilation=2, padding=(3,), padding_mode="circular")),
    ("conv3d", dict(stride=2, padding="same", padding_mode="replicate")),
    ("conv2d", dict(stride=(1, 2), padding="same", dilation=(2, 1))),
    ("conv_transpose2d", dict(stride=2, padding=((1, 0), (0, 2)), output_padding=1, groups=3,
                              channels=(3, 6))),
    ("conv_transpose3d", dict(stride=(2, 1, 2), dilation=(1, 2, 1), padding=1)),
])
def test_conv_backward_matches_finite_differences(rng, op, case):
    ndim = int(op[-2])
    make = transpose_arrays if "transpose" in op else conv_arrays
    x, w, b, options = make(rng, ndim, case, np.float64, True)
    directional_check(rng, getattr(R, op), getattr(R, f"{op}_backward"), (x, w, b), **options)


def test_window_backward_matches_finite_differences(rng):
    x = random(rng, (2, 2, 5, 4, 3))
    options = dict(kernel_size=(2, 2, 2), dilation=(2, 1, 1), padding=((1, 0), (0, 1), (1, 1)),
                   stride=(1, 2, 1))
    directional_check(rng, R.unfold, R.unfold_backward, (x,), **options)
    cols = random(rng, R.unfold(x, **options).shape)
    directional_check(rng, R.fold, R.fold_backward, (cols,), output_size=(5, 4, 3), **options)


# --- unfold / fold ---------------------------------------------------------------------------------------

WINDOW_CASES_2D = {
    "plain": dict(kernel_size=2),
    "rect_kernel": dict(kernel_size=(2, 3)),
    "stride": dict(kernel_size=(3, 2), stride=(2, 1)),
    "padding": dict(kernel_size=3, padding=1, stride=2),
    "pad_per_dim_dilation": dict(kernel_size=(2, 2), padding=(2, 0), dilation=(2, 3)),
    "everything": dict(kernel_size=(3, 2), dilation=(1, 2), padding=(1, 2), stride=(2, 3)),
}
IMAGE_2D = (2, 3, 6, 7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", WINDOW_CASES_2D.values(), ids=WINDOW_CASES_2D.keys())
def test_unfold_and_fold_match_torch_2d(rng, case, dtype):
    x = random(rng, IMAGE_2D, dtype)
    cols = R.unfold(x, **case)
    gy = random(rng, cols.shape, dtype)
    expected_cols, expected_gx = torch_unfold(x, grad_output=gy, **case)    # F.unfold
    assert_close(cols, expected_cols)
    assert_close(R.unfold_backward(gy, x, **case)[0], expected_gx)

    c = random(rng, cols.shape, dtype)
    image = R.fold(c, IMAGE_2D[2:], **case)
    gy = random(rng, image.shape, dtype)
    expected_image, expected_gc = torch_fold(c, IMAGE_2D[2:], grad_output=gy, **case)   # F.fold
    assert_close(image, expected_image)
    assert_close(R.fold_backward(gy, c, IMAGE_2D[2:], **case)[0], expected_gc)


WINDOW_CASES = {
    "plain": dict(kernel_size=PerDim((2, 3, 2))),
    "strided_dilated": dict(kernel_size=PerDim((2, 2, 1)), stride=PerDim((2, 1, 3)),
                            dilation=PerDim((1, 2, 1))),
    "padded": dict(kernel_size=PerDim((3, 2, 2)), padding=PerDim((1, 2, 0)), stride=2),
    "pairs": dict(kernel_size=PerDim((2, 3, 2)), padding=PerDim(((1, 0), (0, 2), (2, 1))), dilation=2),
}
IMAGE = {1: (2, 3, 7), 2: (2, 3, 6, 5), 3: (2, 2, 5, 4, 4)}


@pytest.mark.parametrize("case", WINDOW_CASES.values(), ids=WINDOW_CASES.keys())
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_unfold_and_fold_any_rank(rng, ndim, case):
    """Against torch (a grouped conv / conv_transpose with one-hot kernels), and fold as unfold's adjoint."""
    options = at_rank(case, ndim)
    x = random(rng, IMAGE[ndim])
    cols = R.unfold(x, **options)
    gy = random(rng, cols.shape)
    expected_cols, expected_gx = torch_unfold(x, grad_output=gy, **options)
    assert_close(cols, expected_cols)
    assert_close(R.unfold_backward(gy, x, **options)[0], expected_gx)

    c = random(rng, cols.shape)
    image = R.fold(c, IMAGE[ndim][2:], **options)
    gi = random(rng, image.shape)
    expected_image, expected_gc = torch_fold(c, IMAGE[ndim][2:], grad_output=gi, **options)
    assert_close(image, expected_image)
    assert_close(R.fold_backward(gi, c, IMAGE[ndim][2:], **options)[0], expected_gc)
    # <unfold(x), c> == <x, fold(c)>
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * image), rtol=1e-12)


def test_unfold_and_fold_unbatched(rng):
    x = random(rng, (3, 6, 5))
    options = dict(kernel_size=(2, 3), padding=1, stride=(2, 1))
    cols = R.unfold(x, **options)
    assert_close(cols, R.unfold(x[np.newaxis], **options)[0])
    assert_close(cols, torch_unfold(x, **options)[0])
    assert_close(R.fold(cols, (6, 5), **options), torch_fold(cols, (6, 5), **options)[0])
    assert_close(R.unfold_backward(cols, x, **options)[0], R.fold(cols, (6, 5), **options))


# --- bad input reaches the shared checks -----------------------------------------------------------------

BAD_INPUTS = {
    "fold_columns_not_blocks": (lambda x, c: R.fold(c[:, :, :-1], (6, 5), 2), ValueError, "input.shape"),
    "fold_rows_not_multiple": (lambda x, c: R.fold(c[:, :-1], (6, 5), 2), ValueError, "kernel_size"),
    "fold_wrong_output_size": (lambda x, c: R.fold(c, (7, 5), 2), ValueError, "L = 20"),
    "fold_wrong_rank": (lambda x, c: R.fold(c[0, 0], (6, 5), 2), ValueError, "input"),
    "unfold_kernel_too_large": (lambda x, c: R.unfold(x, 7), ValueError, "kernel_size"),
    "unfold_padding_string": (lambda x, c: R.unfold(x, 2, padding="same"), TypeError, "padding"),
    "unfold_dilation_zero": (lambda x, c: R.unfold(x, 2, dilation=0), ValueError, "dilation"),
    "unfold_rank_mismatch": (lambda x, c: R.unfold(x, (2,)), ValueError, "input"),
    "unfold_integer_input": (lambda x, c: R.unfold(x.astype(np.int64), 2), TypeError, "input"),
    "unfold_grad_output": (lambda x, c: R.unfold_backward(c[:, :, 1:], x, 2), ValueError, "grad_output"),
    "fold_grad_output": (lambda x, c: R.fold_backward(x[:, :, 1:], c, (6, 5), 2), ValueError, "grad_output"),
    "conv_grad_output": (lambda x, c: R.conv2d_backward(c, x, np.ones((2, 3, 2, 2))), ValueError,
                         "grad_output"),
    "conv_reflect_too_wide": (lambda x, c: R.conv2d(x, np.ones((2, 3, 2, 2)), padding=6,
                                                    padding_mode="reflect"), ValueError, "padding"),
    "transpose_output_padding": (lambda x, c: R.conv_transpose2d(x, np.ones((3, 2, 2, 2)), output_padding=1),
                                 ValueError, "output_padding"),
}


@pytest.mark.parametrize("call, error, names", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_names_the_argument(rng, call, error, names):
    x = random(rng, (2, 3, 6, 5))
    c = R.unfold(x, 2)
    with pytest.raises(error, match=re.escape(names)):
        call(x, c)
