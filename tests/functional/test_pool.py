"""Max, average and adaptive average pooling against PyTorch: forward and grad_input, every option."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as TF

import vanilla_nn.functional as F

from .torch_helpers import assert_close, noncontiguous, random, torch_forward_backward

DTYPES = [np.float64, np.float32]

# (spatial, kernel_size, stride, padding, dilation): overlapping windows, strides != kernel, per-dim tuples,
# ceil_mode adding a window that runs past the padded end, and one where ceil_mode's "last window must start
# inside the input or left padding" rule drops a window.
WINDOWS = {
    1: [
        ((7,), 2, None, 0, 1),
        ((8,), 3, 2, 1, 1),
        ((4,), 2, 3, 1, 1),  # ceil_mode: 3 windows by the formula, the rule drops the last
        ((9,), 3, 2, 1, 2),
        ((6,), 3, 1, 1, 1),
        ((5,), 5, 1, 2, 1),
    ],
    2: [
        ((7, 6), (3, 2), (2, 1), (1, 0), (1, 2)),
        ((5, 5), 2, None, 0, 1),
        ((6, 7), 3, 2, 1, 1),
        ((4, 5), (2, 3), (3, 2), (1, 1), 1),
    ],
    3: [
        ((5, 4, 6), (2, 3, 2), (2, 1, 2), (1, 1, 0), (1, 1, 2)),
        ((4, 4, 5), 2, None, 1, 1),
    ],
}
CASES = [(ndim, *case) for ndim, cases in WINDOWS.items() for case in cases]

MAX_POOL = {1: (F.max_pool1d, F.max_pool1d_backward, TF.max_pool1d),
            2: (F.max_pool2d, F.max_pool2d_backward, TF.max_pool2d),
            3: (F.max_pool3d, F.max_pool3d_backward, TF.max_pool3d)}
AVG_POOL = {1: (F.avg_pool1d, F.avg_pool1d_backward, TF.avg_pool1d),
            2: (F.avg_pool2d, F.avg_pool2d_backward, TF.avg_pool2d),
            3: (F.avg_pool3d, F.avg_pool3d_backward, TF.avg_pool3d)}
ADAPTIVE = {1: (F.adaptive_avg_pool1d, F.adaptive_avg_pool1d_backward, TF.adaptive_avg_pool1d),
            2: (F.adaptive_avg_pool2d, F.adaptive_avg_pool2d_backward, TF.adaptive_avg_pool2d),
            3: (F.adaptive_avg_pool3d, F.adaptive_avg_pool3d_backward, TF.adaptive_avg_pool3d)}


def check_max_pool(x: np.ndarray, ndim: int, kernel, stride, padding, dilation, ceil_mode, seed: int = 0):
    forward, backward, torch_fn = MAX_POOL[ndim]
    args = (kernel, stride, padding, dilation, ceil_mode)
    x_before = x.copy()
    y = forward(x, *args)
    gy = noncontiguous(np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype))
    gy_before = gy.copy()
    (gx,) = backward(gy, x, *args)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, *args), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(gy, gy_before)
    return y


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation", CASES)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_matches_torch(ndim, spatial, kernel, stride, padding, dilation, ceil_mode, dtype):
    x = random(np.random.default_rng(ndim), (2, 3, *spatial), dtype)
    check_max_pool(x, ndim, kernel, stride, padding, dilation, ceil_mode)


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation", CASES)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool_pads_with_minus_infinity(ndim, spatial, kernel, stride, padding, dilation, ceil_mode):
    """All-negative inputs: a zero-padded max pool would return 0 on the border windows."""
    x = noncontiguous(-1.0 - np.random.default_rng(1).random((2, 3, *spatial)))
    y = check_max_pool(x, ndim, kernel, stride, padding, dilation, ceil_mode)
    assert (y < 0).all()


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation", CASES)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool_ties_go_to_the_first_maximum(ndim, spatial, kernel, stride, padding, dilation, ceil_mode):
    x = noncontiguous(np.random.default_rng(2).integers(-1, 2, (2, 3, *spatial)).astype(np.float64))
    check_max_pool(x, ndim, kernel, stride, padding, dilation, ceil_mode)


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation", CASES)
def test_max_pool_special_values(ndim, spatial, kernel, stride, padding, dilation):
    """-inf windows pick their first cell inside the input; NaN propagates and takes the gradient."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, *spatial))
    x[rng.random(x.shape) < 0.3] = -np.inf
    x[0, 0] = -np.inf
    x[rng.random(x.shape) < 0.1] = np.nan
    check_max_pool(noncontiguous(x), ndim, kernel, stride, padding, dilation, True)


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation", CASES)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_matches_torch(ndim, spatial, kernel, stride, padding, dilation, ceil_mode, count_include_pad,
                                dtype):
    forward, backward, torch_fn = AVG_POOL[ndim]
    args = (kernel, stride, padding, ceil_mode, count_include_pad)
    rng = np.random.default_rng(4)
    x = random(rng, (2, 3, *spatial), dtype)
    x_before = x.copy()
    y = forward(x, *args)
    gy = random(rng, y.shape, dtype)
    (gx,) = backward(gy, x, *args)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, *args), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("pool", ["max", "avg", "adaptive"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_unbatched_input(pool, ndim):
    rng = np.random.default_rng(5)
    x = random(rng, (3,) + (5,) * ndim)
    if pool == "adaptive":
        forward, backward, torch_fn = ADAPTIVE[ndim]
        args = (3,)
    else:
        forward, backward, torch_fn = (MAX_POOL if pool == "max" else AVG_POOL)[ndim]
        args = (3, 2, 1)
    y = forward(x, *args)
    gy = random(rng, y.shape)
    (gx,) = backward(gy, x, *args)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, *args), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)


ADAPTIVE_CASES = [
    (1, (7,), 3), (1, (5,), 5), (1, (4,), 7),
    (2, (7, 5), (3, 2)), (2, (6, 6), 1), (2, (4, 6), (8, 3)), (2, (5, 9), (None, 4)),
    (3, (5, 4, 6), (2, 3, 4)), (3, (3, 4, 5), (None, 2, None)),
]


@pytest.mark.parametrize("ndim,spatial,output_size", ADAPTIVE_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_avg_pool_matches_torch(ndim, spatial, output_size, dtype):
    forward, backward, torch_fn = ADAPTIVE[ndim]
    rng = np.random.default_rng(6)
    x = random(rng, (2, 3, *spatial), dtype)
    x_before = x.copy()
    y = forward(x, output_size)
    gy = random(rng, y.shape, dtype)
    (gx,) = backward(gy, x, output_size)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, output_size), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    np.testing.assert_array_equal(x, x_before)


X2 = np.zeros((1, 2, 6, 6))

BAD_POOL = [
    (F.max_pool2d, (X2.astype(np.int64), 2), TypeError, "input"),
    (F.max_pool2d, (np.zeros((6, 6)), 2), ValueError, "input"),
    (F.max_pool2d, (np.zeros((1, 0, 6, 6)), 2), ValueError, "input"),
    (F.max_pool2d, (X2, 0), ValueError, "kernel_size"),
    (F.max_pool2d, (X2, (2, 2, 2)), ValueError, "kernel_size"),
    (F.max_pool2d, (X2, 2.0), TypeError, "kernel_size"),
    (F.max_pool2d, (X2, 2, 0), ValueError, "stride"),
    (F.max_pool2d, (X2, 3, 1, 2), ValueError, "padding"),
    (F.max_pool2d, (X2, 2, 1, -1), ValueError, "padding"),
    (F.max_pool2d, (X2, 2, 1, "same"), TypeError, "padding"),
    (F.max_pool2d, (X2, 2, 1, 0, 0), ValueError, "dilation"),
    (F.max_pool2d, (X2, 2, 1, 0, 1, "yes"), TypeError, "ceil_mode"),
    (F.max_pool2d, (X2, 7), ValueError, "input.shape"),
    (F.max_pool1d, (np.zeros((1, 1, 10)), 3, 1, 1, 6), ValueError, "input.shape"),
    (F.avg_pool2d, (X2, 3, 1, 2), ValueError, "padding"),
    (F.avg_pool2d, (X2, 2, 1, 0, False, None), TypeError, "count_include_pad"),
    (F.avg_pool3d, (np.zeros((6, 6)), 2), ValueError, "input"),
    (F.adaptive_avg_pool2d, (X2, 0), ValueError, "output_size"),
    (F.adaptive_avg_pool2d, (X2, (2, 2, 2)), ValueError, "output_size"),
    (F.adaptive_avg_pool2d, (X2, 2.5), TypeError, "output_size"),
    (F.adaptive_avg_pool2d, (X2.astype(np.float16), 2), TypeError, "input"),
]


@pytest.mark.parametrize("fn,args,error,name", BAD_POOL)
def test_bad_arguments_are_named(fn, args, error, name):
    with pytest.raises(error, match=name):
        fn(*args)


@pytest.mark.parametrize("fn,args", [
    (F.max_pool2d_backward, (2,)), (F.avg_pool2d_backward, (2,)), (F.adaptive_avg_pool2d_backward, (3,)),
])
def test_bad_grad_output_is_named(fn, args):
    with pytest.raises(ValueError, match="grad_output"):
        fn(np.zeros((1, 2, 2, 2)), X2, *args)
    with pytest.raises(TypeError, match="grad_output"):
        fn(np.zeros((1, 2, 3, 3), dtype=np.int32), X2, *args)
