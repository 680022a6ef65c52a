"""Dropout: PyTorch's output and gradient for the same mask; the mask's distribution, scale and seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import vanilla_nn.functional as F

from .torch_helpers import assert_close, random, to_torch


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_matches_torch_for_torchs_mask(p, dtype):
    rng = np.random.default_rng(0)
    x, gy = random(rng, (4, 3, 5), dtype), random(rng, (4, 3, 5), dtype)
    before = x.copy()
    torch.manual_seed(7)
    mask = TF.dropout(torch.ones(x.shape, dtype=to_torch(x).dtype), p, training=True).numpy()
    torch.manual_seed(7)
    xt = to_torch(x)
    yt = TF.dropout(xt, p, training=True)
    yt.backward(to_torch(gy, False))
    y = F.dropout(x, p, mask=mask)
    (gx,) = F.dropout_backward(gy, x, p, mask=mask)
    assert_close(y, yt.detach().numpy())
    assert_close(gx, xt.grad.numpy())
    np.testing.assert_array_equal(x, before)
    # our mask takes the same two values as torch's
    ours = F.dropout_mask(mask.shape, p, np.random.default_rng(1), dtype)
    assert ours.dtype == dtype
    assert set(np.unique(ours)) <= set(np.unique(mask)) | {0.0}


@pytest.mark.parametrize("p", [0.1, 0.3, 0.7])
def test_mask_keeps_one_minus_p_and_scales(p):
    mask = F.dropout_mask((200, 100), p, np.random.default_rng(0), np.float32)
    kept = mask != 0
    assert abs(kept.mean() - (1 - p)) < 0.02
    np.testing.assert_array_equal(mask[kept], np.float32(1) / np.float32(1 - p))


def test_mask_is_reproducible_from_the_seed_and_differs_across_seeds():
    a = F.dropout_mask((50, 40), 0.5, np.random.default_rng(3))
    b = F.dropout_mask((50, 40), 0.5, np.random.default_rng(3))
    c = F.dropout_mask((50, 40), 0.5, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    y1 = F.dropout(np.ones((50, 40)), 0.5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(y1, a)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_eval_mode_is_the_identity(dtype):
    x = random(np.random.default_rng(2), (3, 4), dtype)
    y = F.dropout(x, 0.5, training=False)
    (gx,) = F.dropout_backward(np.ones((3, 4), dtype), x, 0.5, training=False)
    assert y is not x
    assert_close(y, x)
    assert_close(gx, np.ones((3, 4), dtype))


def test_p_one_drops_everything_and_p_zero_keeps_everything():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    np.testing.assert_array_equal(F.dropout(x, 1.0, rng=np.random.default_rng(0)), np.zeros((2, 3)))
    np.testing.assert_array_equal(F.dropout(x, 0.0), x)
    np.testing.assert_array_equal(F.dropout_backward(np.ones((2, 3)), x, 0.0)[0], np.ones((2, 3)))


X = np.zeros((2, 3))
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("fn,args,kwargs,error,name", [
    (F.dropout, (X, 1.5), {}, ValueError, "p="),
    (F.dropout, (X, -0.1), {}, ValueError, "p="),
    (F.dropout, (X, "0.5"), {}, TypeError, "p="),
    (F.dropout, (X, 0.5, "yes"), {}, TypeError, "training"),
    (F.dropout, (X.astype(np.int64), 0.5), {}, TypeError, "input"),
    (F.dropout, (X, 0.5), {"rng": 42}, TypeError, "rng"),
    (F.dropout, (X, 0.5), {"mask": np.ones((3, 2))}, ValueError, "mask.shape"),
    (F.dropout_backward, (X, X, 0.5), {}, ValueError, "mask"),
    (F.dropout_backward, (np.zeros((3, 2)), X, 0.5), {"mask": np.ones((2, 3))}, ValueError, "grad_output"),
    (F.dropout_mask, ((2, 3), 0.5, 42), {}, TypeError, "rng"),
    (F.dropout_mask, ((2, 3), 2.0, RNG), {}, ValueError, "p="),
    (F.dropout_mask, ((2, -3), 0.5, RNG), {}, ValueError, "shape"),
    (F.dropout_mask, ((2, 3), 0.5, RNG, np.int32), {}, TypeError, "dtype"),
])
def test_bad_arguments_are_named(fn, args, kwargs, error, name):
    with pytest.raises(error, match=name):
        fn(*args, **kwargs)


# --- dropout2d: one mask value per channel ----------------------------------------------------------------

@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout2d_matches_torch_for_torchs_channel_mask(p, dtype):
    rng = np.random.default_rng(0)
    x, gy = random(rng, (6, 5, 3, 4), dtype), random(rng, (6, 5, 3, 4), dtype)
    before = x.copy()
    torch.manual_seed(11)
    full = TF.dropout2d(torch.ones(x.shape, dtype=to_torch(x).dtype), p, training=True).numpy()
    mask = np.ascontiguousarray(full[..., :1, :1])
    np.testing.assert_array_equal(np.broadcast_to(mask, x.shape), full)  # torch's mask is per channel too
    torch.manual_seed(11)
    xt = to_torch(x)
    yt = TF.dropout2d(xt, p, training=True)
    yt.backward(to_torch(gy, False))
    y = F.dropout2d(x, p, mask=mask)
    (gx,) = F.dropout2d_backward(gy, x, p, mask=mask)
    assert_close(y, yt.detach().numpy())
    assert_close(gx, xt.grad.numpy())
    np.testing.assert_array_equal(x, before)


def test_dropout2d_draws_a_seeded_channel_mask_and_eval_is_the_identity():
    x = np.ones((40, 30, 2, 2))
    y = F.dropout2d(x, 0.25, rng=np.random.default_rng(5))
    mask = F.dropout_mask(F.dropout2d_mask_shape(x.shape), 0.25, np.random.default_rng(5))
    np.testing.assert_array_equal(y, np.broadcast_to(mask, x.shape))
    assert abs((mask == 0).mean() - 0.25) < 0.03
    assert F.dropout2d_mask_shape((3, 4, 5)) == (3, 1, 1)
    np.testing.assert_array_equal(F.dropout2d(x, 0.5, training=False), x)
    assert F.dropout2d_backward(np.ones((3, 2, 2)), np.ones((3, 2, 2)), 0.5, training=False)[0].shape == (3, 2, 2)


X4 = np.zeros((2, 3, 4, 4))
M4 = np.ones((2, 3, 1, 1))


@pytest.mark.parametrize("fn,args,kwargs,error,name", [
    (F.dropout2d, (np.zeros((2, 3)),), {}, ValueError, "input.shape"),
    (F.dropout2d, (np.zeros((1, 2, 3, 4, 5)),), {}, ValueError, "input.shape"),
    (F.dropout2d, (X4.astype(np.int32),), {}, TypeError, "input"),
    (F.dropout2d, (X4, 1.5), {}, ValueError, "p="),
    (F.dropout2d, (X4, "0.5"), {}, TypeError, "p="),
    (F.dropout2d, (X4, 0.5, 1), {}, TypeError, "training"),
    (F.dropout2d, (X4, 0.5), {"mask": np.ones((2, 3, 4, 4))}, ValueError, "mask.shape"),
    (F.dropout2d, (X4, 0.5), {"mask": M4.astype(np.int64)}, TypeError, "mask"),
    (F.dropout2d, (X4, 0.5), {"rng": 3}, TypeError, "rng"),
    (F.dropout2d_backward, (np.zeros((2, 3, 4, 3)), X4, 0.5), {"mask": M4}, ValueError, "grad_output"),
    (F.dropout2d_backward, (X4, X4, 0.5), {}, ValueError, "mask"),
    (F.dropout2d_mask_shape, ((2, 3),), {}, ValueError, "input.shape"),
])
def test_dropout2d_bad_arguments_are_named(fn, args, kwargs, error, name):
    with pytest.raises(error, match=name):
        fn(*args, **kwargs)
