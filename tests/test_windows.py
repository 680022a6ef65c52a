"""unfold / fold (im2col / col2im) against PyTorch, any rank, with their backward."""

from __future__ import annotations

import numpy as np
import pytest
from checks import LAYOUTS, with_layout
from oracle_torch import torch_fold, torch_unfold

import vanilla_nn.functional as F

OPTIONS = [
    dict(kernel_size=2),
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(2, 3, 1), stride=(2, 1, 3)),
    dict(kernel_size=(3, 2, 2), dilation=(2, 1, 2), padding=(2, 0, 1), stride=2),
    dict(kernel_size=(2, 2, 2), padding=((1, 0), (0, 2), (2, 1))),
]


def trim(options, ndim):
    return {key: value[:ndim] if isinstance(value, tuple) else value for key, value in options.items()}


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unfold_and_fold_match_torch(ndim, options, layout, dtype):
    options = trim(options, ndim)
    if isinstance(options["kernel_size"], int):  # give the rank through kernel_size for 1-d and 3-d
        options["kernel_size"] = (options["kernel_size"],) * ndim
    rng = np.random.default_rng(ndim)
    x = rng.standard_normal((2, 3, *(7, 6, 5)[:ndim])).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5

    columns = F.unfold(with_layout(x, layout), **options)
    gy = rng.standard_normal(columns.shape).astype(dtype)
    (grad_x,) = F.unfold_backward(with_layout(gy, layout), with_layout(x, layout), **options)
    expected, expected_grad = torch_unfold(x, grad_output=gy, **options)
    np.testing.assert_allclose(columns, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_x, expected_grad, rtol=tol, atol=tol)
    assert columns.dtype == grad_x.dtype == dtype

    image = F.fold(with_layout(gy, layout), x.shape[2:], **options)
    g_image = rng.standard_normal(image.shape).astype(dtype)
    (grad_cols,) = F.fold_backward(with_layout(g_image, layout), gy, x.shape[2:], **options)
    expected, expected_grad = torch_fold(gy, x.shape[2:], grad_output=g_image, **options)
    np.testing.assert_allclose(image, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_cols, expected_grad, rtol=tol, atol=tol)


def test_convolution_is_a_matrix_product_of_unfold():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    columns = F.unfold(x, (3, 2), padding=1, stride=2)  # (N, C*KH*KW, L)
    y = (w.reshape(4, -1) @ columns).reshape(2, 4, 3, 3)
    np.testing.assert_allclose(y, F.conv2d(x, w, padding=1, stride=2), rtol=1e-12)


def test_unbatched():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 4))
    np.testing.assert_array_equal(F.unfold(x, (2, 2)), F.unfold(x[None], (2, 2))[0])
    cols = F.unfold(x, (2, 2))
    np.testing.assert_array_equal(F.fold(cols, (5, 4), (2, 2)), F.fold(cols[None], (5, 4), (2, 2))[0])


def test_int_kernel_size_reads_ranks_as_pytorch_does():
    """An int kernel_size means a 2-d unfold, as in PyTorch: a 3-d input is one unbatched image."""
    import torch

    rng = np.random.default_rng(2)
    image = rng.standard_normal((3, 5, 6))
    expected = torch.nn.functional.unfold(torch.tensor(image), 2, padding=1).numpy()
    np.testing.assert_allclose(F.unfold(image, 2, padding=1), expected, rtol=1e-12)
    with pytest.raises(ValueError, match=r"input.shape=\(1, 2, 3, 4, 5\).*kernel_size=2"):
        F.unfold(np.zeros((1, 2, 3, 4, 5)), 2)  # 3-d needs the rank spelled out: kernel_size=(2, 2, 2)
    assert F.unfold(np.zeros((1, 2, 3, 4, 5)), 2, stride=(1, 1, 1)).shape == (1, 16, 2 * 3 * 4)
