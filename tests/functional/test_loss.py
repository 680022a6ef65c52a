"""Softmax, log-softmax, cross-entropy and MSE against PyTorch: values and gradients, every reduction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import vanilla_nn.functional as F

from .torch_helpers import assert_close, random, torch_forward_backward

DTYPES = [np.float64, np.float32]
REDUCTIONS = ["mean", "sum", "none"]
# (logits shape, target dtype)
CE_SHAPES = [((6, 5), np.int64), ((3, 4, 5), np.int32), ((2, 3, 4, 2), np.uint8), ((5,), np.int64),
             ((4, 1), np.int16)]


def cross_entropy_case(rng, shape, target_dtype, dtype, scale=1.0):
    x = random(rng, shape, dtype) * dtype(scale)
    classes = shape[0] if len(shape) == 1 else shape[1]
    target_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
    t = rng.integers(0, classes, target_shape).astype(target_dtype)
    return x, t


def torch_cross_entropy(x, t, reduction, smoothing, gy):
    def fn(tensor):
        return TF.cross_entropy(tensor, torch.from_numpy(np.asarray(t, dtype=np.int64)), reduction=reduction,
                                label_smoothing=smoothing)
    return torch_forward_backward(fn, [x], gy)


@pytest.mark.parametrize("shape,target_dtype", CE_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_matches_torch(shape, target_dtype, reduction, label_smoothing, dtype):
    rng = np.random.default_rng(0)
    x, t = cross_entropy_case(rng, shape, target_dtype, dtype)
    before = x.copy(), t.copy()
    loss = F.cross_entropy(x, t, reduction, label_smoothing)
    gy = random(rng, loss.shape, dtype) if reduction == "none" else np.asarray(0.7, dtype=dtype)
    (gx,) = F.cross_entropy_backward(gy, x, t, reduction, label_smoothing)
    loss_ref, (gx_ref,) = torch_cross_entropy(x, t, reduction, label_smoothing, gy)
    assert_close(loss, loss_ref)
    assert_close(gx, gx_ref)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(t, before[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    rng = np.random.default_rng(1)
    x, t = cross_entropy_case(rng, (8, 6), np.int64, dtype, scale=1e4)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.cross_entropy(x, t, "sum", 0.1)
        (gx,) = F.cross_entropy_backward(np.asarray(1.0, dtype), x, t, "sum", 0.1)
    loss_ref, (gx_ref,) = torch_cross_entropy(x, t, "sum", 0.1, np.asarray(1.0, dtype))
    assert np.isfinite(loss)
    assert_close(loss, loss_ref)
    assert_close(gx, gx_ref)


@pytest.mark.parametrize("name,forward,backward,torch_fn", [
    ("softmax", F.softmax, F.softmax_backward, torch.softmax),
    ("log_softmax", F.log_softmax, F.log_softmax_backward, torch.log_softmax),
])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_matches_torch(name, forward, backward, torch_fn, dim, dtype):
    rng = np.random.default_rng(2)
    x = random(rng, (3, 4, 5), dtype) * dtype(20)
    gy = random(rng, x.shape, dtype)
    before = x.copy()
    y = forward(x, dim)
    (gx,) = backward(gy, x, dim)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, dim), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_loss_matches_torch(shape, reduction, dtype):
    rng = np.random.default_rng(3)
    x, y = random(rng, shape, dtype), random(rng, shape, dtype)
    before = x.copy(), y.copy()
    loss = F.mse_loss(x, y, reduction)
    gy = random(rng, shape, dtype) if reduction == "none" else np.asarray(1.3, dtype=dtype)
    gx, gt = F.mse_loss_backward(gy, x, y, reduction)
    loss_ref, (gx_ref, gt_ref) = torch_forward_backward(lambda a, b: TF.mse_loss(a, b, reduction=reduction),
                                                        [x, y], gy)
    assert_close(loss, loss_ref)
    assert_close(gx, gx_ref)
    assert_close(gt, gt_ref)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])


X = np.zeros((4, 3))
T = np.array([0, 1, 2, 1])


@pytest.mark.parametrize("fn,args,error,name", [
    (F.cross_entropy, (X, T.astype(np.float64)), TypeError, "target"),
    (F.cross_entropy, (X, T.astype(bool)), TypeError, "target"),
    (F.cross_entropy, (X, T[:3]), ValueError, "target.shape"),
    (F.cross_entropy, (X, T[:, None]), ValueError, "target.shape"),
    (F.cross_entropy, (X, np.array([0, 1, 3, 1])), ValueError, "target"),
    (F.cross_entropy, (X, np.array([0, -1, 2, 1])), ValueError, "target"),
    (F.cross_entropy, (X.astype(np.int64), T), TypeError, "input"),
    (F.cross_entropy, (np.zeros(()), np.array(0)), ValueError, "input"),
    (F.cross_entropy, (X, T, "avg"), ValueError, "reduction"),
    (F.cross_entropy, (X, T, "mean", 1.5), ValueError, "label_smoothing"),
    (F.cross_entropy, (X, T, "mean", "0.1"), TypeError, "label_smoothing"),
    (F.cross_entropy_backward, (np.ones(4), X, T), ValueError, "grad_output"),
    (F.cross_entropy_backward, (np.asarray(1.0), X, T, "none"), ValueError, "grad_output"),
    (F.mse_loss, (X, np.zeros((4, 1))), ValueError, "target.shape"),
    (F.mse_loss, (X, T), TypeError, "target"),
    (F.mse_loss, (X, X, "max"), ValueError, "reduction"),
    (F.mse_loss_backward, (np.ones(3), X, X), ValueError, "grad_output"),
    (F.softmax, (X, 2), ValueError, "dim"),
    (F.log_softmax, (X, None), TypeError, "dim"),
    (F.softmax_backward, (np.ones(3), X), ValueError, "grad_output"),
])
def test_bad_arguments_are_named(fn, args, error, name):
    with pytest.raises(error, match=name):
        fn(*args)
