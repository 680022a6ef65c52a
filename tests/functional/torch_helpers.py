"""PyTorch-oracle helpers for the functional tests (nothing here imports vanilla_nn.functional).

One implementation each, shared with the rest of the suite and the product:

- ``torch_forward_backward`` / ``to_torch``: the product's PyTorch adapter
  (``vanilla_nn.oracles.torch_oracle.forward_backward`` / ``as_tensor``): a torch function on copies of NumPy
  arrays, its output and the autograd gradients for a given ``grad_output``;
- ``assert_close`` and the non-contiguous layout: the suite's ``tests/checks.py`` (normwise relative error
  within 1e-10 in float64 and 1e-5 in float32, dtype and shape equal, NaN/inf where the oracle has them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from checks import assert_close, with_layout

from vanilla_nn.oracles.torch_oracle import as_tensor as to_torch
from vanilla_nn.oracles.torch_oracle import forward_backward

__all__ = ["assert_close", "noncontiguous", "random", "to_torch", "torch_forward_backward"]


def noncontiguous(array: np.ndarray) -> np.ndarray:
    """The same values in a non-contiguous view (every other element of a twice-as-long last axis)."""
    view = with_layout(np.asarray(array), "strided")
    assert not view.flags.c_contiguous or view.size <= 1
    return view


def random(rng: np.random.Generator, shape: Sequence[int], dtype=np.float64, *, contiguous: bool = False):
    array = rng.standard_normal(shape).astype(dtype)
    return array if contiguous else noncontiguous(array)


def torch_forward_backward(fn: Callable, arrays: Sequence[np.ndarray | None], grad_output: np.ndarray | None = None):
    """``(output, [grad per array])`` of ``fn(*tensors)``; grads are None for None/non-float arrays."""
    output, grads = forward_backward(fn, arrays, grad_output)
    return output, [None] * len(arrays) if grads is None else grads
