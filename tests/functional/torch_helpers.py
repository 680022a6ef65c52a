"""Small PyTorch-oracle helpers for the functional tests (nothing here imports vanilla_nn).

``torch_forward_backward`` runs a torch function on copies of NumPy arrays and returns its output and the
autograd gradients for a given ``grad_output``; ``assert_close`` compares with the tolerance for the dtype
(float64 ~1e-10 relative, float32 ~1e-5) and checks the dtype; ``noncontiguous`` gives a strided copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}


def noncontiguous(array: np.ndarray) -> np.ndarray:
    """The same values in a non-contiguous view (every other element of a twice-as-long last axis)."""
    array = np.asarray(array)
    if array.ndim == 0:
        return array.copy()
    base = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
    base[..., ::2] = array
    view = base[..., ::2]
    assert not view.flags.c_contiguous or array.size <= 1
    return view


def random(rng: np.random.Generator, shape: Sequence[int], dtype=np.float64, *, contiguous: bool = False):
    array = rng.standard_normal(shape).astype(dtype)
    return array if contiguous else noncontiguous(array)


def to_torch(array: np.ndarray | None, requires_grad: bool = True) -> torch.Tensor | None:
    if array is None:
        return None
    tensor = torch.from_numpy(np.array(array, copy=True))
    return tensor.requires_grad_(requires_grad and tensor.is_floating_point())


def torch_forward_backward(fn: Callable[..., torch.Tensor], arrays: Sequence[np.ndarray | None],
                           grad_output: np.ndarray | None = None):
    """``(output, [grad per array])`` of ``fn(*tensors)``; grads are None for None/non-float arrays."""
    tensors = [to_torch(a) for a in arrays]
    out = fn(*tensors)
    grads: list[np.ndarray | None] = [None] * len(arrays)
    if grad_output is not None:
        leaves = [t for t in tensors if t is not None and t.requires_grad]
        computed = torch.autograd.grad(out, leaves, to_torch(grad_output, False), allow_unused=True)
        it = iter(computed)
        for i, t in enumerate(tensors):
            if t is not None and t.requires_grad:
                g = next(it)
                grads[i] = None if g is None else g.detach().numpy()
    return out.detach().numpy(), grads


def assert_close(actual: np.ndarray, expected: np.ndarray, dtype=None) -> None:
    """Equal shape and dtype, values within the dtype's relative tolerance (scaled by the largest value)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    dtype = np.dtype(dtype if dtype is not None else expected.dtype)
    assert actual.dtype == dtype, f"dtype {actual.dtype} != {dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    rtol = RTOL[dtype]
    finite = np.isfinite(expected)
    scale = float(np.max(np.abs(expected[finite]), initial=1.0))
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected))
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=rtol * scale)
