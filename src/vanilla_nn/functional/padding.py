"""Spatial padding of ``(N, C, *S)`` arrays in PyTorch's four modes, and its adjoint.

``zeros`` adds zeros; ``reflect`` mirrors without repeating the edge (``x[1], x[0] | x[0], x[1], ...``
gives ``x[1] | x[0] ...``); ``replicate`` repeats the edge; ``circular`` wraps around. Each is a linear map
acting on one spatial axis at a time, so its adjoint (the backward) is the per-axis adjoint: the gradient
of the interior plus the gradients of the padded cells added back to the cells they were copied from.
"""

from __future__ import annotations

import numpy as np

from ._args import Pads

_NUMPY_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_spatial(x: np.ndarray, pads: Pads, mode: str = "zeros") -> np.ndarray:
    """Pad the trailing ``len(pads)`` axes of ``x`` by ``(before, after)`` each; returns ``x`` itself if no pad."""
    if not any(lo or hi for lo, hi in pads):
        return x
    widths = [(0, 0)] * (x.ndim - len(pads)) + [tuple(p) for p in pads]
    return np.pad(x, widths, mode=_NUMPY_MODES[mode])


def pad_spatial_backward(grad: np.ndarray, pads: Pads, mode: str = "zeros") -> np.ndarray:
    """Adjoint of :func:`pad_spatial`: the gradient with respect to the unpadded input."""
    first = grad.ndim - len(pads)
    if mode == "zeros":
        return grad[(Ellipsis, *(slice(lo, grad.shape[first + i] - hi) for i, (lo, hi) in enumerate(pads)))]
    for i, (lo, hi) in enumerate(pads):
        if not (lo or hi):
            continue
        axis = first + i
        g = np.moveaxis(grad, axis, 0)
        size = g.shape[0] - lo - hi
        before, after = g[:lo], g[lo + size:]
        inner = g[lo:lo + size].copy()
        if mode == "reflect":  # pad cell j < lo copies x[lo - j]; cell lo + size + j copies x[size - 2 - j]
            inner[1:lo + 1] += before[::-1]
            inner[size - 1 - hi:size - 1] += after[::-1]
        elif mode == "replicate":  # every pad cell copies the edge
            inner[0] += before.sum(axis=0)
            inner[size - 1] += after.sum(axis=0)
        else:  # circular: cell j < lo copies x[size - lo + j]; cell lo + size + j copies x[j]
            inner[size - lo:] += before
            inner[:hi] += after
        grad = np.moveaxis(inner, 0, axis)
    return grad
