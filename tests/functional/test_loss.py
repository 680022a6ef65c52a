"""Softmax, log-softmax, cross-entropy and MSE against PyTorch: values and gradients, every reduction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import vanilla_nn.functional as F

from .torch_helpers import assert_close, noncontiguous, random, torch_forward_backward

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


def torch_cross_entropy(x, t, reduction, smoothing, gy, weight=None, ignore_index=-100, op="cross_entropy"):
    target = torch.from_numpy(np.array(t, dtype=np.int64 if t.dtype.kind in "iu" else t.dtype))
    options = dict(reduction=reduction, ignore_index=ignore_index)
    if op == "cross_entropy":
        options["label_smoothing"] = smoothing

    w = None if weight is None else torch.from_numpy(np.array(weight))  # PyTorch takes no gradient for it

    def fn(tensor):
        return getattr(TF, op)(tensor, target, weight=w, **options)
    return torch_forward_backward(fn, [x], gy)


# Options of the class losses: class weights (one of them 0) and ignore_index (a real class, 1, so every
# target dtype can hold it; the default -100 has its own test).
CLASS_OPTIONS = {"plain": {}, "weight": {"weight": True}, "ignore": {"ignore_index": 1},
                 "weight-ignore": {"weight": True, "ignore_index": 1}}


def class_weights(rng, classes, dtype):
    w = rng.uniform(0.2, 2.0, classes).astype(dtype)
    w[-1] = 0.0 if classes > 2 else w[-1]  # a class whose weight is 0
    return w


@pytest.mark.parametrize("shape,target_dtype", CE_SHAPES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("options", CLASS_OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_matches_torch(shape, target_dtype, label_smoothing, options, dtype):
    rng = np.random.default_rng(0)
    x, t = cross_entropy_case(rng, shape, target_dtype, dtype)
    classes = shape[0] if len(shape) == 1 else shape[1]
    w = class_weights(rng, classes, dtype) if CLASS_OPTIONS[options].get("weight") else None
    ignore_index = CLASS_OPTIONS[options].get("ignore_index", -100)
    before = x.copy(), t.copy()
    for reduction in REDUCTIONS:
        kwargs = dict(weight=w, ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
        loss = F.cross_entropy(x, t, **kwargs)
        gy = random(rng, loss.shape, dtype) if reduction == "none" else np.asarray(0.7, dtype=dtype)
        (gx,) = F.cross_entropy_backward(gy, x, t, **kwargs)
        loss_ref, (gx_ref,) = torch_cross_entropy(x, t, reduction, label_smoothing, gy, w, ignore_index)
        assert_close(loss, loss_ref, name=f"{reduction} loss")
        assert_close(gx, gx_ref, name=f"{reduction} grad_input")
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(t, before[1])


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5), (2, 3, 4, 2), (5,)])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_with_probability_targets_matches_torch(shape, label_smoothing, weighted, dtype):
    rng = np.random.default_rng(5)
    x = random(rng, shape, dtype)
    axis = 0 if len(shape) == 1 else 1
    p = rng.uniform(0.0, 1.0, shape)
    p = noncontiguous((p / p.sum(axis=axis, keepdims=True)).astype(dtype))
    w = class_weights(rng, shape[axis], dtype) if weighted else None
    for reduction in REDUCTIONS:
        kwargs = dict(weight=w, reduction=reduction, label_smoothing=label_smoothing)
        loss = F.cross_entropy(x, p, **kwargs)
        gy = random(rng, loss.shape, dtype) if reduction == "none" else np.asarray(1.3, dtype=dtype)
        (gx,) = F.cross_entropy_backward(gy, x, p, **kwargs)
        weight = None if w is None else torch.from_numpy(w)

        def fn(a, target, weight=weight, reduction=reduction):
            return TF.cross_entropy(a, target, weight=weight, reduction=reduction, label_smoothing=label_smoothing)
        loss_ref, (gx_ref, _) = torch_forward_backward(fn, [x, p], gy)
        assert_close(loss, loss_ref, name=f"{reduction} loss")
        assert_close(gx, gx_ref, name=f"{reduction} grad_input")


def test_cross_entropy_default_ignore_index_and_all_ignored():
    rng = np.random.default_rng(6)
    x = random(rng, (4, 3))
    for t in (np.array([0, -100, 2, -100]), np.full(4, -100)):
        for reduction in REDUCTIONS:
            loss = F.cross_entropy(x, t, reduction=reduction, label_smoothing=0.1)
            gy = np.ones(loss.shape)
            (gx,) = F.cross_entropy_backward(gy, x, t, reduction=reduction, label_smoothing=0.1)
            loss_ref, (gx_ref,) = torch_cross_entropy(x, t, reduction, 0.1, gy)
            assert_close(loss, loss_ref)  # all ignored: "mean" is NaN, the gradient 0 (PyTorch's)
            assert_close(gx, gx_ref)
    assert np.isnan(F.cross_entropy(x, np.full(4, -100)))


def test_cross_entropy_weighted_mean_with_zero_total_weight_is_nan_like_torch():
    x = random(np.random.default_rng(7), (3, 4))
    t, w = np.array([1, 1, 1]), np.array([1.0, 0.0, 2.0, 3.0])
    for smoothing in (0.0, 0.2):
        loss = F.cross_entropy(x, t, weight=w, label_smoothing=smoothing)
        (gx,) = F.cross_entropy_backward(np.asarray(1.0), x, t, weight=w, label_smoothing=smoothing)
        loss_ref, (gx_ref,) = torch_cross_entropy(x, t, "mean", smoothing, np.asarray(1.0), w)
        assert np.isnan(loss_ref) and np.isnan(gx_ref).all()
        assert_close(loss, loss_ref)
        assert_close(gx, gx_ref)


@pytest.mark.parametrize("shape,target_dtype", CE_SHAPES)
@pytest.mark.parametrize("options", CLASS_OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_loss_matches_torch(shape, target_dtype, options, dtype):
    rng = np.random.default_rng(8)
    x, t = cross_entropy_case(rng, shape, target_dtype, dtype)
    classes = shape[0] if len(shape) == 1 else shape[1]
    w = class_weights(rng, classes, dtype) if CLASS_OPTIONS[options].get("weight") else None
    ignore_index = CLASS_OPTIONS[options].get("ignore_index", -100)
    before = x.copy()
    for reduction in REDUCTIONS:
        kwargs = dict(weight=w, ignore_index=ignore_index, reduction=reduction)
        loss = F.nll_loss(x, t, **kwargs)
        gy = random(rng, loss.shape, dtype) if reduction == "none" else np.asarray(0.7, dtype=dtype)
        (gx,) = F.nll_loss_backward(gy, x, t, **kwargs)
        loss_ref, (gx_ref,) = torch_cross_entropy(x, t, reduction, 0.0, gy, w, ignore_index, op="nll_loss")
        assert_close(loss, loss_ref, name=f"{reduction} loss")
        assert_close(gx, gx_ref, name=f"{reduction} grad_input")
    np.testing.assert_array_equal(x, before)


BCE_CASES = [((7,), {}), ((4, 5), {}), ((4, 5), {"weight": (5,)}), ((4, 5), {"pos_weight": (5,)}),
             ((2, 3, 4), {"weight": (2, 3, 4), "pos_weight": (4,)}), ((3, 4), {"weight": (3, 1)}),
             ((), {})]


@pytest.mark.parametrize("shape,extras", BCE_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_matches_torch(shape, extras, dtype):
    rng = np.random.default_rng(9)
    x = random(rng, shape, dtype) * dtype(4) if shape else np.asarray(1.5, dtype)
    y = rng.uniform(0, 1, shape).astype(dtype)
    w = rng.uniform(0.1, 2, extras["weight"]).astype(dtype) if "weight" in extras else None
    p = rng.uniform(0.1, 3, extras["pos_weight"]).astype(dtype) if "pos_weight" in extras else None
    before = x.copy(), y.copy()
    for reduction in REDUCTIONS:
        loss = F.binary_cross_entropy_with_logits(x, y, w, reduction, p)
        gy = random(rng, shape, dtype) if reduction == "none" and shape else np.asarray(0.9, dtype=dtype)
        gx, gt = F.binary_cross_entropy_with_logits_backward(gy, x, y, w, reduction, p)

        weight, pos_weight = (None if a is None else torch.from_numpy(a) for a in (w, p))  # no gradient for them

        def fn(a, b, weight=weight, pos_weight=pos_weight, reduction=reduction):
            return TF.binary_cross_entropy_with_logits(a, b, weight, reduction=reduction, pos_weight=pos_weight)
        loss_ref, (gx_ref, gt_ref) = torch_forward_backward(fn, [x, y], gy)
        assert_close(loss, loss_ref, name=f"{reduction} loss")
        assert_close(gx, gx_ref, name=f"{reduction} grad_input")
        assert_close(gt, gt_ref, name=f"{reduction} grad_target")
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])


def test_bce_with_logits_is_accurate_where_it_saturates():
    """Loss and gradient against 50-digit values at |x| up to 700: within 1e-14 relative, where PyTorch's
    ``(1 - y) x + log(1 + exp(-x))`` cancels to 0 and its gradient ``(p y + 1 - y) s - p y`` loses digits."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    x = np.array([-700.0, -30.0, -5.0, 5.0, 30.0, 700.0, -30.0, 30.0])
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    p = 2.5
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=np.array([p]))
    gx, _ = F.binary_cross_entropy_with_logits_backward(np.ones(8), x, y, None, "none", np.array([p]))
    for xi, yi, li, gi in zip(x, y, loss, gx, strict=True):
        v, t = mpmath.mpf(float(xi)), mpmath.mpf(float(yi))
        softplus = mpmath.log1p(mpmath.exp(v))
        softplus_neg = mpmath.log1p(mpmath.exp(-v))
        exact_loss = (1 - t) * softplus + p * t * softplus_neg
        exact_grad = (1 - t) / (1 + mpmath.exp(-v)) - p * t / (1 + mpmath.exp(v))
        assert abs((li - exact_loss) / exact_loss) < 1e-14, (xi, yi, li, float(exact_loss))
        assert abs((gi - exact_grad) / exact_grad) < 1e-14, (xi, yi, gi, float(exact_grad))


# Zero-size inputs: PyTorch's value ("mean" of nothing is NaN, "sum" 0, "none" empty) and empty gradients.
EMPTY_CASES = [
    ("cross_entropy", (0, 4), "index"), ("cross_entropy", (2, 3, 0), "index"), ("cross_entropy", (0, 4), "prob"),
    ("nll_loss", (0, 4), "index"), ("nll_loss", (2, 3, 0, 2), "index"),
    ("binary_cross_entropy_with_logits", (0, 3), "value"), ("mse_loss", (0, 3), "value"),
]


@pytest.mark.parametrize("op,shape,kind", EMPTY_CASES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_losses_on_empty_batches_match_torch(op, shape, kind, reduction):
    x = np.zeros(shape)
    t = np.zeros(shape[:1] + shape[2:], np.int64) if kind == "index" else np.zeros(shape)
    loss = getattr(F, op)(x, t, reduction=reduction)
    gy = np.ones(loss.shape)
    grads = getattr(F, f"{op}_backward")(gy, x, t, reduction=reduction)

    def fn(a, b):
        return getattr(TF, op)(a, torch.from_numpy(t) if kind == "index" else b, reduction=reduction)
    loss_ref, grads_ref = torch_forward_backward(fn, [x, t if kind != "index" else None], gy)
    assert_close(loss, loss_ref)
    assert_close(grads[0], grads_ref[0])


@pytest.mark.parametrize("name,forward,backward,torch_fn", [
    ("softmax", F.softmax, F.softmax_backward, torch.softmax),
    ("log_softmax", F.log_softmax, F.log_softmax_backward, torch.log_softmax),
])
@pytest.mark.parametrize("shape,dim", [((2, 0, 3), 1), ((2, 0, 3), 0), ((0,), 0), ((3, 0), -1)])
def test_softmax_on_an_empty_axis_is_empty_like_torch(name, forward, backward, torch_fn, shape, dim):
    x = np.zeros(shape)
    y = forward(x, dim)
    (gx,) = backward(np.zeros(shape), x, dim)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, dim), [x], np.zeros(shape))
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    rng = np.random.default_rng(1)
    x, t = cross_entropy_case(rng, (8, 6), np.int64, dtype, scale=1e4)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.cross_entropy(x, t, reduction="sum", label_smoothing=0.1)
        (gx,) = F.cross_entropy_backward(np.asarray(1.0, dtype), x, t, reduction="sum", label_smoothing=0.1)
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
    (F.cross_entropy, (X, T, np.ones(4)), ValueError, "weight.shape"),
    (F.cross_entropy, (X, T, np.ones(3, np.int64)), TypeError, "weight"),
    (F.cross_entropy, (X, T, None, 1.5), TypeError, "ignore_index"),
    (F.cross_entropy, (X, T.astype(np.float32)[:, None]), ValueError, "target.shape"),
    (F.nll_loss, (X, T.astype(np.float64)), TypeError, "target"),
    (F.nll_loss, (X, np.array([0, 1, 3, 1])), ValueError, "target"),
    (F.nll_loss, (X, T, np.ones(2)), ValueError, "weight.shape"),
    (F.nll_loss, (X, T, None, -100, "avg"), ValueError, "reduction"),
    (F.nll_loss_backward, (np.ones(4), X, T), ValueError, "grad_output"),
    (F.binary_cross_entropy_with_logits, (X, X[:2]), ValueError, "target.shape"),
    (F.binary_cross_entropy_with_logits, (X, T), TypeError, "target"),
    (F.binary_cross_entropy_with_logits, (X, X, np.ones(4)), ValueError, "weight.shape"),
    (F.binary_cross_entropy_with_logits, (X, X, None, "mean", np.ones((2, 3))), ValueError, "pos_weight.shape"),
    (F.binary_cross_entropy_with_logits, (X, X, None, "max"), ValueError, "reduction"),
    (F.binary_cross_entropy_with_logits_backward, (np.ones(3), X, X), ValueError, "grad_output"),
    (F.cross_entropy, (X, T[:3]), ValueError, "target.shape"),
    (F.cross_entropy, (X, T[:, None]), ValueError, "target.shape"),
    (F.cross_entropy, (X, np.array([0, 1, 3, 1])), ValueError, "target"),
    (F.cross_entropy, (X, np.array([0, -1, 2, 1])), ValueError, "target"),
    (F.cross_entropy, (X.astype(np.int64), T), TypeError, "input"),
    (F.cross_entropy, (np.zeros(()), np.array(0)), ValueError, "input"),
    (F.cross_entropy, (X, T, None, -100, "avg"), ValueError, "reduction"),
    (F.cross_entropy, (X, T, None, -100, "mean", 1.5), ValueError, "label_smoothing"),
    (F.cross_entropy, (X, T, None, -100, "mean", "0.1"), TypeError, "label_smoothing"),
    (F.cross_entropy_backward, (np.ones(4), X, T), ValueError, "grad_output"),
    (F.cross_entropy_backward, (np.asarray(1.0), X, T, None, -100, "none"), ValueError, "grad_output"),
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
