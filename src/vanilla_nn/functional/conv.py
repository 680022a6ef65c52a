"""Convolution and transposed convolution over any number of spatial dims, with hand-derived backward.

Notation (per spatial dim where it applies): batch ``N``; input channels ``C_in``, output channels
``C_out``; ``G`` groups, ``C_in / G`` and ``C_out / G`` channels per group; input ``S``, padded input
``Sp = S + p_before + p_after``, kernel ``K``, output ``O``; stride ``s``, dilation ``d``; ``P = prod(O)``.

Forward (cross-correlation, as in PyTorch), with ``xp`` the padded input and ``g`` the group of ``co``:

    y[n, co, o] = b[co] + sum_{ci in group g, k} xp[n, ci, o*s + k*d] * w[co, ci - g*C_in/G, k]

Backward, by the chain rule on that one formula:

    grad_b[co]     = sum_{n, o} gy[n, co, o]
    grad_w[co,c,k] = sum_{n, o} gy[n, co, o] * xp[n, g*C_in/G + c, o*s + k*d]
    grad_xp[n,ci,q]= sum_{co in g, o, k : o*s + k*d = q} gy[n, co, o] * w[co, c, k]

and ``grad_x`` is ``grad_xp`` pulled back through the padding (:mod:`.padding`). In matrix form the
forward is one GEMM of the im2col matrix ``(N*P, C_in/G * prod(K))`` per group with the weight
``(C_in/G * prod(K), C_out/G)``; ``grad_w`` is the GEMM of ``gy``'s transpose with the same matrix;
``grad_xp`` is the GEMM ``gy @ w`` followed by col2im, the adjoint of im2col.

A transposed convolution is the adjoint of a convolution's input map: its forward is exactly the
convolution's ``grad_xp`` computation (GEMM + col2im into a frame of size
``(S - 1)*s + d*(K - 1) + 1 + output_padding``, then cropped by the padding), and its backward is a
convolution of the zero-padded ``grad_output``. One core serves both, in every rank.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._algorithms import (
    channels_first,
    channels_last,
    choose,
    correlate_cl,
    correlate_input_grad_cl,
    correlate_weight_grad_cl,
    pad_channels_last,
)
from ._args import ConvSpec, check_grad_output, conv_spec, conv_transpose_spec
from .padding import pad_spatial_backward

__all__ = [
    "conv_nd", "conv_nd_backward", "conv_transpose_nd", "conv_transpose_nd_backward",
    "conv1d", "conv2d", "conv3d", "conv1d_backward", "conv2d_backward", "conv3d_backward",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "conv_transpose1d_backward", "conv_transpose2d_backward", "conv_transpose3d_backward",
]


# ----------------------------------------------------------------------------------------------------------
# The core: correlation of an already padded input, and its two adjoints. Arrays are batched (N, C, *S).
# ----------------------------------------------------------------------------------------------------------

def correlate(xp: np.ndarray, w: np.ndarray, stride: tuple[int, ...], dilation: tuple[int, ...],
              groups: int, out_spatial: tuple[int, ...]) -> np.ndarray:
    """``y[n, co, o] = sum_{ci, k} xp[n, ci, o*s + k*d] * w[co, ci, k]`` per group; ``(N, C_out, *O)``.

    The algorithm (im2col + GEMM in chunks, plain GEMM for 1x1, a tap loop for depthwise) is chosen by
    :func:`._algorithms.choose`. The result is channels-last in memory (an ``(N, C_out, *O)`` view of an
    ``(N, *O, C_out)`` array), except on the depthwise path, which keeps the input's memory order.
    """
    return channels_first(correlate_cl(channels_last(xp), w, stride, dilation, groups, out_spatial))


def correlate_input_grad(gy: np.ndarray, w: np.ndarray, frame_spatial: tuple[int, ...],
                         stride: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """Adjoint of :func:`correlate` in ``xp``: ``gy (N, C_out, *O)`` -> ``grad_xp (N, C_in, *Sp)``."""
    return channels_first(correlate_input_grad_cl(channels_last(gy), w, frame_spatial, stride, dilation, groups))


def correlate_weight_grad(xp: np.ndarray, gy: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
                          dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """Adjoint of :func:`correlate` in ``w``: ``grad_w[co, c, k] = sum_{n, o} gy[n, co, o] xp[n, c, o*s+k*d]``."""
    return correlate_weight_grad_cl(channels_last(xp), channels_last(gy), kernel, stride, dilation, groups)


def _pad(x: np.ndarray, pads, mode: str, algorithm: str) -> np.ndarray:
    """Pad ``x (N, C, *S)`` into channels-last memory (any layout kept for the depthwise and 1x1 paths)."""
    # 1x1: only the strided subsample is ever copied (by the GEMM's row gather), so keep the layout too
    return channels_first(pad_channels_last(x, pads, mode, keep_layout=algorithm in ("depthwise", "gemm1x1")))


def _rows_layout(a: np.ndarray, algorithm: str) -> np.ndarray:
    """``(N, C, *S)`` as a view of channels-last contiguous memory (one copy at most) for the GEMM paths."""
    if algorithm == "depthwise":
        return a
    return channels_first(np.ascontiguousarray(channels_last(a)))


def _bias_grad(gy: np.ndarray) -> np.ndarray:
    return gy.sum(axis=(0, *range(2, gy.ndim)))


def _add_bias(y: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is not None:
        y += b.reshape(-1, *([1] * (y.ndim - 2)))
    return y


def _batched(a: np.ndarray, spec: ConvSpec) -> np.ndarray:
    return a if spec.batched else a[None]


def _unbatched(a: np.ndarray, spec: ConvSpec) -> np.ndarray:
    return a if spec.batched else a[0]


def _cast(a: np.ndarray | None, dtype: np.dtype) -> np.ndarray | None:
    return None if a is None else a.astype(dtype, copy=False)


# ----------------------------------------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------------------------------------

def _conv(op: str, ndim: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
          dilation: Any, groups: Any, padding_mode: str, saved: dict | None = None) -> np.ndarray:
    spec, x, w, b = conv_spec(op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    x_dtype, w_dtype, b_dtype = x.dtype, w.dtype, None if b is None else b.dtype
    x, w, b = (_cast(a, spec.dtype) for a in (x, w, b))
    algorithm = choose(w.shape[1] * spec.groups, spec.kernel, spec.groups)
    xp = _pad(_batched(x, spec), spec.pads, spec.padding_mode, algorithm)
    if saved is None:
        y = correlate(xp, w, spec.stride, spec.dilation, spec.groups, spec.out_spatial)
    else:
        y = channels_first(correlate_cl(channels_last(xp), w, spec.stride, spec.dilation, spec.groups,
                                        spec.out_spatial, saved=saved))
        saved.update(op=op, spec=spec, batch=x.shape[0] if spec.batched else None, dtypes=(x_dtype, w_dtype, b_dtype),
                     xp=xp, w=w, algorithm=algorithm)
    return _unbatched(_add_bias(y, b), spec)


def _conv_backward(op: str, ndim: int, grad_output: Any, input: Any, weight: Any, bias: Any, stride: Any,
                   padding: Any, dilation: Any, groups: Any, padding_mode: str) -> tuple[
                       np.ndarray, np.ndarray, np.ndarray | None]:
    spec, x, w, b = conv_spec(op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    gy = check_grad_output(op, grad_output, spec, x.shape[0] if spec.batched else None)
    dtype = spec.dtype
    algorithm = choose(w.shape[1] * spec.groups, spec.kernel, spec.groups)
    xp = _pad(_batched(x.astype(dtype, copy=False), spec), spec.pads, spec.padding_mode, algorithm)
    return _conv_backward_padded(spec, gy, xp, w.astype(dtype, copy=False), algorithm,
                                 (x.dtype, w.dtype, None if b is None else b.dtype))


def _conv_backward_padded(spec: ConvSpec, gy: np.ndarray, xp: np.ndarray, w_c: np.ndarray, algorithm: str,
                          dtypes: tuple, cols: np.ndarray | None = None):
    """The backward from the padded input ``xp`` (and the forward's im2col matrix ``cols`` if kept)."""
    x_dtype, w_dtype, b_dtype = dtypes
    gy = _rows_layout(_batched(gy.astype(spec.dtype, copy=False), spec), algorithm)
    grad_xp = correlate_input_grad(gy, w_c, xp.shape[2:], spec.stride, spec.dilation, spec.groups)
    grad_x = pad_spatial_backward(grad_xp, spec.pads, spec.padding_mode)
    grad_w = correlate_weight_grad_cl(channels_last(xp), channels_last(gy), spec.kernel, spec.stride, spec.dilation,
                                      spec.groups, cols=cols)
    grad_b = None if b_dtype is None else _bias_grad(gy).astype(b_dtype, copy=False)
    return (_unbatched(grad_x, spec).astype(x_dtype, copy=False), grad_w.astype(w_dtype, copy=False), grad_b)


def conv_forward_saving(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                        dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros") -> tuple[np.ndarray, dict]:
    """:func:`conv_nd`, also returning what :func:`conv_backward_saved` needs (for layers).

    The saved state holds the padded channels-last input and, when the im2col matrix was built whole
    within the workspace cap, that matrix: the backward then neither pads again nor rebuilds the windows
    for the weight gradient. The arrays are referenced, not copied: the caller must not modify the input
    or the weight between forward and backward (a layer's optimizer step comes after its backward).
    """
    ndim = np.ndim(weight) - 2
    saved: dict = {}
    y = _conv(f"conv{ndim}d", ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode, saved)
    return y, saved


def conv_backward_saved(grad_output: Any, saved: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients ``(grad_input, grad_weight, grad_bias)`` from the state of :func:`conv_forward_saving`."""
    spec = saved["spec"]
    gy = check_grad_output(saved["op"], grad_output, spec, saved["batch"])
    return _conv_backward_padded(spec, gy, saved["xp"], saved["w"], saved["algorithm"], saved["dtypes"],
                                 saved.get("cols"))


def conv_nd(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
            groups: int = 1, padding_mode: str = "zeros") -> np.ndarray:
    """N-d convolution (cross-correlation); the rank is ``weight.ndim - 2``. See :func:`conv2d`.

    Raises:
        TypeError, ValueError: as :func:`conv2d`, for the rank ``weight.ndim - 2``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.conv_nd(np.ones((1, 1, 6)), np.ones((1, 1, 3)), stride=2).shape   # 1-d: weight is 3-d
        (1, 1, 2)
    """
    ndim = np.ndim(weight) - 2
    return _conv(f"conv{ndim}d", ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv_nd_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros"):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv_nd`; see :func:`conv2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv2d_backward` (example there).
    """
    ndim = np.ndim(weight) - 2
    return _conv_backward(f"conv{ndim}d", ndim, grad_output, input, weight, bias, stride, padding, dilation,
                          groups, padding_mode)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """1-d convolution: input ``(N, C_in, L)``, weight ``(C_out, C_in/groups, K)`` -> ``(N, C_out, L_out)``.

    Arguments as :func:`conv2d`, with one value per spatial dim.

    Raises:
        TypeError, ValueError: as :func:`conv2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.arange(5.0).reshape(1, 1, 5)               # 0 1 2 3 4
        >>> F.conv1d(x, np.array([[[1.0, 0.0, -1.0]]]))       # x[o] - x[o + 2]: no kernel flip
        array([[[-2., -2., -2.]]])
        >>> F.conv1d(np.ones((2, 3, 10)), np.ones((4, 3, 3)), stride=2, padding="same").shape
        (2, 4, 5)
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """2-d convolution (cross-correlation), PyTorch's ``torch.nn.functional.conv2d`` in NumPy.

    Args:
        input: ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``, float32 or float64.
        weight: ``(C_out, C_in / groups, KH, KW)``.
        bias: ``(C_out,)`` or None.
        stride, dilation: int or one int per spatial dim, each >= 1.
        padding: int, one int per dim, one ``(before, after)`` pair per dim, ``"valid"`` or ``"same"``
            (PyTorch's rule at stride 1; TensorFlow's SAME at stride > 1: ``OH = ceil(H / stride)``).
        groups: ``C_in`` and ``C_out`` split into this many independent groups (``C_in`` = depthwise).
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.

    Returns:
        ``(N, C_out, OH, OW)`` with ``OH = floor((H + p_top + p_bottom - dH*(KH-1) - 1) / sH) + 1``,
        in the promoted dtype of the arguments.

    Raises:
        TypeError: ``input``, ``weight`` or ``bias`` is not a float32/float64 array (integers too: cast them
            with ``.astype(np.float64)``), or an option has the wrong type (``stride=1.5``, ``groups="2"``).
        ValueError: an array has the wrong rank or shape (``weight.shape[1] * groups != C_in``, ``C_out`` not
            divisible by ``groups``, ``bias`` not ``(C_out,)``), a stride or dilation below 1, negative
            padding, an unknown padding string or ``padding_mode``, or a kernel larger than the padded
            input. The message names the argument, its value and the shapes.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.ones((1, 1, 4, 4)); w = np.ones((1, 1, 3, 3))
        >>> F.conv2d(x, w, padding=1)[0, 0]
        array([[4., 6., 6., 4.],
               [6., 9., 9., 6.],
               [6., 9., 9., 6.],
               [4., 6., 6., 4.]])
        >>> F.conv2d(np.ones((2, 3, 7, 7), np.float32), np.ones((8, 1, 3, 3), np.float32), groups=3)
        Traceback (most recent call last):
            ...
        ValueError: conv2d: groups=3 must divide the output channels, weight.shape=(8, 1, 3, 3)
        >>> F.conv2d(np.ones((2, 3, 7, 7), np.float32), np.ones((6, 1, 3, 3), np.float32), groups=3,
        ...          stride=2, padding="same").shape                   # TensorFlow's SAME: ceil(7 / 2)
        (2, 6, 4, 4)
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """3-d convolution: input ``(N, C_in, D, H, W)``, weight ``(C_out, C_in/groups, KD, KH, KW)``.

    Arguments as :func:`conv2d`, with one value per spatial dim.

    Raises:
        TypeError, ValueError: as :func:`conv2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> y = F.conv3d(np.ones((1, 2, 4, 4, 4)), np.ones((3, 2, 2, 2, 2)), stride=2)
        >>> y.shape, y[0, :, 0, 0, 0]                          # each output sums 2 * 2*2*2 ones
        ((1, 3, 2, 2, 2), array([16., 16., 16.]))
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros"):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv1d`; see :func:`conv2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv2d_backward` (example there).
    """
    return _conv_backward("conv1d", 1, grad_output, input, weight, bias, stride, padding, dilation, groups,
                          padding_mode)


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros"):
    """Gradients of :func:`conv2d` for an upstream gradient ``grad_output`` shaped like its output.

    Returns ``(grad_input, grad_weight, grad_bias)``, each shaped and typed like its argument;
    ``grad_bias`` is None when ``bias`` is None. ``grad_input`` is a transposed convolution of
    ``grad_output`` (pulled back through the padding mode), ``grad_weight`` a correlation of the padded
    input with ``grad_output``, ``grad_bias`` the sum of ``grad_output`` over batch and space.
    The same holds for :func:`conv1d_backward`, :func:`conv3d_backward` and :func:`conv_nd_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv2d` for the forward's arguments, and when ``grad_output`` is not
            a float array of the output's shape (the message gives the expected shape).

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x, w, b = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1)
        >>> gx, gw, gb = F.conv2d_backward(np.ones((1, 1, 2, 2)), x, w, b)
        >>> gx[0, 0]                      # how many of the 2 x 2 windows cover each pixel
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])
        >>> gw[0, 0], gb                  # each tap sees 4 pixels; 4 outputs
        (array([[4., 4.],
               [4., 4.]]), array([4.]))
        >>> F.conv2d_backward(np.ones((1, 1, 2, 2)), x, w)[2] is None   # no bias, no bias gradient
        True
    """
    return _conv_backward("conv2d", 2, grad_output, input, weight, bias, stride, padding, dilation, groups,
                          padding_mode)


def conv3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros"):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv3d`; see :func:`conv2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv2d_backward` (example there).
    """
    return _conv_backward("conv3d", 3, grad_output, input, weight, bias, stride, padding, dilation, groups,
                          padding_mode)


# ----------------------------------------------------------------------------------------------------------
# Transposed convolution
# ----------------------------------------------------------------------------------------------------------

def _crop(frame: np.ndarray, spec: ConvSpec) -> np.ndarray:
    return frame[(Ellipsis, *(slice(lo, f - hi) for f, (lo, hi) in zip(spec.frame, spec.pads)))]


def _conv_transpose(op: str, ndim: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                    output_padding: Any, groups: Any, dilation: Any) -> np.ndarray:
    spec, x, w, b = conv_transpose_spec(op, ndim, input, weight, bias, stride, padding, output_padding,
                                        groups, dilation)
    x, w, b = (_cast(a, spec.dtype) for a in (x, w, b))
    frame = correlate_input_grad(_batched(x, spec), w, spec.frame, spec.stride, spec.dilation, spec.groups)
    return _unbatched(_add_bias(_crop(frame, spec), b), spec)


def _conv_transpose_backward(op: str, ndim: int, grad_output: Any, input: Any, weight: Any, bias: Any,
                             stride: Any, padding: Any, output_padding: Any, groups: Any, dilation: Any):
    spec, x, w, b = conv_transpose_spec(op, ndim, input, weight, bias, stride, padding, output_padding,
                                        groups, dilation)
    gy = check_grad_output(op, grad_output, spec, x.shape[0] if spec.batched else None)
    dtype = spec.dtype
    algorithm = choose(w.shape[1] * spec.groups, spec.kernel, spec.groups)
    x_c = _rows_layout(_batched(x.astype(dtype, copy=False), spec), algorithm)
    w_c = w.astype(dtype, copy=False)
    gy = _batched(gy.astype(dtype, copy=False), spec)
    # The output is the frame cropped by the padding, so the frame's gradient is grad_output zero-padded.
    grad_frame = _pad(gy, spec.pads, "zeros", algorithm)
    grad_x = correlate(grad_frame, w_c, spec.stride, spec.dilation, spec.groups, spec.in_spatial)
    grad_w = correlate_weight_grad(grad_frame, x_c, spec.kernel, spec.stride, spec.dilation, spec.groups)
    grad_b = None if b is None else _bias_grad(gy).astype(b.dtype, copy=False)
    return (_unbatched(grad_x, spec).astype(x.dtype, copy=False), grad_w.astype(w.dtype, copy=False), grad_b)


def conv_transpose_nd(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                      output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> np.ndarray:
    """N-d transposed convolution; the rank is ``weight.ndim - 2``. See :func:`conv_transpose2d`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d`, for the rank ``weight.ndim - 2``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.conv_transpose_nd(np.ones((1, 1, 3)), np.ones((1, 1, 3)), stride=2).shape   # (3-1)*2 + 3
        (1, 1, 7)
    """
    ndim = np.ndim(weight) - 2
    return _conv_transpose(f"conv_transpose{ndim}d", ndim, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose_nd_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                               padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                               dilation: Any = 1):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose_nd`; see
    :func:`conv_transpose2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d_backward` (example there).
    """
    ndim = np.ndim(weight) - 2
    return _conv_transpose_backward(f"conv_transpose{ndim}d", ndim, grad_output, input, weight, bias, stride,
                                    padding, output_padding, groups, dilation)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-d transposed convolution: ``(N, C_in, L)`` -> ``(N, C_out, L_out)``; see :func:`conv_transpose2d`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.array([[[1.0, 2.0]]])              # each input scatters a copy of the kernel, stride apart
        >>> F.conv_transpose1d(x, np.ones((1, 1, 3)), stride=2)
        array([[[1., 1., 3., 2., 2.]]])
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-d transposed convolution, PyTorch's ``torch.nn.functional.conv_transpose2d`` in NumPy.

    The adjoint of :func:`conv2d`'s map from input to output (often called a "deconvolution").

    Args:
        input: ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``.
        weight: ``(C_in, C_out / groups, KH, KW)`` (note: input channels first).
        bias: ``(C_out,)`` or None.
        stride, dilation: int or one per spatial dim, >= 1.
        padding: int, one per dim, or one ``(before, after)`` pair per dim: cropped from the output.
        output_padding: extra size added at the end of each dim; must be smaller than stride or dilation.
        groups: number of channel groups.

    Returns:
        ``(N, C_out, OH, OW)`` with ``OH = (H - 1)*sH - p_top - p_bottom + dH*(KH - 1) + output_padding + 1``.

    Raises:
        TypeError: a non-float array, or an option of the wrong type.
        ValueError: a padding string (``"same"``, ``"valid"``: refused, as in PyTorch), wrong ranks or
            shapes (``weight.shape[0] != C_in``, ``C_in`` not divisible by ``groups``, ``bias`` not
            ``(C_out,)``), stride or dilation below 1, negative padding, ``output_padding`` not smaller than
            stride or dilation, or a non-positive output size. The message names the argument.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))[0, 0]   # = conv2d's grad_input
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])
        >>> F.conv_transpose2d(np.ones((2, 4, 5, 5)), np.ones((4, 3, 3, 3)), stride=2, padding=1,
        ...                    output_padding=1).shape                     # exactly undoes a stride-2 size
        (2, 3, 10, 10)
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-d transposed convolution: ``(N, C_in, D, H, W)`` -> ``(N, C_out, *O)``; see :func:`conv_transpose2d`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d`.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.conv_transpose3d(np.ones((1, 2, 2, 3, 4)), np.ones((2, 5, 3, 3, 3)), dilation=2).shape
        (1, 5, 6, 7, 8)
    """
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose1d`; see
    :func:`conv_transpose2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d_backward` (example there).
    """
    return _conv_transpose_backward("conv_transpose1d", 1, grad_output, input, weight, bias, stride, padding,
                                    output_padding, groups, dilation)


def conv_transpose2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose2d`.

    ``grad_input`` is a convolution of the zero-padded ``grad_output`` with the same weight. The same
    holds for :func:`conv_transpose1d_backward`, :func:`conv_transpose3d_backward` and
    :func:`conv_transpose_nd_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d` for the forward's arguments, and when
            ``grad_output`` is not a float array of the output's shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x, w, b = np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), np.zeros(1)
        >>> gx, gw, gb = F.conv_transpose2d_backward(np.ones((1, 1, 3, 3)), x, w, b)
        >>> gx[0, 0]                      # a 2 x 2 convolution of the 3 x 3 ones
        array([[4., 4.],
               [4., 4.]])
        >>> gw[0, 0], gb
        (array([[4., 4.],
               [4., 4.]]), array([9.]))
    """
    return _conv_transpose_backward("conv_transpose2d", 2, grad_output, input, weight, bias, stride, padding,
                                    output_padding, groups, dilation)


def conv_transpose3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose3d`; see
    :func:`conv_transpose2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d_backward` (example there).
    """
    return _conv_transpose_backward("conv_transpose3d", 3, grad_output, input, weight, bias, stride, padding,
                                    output_padding, groups, dilation)
