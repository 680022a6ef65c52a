"""Activations and flatten against PyTorch: forward and grad_input, special values (0, +-inf, NaN)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import vanilla_nn.functional as F

from .torch_helpers import assert_close, noncontiguous, random, torch_forward_backward

ACTIVATIONS = [
    ("relu", (), F.relu, F.relu_backward, TF.relu),
    ("sigmoid", (), F.sigmoid, F.sigmoid_backward, torch.sigmoid),
    ("tanh", (), F.tanh, F.tanh_backward, torch.tanh),
    *[(f"leaky_relu({a})", (a,), F.leaky_relu, F.leaky_relu_backward, TF.leaky_relu)
      for a in (0.01, 0.2, -0.5, 0.0, 3)],
]


def special_input(rng: np.random.Generator, dtype) -> np.ndarray:
    """Random values plus exact zeros, large magnitudes (sigmoid overflow), +-inf and NaN."""
    x = 3 * rng.standard_normal((3, 4, 10))
    x[0, 0, :8] = [0.0, -0.0, 50.0, -50.0, 1000.0, -1000.0, np.inf, -np.inf]
    x[0, 1, 0] = np.nan
    return noncontiguous(x.astype(dtype))


@pytest.mark.parametrize("name,extra,forward,backward,torch_fn", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_matches_torch(name, extra, forward, backward, torch_fn, dtype):
    rng = np.random.default_rng(0)
    x = special_input(rng, dtype)
    gy = random(rng, x.shape, dtype)
    before = x.copy(), gy.copy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        finite = np.where(np.isfinite(x), x, 0)
        forward(finite, *extra)  # no overflow warnings on large finite inputs
    y = forward(x, *extra)
    (gx,) = backward(gy, x, *extra)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch_fn(t, *extra), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(gy, before[1])


def test_relu_gradient_is_zero_at_zero_and_passes_at_nan():
    x = np.array([-1.0, 0.0, -0.0, 1.0, np.nan])
    (gx,) = F.relu_backward(np.ones(5), x)
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0, 1.0, 1.0])  # PyTorch passes the gradient at NaN


def test_gradient_dtype_follows_input():
    x = np.linspace(-2, 2, 5, dtype=np.float32)
    for backward in (F.relu_backward, F.sigmoid_backward, F.tanh_backward, F.leaky_relu_backward):
        assert backward(np.ones(5), x)[0].dtype == np.float32


FLATTEN = [((2, 3, 4, 5), 1, -1), ((2, 3, 4, 5), 0, -1), ((2, 3, 4, 5), 2, 3), ((2, 3, 4, 5), -3, -2),
           ((2, 3, 4, 5), 1, 1), ((6,), 0, -1), ((), 0, -1), ((2, 3), 0, 0)]


@pytest.mark.parametrize("shape,start_dim,end_dim", FLATTEN)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flatten_matches_torch(shape, start_dim, end_dim, dtype):
    rng = np.random.default_rng(1)
    x = random(rng, shape, dtype)
    y = F.flatten(x, start_dim, end_dim)
    gy = random(rng, y.shape, dtype)
    (gx,) = F.flatten_backward(gy, x, start_dim, end_dim)
    y_ref, (gx_ref,) = torch_forward_backward(lambda t: torch.flatten(t, start_dim, end_dim), [x], gy)
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)


X = np.zeros((2, 3))


@pytest.mark.parametrize("fn,args,error,name", [
    (F.relu, (X.astype(np.int32),), TypeError, "input"),
    (F.sigmoid, ([1, 2],), TypeError, "input"),
    (F.leaky_relu, (X, True), TypeError, "negative_slope"),
    (F.leaky_relu, (X, "0.1"), TypeError, "negative_slope"),
    (F.leaky_relu, (X, float("nan")), ValueError, "negative_slope"),
    (F.relu_backward, (np.zeros((3, 2)), X), ValueError, "grad_output"),
    (F.tanh_backward, (X.astype(np.int64), X), TypeError, "grad_output"),
    (F.flatten, (X, 2), ValueError, "start_dim"),
    (F.flatten, (X, 0, -3), ValueError, "end_dim"),
    (F.flatten, (np.zeros((2, 3, 4)), 2, 1), ValueError, "start_dim"),
    (F.flatten, (X, 1.0), TypeError, "start_dim"),
    (F.flatten_backward, (np.zeros((2, 2)), X), ValueError, "grad_output"),
])
def test_bad_arguments_are_named(fn, args, error, name):
    with pytest.raises(error, match=name):
        fn(*args)
