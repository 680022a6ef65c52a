"""clip_grad_norm_ and clip_grad_value_ against torch.nn.utils: returned norm and clipped gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vanilla_nn.nn import Parameter
from vanilla_nn.nn.utils import clip_grad_norm_, clip_grad_value_

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 1, 3), ()]
TOL = {np.float64: 1e-12, np.float32: 1e-6}


def _pair(dtype, scale=1.0, without_grad=(1,)):
    rng = np.random.default_rng(2)
    grads = [np.asarray(scale * rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    ours = [Parameter(np.zeros(s, dtype)) for s in SHAPES]
    theirs = [torch.zeros(s, dtype=torch.from_numpy(np.zeros(1, dtype)).dtype, requires_grad=True) for s in SHAPES]
    for index, (p, tp, g) in enumerate(zip(ours, theirs, grads)):
        if index not in without_grad:
            p.grad, tp.grad = g.copy(), torch.from_numpy(g.copy())
    return ours, theirs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, 0.5, math.inf, "inf", -math.inf, 0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(dtype, norm_type, max_norm):
    ours, theirs = _pair(dtype)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type, foreach=False)
    assert isinstance(total, np.floating) and total.dtype == dtype
    np.testing.assert_allclose(total, ttotal.item(), rtol=TOL[dtype])
    for p, tp in zip(ours, theirs):
        if tp.grad is None:
            assert p.grad is None
        else:
            assert p.grad.dtype == dtype
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=TOL[dtype], atol=TOL[dtype])


def test_clip_grad_norm_single_parameter_and_no_gradients():
    p, tp = Parameter(np.array([3.0, 4.0])), torch.zeros(2, dtype=torch.float64, requires_grad=True)
    p.grad, tp.grad = np.array([3.0, 4.0]), torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert clip_grad_norm_(p, 1.0) == torch.nn.utils.clip_grad_norm_(tp, 1.0).item()
    np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-15)
    empty = Parameter(np.zeros(2))
    assert clip_grad_norm_([empty], 1.0) == 0.0 and empty.grad is None


def test_clip_grad_norm_nonfinite():
    ours, theirs = _pair(np.float64, without_grad=())
    ours[0].grad[0, 0] = theirs[0].grad[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_(ours, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert total == ttotal.item() == np.inf
    for p, tp in zip(ours, theirs):  # scaled by max_norm / inf = 0 (NaN where the inf was), as torch
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_value_matches_torch(dtype):
    ours, theirs = _pair(dtype, scale=3.0)
    clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, tp in zip(ours, theirs):
        if tp.grad is not None:
            np.testing.assert_array_equal(p.grad, tp.grad.numpy())


P = [Parameter(np.zeros(2))]


@pytest.mark.parametrize(("call", "exc", "word"), [
    (lambda: clip_grad_norm_(P, "big"), TypeError, "max_norm"),
    (lambda: clip_grad_norm_(P, 1.0, norm_type="two"), TypeError, "norm_type"),
    (lambda: clip_grad_norm_(np.zeros(3), 1.0), TypeError, "parameters"),
    (lambda: clip_grad_norm_([np.zeros(3)], 1.0), TypeError, "parameters[0]"),
    (lambda: clip_grad_norm_(P, 1.0, foreach="yes"), TypeError, "foreach"),
    (lambda: clip_grad_value_(P, None), TypeError, "clip_value"),
])
def test_bad_arguments(call, exc, word):
    with pytest.raises(exc) as info:
        call()
    assert word in str(info.value)
