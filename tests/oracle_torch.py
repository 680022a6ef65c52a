"""PyTorch as the oracle for the convolution and window tests, in the call shapes these tests use.

Thin wrappers over the product's PyTorch adapter (``vanilla_nn.oracles.torch_oracle``, the same code that
``vanilla-nn verify`` trusts), so the suite and the product share one translation of vanilla_nn's options
into PyTorch: padding strings, per-dim ints, ``(before, after)`` pairs (``F.pad`` then the op, or the full
transposed output then a crop), ``padding_mode``, and unfold/fold of any rank (3-d through one-hot grouped
convolutions). The adapter never imports ``vanilla_nn.functional``, so the oracle stays independent of the
code under test. What lives here is only the tests' convention: arrays of mixed precision are computed in
NumPy's promoted dtype and each gradient comes back in its own argument's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vanilla_nn.oracles import get_oracle
from vanilla_nn.oracles.base import conv_pad_pairs

_TORCH = get_oracle("torch")


def explicit_pads(padding: Any, spatial: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                  dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    """(before, after) per dim for any vanilla_nn padding; 'same' by TF's SAME rule (PyTorch's at s=1)."""
    return list(conv_pad_pairs(padding, spatial, kernel, stride, dilation))


def _run(op: str, arrays: Sequence[np.ndarray | None], options: dict[str, Any],
         grad_output: np.ndarray | None) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """PyTorch's output (promoted dtype) and gradients (each in its argument's dtype; None without
    ``grad_output`` or for a None argument)."""
    dtype = np.result_type(*[a for a in arrays if a is not None])
    promoted = [None if a is None else np.asarray(a, dtype) for a in arrays]
    gy = None if grad_output is None else np.asarray(grad_output, dtype)
    result = _TORCH.run(op, promoted, options, gy)
    if result.grads is None:
        return result.output, [None] * len(arrays)
    return result.output, [None if a is None else g.astype(np.asarray(a).dtype)
                           for a, g in zip(arrays, result.grads, strict=True)]


def torch_conv(op: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
               grad_output: np.ndarray | None = None, **options: Any
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(y, grad_x, grad_w, grad_b)`` of ``op`` in {conv1d..3d, conv_transpose1d..3d} by PyTorch.

    Computes in NumPy's promoted dtype of the inputs; ``y`` in that dtype, each gradient in its argument's
    dtype; gradients are None without ``grad_output`` (and ``grad_b`` without ``b``). Accepts unbatched input.
    """
    y, grads = _run(op, [x, w, b], options, grad_output)
    return (y, *grads)


def torch_unfold(x: np.ndarray, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1,
                 grad_output: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(columns, grad_x)`` of unfold by PyTorch, any rank (``F.unfold`` in 1-d/2-d, a grouped conv3d with
    one-hot kernels in 3-d), batched or not."""
    options = dict(kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    y, (grad,) = _run("unfold", [x], options, grad_output)
    return y, grad


def torch_fold(x: np.ndarray, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
               stride: Any = 1, grad_output: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(image, grad_x)`` of fold by PyTorch, any rank (``F.fold`` in 1-d/2-d, a grouped conv_transpose3d
    with one-hot kernels in 3-d), batched or not."""
    options = dict(output_size=output_size, kernel_size=kernel_size, dilation=dilation, padding=padding,
                   stride=stride)
    y, (grad,) = _run("fold", [x], options, grad_output)
    return y, grad


__all__ = ["explicit_pads", "torch_conv", "torch_fold", "torch_unfold"]
