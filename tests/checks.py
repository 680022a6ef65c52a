"""Shared test helpers: memory layouts for inputs, and the comparison against an oracle.

Chainer's rule: test with non-contiguous inputs by default. ``with_layout`` returns a new array (or a view
of a new array) equal to ``a`` elementwise, so the code under test sees the layout but not other values.
"""

from __future__ import annotations

import numpy as np

LAYOUTS = ("contiguous", "strided", "channels_last", "transposed", "reversed")
TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}


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
    if layout == "transposed":  # column-major: every axis' stride reversed
        return np.asfortranarray(a) if a.ndim > 1 else with_layout(a, "strided")
    if layout == "reversed":  # negative strides in every dim
        flipped = np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])
        return flipped[(slice(None, None, -1),) * a.ndim]
    raise ValueError(f"unknown layout {layout!r}")


def assert_close(actual: np.ndarray, expected: np.ndarray, dtype=None, name: str = "result",
                 magnitude: np.ndarray | None = None) -> None:
    """Same shape, same dtype (``expected``'s unless given), and normwise relative error within tolerance.

    The error is ``max |actual - expected| / max |expected|`` (floored at 1e-3), at most 1e-10 in float64
    and 1e-5 in float32: elementwise relative error would punish cancellation near zero instead of a bug.
    NaN and inf must match the oracle's positions exactly. ``magnitude``, when given, is the same computation
    on absolute values (sum of |terms| per element): the scale is then at least its maximum, so a result
    that cancels to nearly zero is judged against the size of what was summed, as rounding error is.
    """
    dtype = np.dtype(expected.dtype if dtype is None else dtype)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == dtype, f"{name}: dtype {actual.dtype} != {dtype}"
    finite = np.isfinite(expected)
    if not finite.all():  # NaN and inf must sit where the oracle has them, with the same sign
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{name}: NaN positions")
        np.testing.assert_array_equal(actual[np.isinf(expected)], expected[np.isinf(expected)],
                                      err_msg=f"{name}: inf values")
        actual, expected = actual[finite], expected[finite]
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-3)
    if magnitude is not None:
        scale = max(scale, float(np.max(magnitude, initial=0.0)))
    err = float(np.max(np.abs(actual.astype(np.float64) - expected), initial=0.0)) / scale
    assert err <= TOLERANCE[dtype], f"{name}: relative error {err:.2e} > {TOLERANCE[dtype]:.0e}"
