"""Conv1d/2d/3d, ConvTranspose1d/2d/3d and Linear against torch.nn with the same weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vanilla_nn.nn as nn

from .nn_helpers import assert_close, noncontiguous, run_against_torch

torch = pytest.importorskip("torch")

CONV_CASES = [
    # ndim, in, out, kernel, options
    (1, 3, 4, 3, {}),
    (1, 4, 6, 2, dict(stride=2, padding=1, dilation=2, groups=2)),
    (1, 2, 3, 3, dict(padding="same", padding_mode="reflect", bias=False)),
    (2, 3, 4, 3, {}),
    (2, 4, 4, (3, 2), dict(stride=(2, 1), padding=(1, 0), groups=4)),
    (2, 2, 3, 3, dict(padding=2, dilation=2, padding_mode="circular")),
    (2, 2, 3, 3, dict(padding=1, padding_mode="replicate", bias=False)),
    (2, 3, 2, 3, dict(padding="valid")),
    (3, 2, 3, 2, dict(stride=(1, 2, 1), padding=1)),
]


def _input(shape, dtype, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(("ndim", "c_in", "c_out", "kernel", "options"), CONV_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_matches_torch(ndim, c_in, c_out, kernel, options, dtype):
    ours = getattr(nn, f"Conv{ndim}d")(c_in, c_out, kernel, dtype=dtype, rng=0, **options)
    theirs = getattr(torch.nn, f"Conv{ndim}d")(c_in, c_out, kernel, **options).to(torch.float64 if dtype ==
                                                                                    np.float64 else torch.float32)
    spatial = (7, 6, 5)[:ndim]
    run_against_torch(torch, ours, theirs, _input((2, c_in, *spatial), dtype))


TRANSPOSE_CASES = [
    (1, 3, 4, 3, {}),
    (1, 4, 2, 3, dict(stride=2, padding=1, output_padding=1, groups=2)),
    (2, 3, 4, 3, dict(stride=2, bias=False)),
    (2, 2, 4, (2, 3), dict(stride=(2, 3), padding=(0, 1), output_padding=(1, 2), dilation=1)),
    (2, 2, 2, 3, dict(dilation=2, padding=1)),
    (3, 2, 3, 2, dict(stride=2)),
]


@pytest.mark.parametrize(("ndim", "c_in", "c_out", "kernel", "options"), TRANSPOSE_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_transpose_matches_torch(ndim, c_in, c_out, kernel, options, dtype):
    ours = getattr(nn, f"ConvTranspose{ndim}d")(c_in, c_out, kernel, dtype=dtype, rng=0, **options)
    theirs = getattr(torch.nn, f"ConvTranspose{ndim}d")(c_in, c_out, kernel, **options).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    spatial = (5, 4, 3)[:ndim]
    run_against_torch(torch, ours, theirs, _input((2, c_in, *spatial), dtype))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 6), (2, 3, 6)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_matches_torch(bias, shape, dtype):
    ours = nn.Linear(6, 4, bias=bias, dtype=dtype, rng=0)
    theirs = torch.nn.Linear(6, 4, bias=bias).to(torch.float64 if dtype == np.float64 else torch.float32)
    run_against_torch(torch, ours, theirs, _input(shape, dtype))


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda **k: nn.Conv2d(20, 30, 3, **k), lambda: torch.nn.Conv2d(20, 30, 3)),
    (lambda **k: nn.Conv1d(8, 30, 5, groups=2, **k), lambda: torch.nn.Conv1d(8, 30, 5, groups=2)),
    (lambda **k: nn.ConvTranspose2d(16, 30, 3, **k), lambda: torch.nn.ConvTranspose2d(16, 30, 3)),
    (lambda **k: nn.Linear(300, 200, **k), lambda: torch.nn.Linear(300, 200)),
])
def test_default_init_has_torchs_distribution(ours, theirs):
    """Same bound (max |w| and |b|) and the std of a uniform distribution on it, as torch's defaults."""
    layer = ours(rng=np.random.default_rng(0))
    torch.manual_seed(0)
    reference = theirs()
    for name, param in layer.named_parameters():
        values = param.data.ravel().astype(np.float64)
        theirs_values = dict(reference.named_parameters())[name].detach().numpy().ravel().astype(np.float64)
        assert param.dtype == np.float32
        fan_in = nn.init.calculate_fan_in_and_fan_out(layer.weight)[0]
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(values).max() <= bound and np.abs(theirs_values).max() <= bound
        assert np.abs(values).max() > 0.9 * bound
        if values.size > 1000:
            assert abs(values.std() - bound / math.sqrt(3)) < 0.05 * bound
            assert abs(values.std() - theirs_values.std()) < 0.05 * bound


def test_seeded_init_is_reproducible():
    first = nn.Conv2d(3, 4, 3, rng=5).state_dict()
    second = nn.Conv2d(3, 4, 3, rng=np.random.default_rng(5)).state_dict()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    nn.manual_seed(9)
    a = nn.Linear(4, 4).weight.data.copy()
    nn.manual_seed(9)
    np.testing.assert_array_equal(nn.Linear(4, 4).weight.data, a)
    assert not np.array_equal(nn.Linear(4, 4).weight.data, a)


def test_backward_accumulates_and_zero_grad_clears():
    layer = nn.Conv2d(2, 3, 3, dtype=np.float64, rng=0)
    x = noncontiguous(np.random.default_rng(0).standard_normal((2, 2, 5, 5)))
    y = layer(x)
    gy = np.ones_like(y)
    layer.backward(gy)
    once = layer.weight.grad.copy()
    layer.backward(gy)
    assert_close(layer.weight.grad, 2 * once, np.float64, "accumulated")
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_float32_layer_keeps_float32():
    layer = nn.Conv2d(2, 3, 3, rng=0)
    y = layer(np.zeros((1, 2, 4, 4), np.float32))
    assert y.dtype == np.float32
    gx = layer.backward(np.ones_like(y))
    assert gx.dtype == np.float32 and layer.weight.grad.dtype == np.float32


@pytest.mark.parametrize(("make", "exc", "word"), [
    (lambda: nn.Conv2d(3, 4, 0), ValueError, "kernel_size"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, "in_channels=3"),
    (lambda: nn.Conv2d(4, 3, 3, groups=2), ValueError, "out_channels=3"),
    (lambda: nn.Conv2d(0, 4, 3), ValueError, "in_channels"),
    (lambda: nn.Conv2d(3, 4, 3, stride=0), ValueError, "stride"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError, "padding_mode"),
    (lambda: nn.Conv2d(3, 4, 3, dtype=np.int32), TypeError, "dtype"),
    (lambda: nn.Conv2d(3, 4, (3, 3, 3)), ValueError, "kernel_size"),
    (lambda: nn.Conv2d(3, 4, 3, rng="seed"), TypeError, "rng"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding="same"), ValueError, "padding"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, output_padding=-1), ValueError, "output_padding"),
    (lambda: nn.Linear(0, 3), ValueError, "in_features"),
    (lambda: nn.Linear(3, 2.5), TypeError, "out_features"),
])
def test_bad_constructor_arguments(make, exc, word):
    with pytest.raises(exc) as info:
        make()
    assert word in str(info.value)


def test_bad_forward_input_and_early_backward():
    layer = nn.Conv2d(3, 4, 3, rng=0)
    with pytest.raises(RuntimeError, match="before a forward"):
        layer.backward(np.zeros((1, 4, 2, 2), np.float32))
    with pytest.raises(ValueError, match="channels"):
        layer(np.zeros((1, 2, 5, 5), np.float32))
    with pytest.raises(TypeError, match="input"):
        layer(np.zeros((1, 3, 5, 5), np.int64))
