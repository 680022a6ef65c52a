"""Max (with indices), average, adaptive average/max pooling and max unpooling against PyTorch: forward, indices
and grad_input, every option."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import vanilla_nn.functional as F
from vanilla_nn.functional.pool import (
    adaptive_max_pool_backward_saved,
    adaptive_max_pool_forward_saving,
    max_pool_backward_saved,
    max_pool_forward_saving,
)

from .torch_helpers import assert_close, noncontiguous, random, to_torch, torch_forward_backward

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
    (F.adaptive_avg_pool2d, (X2, -1), ValueError, "output_size"),
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


# --- return_indices, the kept argmax, divisor_override -------------------------------------------------------

def _torch_pool(ndim, kind):
    return getattr(TF, f"{kind}{ndim}d")


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation", CASES)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("values", ["random", "ties", "special"])
def test_max_pool_indices_equal_torch(ndim, spatial, kernel, stride, padding, dilation, ceil_mode, values):
    """The indices are PyTorch's exactly (int64, flat over the input's spatial dims), ties and NaN included."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, *spatial))
    if values == "ties":
        x = rng.integers(-1, 2, x.shape).astype(np.float64)
    elif values == "special":
        x[rng.random(x.shape) < 0.3] = -np.inf
        x[0, 0] = -np.inf
        x[rng.random(x.shape) < 0.1] = np.nan
    forward = MAX_POOL[ndim][0]
    args = (kernel, stride, padding, dilation, ceil_mode)
    y, indices = forward(noncontiguous(x), *args, return_indices=True)
    y_ref, indices_ref = _torch_pool(ndim, "max_pool")(to_torch(x), *args, return_indices=True)
    assert_close(y, y_ref.detach().numpy())
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices, indices_ref.numpy())
    np.testing.assert_array_equal(y, forward(x, *args))  # the same pooled values with or without indices


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation", CASES)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("batched", [True, False])
def test_max_pool_saved_argmax_equals_the_backward(ndim, spatial, kernel, stride, padding, dilation, ceil_mode,
                                                   batched):
    """max_pool_forward_saving/max_pool_backward_saved give exactly max_poolNd/max_poolNd_backward."""
    rng = np.random.default_rng(8)
    shape = ((2,) if batched else ()) + (3, *spatial)
    x = noncontiguous(rng.integers(-2, 3, shape).astype(np.float32))   # ties: the argmax rule matters
    forward, backward, _ = MAX_POOL[ndim]
    args = (kernel, stride, padding, dilation, ceil_mode)
    y, saved = max_pool_forward_saving(x, *args, ndim=ndim)
    np.testing.assert_array_equal(y, forward(x, *args))
    gy = noncontiguous(rng.standard_normal(y.shape).astype(np.float32))
    (gx,) = max_pool_backward_saved(gy, saved)
    (gx_ref,) = backward(gy, x, *args)
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(gx, gx_ref)
    np.testing.assert_array_equal(saved.input_indices(), forward(x, *args, return_indices=True)[1])
    with pytest.raises(ValueError, match="grad_output"):
        max_pool_backward_saved(np.zeros(y.shape[:-1] + (y.shape[-1] + 1,), np.float32), saved)


def test_saved_state_is_a_frozen_dataclass():
    _, saved = max_pool_forward_saving(np.zeros((1, 1, 4, 4)), 2)
    _, adaptive = adaptive_max_pool_forward_saving(np.zeros((1, 1, 4, 4)), 2)
    for state in (saved, adaptive):
        assert dataclasses.is_dataclass(state)
        with pytest.raises(dataclasses.FrozenInstanceError):
            state.argmax = None


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation", [c for c in CASES if c[0] > 1])
@pytest.mark.parametrize("divisor_override", [3, -2])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_divisor_override_matches_torch(ndim, spatial, kernel, stride, padding, dilation,
                                                 divisor_override, ceil_mode, dtype):
    forward, backward, torch_fn = AVG_POOL[ndim]
    args = (kernel, stride, padding, ceil_mode, True, divisor_override)
    rng = np.random.default_rng(9)
    x = random(rng, (2, 3, *spatial), dtype)
    y = forward(x, *args)
    gy = random(rng, y.shape, dtype)
    (gx,) = backward(gy, x, *args)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, *args), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)


# --- adaptive max pooling -------------------------------------------------------------------------------------

ADAPTIVE_MAX = {n: (getattr(F, f"adaptive_max_pool{n}d"), getattr(F, f"adaptive_max_pool{n}d_backward"),
                    getattr(TF, f"adaptive_max_pool{n}d")) for n in (1, 2, 3)}


@pytest.mark.parametrize("ndim,spatial,output_size", ADAPTIVE_CASES)
@pytest.mark.parametrize("values", ["random", "ties", "special"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_max_pool_matches_torch(ndim, spatial, output_size, values, dtype):
    forward, backward, torch_fn = ADAPTIVE_MAX[ndim]
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, *spatial))
    if values == "ties":
        x = rng.integers(-1, 2, x.shape).astype(np.float64)
    elif values == "special":
        x[rng.random(x.shape) < 0.3] = -np.inf
        x[0, 0] = -np.inf
        x[rng.random(x.shape) < 0.1] = np.nan
    x = noncontiguous(x.astype(dtype))
    x_before = x.copy()
    y, indices = forward(x, output_size, return_indices=True)
    gy = random(rng, y.shape, dtype)
    (gx,) = backward(gy, x, output_size)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, output_size), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    _, indices_ref = torch_fn(to_torch(x), output_size, return_indices=True)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices, indices_ref.numpy())
    np.testing.assert_array_equal(x, x_before)
    # the kept argmax gives the same backward exactly
    y_saved, saved = adaptive_max_pool_forward_saving(x, output_size, ndim=ndim)
    np.testing.assert_array_equal(y_saved, y)
    np.testing.assert_array_equal(adaptive_max_pool_backward_saved(gy, saved)[0], gx)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_adaptive_max_pool_unbatched(ndim):
    forward, backward, torch_fn = ADAPTIVE_MAX[ndim]
    rng = np.random.default_rng(11)
    x = random(rng, (3,) + (5,) * ndim)
    y, indices = forward(x, 3, True)
    gy = random(rng, y.shape)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, 3), [x], gy)
    assert_close(y, y_ref)
    assert_close(backward(gy, x, 3)[0], gx_ref)
    np.testing.assert_array_equal(indices, torch_fn(to_torch(x), 3, True)[1].numpy())


# --- max unpooling --------------------------------------------------------------------------------------------

UNPOOL = {n: (getattr(F, f"max_unpool{n}d"), getattr(F, f"max_unpool{n}d_backward"),
              getattr(TF, f"max_unpool{n}d")) for n in (1, 2, 3)}


def _torch_unpool_or_error(torch_fn, y, indices, args):
    """PyTorch's ``((output, [grad_input]), grad_output)`` for a random grad_output, or the error it raises
    (ValueError for an output_size out of range, RuntimeError for an index outside the output)."""
    try:
        out = torch_fn(to_torch(y, requires_grad=False), to_torch(indices), *args)
    except (ValueError, RuntimeError) as error:
        return error
    gy = np.random.default_rng(12).standard_normal(tuple(out.shape)).astype(y.dtype)
    return torch_forward_backward(lambda t: torch_fn(t, to_torch(indices), *args), [y], gy), gy


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation", CASES)
@pytest.mark.parametrize("output_size", ["default", "input", "input+N,C"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_unpool_of_max_pool_matches_torch(ndim, spatial, kernel, stride, padding, dilation, output_size, dtype):
    """Unpooling what max pooling returned; an output_size or index PyTorch rejects is a ValueError here."""
    forward, backward, torch_fn = UNPOOL[ndim]
    rng = np.random.default_rng(13)
    x = random(rng, (2, 3, *spatial), dtype)
    y, indices = MAX_POOL[ndim][0](x, kernel, stride, padding, dilation, return_indices=True)
    size = {"default": None, "input": spatial, "input+N,C": (2, 3, *spatial)}[output_size]
    args = (kernel, stride, padding, size)
    theirs = _torch_unpool_or_error(torch_fn, y, indices, args)
    if isinstance(theirs, Exception):  # out of range: output_size (ValueError) or an index (RuntimeError)
        with pytest.raises(ValueError, match="output_size" if isinstance(theirs, ValueError) else "indices"):
            forward(y, indices, *args)
        return
    (out_ref, (gx_ref,)), gy = theirs
    out = forward(noncontiguous(y), noncontiguous(indices), *args)
    assert_close(out, out_ref)
    (gx,) = backward(noncontiguous(gy), y, indices, *args)
    assert_close(gx, gx_ref)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("batched", [True, False])
def test_max_unpool_repeated_indices_keep_the_last_value(ndim, batched):
    """Indices drawn with repeats (and unsorted): the forward keeps the last value written, the backward
    reads every cell's position, as PyTorch's CPU kernels do."""
    rng = np.random.default_rng(14)
    shape = ((2,) if batched else ()) + (3,) + (3,) * ndim
    y = random(rng, shape)
    indices = rng.integers(0, 4 ** ndim, shape)   # output (4, ...) by default: kernel 2, stride 1
    forward, backward, torch_fn = UNPOOL[ndim]
    # which repeated write is "last" is defined only for PyTorch's serial kernel (its docs: nondeterministic
    # with duplicate indices), so the oracle runs on one thread
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        (out_ref, (gx_ref,)), gy = _torch_unpool_or_error(torch_fn, y, indices, (2, 1))
    finally:
        torch.set_num_threads(threads)
    assert_close(forward(y, indices, 2, 1), out_ref)
    assert_close(backward(gy, y, indices, 2, 1)[0], gx_ref)


# --- empty batches ------------------------------------------------------------------------------------------

EMPTY_BATCH = [
    (lambda m, x: m.max_pool2d(x, 2, return_indices=True)[0], F.max_pool2d_backward, (2,)),
    (lambda m, x: m.max_pool1d(x[..., 0], 3, 2, 1), F.max_pool1d_backward, None),
    (lambda m, x: m.avg_pool2d(x, 3, 2, 1, divisor_override=2), F.avg_pool2d_backward, None),
    (lambda m, x: m.adaptive_max_pool2d(x, (2, 3), True)[0], F.adaptive_max_pool2d_backward, ((2, 3),)),
    (lambda m, x: m.adaptive_avg_pool2d(x, 3), F.adaptive_avg_pool2d_backward, (3,)),
    (lambda m, x: m.interpolate(x, scale_factor=1.5), F.interpolate_backward, None),
    (lambda m, x: m.interpolate(x, size=(7, 3), mode="bilinear", align_corners=True), None, None),
]


@pytest.mark.parametrize("index", range(len(EMPTY_BATCH)))
def test_empty_batch_gives_empty_results(index):
    """A batch of 0 images: PyTorch returns an empty output of the right shape, and so do we (and grads)."""
    call, backward, args = EMPTY_BATCH[index]
    x = np.zeros((0, 3, 5, 4))
    y = call(F, x)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: call(TF, t), [x], np.zeros(y.shape))
    assert_close(y, y_ref)
    if backward is not None and args is not None:
        (gx,) = backward(np.zeros(y.shape), x, *args)
        assert_close(gx, gx_ref)


def test_empty_batch_max_unpool():
    y, indices = np.zeros((0, 3, 2, 2)), np.zeros((0, 3, 2, 2), dtype=np.int64)
    out = F.max_unpool2d(y, indices, 2)
    assert out.shape == (0, 3, 4, 4)
    assert F.max_unpool2d_backward(out, y, indices, 2)[0].shape == (0, 3, 2, 2)


BAD_NEW = [
    (F.max_pool2d, (X2, 2), {"return_indices": "yes"}, TypeError, "return_indices"),
    (F.avg_pool2d, (X2, 2), {"divisor_override": 0}, ValueError, "divisor_override"),
    (F.avg_pool3d, (np.zeros((1, 1, 4, 4, 4)), 2), {"divisor_override": 2.0}, TypeError, "divisor_override"),
    (F.adaptive_max_pool2d, (X2, -1), {}, ValueError, "output_size"),
    (F.adaptive_max_pool2d, (X2, (2, 2, 2)), {}, ValueError, "output_size"),
    (F.adaptive_max_pool1d, (np.zeros((1, 2, 0)), 2), {}, ValueError, "input"),
    (F.adaptive_max_pool3d, (np.zeros((6, 6)), 2), {}, ValueError, "input"),
    (F.adaptive_max_pool2d, (X2, 2), {"return_indices": 1}, TypeError, "return_indices"),
    (F.max_unpool2d, (X2, X2, 2), {}, TypeError, "indices"),
    (F.max_unpool2d, (X2, np.zeros((1, 2, 6, 5), np.int64), 2), {}, ValueError, "indices.shape"),
    (F.max_unpool2d, (X2, np.full((1, 2, 6, 6), 144), 2), {}, ValueError, "indices"),
    (F.max_unpool2d, (X2, np.full((1, 2, 6, 6), -1), 2), {}, ValueError, "indices"),
    (F.max_unpool2d, (X2, np.zeros((1, 2, 6, 6), np.int64), 2), {"output_size": (14, 12)}, ValueError,
     "output_size"),
    (F.max_unpool2d, (X2, np.zeros((1, 2, 6, 6), np.int64), 2), {"output_size": (12,)}, ValueError,
     "output_size"),
    (F.max_unpool2d, (X2, np.zeros((1, 2, 6, 6), np.int64), 2), {"output_size": 12}, TypeError, "output_size"),
    (F.max_unpool2d, (X2, np.zeros((1, 2, 6, 6), np.int64), 0), {}, ValueError, "kernel_size"),
    (F.max_unpool1d, (np.zeros((1, 2, 3)), np.zeros((1, 2, 3), np.int64), 2), {"padding": -1}, ValueError,
     "padding"),
]


@pytest.mark.parametrize("fn,args,kwargs,error,name", BAD_NEW)
def test_bad_new_arguments_are_named(fn, args, kwargs, error, name):
    with pytest.raises(error, match=name):
        fn(*args, **kwargs)
