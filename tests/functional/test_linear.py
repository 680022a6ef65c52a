"""linear against PyTorch: forward and the three gradients, any leading dims, with and without bias."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as TF

import vanilla_nn.functional as F

from .torch_helpers import assert_close, random, torch_forward_backward


@pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_matches_torch(lead, with_bias, dtype):
    rng = np.random.default_rng(0)
    x, w = random(rng, (*lead, 4), dtype), random(rng, (3, 4), dtype)
    b = random(rng, (3,), dtype) if with_bias else None
    before = [a.copy() for a in (x, w) + ((b,) if with_bias else ())]
    y = F.linear(x, w, b)
    gy = random(rng, y.shape, dtype)
    gx, gw, gb = F.linear_backward(gy, x, w, b)
    y_ref, (gx_ref, gw_ref, gb_ref) = torch_forward_backward(TF.linear, [x, w, b], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    assert_close(gw, gw_ref)
    if with_bias:
        assert_close(gb, gb_ref)
    else:
        assert gb is None
    for a, a_before in zip((x, w, b), before):
        np.testing.assert_array_equal(a, a_before)


def test_mixed_precision_promotes_and_keeps_each_gradient_dtype():
    rng = np.random.default_rng(1)
    x, w, b = random(rng, (5, 4), np.float32), random(rng, (3, 4)), random(rng, (3,), np.float32)
    y = F.linear(x, w, b)
    assert y.dtype == np.float64
    gx, gw, gb = F.linear_backward(np.ones_like(y), x, w, b)
    assert (gx.dtype, gw.dtype, gb.dtype) == (np.float32, np.float64, np.float32)
    np.testing.assert_allclose(gw, np.ones((3, 5)) @ x.astype(np.float64), rtol=1e-6)


X = np.zeros((5, 4))
W = np.zeros((3, 4))


@pytest.mark.parametrize("args,error,name", [
    ((X.astype(np.int64), W), TypeError, "input"),
    ((X, W.astype(np.float16)), TypeError, "weight"),
    ((X, W.ravel()), ValueError, "weight"),
    ((np.zeros((5, 3)), W), ValueError, "input.shape"),
    ((np.zeros(()), W), ValueError, "input.shape"),
    ((X, W, np.zeros(4)), ValueError, "bias"),
])
def test_bad_arguments_are_named(args, error, name):
    with pytest.raises(error, match=name):
        F.linear(*args)


def test_bad_grad_output_is_named():
    with pytest.raises(ValueError, match="grad_output"):
        F.linear_backward(np.zeros((5, 4)), X, W)
