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
    ("relu6", (), F.relu6, F.relu6_backward, TF.relu6),
    ("hardswish", (), F.hardswish, F.hardswish_backward, TF.hardswish),
    ("silu", (), F.silu, F.silu_backward, TF.silu),
    ("gelu", (), F.gelu, F.gelu_backward, TF.gelu),
    *[(f"gelu({a})", (a,), F.gelu, F.gelu_backward, lambda t, a: TF.gelu(t, approximate=a)) for a in ("none", "tanh")],
]


def special_input(rng: np.random.Generator, dtype) -> np.ndarray:
    """Random values plus exact zeros, large magnitudes (sigmoid overflow), +-inf and NaN."""
    x = 3 * rng.standard_normal((3, 4, 10))
    x[0, 0, :8] = [0.0, -0.0, 50.0, -50.0, 1000.0, -1000.0, np.inf, -np.inf]
    x[0, 1, 0] = np.nan
    x[0, 2, :10] = [-3.0, 3.0, 6.0, -6.0, 0.5, -0.5, 30.0, -30.0, 700.0, -700.0]  # kinks and saturation
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
    for backward in (F.relu_backward, F.sigmoid_backward, F.tanh_backward, F.leaky_relu_backward,
                     F.relu6_backward, F.hardswish_backward, F.silu_backward, F.gelu_backward):
        assert backward(np.ones(5), x)[0].dtype == np.float32
        assert backward(np.ones(5, np.float64), x)[0].dtype == np.float32


def test_kinks_follow_pytorch():
    # PyTorch's choices at the kinks: relu6' is 0 at 0 and at 6; hardswish' is 0 at -3 and 1 at 3. At NaN,
    # PyTorch's vectorised kernel (any tensor of 64 elements here) gives relu6' = 0 and hardswish' = NaN.
    x = np.zeros(64)
    x[:5] = [-3.0, 0.0, 3.0, 6.0, np.nan]
    _, (relu6_ref,) = torch_forward_backward(TF.relu6, [x], np.ones(64))
    _, (hardswish_ref,) = torch_forward_backward(TF.hardswish, [x], np.ones(64))
    np.testing.assert_array_equal(relu6_ref[:5], [0.0, 0.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(hardswish_ref[:5], [0.0, 0.5, 1.0, 1.0, np.nan])
    np.testing.assert_array_equal(F.relu6_backward(np.ones(64), x)[0], relu6_ref)
    np.testing.assert_array_equal(F.hardswish_backward(np.ones(64), x)[0], hardswish_ref)


# The derivatives in the saturated tails, against 50-digit values: sigmoid, tanh, silu, gelu (exact and tanh).
SATURATION_X = [-700.0, -200.0, -30.0, -12.5, -3.0, 2.0, 12.5, 30.0, 200.0, 700.0]


def _mp_derivatives(x):
    """Written without cancellation (1 - s = sigmoid(-x), 1 + tanh(u) = 2 sigmoid(2u)) and in 50 digits."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    v = mpmath.mpf(x)

    def sig(z):
        return 1 / (1 + mpmath.exp(-z))

    u = mpmath.sqrt(2 / mpmath.pi) * (v + mpmath.mpf("0.044715") * v ** 3)
    du = mpmath.sqrt(2 / mpmath.pi) * (1 + 3 * mpmath.mpf("0.044715") * v ** 2)
    return {
        "sigmoid": sig(v) * sig(-v),
        "tanh": 1 / mpmath.cosh(v) ** 2,
        "silu": sig(v) * (1 + v * sig(-v)),
        "gelu": mpmath.ncdf(v) + v * mpmath.npdf(v),
        "gelu_tanh": sig(2 * u) + v / 2 / mpmath.cosh(u) ** 2 * du,
    }


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "silu", "gelu", "gelu_tanh"])
def test_saturated_derivatives_are_accurate(name):
    """Each float64 derivative within 1e-13 relative of the 50-digit value wherever that is a normal float,
    and never less accurate than PyTorch's (which cancels to 0 in 1 - y^2 and y (1 - y))."""
    backward, torch_fn = {
        "sigmoid": (F.sigmoid_backward, torch.sigmoid), "tanh": (F.tanh_backward, torch.tanh),
        "silu": (F.silu_backward, TF.silu), "gelu": (F.gelu_backward, TF.gelu),
        "gelu_tanh": (lambda g, x: F.gelu_backward(g, x, "tanh"), lambda t: TF.gelu(t, approximate="tanh")),
    }[name]
    x = np.array(SATURATION_X)
    (ours,) = backward(np.ones_like(x), x)
    _, (theirs,) = torch_forward_backward(torch_fn, [x], np.ones_like(x))
    for xi, o, t in zip(x, ours, theirs, strict=True):
        exact = _mp_derivatives(float(xi))[name]
        if abs(exact) < np.finfo(np.float64).tiny:
            assert abs(o) <= np.finfo(np.float64).tiny, (xi, o)  # underflow to (at most) a subnormal
            continue
        our_error = float(abs((o - exact) / exact))
        torch_error = float(abs((t - exact) / exact))
        assert our_error <= max(1e-13, torch_error), (xi, o, float(exact), t)
        assert our_error <= 1e-13, (xi, o, float(exact))


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
    (F.relu6, (X.astype(np.int64),), TypeError, "input"),
    (F.relu6_backward, (np.zeros((3, 2)), X), ValueError, "grad_output"),
    (F.hardswish, ([1, 2],), TypeError, "input"),
    (F.hardswish_backward, (np.zeros((3, 2)), X), ValueError, "grad_output"),
    (F.silu_backward, (X.astype(np.int64), X), TypeError, "grad_output"),
    (F.gelu, (X, "erf"), ValueError, "approximate='erf'"),
    (F.gelu_backward, (X, X, None), ValueError, "approximate=None"),
    (F.gelu_backward, (np.zeros((3, 2)), X, "tanh"), ValueError, "grad_output"),
])
def test_bad_arguments_are_named(fn, args, error, name):
    with pytest.raises(error, match=name):
        fn(*args)
