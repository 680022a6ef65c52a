"""Batch norm against PyTorch: output, the three gradients and the running-statistics update."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import vanilla_nn.functional as F
from vanilla_nn.oracles import get_oracle
from vanilla_nn.oracles.cases import OPS, make_arrays, select_cases

from .torch_helpers import assert_close, random, to_torch, torch_forward_backward

TORCH = get_oracle("torch")

SHAPES = [(8, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 4)]


def torch_batch_norm(x, rm, rv, w, b, training, momentum, eps, gy):
    """Torch's output, grads (input, weight, bias) and its in-place-updated running stats."""
    xt, wt, bt = to_torch(x), to_torch(w), to_torch(b)
    rmt, rvt = to_torch(rm, False), to_torch(rv, False)
    y = TF.batch_norm(xt, rmt, rvt, wt, bt, training, momentum, eps)
    leaves = [t for t in (xt, wt, bt) if t is not None]
    grads = iter(torch.autograd.grad(y, leaves, to_torch(gy, False)))
    gx, gw, gb = (None if t is None else next(grads).numpy() for t in (xt, wt, bt))
    return y.detach().numpy(), gx, gw, gb, rmt.numpy(), rvt.numpy()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", ["both", "none", "weight"])
@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.5, 1e-3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_norm_matches_torch(shape, training, affine, momentum, eps, dtype):
    rng = np.random.default_rng(0)
    channels = shape[1]
    x = random(rng, shape, dtype) * dtype(3) + dtype(1)
    rm = random(rng, (channels,), dtype)
    rv = random(rng, (channels,), dtype) ** 2 + dtype(0.5)
    w = random(rng, (channels,), dtype) if affine != "none" else None
    b = random(rng, (channels,), dtype) if affine == "both" else None
    gy = random(rng, shape, dtype)
    arrays = [x, rm, rv, w, b, gy]
    before = [None if a is None else a.copy() for a in arrays]
    args = (x, rm, rv, w, b, training, momentum, eps)
    y = F.batch_norm(*args)
    gx, gw, gb = F.batch_norm_backward(gy, *args)
    y_ref, gx_ref, gw_ref, gb_ref, rm_ref, rv_ref = torch_batch_norm(*args, gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    for grad, grad_ref in ((gw, gw_ref), (gb, gb_ref)):
        if grad_ref is None:
            assert grad is None
        else:
            assert_close(grad, grad_ref)
    if training:
        new_mean, new_var = F.batch_norm_running_stats(x, rm, rv, momentum)
        assert_close(new_mean, rm_ref)
        assert_close(new_var, rv_ref)
    for a, a_before in zip(arrays, before):
        if a is not None:
            np.testing.assert_array_equal(a, a_before)


def test_training_without_running_stats():
    rng = np.random.default_rng(1)
    x, gy = random(rng, (5, 2, 3)), random(rng, (5, 2, 3))
    y = F.batch_norm(x, None, None, training=True)
    (gx, _, _) = F.batch_norm_backward(gy, x, None, None, training=True)
    xt = to_torch(x)
    yt = TF.batch_norm(xt, None, None, training=True)
    yt.backward(to_torch(gy, False))
    assert_close(y, yt.detach().numpy())
    assert_close(gx, xt.grad.numpy())


X = np.zeros((4, 3))
C = np.ones(3)


@pytest.mark.parametrize("fn,args,kwargs,error,name", [
    (F.batch_norm, (np.zeros(3), C, C), {}, ValueError, "input"),
    (F.batch_norm, (X.astype(np.int64), C, C), {}, TypeError, "input"),
    (F.batch_norm, (X, np.ones(4), C), {}, ValueError, "running_mean"),
    (F.batch_norm, (X, C, np.ones((3, 1))), {}, ValueError, "running_var"),
    (F.batch_norm, (X, C, C, np.ones(2)), {}, ValueError, "weight"),
    (F.batch_norm, (X, C, C, None, np.ones(2)), {}, ValueError, "bias"),
    (F.batch_norm, (X, None, None), {}, ValueError, "running_mean"),
    (F.batch_norm, (np.zeros((1, 3)), C, C), {"training": True}, ValueError, "input.shape"),
    (F.batch_norm, (X, C, C), {"training": 1}, TypeError, "training"),
    (F.batch_norm, (X, C, C), {"eps": -1.0}, ValueError, "eps"),
    (F.batch_norm, (X, C, C), {"momentum": None}, ValueError, "momentum"),
    (F.batch_norm_running_stats, (X, C, C), {"momentum": None}, ValueError, "momentum"),
    (F.batch_norm_running_stats, (X, C, C), {"momentum": "0.1"}, TypeError, "momentum"),
    (F.batch_norm_running_stats, (X, None, C), {}, ValueError, "running_mean"),
    (F.batch_norm_running_stats, (np.zeros((1, 3)), C, C), {}, ValueError, "input.shape"),
    (F.batch_norm_backward, (np.zeros((4, 2)), X, C, C), {}, ValueError, "grad_output"),
])
def test_bad_arguments_are_named(fn, args, kwargs, error, name):
    with pytest.raises(error, match=name):
        fn(*args, **kwargs)


# --- group norm and layer norm: the proof matrix's cases, in both dtypes, against PyTorch --------------------

NORM_CASES = select_cases(ops=("group_norm", "layer_norm"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", NORM_CASES, ids=[c.id for c in NORM_CASES])
def test_group_and_layer_norm_match_torch(case, dtype):
    info = OPS[case.op]
    arrays = make_arrays(case, dtype, seed=4)
    arrays[0] = arrays[0] * dtype(3) + dtype(2)  # a mean and a scale away from 0 and 1
    before = [None if a is None else a.copy() for a in arrays]
    positional, keywords = info.call_args(arrays, case.options)
    y = getattr(F, case.op)(*positional, **keywords)
    gy = random(np.random.default_rng(5), y.shape, dtype)
    grads = getattr(F, f"{case.op}_backward")(gy, *positional, **keywords)
    theirs = TORCH.run(case.op, arrays, dict(case.options), gy)
    assert_close(y, theirs.output.astype(dtype), name="output")
    for name, grad, ref, array in zip(info.arrays, grads, theirs.grads, arrays, strict=True):
        if array is None:
            assert grad is None, name
        else:
            assert_close(grad, ref.astype(dtype), name=f"grad_{name}")
    for a, a_before in zip(arrays, before, strict=True):
        if a is not None:
            np.testing.assert_array_equal(a, a_before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_group_norm_and_layer_norm_by_torch_directly(dtype):
    """Independent of the oracle adapter: torch.nn.functional called here, float32 weights with float64 input."""
    rng = np.random.default_rng(6)
    x, gy = random(rng, (3, 4, 5, 2), dtype) * dtype(10) - dtype(4), random(rng, (3, 4, 5, 2), dtype)
    w, b = random(rng, (4,), np.float32), random(rng, (4,), np.float32)
    y, grads = torch_forward_backward(lambda *t: TF.group_norm(t[0], 2, t[1].to(t[0].dtype), t[2].to(t[0].dtype),
                                                               1e-3), [x, w, b], gy)
    ours = F.group_norm(x, 2, w, b, 1e-3)
    assert_close(ours, y)
    for grad, ref, array in zip(F.group_norm_backward(gy, x, 2, w, b, 1e-3), grads, (x, w, b), strict=True):
        assert_close(grad, ref.astype(array.dtype))  # each gradient in its argument's dtype
    w2, b2 = random(rng, (5, 2), dtype), random(rng, (5, 2), dtype)
    y, grads = torch_forward_backward(lambda *t: TF.layer_norm(t[0], (5, 2), t[1], t[2]), [x, w2, b2], gy)
    assert_close(F.layer_norm(x, (5, 2), w2, b2), y)
    for grad, ref in zip(F.layer_norm_backward(gy, x, [5, 2], w2, b2), grads, strict=True):
        assert_close(grad, ref)


X4 = np.zeros((2, 4, 3))
C4 = np.ones(4)


@pytest.mark.parametrize("fn,args,kwargs,error,name", [
    (F.group_norm, (np.zeros(4), 2), {}, ValueError, "input"),
    (F.group_norm, (X4.astype(np.int64), 2), {}, TypeError, "input"),
    (F.group_norm, (X4, 3), {}, ValueError, "num_groups=3"),
    (F.group_norm, (X4, 0), {}, ValueError, "num_groups=0"),
    (F.group_norm, (X4, 2.0), {}, TypeError, "num_groups"),
    (F.group_norm, (X4, 2, np.ones(3)), {}, ValueError, "weight.shape"),
    (F.group_norm, (X4, 2, C4, np.ones((4, 1))), {}, ValueError, "bias.shape"),
    (F.group_norm, (X4, 2), {"eps": -1.0}, ValueError, "eps"),
    (F.group_norm, (X4, 2), {"eps": "1e-5"}, TypeError, "eps"),
    (F.group_norm_backward, (np.zeros((2, 4)), X4, 2), {}, ValueError, "grad_output"),
    (F.layer_norm, (X4, 4), {}, ValueError, "normalized_shape"),
    (F.layer_norm, (X4, (2, 4, 3, 1)), {}, ValueError, "normalized_shape"),
    (F.layer_norm, (X4, ()), {}, ValueError, "normalized_shape"),
    (F.layer_norm, (X4, 3.0), {}, TypeError, "normalized_shape"),
    (F.layer_norm, (X4, (4, 3), np.ones(3)), {}, ValueError, "weight.shape"),
    (F.layer_norm, (X4, 3, None, np.ones(4)), {}, ValueError, "bias.shape"),
    (F.layer_norm, (X4.astype(np.float16), 3), {}, TypeError, "input"),
    (F.layer_norm, (X4, 3), {"eps": -1e-5}, ValueError, "eps"),
    (F.layer_norm_backward, (np.zeros((2, 4)), X4, 3), {}, ValueError, "grad_output"),
])
def test_group_and_layer_norm_bad_arguments_are_named(fn, args, kwargs, error, name):
    with pytest.raises(error, match=name):
        fn(*args, **kwargs)
