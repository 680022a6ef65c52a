"""unfold (im2col) and fold (col2im) as plain loops, any number of spatial dims.

Notation: image ``(N, C, *S)``, kernel ``K``, ``T = prod(K)`` taps, blocks ``B`` per dim with
``B_i = floor((S_i + p_before + p_after - d_i * (K_i - 1) - 1) / s_i) + 1`` and ``L = prod(B)``.
Columns ``(N, C * T, L)``. With ``t`` the flat (C-order) index of tap ``k`` and ``l`` the flat (C-order)
index of block position ``b``::

    cols[n, c * T + t, l] = x_pad[n, c, b * s + k * d]        (per dim; zero padding)

``fold`` is the adjoint: it adds every column entry back to the image position it was read from, so
overlapping blocks sum. Hence ``unfold_backward`` is a fold of the gradient and ``fold_backward`` an unfold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import product
from typing import Any

import numpy as np

from vanilla_nn.functional._args import WindowSpec, check_window_grad_output, fold_spec, unfold_spec


def _entries(spec: WindowSpec) -> Iterator[tuple[int, int, tuple[int, ...]]]:
    """Yield ``(t, col, i)``: entry ``(tap t, block col)`` reads image position ``i`` (zeros skipped)."""
    for t, k in enumerate(product(*(range(size) for size in spec.kernel))):
        for col, b in enumerate(product(*(range(size) for size in spec.blocks))):
            # image coordinate per dim: i = b * s + k * d - p_before; outside [0, S) is zero padding
            i = tuple(b_i * s_i + k_i * d_i - lo for b_i, k_i, s_i, d_i, (lo, _)
                      in zip(b, k, spec.stride, spec.dilation, spec.pads, strict=True))
            if all(0 <= i_j < size for i_j, size in zip(i, spec.image_spatial, strict=True)):
                yield t, col, i


def _image_to_columns(spec: WindowSpec, image: np.ndarray) -> np.ndarray:
    """``cols[n, c * T + t, l] = image[n, c, i]`` for every entry; batched ``(N, C, *S)`` in and out."""
    taps = math.prod(spec.kernel)
    cols = np.zeros((image.shape[0], spec.channels * taps, math.prod(spec.blocks)), dtype=image.dtype)
    for n, c in product(range(image.shape[0]), range(spec.channels)):
        for t, col, i in _entries(spec):
            cols[n, c * taps + t, col] = image[(n, c) + i]
    return cols


def _columns_to_image(spec: WindowSpec, cols: np.ndarray) -> np.ndarray:
    """``image[n, c, i] += cols[n, c * T + t, l]`` for every entry (overlaps add up)."""
    taps = math.prod(spec.kernel)
    image = np.zeros((cols.shape[0], spec.channels) + spec.image_spatial, dtype=cols.dtype)
    for n, c in product(range(cols.shape[0]), range(spec.channels)):
        for t, col, i in _entries(spec):
            image[(n, c) + i] += cols[n, c * taps + t, col]
    return image


def _apply(spec: WindowSpec, loop: Callable[[WindowSpec, np.ndarray], np.ndarray], array: np.ndarray,
           dtype: np.dtype) -> np.ndarray:
    """Run ``loop`` on ``array`` with a batch axis added when unbatched; result in ``dtype``."""
    batched = array if spec.batched else array[np.newaxis]
    result = loop(spec, batched.astype(dtype, copy=False))
    return result if spec.batched else result[0]


def unfold(input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> np.ndarray:
    """Sliding blocks of ``(N, C, *S)`` as columns ``(N, C * prod(K), L)`` (PyTorch's ``unfold``)."""
    spec, x = unfold_spec("unfold", input, kernel_size, dilation, padding, stride)
    return _apply(spec, _image_to_columns, x, x.dtype)


def fold(input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> np.ndarray:
    """Sum columns ``(N, C * prod(K), L)`` into an image ``(N, C, *output_size)`` (PyTorch's ``fold``)."""
    spec, x = fold_spec("fold", input, output_size, kernel_size, dilation, padding, stride)
    return _apply(spec, _columns_to_image, x, x.dtype)


def unfold_backward(grad_output: Any, input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                    stride: Any = 1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`unfold`: every column entry's gradient goes back to the pixel it copied."""
    spec, x = unfold_spec("unfold_backward", input, kernel_size, dilation, padding, stride)
    batch = x.shape[0] if spec.batched else None
    gy = check_window_grad_output("unfold_backward", grad_output, spec.columns_shape(batch))
    gx = _apply(spec, _columns_to_image, gy, np.result_type(x, gy))
    return (gx.astype(x.dtype, copy=False),)


def fold_backward(grad_output: Any, input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1,
                  padding: Any = 0, stride: Any = 1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`fold`: each entry's gradient is that of the pixel it was added to."""
    spec, x = fold_spec("fold_backward", input, output_size, kernel_size, dilation, padding, stride)
    batch = x.shape[0] if spec.batched else None
    gy = check_window_grad_output("fold_backward", grad_output, spec.image_shape(batch))
    gx = _apply(spec, _image_to_columns, gy, np.result_type(x, gy))
    return (gx.astype(x.dtype, copy=False),)
