"""Memory layouts for test inputs: the same values as a contiguous, non-contiguous or reversed array.

Chainer's rule: test with non-contiguous inputs by default. Each function returns a new array (or view of
a new array) equal to ``a`` elementwise, so the code under test sees the layout but not different values.
"""

from __future__ import annotations

import numpy as np

LAYOUTS = ("contiguous", "strided", "channels_last", "reversed")


def with_layout(a: np.ndarray, layout: str = "strided") -> np.ndarray:
    if layout == "contiguous":
        return np.ascontiguousarray(a).copy()
    if layout == "strided":  # every other element of a buffer twice as large in the last dim
        buffer = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype) if a.ndim else np.zeros(2, a.dtype)
        view = buffer[..., ::2] if a.ndim else buffer[0]
        view[...] = a
        return view
    if layout == "channels_last":  # axis 1 innermost in memory
        if a.ndim < 3:
            return np.asfortranarray(a)
        moved = np.ascontiguousarray(np.moveaxis(a, 1, -1))
        return np.moveaxis(moved, -1, 1)
    if layout == "reversed":  # negative strides in every dim
        flipped = np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])
        return flipped[(slice(None, None, -1),) * a.ndim]
    raise ValueError(f"unknown layout {layout!r}")
