"""interpolate / upsample against PyTorch: nearest in 1-d, 2-d and 3-d, linear/bilinear/trilinear with
align_corners, PyTorch's output-size and scale rules (scale_factor kept or recomputed), forward and grad_input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch.nn.functional as TF

import vanilla_nn.functional as F

from .torch_helpers import assert_close, random, to_torch, torch_forward_backward

DTYPES = [np.float64, np.float32]

# (input shape, interpolate's keyword arguments): the table of this op family.
INTERPOLATE_CASES = [
    ((2, 3, 5), dict(scale_factor=2)),                          # O == 2S: PyTorch's shortcut
    ((2, 3, 5), dict(scale_factor=1.7)),                        # r = 1 / 1.7, not S / O
    ((2, 3, 5), dict(scale_factor=1.7, recompute_scale_factor=True)),
    ((2, 3, 7), dict(size=3)),                                   # downsampling
    ((2, 3, 7), dict(size=7)),                                   # O == S: a copy
    ((2, 3, 7), dict(scale_factor=0.45)),
    ((2, 3, 5, 4), dict(scale_factor=(2.3, 0.6))),
    ((2, 3, 5, 4), dict(size=(9, 11))),
    ((1, 2, 3, 5, 4), dict(scale_factor=(1.5, 2, 0.7))),
    ((1, 2, 3, 5, 4), dict(size=(4, 6, 2))),
    ((2, 3, 6), dict(size=11, mode="linear")),
    ((2, 3, 6), dict(scale_factor=0.6, mode="linear", align_corners=True)),
    ((2, 3, 5, 4), dict(size=(7, 9), mode="bilinear")),
    ((2, 3, 5, 4), dict(size=(7, 3), mode="bilinear", align_corners=True)),
    ((2, 3, 5, 4), dict(size=(1, 6), mode="bilinear", align_corners=True)),   # O = 1: ratio 0
    ((2, 3, 5, 4), dict(scale_factor=1.37, mode="bilinear")),
    ((2, 3, 5, 4), dict(scale_factor=1.37, mode="bilinear", recompute_scale_factor=True)),
    ((2, 3, 5, 4), dict(scale_factor=(0.5, 3), mode="bilinear", align_corners=False)),
    ((2, 3, 5, 4), dict(size=(5, 4), mode="bilinear")),         # O == S: a copy
    ((1, 2, 3, 5, 4), dict(size=(4, 6, 2), mode="trilinear")),
    ((1, 2, 3, 5, 4), dict(scale_factor=2, mode="trilinear", align_corners=True)),
]


def _ids(case):
    shape, options = case
    return f"{len(shape) - 2}d-" + "-".join(f"{k}={v}" for k, v in options.items())


# upsample (PyTorch's deprecated spelling) takes every option but recompute_scale_factor
FUNCTION_CASES = [("interpolate", *case) for case in INTERPOLATE_CASES] + [
    ("upsample", *case) for case in INTERPOLATE_CASES if "recompute_scale_factor" not in case[1]]


@pytest.mark.parametrize("function,shape,options", FUNCTION_CASES,
                         ids=[f"{c[0]}-{_ids(c[1:])}" for c in FUNCTION_CASES])
@pytest.mark.parametrize("dtype", DTYPES)
def test_interpolate_matches_torch(function, shape, options, dtype):
    rng = np.random.default_rng(0)
    x = random(rng, shape, dtype)
    x_before = x.copy()
    forward, backward = getattr(F, function), getattr(F, f"{function}_backward")
    y = forward(x, **options)
    gy = random(rng, y.shape, dtype)
    gy_before = gy.copy()
    (gx,) = backward(gy, x, **options)
    with warnings.catch_warnings():  # F.upsample is deprecated in PyTorch
        warnings.simplefilter("ignore", UserWarning)
        y_ref, (gx_ref,) = torch_forward_backward(lambda t: getattr(TF, function)(t, **options), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(gy, gy_before)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_source_index_rule_over_many_sizes_and_scales(mode):
    """Sizes 1..12 x scale factors whose float32 reciprocals round either way: the picked cells and weights
    are PyTorch's (an arange input shows the index; linear modes show the weights too)."""
    # 0.85 at size 22: float32(1 / 0.85) picks cell 20 last, float32(1) / float32(0.85) would pick 19
    scales = [0.3, 0.5, 0.7, 1 / 3, 1.1, 1.5, 1.9, 2.5, 3.0, 2 / 3, 4.1, 0.85]
    corners = [None] if mode == "nearest" else [False, True]
    for size in [*range(1, 13), 22]:
        x = np.arange(float(size)).reshape(1, 1, size)
        for scale in scales:
            if int(size * scale) < 1:
                continue
            for align in corners:
                options = dict(scale_factor=scale, mode=mode, align_corners=align)
                expected = TF.interpolate(to_torch(x, requires_grad=False), **options).numpy()
                assert_close(F.interpolate(x, **options), expected, name=f"size {size}, {options}")


def test_nearest_picks_cells_exactly():
    """Nearest copies input values bit for bit (float32 and float64)."""
    for dtype in DTYPES:
        x = np.random.default_rng(1).standard_normal((2, 3, 5, 7)).astype(dtype)
        y = F.interpolate(x, scale_factor=(1.3, 0.8))
        y_ref = TF.interpolate(to_torch(x, requires_grad=False), scale_factor=(1.3, 0.8)).numpy()
        np.testing.assert_array_equal(y, y_ref)


X = np.zeros((1, 2, 4, 4))

BAD_INTERPOLATE = [
    ((X.astype(np.int32),), dict(scale_factor=2), TypeError, "input"),
    ((np.zeros((2, 4)),), dict(scale_factor=2), ValueError, "input"),
    ((np.zeros((1, 2, 0, 4)),), dict(scale_factor=2), ValueError, "input"),
    ((X,), dict(scale_factor=2, mode="bicubic"), ValueError, "mode"),
    ((X,), dict(scale_factor=2, mode="linear"), ValueError, "mode"),
    ((np.zeros((1, 2, 4)),), dict(scale_factor=2, mode="bilinear"), ValueError, "mode"),
    ((X,), dict(), ValueError, "size"),
    ((X,), dict(size=3, scale_factor=2), ValueError, "scale_factor"),
    ((X,), dict(size=(3, 3, 3)), ValueError, "size"),
    ((X,), dict(size=0), ValueError, "size"),
    ((X,), dict(size=2.5), TypeError, "size"),
    ((X,), dict(scale_factor=-1.0), ValueError, "scale_factor"),
    ((X,), dict(scale_factor=0.1), ValueError, "scale_factor"),
    ((X,), dict(scale_factor="2"), TypeError, "scale_factor"),
    ((X,), dict(scale_factor=(2, 2, 2)), ValueError, "scale_factor"),
    ((X,), dict(scale_factor=2, align_corners=True), ValueError, "align_corners"),
    ((X,), dict(scale_factor=2, mode="bilinear", align_corners="yes"), TypeError, "align_corners"),
    ((X,), dict(size=3, recompute_scale_factor=True), ValueError, "recompute_scale_factor"),
    ((X,), dict(scale_factor=2, recompute_scale_factor=1), TypeError, "recompute_scale_factor"),
    ((X,), dict(scale_factor=2, mode="bilinear", antialias=True), ValueError, "antialias"),
]


@pytest.mark.parametrize("args,options,error,name", BAD_INTERPOLATE)
def test_bad_arguments_are_named(args, options, error, name):
    with pytest.raises(error, match=name):
        F.interpolate(*args, **options)


def test_bad_grad_output_is_named():
    with pytest.raises(ValueError, match="grad_output"):
        F.interpolate_backward(np.zeros((1, 2, 4, 4)), X, scale_factor=2)
    with pytest.raises(TypeError, match="grad_output"):
        F.interpolate_backward(np.zeros((1, 2, 8, 8), dtype=np.int64), X, scale_factor=2)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("scale_factor", [1.05, 2.1])
def test_nearest_when_the_scale_rounds_to_s_or_2s(ndim, scale_factor):
    """floor(S * scale) is S or 2S with a scale other than 1 or 2: PyTorch's 2-d forward copies (or halves the
    index), its 1-d and 3-d forwards apply the formula; ours does the same, and its backward is the adjoint of
    that forward (PyTorch's 1-d/3-d backward takes the 2-d shortcut and is not)."""
    rng = np.random.default_rng(2)
    x = random(rng, (1, 2) + (5,) * ndim)
    y = F.interpolate(x, scale_factor=scale_factor)
    np.testing.assert_array_equal(y, TF.interpolate(to_torch(x, requires_grad=False), scale_factor=scale_factor))
    gy = random(rng, y.shape)
    (gx,) = F.interpolate_backward(gy, x, scale_factor=scale_factor)
    np.testing.assert_allclose(np.vdot(y, gy), np.vdot(x, gx), rtol=1e-12)   # <F x, g> = <x, F^T g>
    if ndim == 2:
        assert_close(gx, torch_forward_backward(lambda t: TF.interpolate(t, scale_factor=scale_factor), [x],
                                                gy)[1][0])
