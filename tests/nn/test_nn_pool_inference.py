"""Max pooling layers under ``no_grad()``: the maxima alone (no argmax kept), equal to PyTorch's, NaN included."""

from __future__ import annotations

import numpy as np
import pytest

import vanilla_nn as vn
from vanilla_nn import nn

from .nn_helpers import DTYPES, assert_close, noncontiguous, random_input

torch = pytest.importorskip("torch")

CASES = [  # (rank, input shape, kernel, stride, padding, dilation, ceil_mode)
    (2, (2, 3, 9, 8), 3, 2, 1, 1, False),
    (2, (2, 3, 9, 8), (2, 3), (2, 1), (1, 0), (2, 1), True),
    (2, (3, 7, 7), 2, 2, 0, 1, True),  # unbatched
    (1, (2, 3, 11), 3, 2, 1, 2, True),
    (3, (2, 2, 5, 6, 7), 2, (1, 2, 2), (1, 0, 1), 1, False),
]


@pytest.mark.parametrize("layout", ["strided", "channels_last"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("ndim", "shape", "kernel", "stride", "padding", "dilation", "ceil_mode"), CASES)
def test_max_pool_layer_without_gradients(ndim, shape, kernel, stride, padding, dilation, ceil_mode, dtype, layout):
    x = random_input(shape, dtype, seed=3)
    rng = np.random.default_rng(4)
    x[rng.random(shape) < 0.2] = -np.inf
    x[rng.random(shape) < 0.05] = np.nan
    if layout == "channels_last":  # as a convolution hands it over
        x_in = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, -ndim - 1, -1)), -1, -ndim - 1)
    else:
        x_in = noncontiguous(x)
    args = (kernel, stride, padding, dilation)
    layer = getattr(nn, f"MaxPool{ndim}d")(*args, ceil_mode=ceil_mode)
    theirs = getattr(torch.nn, f"MaxPool{ndim}d")(*args, ceil_mode=ceil_mode)
    with vn.no_grad():
        y = layer(x_in)
        y_indices, indices = getattr(nn, f"MaxPool{ndim}d")(*args, return_indices=True, ceil_mode=ceil_mode)(x_in)
    expected, expected_indices = torch.nn.functional.__dict__[f"max_pool{ndim}d"](
        torch.from_numpy(x), *args, ceil_mode=ceil_mode, return_indices=True)
    assert_close(y, expected.numpy(), dtype, "maxima")
    assert_close(y_indices, expected.numpy(), dtype, "maxima with indices")
    np.testing.assert_array_equal(indices, expected_indices.numpy())
    assert_close(layer(x_in), theirs(torch.from_numpy(x)).numpy(), dtype, "with gradients")  # the argmax path
    with vn.no_grad():
        layer(x_in)
    with pytest.raises(RuntimeError, match="before a forward"):  # nothing kept without gradients
        layer.backward(np.ones_like(y))
