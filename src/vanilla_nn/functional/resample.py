"""Upsampling (and downsampling) by interpolation, PyTorch's ``interpolate`` in NumPy, with its backward.

Notation (per spatial dim): input ``(N, C, *S)``, output ``(N, C, *O)``. The output size is ``size``, or
``floor(S * scale_factor)``. Every mode is separable: one 1-d resampling per spatial dim, applied along its
axis (the last dim first, as PyTorch's kernels nest them), so 1-d, 2-d and 3-d are the same code.

``nearest`` (any rank): ``y[o] = x[i(o)]`` with ``i(o) = min(floor(o * r), S - 1)``, computed in float32 as
PyTorch does, where ``r = 1 / scale_factor`` when a scale factor was given (and not recomputed), else
``S / O``. In 2-d, ``O == S`` and ``O == 2S`` are exact copies and ``o >> 1`` whatever the scale factor (PyTorch's
2-d kernel); in 1-d and 3-d PyTorch's forward applies the formula there too (``S = 5, scale_factor = 1.05``
gives cells ``0, 0, 1, 2, 3``), and so do we. PyTorch's backward takes the shortcuts in every rank, so in
those 1-d/3-d cases its gradient is not the adjoint of its forward; ours is.

``linear`` / ``bilinear`` / ``trilinear`` (1-d / 2-d / 3-d): ``y[o] = (1 - l) x[i0] + l x[i1]`` with the
source coordinate ``c = r * o`` (``align_corners=True``, ``r = (S - 1) / (O - 1)``) or
``c = max(r * (o + 1/2) - 1/2, 0)`` (``align_corners=False``, ``r`` as for nearest),
``i0 = min(floor(c), S - 1)``, ``i1 = min(i0 + 1, S - 1)``, ``l = clip(c - i0, 0, 1)``.

Backward: the transpose of each 1-d resampling, in reverse order. The source indices never decrease
along the output, so each input cell's gradient is one contiguous run of output cells, summed by
``np.add.reduceat``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._args import _is_int, as_float_array, check_bool, check_grad_output_shape

__all__ = ["interpolate", "interpolate_backward", "upsample", "upsample_backward", "MODES"]

# mode -> the spatial rank it needs (None: any)
MODES: dict[str, int | None] = {"nearest": None, "linear": 1, "bilinear": 2, "trilinear": 3}


@dataclass(frozen=True)
class InterpolateSpec:
    """One interpolation: mode, sizes per spatial dim, the scale factor each dim uses (None: ``S / O``)."""

    mode: str
    align_corners: bool
    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]
    scales: tuple[float | None, ...]


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _per_dim(op: str, name: str, value: Any, ndim: int, check: Any, kind: str) -> tuple:
    if check(value):
        return (value,) * ndim
    if isinstance(value, (tuple, list)) and all(check(v) for v in value):
        if len(value) != ndim:
            raise ValueError(f"{op}: {name}={value!r} must have {ndim} entries, one per spatial dim of the "
                             f"input (N, C, {ndim} spatial)")
        return tuple(value)
    raise TypeError(f"{op}: {name}={value!r} must be {kind} or a tuple of {ndim}")


def interpolate_spec(op: str, input: Any, size: Any, scale_factor: Any, mode: Any, align_corners: Any,
                     recompute_scale_factor: Any, antialias: Any) -> tuple[InterpolateSpec, np.ndarray]:
    """Validate an interpolation's arguments as PyTorch does; return its spec and the input."""
    x = as_float_array(input, "input")
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{op}: mode={mode!r} must be one of {sorted(MODES)}")
    if x.ndim < 3:
        raise ValueError(f"{op}: input must be (N, C, *spatial) with at least one spatial dim, got "
                         f"input.shape={tuple(x.shape)}")
    ndim = x.ndim - 2
    needed = MODES[mode]
    if needed is not None and needed != ndim:
        raise ValueError(f"{op}: mode={mode!r} needs {needed + 2}-d input (N, C, {needed} spatial), got "
                         f"input.shape={tuple(x.shape)}")
    if any(s < 1 for s in x.shape[2:]):
        raise ValueError(f"{op}: input's spatial dims must be non-empty, got input.shape={tuple(x.shape)}")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(f"{op}: align_corners={align_corners!r} can only be set with mode 'linear', "
                             f"'bilinear' or 'trilinear' (mode={mode!r})")
        corners = False
    else:
        corners = False if align_corners is None else check_bool(align_corners, "align_corners")
    if check_bool(antialias, "antialias"):
        raise ValueError(f"{op}: antialias=True is not supported (PyTorch has it only for bilinear and "
                         f"bicubic downsampling)")
    recompute = None if recompute_scale_factor is None else check_bool(recompute_scale_factor,
                                                                        "recompute_scale_factor")
    spatial = tuple(x.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: give only one of size={size!r} and scale_factor={scale_factor!r}")
    if size is not None:
        if recompute:
            raise ValueError(f"{op}: recompute_scale_factor=True is not meaningful with an explicit "
                             f"size={size!r}")
        out = tuple(int(v) for v in _per_dim(op, "size", size, ndim, _is_int, "an int"))
        if any(v < 1 for v in out):
            raise ValueError(f"{op}: size={size!r} must be >= 1 in every dim")
        scales: tuple[float | None, ...] = (None,) * ndim
    elif scale_factor is not None:
        factors = tuple(float(v) for v in _per_dim(op, "scale_factor", scale_factor, ndim, _is_real, "a number"))
        if not all(np.isfinite(f) and f > 0 for f in factors):
            raise ValueError(f"{op}: scale_factor={scale_factor!r} must be positive and finite")
        out = tuple(int(s * f) for s, f in zip(spatial, factors))
        if any(v < 1 for v in out):
            raise ValueError(f"{op}: scale_factor={scale_factor!r} gives an empty output {out} for "
                             f"input.shape={tuple(x.shape)}")
        scales = (None,) * ndim if recompute else factors
    else:
        raise ValueError(f"{op}: either size or scale_factor must be given (both are None)")
    return InterpolateSpec(mode, corners, spatial, out, scales), x


def _ratio(size: int, out: int, scale: float | None, dtype: Any) -> Any:
    """PyTorch's ``compute_scales_value``: ``1 / scale_factor`` when given, else ``S / O``, in ``dtype``."""
    if scale is not None and scale > 0:
        return dtype(1.0 / scale)
    return dtype(size) / dtype(out)


def nearest_source(size: int, out: int, scale: float | None, shortcuts: bool = True) -> np.ndarray:
    """``(O,)`` source cell of each output cell, PyTorch's ``nearest`` rule (float32 arithmetic).

    ``shortcuts``: ``O == S`` copies and ``O == 2S`` takes ``o >> 1`` whatever the scale factor, as PyTorch's
    2-d forward does; its 1-d and 3-d forwards apply the formula even there.
    """
    o = np.arange(out)
    if shortcuts and out == size:
        return o
    if shortcuts and out == 2 * size:
        return o >> 1
    ratio = _ratio(size, out, scale, np.float32)
    return np.minimum(np.floor(o.astype(np.float32) * ratio).astype(np.int64), size - 1)


def linear_source(size: int, out: int, scale: float | None, align_corners: bool,
                  dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(i0, i1, w0, w1)``, each ``(O,)``: ``y[o] = w0[o] x[i0[o]] + w1[o] x[i1[o]]`` (weights in ``dtype``)."""
    t = np.dtype(dtype).type
    o = np.arange(out)
    if out == size:
        return o, o, np.ones(out, dtype), np.zeros(out, dtype)
    if align_corners:
        ratio = t(size - 1) / t(out - 1) if out > 1 else t(0)
        real = ratio * o.astype(dtype)
    else:
        ratio = _ratio(size, out, scale, t)
        real = np.maximum(ratio * (o.astype(dtype) + t(0.5)) - t(0.5), t(0))
    # PyTorch floors the coordinate as a float (floorf) whatever the dtype
    i0 = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), size - 1)
    w1 = np.clip(real - i0.astype(dtype), t(0), t(1)).astype(dtype)
    i1 = i0 + (i0 < size - 1)
    return i0, i1, (t(1) - w1).astype(dtype), w1


def _weights_along(w: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = w.size
    return w.reshape(shape)


def _gather_sum(x: np.ndarray, taps: list[tuple[np.ndarray, np.ndarray | None]], axis: int) -> np.ndarray:
    """``sum_t w_t * take(x, i_t, axis)`` (no weight: a plain copy)."""
    result = None
    for index, weight in taps:
        part = np.take(x, index, axis=axis)
        if weight is not None:
            part = part * _weights_along(weight, axis, x.ndim)
        result = part if result is None else result + part
    return result


def _scatter_sum(g: np.ndarray, taps: list[tuple[np.ndarray, np.ndarray | None]], axis: int,
                 size: int) -> np.ndarray:
    """The transpose of :func:`_gather_sum`: each ``g`` entry, weighted, added at its (non-decreasing) source."""
    shape = list(g.shape)
    shape[axis] = size
    result = np.zeros(shape, dtype=g.dtype)
    for index, weight in taps:
        part = g if weight is None else g * _weights_along(weight, axis, g.ndim)
        starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
        sums = np.add.reduceat(part, starts, axis=axis) if part.size else np.zeros(
            shape[:axis] + [starts.size] + shape[axis + 1:], g.dtype)
        target = [slice(None)] * g.ndim
        target[axis] = index[starts]
        result[tuple(target)] += sums
    return result


def _taps(spec: InterpolateSpec, axis: int, dtype: np.dtype) -> list[tuple[np.ndarray, np.ndarray | None]]:
    size, out, scale = spec.in_spatial[axis], spec.out_spatial[axis], spec.scales[axis]
    if spec.mode == "nearest":
        return [(nearest_source(size, out, scale, shortcuts=len(spec.in_spatial) == 2), None)]
    i0, i1, w0, w1 = linear_source(size, out, scale, spec.align_corners, dtype)
    return [(i0, w0), (i1, w1)]


def _interpolate(op: str, input: Any, size: Any, scale_factor: Any, mode: Any, align_corners: Any,
                 recompute_scale_factor: Any, antialias: Any) -> np.ndarray:
    spec, x = interpolate_spec(op, input, size, scale_factor, mode, align_corners, recompute_scale_factor,
                               antialias)
    y = x
    for axis in reversed(range(len(spec.in_spatial))):
        y = _gather_sum(y, _taps(spec, axis, x.dtype), 2 + axis)
    return y  # np.take made a fresh array for every dim


def _interpolate_backward(op: str, grad_output: Any, input: Any, size: Any, scale_factor: Any, mode: Any,
                          align_corners: Any, recompute_scale_factor: Any, antialias: Any) -> tuple[np.ndarray]:
    spec, x = interpolate_spec(op, input, size, scale_factor, mode, align_corners, recompute_scale_factor,
                               antialias)
    g = check_grad_output_shape(op, grad_output, x.shape[:2] + spec.out_spatial).astype(x.dtype, copy=False)
    for axis in range(len(spec.in_spatial)):
        g = _scatter_sum(g, _taps(spec, axis, x.dtype), 2 + axis, spec.in_spatial[axis])
    return (g,)  # a fresh array: every dim scattered into new zeros


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Resample ``(N, C, *S)`` to ``(N, C, *O)``, PyTorch's ``torch.nn.functional.interpolate`` in NumPy.

    Args:
        input: ``(N, C, *S)``, float32 or float64; the rank is ``input.ndim - 2`` (always batched).
        size: int or one int per spatial dim: the output size.
        scale_factor: number or one per dim: ``O = floor(S * scale_factor)`` (give ``size`` or this).
        mode: ``"nearest"`` (any rank), ``"linear"`` (1-d), ``"bilinear"`` (2-d) or ``"trilinear"`` (3-d).
        align_corners: linear modes only (None means False): True maps the corner cells' centres onto each
            other, ``c = o (S - 1) / (O - 1)``; False maps the corners of the cells, ``c = (o + 1/2) r - 1/2``.
        recompute_scale_factor: None/False: the index computation uses ``1 / scale_factor`` as given; True:
            it uses ``S / O`` of the computed output size (as with ``size``).
        antialias: must be False (not implemented).

    Returns:
        ``(N, C, *O)`` in the input's dtype (see the module notes for the exact index rules).

    Raises:
        TypeError: ``input`` is not a float32/float64 array, ``size`` not ints, ``scale_factor`` not
            numbers, or ``align_corners``/``recompute_scale_factor``/``antialias`` not a bool.
        ValueError: an unknown ``mode`` or one for another rank, both or neither of ``size`` and
            ``scale_factor``, a wrong number of entries, an empty output or input, ``align_corners`` with
            ``nearest``, ``recompute_scale_factor=True`` with ``size``, or ``antialias=True``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[[1.0, 2.0, 4.0]]])
        >>> F.interpolate(x, scale_factor=2)
        array([[[1., 1., 2., 2., 4., 4.]]])
        >>> F.interpolate(x, size=5, mode="linear", align_corners=True)
        array([[[1. , 1.5, 2. , 3. , 4. ]]])
        >>> F.interpolate(np.ones((2, 3, 4, 5)), scale_factor=(1.5, 0.5), mode="bilinear").shape
        (2, 3, 6, 2)
    """
    return _interpolate("interpolate", input, size, scale_factor, mode, align_corners, recompute_scale_factor,
                        antialias)


def interpolate_backward(grad_output, input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                         recompute_scale_factor=None, antialias=False):
    """``(grad_input,)`` of :func:`interpolate`: each output cell's gradient goes back to the input cells it
    was read from, with the same weights (nearest: all of it to its one source cell).

    Raises:
        TypeError, ValueError: as :func:`interpolate`, and when ``grad_output`` is not a float array of the
            output's shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.interpolate_backward(np.ones((1, 1, 6)), np.zeros((1, 1, 3)), scale_factor=2)
        (array([[[2., 2., 2.]]]),)
    """
    return _interpolate_backward("interpolate", grad_output, input, size, scale_factor, mode, align_corners,
                                 recompute_scale_factor, antialias)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """PyTorch's ``torch.nn.functional.upsample`` (deprecated there): :func:`interpolate` with these arguments.

    Raises:
        TypeError, ValueError: as :func:`interpolate`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.upsample(np.ones((1, 2, 3, 3)), scale_factor=2).shape
        (1, 2, 6, 6)
    """
    return _interpolate("upsample", input, size, scale_factor, mode, align_corners, None, False)


def upsample_backward(grad_output, input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``(grad_input,)`` of :func:`upsample`; see :func:`interpolate_backward`.

    Raises:
        TypeError, ValueError: as :func:`interpolate_backward`.
    """
    return _interpolate_backward("upsample", grad_output, input, size, scale_factor, mode, align_corners, None,
                                 False)
