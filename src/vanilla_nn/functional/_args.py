"""Argument normalisation and validation shared by the fast path and the loop reference.

Every public op calls one of the ``*_spec`` functions first. They check every argument, raise a
``ValueError``/``TypeError`` that names the argument, its value and the shapes involved, and return a frozen
spec with everything normalised to one tuple entry per spatial dimension. No array work happens before
the checks pass.

Notation: ``d`` spatial dims; input ``(N, C_in, *S)``; conv weight ``(C_out, C_in / groups, *K)``;
transposed-conv weight ``(C_in, C_out / groups, *K)``; output ``(N, C_out, *O)``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

Pads = tuple[tuple[int, int], ...]

# The largest value any size argument (kernel_size, stride, padding, dilation, output_size, output_padding,
# groups) may take. Larger ones cannot describe an array that fits in memory; past 2**63 they would not even
# fit NumPy's index type. Checked first, so a huge int is a ValueError naming the argument, never an
# OverflowError or MemoryError from deep inside NumPy.
MAX_SIZE = 2**31 - 1
_MAX_BYTES = np.iinfo(np.intp).max


def check_max(value: Any, name: str, items: tuple[int, ...] | int) -> None:
    """``ValueError`` naming ``name`` when any of ``items`` exceeds :data:`MAX_SIZE`."""
    values = (items,) if isinstance(items, int) else items
    if any(v > MAX_SIZE for v in values):
        raise ValueError(f"{name}={value!r} is too large: each entry must be at most {MAX_SIZE:,} (2**31 - 1)")


def check_array_size(op: str, what: str, shape: tuple[int, ...], itemsize: int, arguments: str) -> None:
    """``ValueError`` when an array of ``shape`` could not even be indexed by NumPy (more than 2**63 bytes).

    ``arguments`` names the arguments (and their values) that made it that large.
    """
    count = math.prod(shape)
    if count * itemsize > _MAX_BYTES:
        raise ValueError(f"{op}: {arguments} make the {what} {tuple(shape)} ({count:.3g} elements), more than "
                         f"NumPy can address")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def ntuple(value: Any, n: int, name: str, *, minimum: int = 0) -> tuple[int, ...]:
    """Return ``value`` as ``n`` ints, each ``>= minimum``: an int is repeated, a sequence must have length n."""
    if _is_int(value):
        items = (int(value),) * n
    elif isinstance(value, (tuple, list)) and all(_is_int(v) for v in value):
        if len(value) != n:
            raise ValueError(f"{name}={value!r} must have {n} entries, one per spatial dimension, "
                             f"not {len(value)}")
        items = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{name}={value!r} must be an int or a tuple of {n} ints")
    if any(v < minimum for v in items):
        raise ValueError(f"{name}={value!r} must be >= {minimum} in every dimension")
    check_max(value, name, items)
    return items


def as_float_array(value: Any, name: str) -> np.ndarray:
    """Return ``value`` as an ndarray of float32 or float64 without copying; anything else is a TypeError."""
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} has dtype {array.dtype}; vanilla_nn computes in float32 or float64 only "
                        f"- convert it first, e.g. {name}.astype(np.float64)")
    return array


def result_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """The dtype NumPy's promotion gives to the arrays that are not None."""
    return np.result_type(*[a for a in arrays if a is not None])


def normalize_pads(padding: Any, n: int, name: str = "padding") -> Pads:
    """Pads as one ``(before, after)`` pair per dim from an int, n ints or n pairs (no strings here)."""
    if _is_int(padding):
        if padding < 0:
            raise ValueError(f"{name}={padding!r} must be >= 0")
        check_max(padding, name, int(padding))
        return ((int(padding), int(padding)),) * n
    if isinstance(padding, (tuple, list)) and len(padding) == n and all(
        isinstance(p, (tuple, list)) for p in padding
    ):
        pairs = []
        for pair in padding:
            if len(pair) != 2 or not all(_is_int(v) for v in pair):
                raise TypeError(f"{name}={padding!r}: each per-dimension entry must be an int or a "
                                f"(before, after) pair of ints")
            pairs.append((int(pair[0]), int(pair[1])))
        if any(v < 0 for pair in pairs for v in pair):
            raise ValueError(f"{name}={padding!r} must be >= 0 everywhere")
        check_max(padding, name, tuple(v for pair in pairs for v in pair))
        return tuple(pairs)
    if isinstance(padding, (tuple, list)) and any(isinstance(p, (tuple, list)) for p in padding):
        raise ValueError(f"{name}={padding!r} must have {n} (before, after) pairs, one per spatial "
                         f"dimension, not {len(padding)} entries")
    symmetric = ntuple(padding, n, name)
    return tuple((p, p) for p in symmetric)


def same_pads(in_size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
              dilation: tuple[int, ...]) -> Pads:
    """'same' padding: PyTorch's rule at stride 1, TensorFlow's SAME at stride > 1.

    Output ``O = ceil(S / s)``; total pad ``max(0, (O - 1) * s + d * (K - 1) + 1 - S)``; the odd pixel goes
    at the end (after). At stride 1 this is PyTorch's ``d * (K - 1)`` split the same way.
    """
    pads = []
    for size, k, s, d in zip(in_size, kernel, stride, dilation):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def conv_output_size(size: int, k: int, s: int, d: int, pad: tuple[int, int]) -> int:
    """``O = floor((S + p_before + p_after - d * (K - 1) - 1) / s) + 1``."""
    return (size + pad[0] + pad[1] - d * (k - 1) - 1) // s + 1

# --- pooling ----------------------------------------------------------------------------------------------

def pool_output_size(size: int, k: int, s: int, d: int, pad: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size: ``O = floor_or_ceil((S + 2p - d*(K - 1) - 1) / s) + 1``.

    With ``ceil_mode`` the last window must still start inside the input or the left padding
    (``(O - 1) * s < S + p``); otherwise it is dropped.
    """
    span = size + 2 * pad - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + pad:
        out -= 1
    return out


@dataclass(frozen=True)
class PoolSpec:
    """Everything a pooling op needs, one entry per spatial dim.

    ``padding`` is symmetric (PyTorch's pools take one int per dim). ``frame`` is the padded frame every
    window fits in: ``max(S + 2p, (O - 1)*s + d*(K - 1) + 1)`` - in ``ceil_mode`` the last window may run
    past the padded end, and the frame is extended there.
    """

    ndim: int
    batched: bool
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool
    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]
    frame: tuple[int, ...]

    @property
    def pads(self) -> Pads:
        """``(before, after)`` per dim that turn the input into the frame."""
        return tuple((p, f - s - p) for p, f, s in zip(self.padding, self.frame, self.in_spatial))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape[: len(input_shape) - self.ndim]) + self.out_spatial


def check_spatial_input(op: str, input: Any, ndim: int) -> tuple[np.ndarray, bool]:
    """``input`` as a float ``(N, C, *S)`` or unbatched ``(C, *S)`` array with non-empty C and S; and batched."""
    x = as_float_array(input, "input")
    if x.ndim not in (ndim + 1, ndim + 2):
        raise ValueError(f"{op}: input must have {ndim + 2} dims (N, C, {ndim} spatial) or {ndim + 1} "
                         f"unbatched (C, {ndim} spatial), got input.shape={_shape(x)}")
    if any(size < 1 for size in x.shape[-ndim - 1:]):
        raise ValueError(f"{op}: input's channel and spatial dims must be non-empty, got "
                         f"input.shape={_shape(x)}")
    return x, x.ndim == ndim + 2


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} must be True or False")
    return bool(value)


def pool_spec(op: str, ndim: int, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: Any) -> tuple[PoolSpec, np.ndarray]:
    """Validate a max/avg pooling's arguments; return its spec and the input as a float array.

    ``stride=None`` means ``stride = kernel_size``. PyTorch's rules: ``padding <= kernel_size // 2`` and an
    output of at least one element per dim.
    """
    x, batched = check_spatial_input(op, input, ndim)
    kernel = ntuple(kernel_size, ndim, "kernel_size", minimum=1)
    stride = kernel if stride is None else ntuple(stride, ndim, "stride", minimum=1)
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding={padding!r} must be an int or {ndim} ints; pooling takes no padding "
                        f"strings")
    pads = ntuple(padding, ndim, "padding")
    dilation = ntuple(dilation, ndim, "dilation", minimum=1)
    ceil_mode = check_bool(ceil_mode, "ceil_mode")
    for axis, (k, p) in enumerate(zip(kernel, pads)):
        if p > k // 2:
            raise ValueError(f"{op}: padding={padding!r} must be at most half of kernel_size={kernel_size!r} "
                             f"in every dim (spatial dim {axis}: {p} > {k} // 2)")
    spatial = tuple(x.shape[-ndim:])
    out = tuple(pool_output_size(*args, ceil_mode) for args in zip(spatial, kernel, stride, dilation, pads))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: the output would be empty ({out}): the window (kernel_size={kernel}, "
                         f"dilation={dilation}) does not fit in input.shape={_shape(x)} with padding={pads}")
    frame = tuple(max(size + 2 * p, (o - 1) * s + d * (k - 1) + 1)
                  for size, p, o, s, d, k in zip(spatial, pads, out, stride, dilation, kernel))
    check_array_size(op, "padded input", x.shape[:-ndim] + frame, x.dtype.itemsize,
                     f"kernel_size={kernel_size!r}, stride={stride!r}, padding={padding!r}, dilation={dilation!r}")
    spec = PoolSpec(ndim, batched, kernel, stride, pads, dilation, ceil_mode, spatial, out, frame)
    return spec, x


def check_grad_output_shape(op: str, grad_output: Any, expected: tuple[int, ...]) -> np.ndarray:
    """``grad_output`` must be a float array of the forward output's shape ``expected``."""
    gy = as_float_array(grad_output, "grad_output")
    if gy.shape != tuple(expected):
        raise ValueError(f"{op}: grad_output.shape={_shape(gy)} must equal the forward output's shape "
                         f"{tuple(expected)}")
    return gy


def _shape(array: np.ndarray) -> str:
    return str(tuple(array.shape))


@dataclass(frozen=True)
class ConvSpec:
    """Everything a convolution (or its transpose) needs, normalised to one entry per spatial dim.

    For a convolution ``in_spatial`` is ``S`` and ``out_spatial`` is ``O``. For a transposed convolution
    the roles are the adjoint's: ``in_spatial`` is its input's spatial shape, ``out_spatial`` its output's,
    and ``frame`` the uncropped scatter frame ``(S - 1) * s + d * (K - 1) + 1 + output_padding``.
    """

    ndim: int
    batched: bool
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: Pads
    groups: int
    padding_mode: str
    kernel: tuple[int, ...]
    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]
    out_channels: int
    dtype: np.dtype
    output_padding: tuple[int, ...] = ()
    frame: tuple[int, ...] = ()


def _check_ranks(op: str, x: np.ndarray, w: np.ndarray, ndim: int) -> bool:
    """Check ``input`` is (N, C, *S) or unbatched (C, *S) and ``weight`` is (C0, C1, *K); return batched."""
    if w.ndim != ndim + 2:
        raise ValueError(f"{op}: weight must have {ndim + 2} dims (out/in channels and {ndim} kernel dims), "
                         f"got weight.shape={_shape(w)}")
    if x.ndim not in (ndim + 1, ndim + 2):
        raise ValueError(f"{op}: input must have {ndim + 2} dims (N, C, {ndim} spatial) or {ndim + 1} "
                         f"unbatched, got input.shape={_shape(x)}")
    if any(k < 1 for k in w.shape[2:]):
        raise ValueError(f"{op}: every kernel size must be >= 1, got weight.shape={_shape(w)}")
    return x.ndim == ndim + 2


def _check_groups(op: str, groups: Any) -> int:
    if not _is_int(groups):
        raise TypeError(f"{op}: groups={groups!r} must be an int")
    if groups < 1:
        raise ValueError(f"{op}: groups={groups!r} must be >= 1")
    check_max(groups, f"{op}: groups", int(groups))
    return int(groups)


def _check_bias(op: str, bias: np.ndarray | None, channels: int, w: np.ndarray) -> None:
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"{op}: bias.shape={_shape(bias)} must be ({channels},), one value per output "
                         f"channel of weight.shape={_shape(w)}")


def conv_spec(op: str, ndim: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
              dilation: Any, groups: Any, padding_mode: str) -> tuple[ConvSpec, np.ndarray, np.ndarray,
                                                                      np.ndarray | None]:
    """Validate a convolution's arguments; return its spec and the inputs as float arrays."""
    x = as_float_array(input, "input")
    w = as_float_array(weight, "weight")
    b = None if bias is None else as_float_array(bias, "bias")
    batched = _check_ranks(op, x, w, ndim)
    groups = _check_groups(op, groups)
    c_in = x.shape[1 if batched else 0]
    c_out = w.shape[0]
    if c_out % groups:
        raise ValueError(f"{op}: groups={groups} must divide the output channels, weight.shape={_shape(w)}")
    if c_in != w.shape[1] * groups:
        raise ValueError(f"{op}: input has {c_in} channels but weight.shape[1] * groups = {w.shape[1]} * "
                         f"{groups} = {w.shape[1] * groups} (input.shape={_shape(x)}, weight.shape={_shape(w)})")
    _check_bias(op, b, c_out, w)
    stride = ntuple(stride, ndim, "stride", minimum=1)
    dilation = ntuple(dilation, ndim, "dilation", minimum=1)
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{op}: padding_mode={padding_mode!r} must be one of {PADDING_MODES}")
    kernel = tuple(w.shape[2:])
    spatial = tuple(x.shape[-ndim:])
    if isinstance(padding, str):
        if padding == "valid":
            pads: Pads = ((0, 0),) * ndim
        elif padding == "same":
            pads = same_pads(spatial, kernel, stride, dilation)
        else:
            raise ValueError(f"{op}: padding={padding!r} must be 'valid', 'same', an int, {ndim} ints or "
                             f"{ndim} (before, after) pairs")
    else:
        pads = normalize_pads(padding, ndim)
    for axis, (size, (lo, hi)) in enumerate(zip(spatial, pads)):
        if padding_mode == "reflect" and max(lo, hi) >= size:
            raise ValueError(f"{op}: padding={padding!r} with padding_mode='reflect' must be smaller than "
                             f"the input in every dim; spatial dim {axis} has size {size} "
                             f"(input.shape={_shape(x)})")
        if padding_mode == "circular" and max(lo, hi) > size:
            raise ValueError(f"{op}: padding={padding!r} with padding_mode='circular' must not exceed the "
                             f"input size; spatial dim {axis} has size {size} (input.shape={_shape(x)})")
    for axis, (size, k, d, (lo, hi)) in enumerate(zip(spatial, kernel, dilation, pads)):
        if d * (k - 1) + 1 > size + lo + hi:
            raise ValueError(f"{op}: the dilated kernel ({d} * ({k} - 1) + 1 = {d * (k - 1) + 1}) is larger "
                             f"than the padded input ({size} + {lo} + {hi} = {size + lo + hi}) in spatial dim "
                             f"{axis} (input.shape={_shape(x)}, weight.shape={_shape(w)}, padding={padding!r}, "
                             f"dilation={dilation})")
    out = tuple(conv_output_size(*args) for args in zip(spatial, kernel, stride, dilation, pads))
    lead = x.shape[:-ndim]
    itemsize = result_dtype(x, w, b).itemsize
    check_array_size(op, "padded input", lead + tuple(size + lo + hi for size, (lo, hi) in zip(spatial, pads)),
                     itemsize, f"padding={padding!r}")
    check_array_size(op, "output", lead[:-1] + (c_out,) + out, itemsize, f"the shapes and padding={padding!r}")
    spec = ConvSpec(ndim, batched, stride, dilation, pads, groups, padding_mode, kernel, spatial, out,
                    c_out, result_dtype(x, w, b))
    return spec, x, w, b


def conv_transpose_spec(op: str, ndim: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                        output_padding: Any, groups: Any, dilation: Any) -> tuple[
                            ConvSpec, np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a transposed convolution's arguments; return its spec and the inputs as float arrays.

    Output size per dim: ``O = (S - 1) * s - p_before - p_after + d * (K - 1) + output_padding + 1``.
    """
    x = as_float_array(input, "input")
    w = as_float_array(weight, "weight")
    b = None if bias is None else as_float_array(bias, "bias")
    batched = _check_ranks(op, x, w, ndim)
    groups = _check_groups(op, groups)
    c_in = x.shape[1 if batched else 0]
    if c_in != w.shape[0]:
        raise ValueError(f"{op}: input has {c_in} channels but the transposed-conv weight (C_in, C_out / "
                         f"groups, *K) has weight.shape[0] = {w.shape[0]} (input.shape={_shape(x)}, "
                         f"weight.shape={_shape(w)})")
    if c_in % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels, input.shape={_shape(x)}")
    c_out = w.shape[1] * groups
    _check_bias(op, b, c_out, w)
    stride = ntuple(stride, ndim, "stride", minimum=1)
    dilation = ntuple(dilation, ndim, "dilation", minimum=1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding={padding!r}: a transposed convolution takes an int, {ndim} ints or "
                         f"{ndim} (before, after) pairs, not a string")
    pads = normalize_pads(padding, ndim)
    output_padding = ntuple(output_padding, ndim, "output_padding")
    for axis, (op_, s, d) in enumerate(zip(output_padding, stride, dilation)):
        if op_ >= max(s, d):
            raise ValueError(f"{op}: output_padding={output_padding} must be smaller than either stride="
                             f"{stride} or dilation={dilation} in every dim (fails in spatial dim {axis})")
    kernel = tuple(w.shape[2:])
    spatial = tuple(x.shape[-ndim:])
    frame = tuple((size - 1) * s + d * (k - 1) + 1 + op_
                  for size, k, s, d, op_ in zip(spatial, kernel, stride, dilation, output_padding))
    check_array_size(op, "output frame", x.shape[:-ndim - 1] + (c_out,) + frame, result_dtype(x, w, b).itemsize,
                     f"stride={stride}, dilation={dilation}, output_padding={output_padding}")
    out = tuple(f - lo - hi for f, (lo, hi) in zip(frame, pads))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: padding={padding!r} leaves an empty output {out} (input.shape={_shape(x)}, "
                         f"weight.shape={_shape(w)}, stride={stride}, dilation={dilation}, "
                         f"output_padding={output_padding})")
    spec = ConvSpec(ndim, batched, stride, dilation, pads, groups, "zeros", kernel, spatial, out, c_out,
                    result_dtype(x, w, b), output_padding, frame)
    return spec, x, w, b


def check_grad_output(op: str, grad_output: Any, spec: ConvSpec, batch: int | None) -> np.ndarray:
    """``grad_output`` must be a float array shaped like the forward's output."""
    gy = as_float_array(grad_output, "grad_output")
    expected = ((batch,) if spec.batched else ()) + (spec.out_channels,) + spec.out_spatial
    if gy.shape != expected:
        raise ValueError(f"{op}: grad_output.shape={_shape(gy)} must equal the forward output's shape "
                         f"{expected}")
    return gy


# --- unfold / fold (im2col / col2im) ---------------------------------------------------------------------

@dataclass(frozen=True)
class WindowSpec:
    """Everything ``unfold``/``fold`` need, one entry per spatial dim.

    The image is ``(N, C, *S)`` with ``S = image_spatial``; the columns are ``(N, C * prod(K), L)`` with
    ``L = prod(blocks)``, ``blocks[i] = floor((S_i + p_before + p_after - d_i * (K_i - 1) - 1) / s_i) + 1``.
    Row ``c * prod(K) + t`` holds channel ``c`` at kernel tap ``t`` (C-order over K); column ``l`` is the
    block position in C-order over ``blocks``. For ``unfold`` the image is the input, for ``fold`` the output.
    """

    ndim: int
    batched: bool
    channels: int
    kernel: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: Pads
    stride: tuple[int, ...]
    image_spatial: tuple[int, ...]
    blocks: tuple[int, ...]
    dtype: np.dtype

    def image_shape(self, batch: int | None) -> tuple[int, ...]:
        return ((batch,) if self.batched else ()) + (self.channels,) + self.image_spatial

    def columns_shape(self, batch: int | None) -> tuple[int, ...]:
        return ((batch,) if self.batched else ()) + (self.channels * math.prod(self.kernel), math.prod(self.blocks))


def _window_geometry(op: str, ndim: int, image_spatial: tuple[int, ...], kernel_size: Any, dilation: Any,
                     padding: Any, stride: Any, shapes: str) -> tuple[tuple[int, ...], tuple[int, ...], Pads,
                                                                   tuple[int, ...], tuple[int, ...]]:
    """Normalise kernel_size/dilation/padding/stride to ``ndim`` entries; return them and the block counts."""
    kernel = ntuple(kernel_size, ndim, "kernel_size", minimum=1)
    dilation = ntuple(dilation, ndim, "dilation", minimum=1)
    stride = ntuple(stride, ndim, "stride", minimum=1)
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding={padding!r} must be an int, {ndim} ints or {ndim} (before, after) "
                        f"pairs; {op} takes no padding strings")
    pads = normalize_pads(padding, ndim)
    for axis, (size, k, d, (lo, hi)) in enumerate(zip(image_spatial, kernel, dilation, pads, strict=True)):
        if d * (k - 1) + 1 > size + lo + hi:
            raise ValueError(f"{op}: the dilated kernel ({d} * ({k} - 1) + 1 = {d * (k - 1) + 1}) is "
                             f"larger than the padded image ({size} + {lo} + {hi} = {size + lo + hi}) in "
                             f"spatial dim {axis} ({shapes}, kernel_size={kernel_size!r}, "
                             f"dilation={dilation}, padding={padding!r})")
    geometry = zip(image_spatial, kernel, stride, dilation, pads, strict=True)
    blocks = tuple(conv_output_size(*args) for args in geometry)
    check_array_size(op, "padded image", tuple(size + lo + hi for size, (lo, hi) in zip(image_spatial, pads)), 1,
                     f"padding={padding!r}")
    check_array_size(op, "columns (C * prod(kernel_size), L) per channel", (math.prod(kernel), math.prod(blocks)),
                     1, f"kernel_size={kernel_size!r}, stride={stride!r}")
    return kernel, dilation, pads, stride, blocks


def unfold_spec(op: str, input: Any, kernel_size: Any, dilation: Any, padding: Any,
                stride: Any) -> tuple[WindowSpec, np.ndarray]:
    """Validate ``unfold``'s arguments: input ``(N, C, *S)`` (or unbatched ``(C, *S)``) -> columns.

    The rank ``d`` is the length of the first of ``kernel_size``, ``dilation``, ``padding``, ``stride`` that
    is a tuple, else 2 as in PyTorch (so a 3-d input with an int ``kernel_size`` is one unbatched image, as
    PyTorch reads it). The input has ``d + 2`` dims, or ``d + 1`` unbatched.
    """
    x = as_float_array(input, "input")
    ndim = next((len(v) for v in (kernel_size, dilation, padding, stride) if isinstance(v, (tuple, list))), 2)
    if ndim < 1 or x.ndim not in (ndim + 1, ndim + 2):
        raise ValueError(f"{op}: a {ndim}-d unfold takes input with {ndim + 2} dims (N, C, {ndim} spatial) or "
                         f"{ndim + 1} unbatched, got input.shape={_shape(x)}; the rank is the length of "
                         f"kernel_size, dilation, padding or stride when one is a tuple (here "
                         f"kernel_size={kernel_size!r}), else 2 as in PyTorch")
    batched = x.ndim == ndim + 2
    spatial = tuple(x.shape[-ndim:])
    kernel, dilation, pads, stride, blocks = _window_geometry(
        op, ndim, spatial, kernel_size, dilation, padding, stride, f"input.shape={_shape(x)}")
    spec = WindowSpec(ndim, batched, x.shape[-ndim - 1], kernel, dilation, pads, stride, spatial, blocks,
                      x.dtype)
    return spec, x


def fold_spec(op: str, input: Any, output_size: Any, kernel_size: Any, dilation: Any, padding: Any,
              stride: Any) -> tuple[WindowSpec, np.ndarray]:
    """Validate ``fold``'s arguments: columns ``(N, C * prod(K), L)`` (or ``(C * prod(K), L)``) -> image.

    The rank ``d`` is the length of ``output_size`` if it is a tuple, else of ``kernel_size`` if that is,
    else 2 (PyTorch's). ``L`` must equal the number of blocks and ``prod(K)`` must divide the rows.
    """
    x = as_float_array(input, "input")
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: input must have 3 dims (N, C * prod(kernel_size), L) or 2 unbatched, got "
                         f"input.shape={_shape(x)}")
    if isinstance(output_size, (tuple, list)):
        ndim = len(output_size)
    elif isinstance(kernel_size, (tuple, list)):
        ndim = len(kernel_size)
    else:
        ndim = 2
    if ndim < 1:
        raise ValueError(f"{op}: output_size={output_size!r} must have at least one spatial dim")
    spatial = ntuple(output_size, ndim, "output_size", minimum=1)
    kernel, dilation, pads, stride, blocks = _window_geometry(
        op, ndim, spatial, kernel_size, dilation, padding, stride, f"output_size={spatial}")
    rows, length = x.shape[-2:]
    taps = math.prod(kernel)
    if rows % taps:
        raise ValueError(f"{op}: input.shape={_shape(x)} has {rows} rows, not a multiple of "
                         f"prod(kernel_size={kernel}) = {taps}")
    if length != math.prod(blocks):
        raise ValueError(f"{op}: input.shape={_shape(x)} has L = {length} columns but output_size={spatial} "
                         f"with kernel_size={kernel}, dilation={dilation}, padding={pads}, stride={stride} "
                         f"gives {' * '.join(map(str, blocks))} = {math.prod(blocks)} blocks")
    spec = WindowSpec(ndim, x.ndim == 3, rows // taps, kernel, dilation, pads, stride, spatial, blocks,
                      x.dtype)
    return spec, x


def check_window_grad_output(op: str, grad_output: Any, expected: tuple[int, ...]) -> np.ndarray:
    """``grad_output`` of unfold/fold must be a float array of the forward output's shape ``expected``."""
    gy = as_float_array(grad_output, "grad_output")
    if gy.shape != expected:
        raise ValueError(f"{op}: grad_output.shape={_shape(gy)} must equal the forward output's shape "
                         f"{expected}")
    return gy
