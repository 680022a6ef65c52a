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

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._algorithms import (
    channels_first,
    channels_last,
    correlate_cl,
    correlate_input_grad_cl,
    correlate_weight_grad_cl,
    pad_for,
    rows_layout,
)
from ._args import ConvSpec, check_grad_output, conv_spec, conv_transpose_spec
from ._dispatch import check_needs_input_grad
from .padding import pad_spatial_backward
from .plan import ConvGeometry, ConvPlan, layout_of, plan_conv

__all__ = [
    "conv_nd", "conv_nd_backward", "conv_transpose_nd", "conv_transpose_nd_backward",
    "conv1d", "conv2d", "conv3d", "conv1d_backward", "conv2d_backward", "conv3d_backward",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "conv_transpose1d_backward", "conv_transpose2d_backward", "conv_transpose3d_backward",
    "ConvSaved", "ConvTransposeSaved", "conv_forward_saving", "conv_backward_saved",
    "conv_transpose_forward_saving", "conv_transpose_backward_saved",
]


# ----------------------------------------------------------------------------------------------------------
# Plans and saved state
# ----------------------------------------------------------------------------------------------------------

def conv_plan_for(spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> ConvPlan:
    """The plan of a convolution of the batched input ``x (N, C_in, *S)`` (its memory order included)."""
    frame = tuple(s + lo + hi for s, (lo, hi) in zip(spec.in_spatial, spec.pads))
    geometry = ConvGeometry(x.shape[0], x.shape[1], w.shape[0], spec.groups, frame, spec.kernel, spec.stride,
                            spec.dilation, spec.out_spatial)
    return plan_conv(geometry, spec.dtype, layout_of(x))


def conv_transpose_plan_for(spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> ConvPlan:
    """The plan of the convolution whose input gradient a transposed convolution of ``x (N, C_in, *S)`` is."""
    geometry = ConvGeometry(x.shape[0], w.shape[1] * spec.groups, w.shape[0], spec.groups, spec.frame,
                            spec.kernel, spec.stride, spec.dilation, spec.in_spatial)
    return plan_conv(geometry, spec.dtype, layout_of(x))


@dataclass(frozen=True)
class ConvSaved:
    """What :func:`conv_backward_saved` needs from :func:`conv_forward_saving`.

    ``xp`` is the padded input ``(N, C_in, *Sp)`` in the plan's memory order and ``cols`` the im2col matrix
    when the plan built it whole (else None); ``w`` is the weight in the computation's dtype. The arrays are
    referenced, not copied: the input and the weight must not change between forward and backward.
    """

    op: str
    spec: ConvSpec
    batch: int | None   # the input's batch size, None for an unbatched input
    dtypes: tuple       # (input, weight, bias) dtypes of the forward's arguments (bias None when absent)
    plan: ConvPlan
    xp: np.ndarray
    w: np.ndarray
    cols: np.ndarray | None


@dataclass(frozen=True)
class ConvTransposeSaved:
    """What :func:`conv_transpose_backward_saved` needs: the input ``x (N, C_in, *S)`` already in the memory
    order its backward reads (channels-last for the GEMM paths), as the convolution keeps its padded input."""

    op: str
    spec: ConvSpec
    batch: int | None
    dtypes: tuple
    plan: ConvPlan
    x: np.ndarray
    w: np.ndarray


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------

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
          dilation: Any, groups: Any, padding_mode: str, keep: bool = False
          ) -> tuple[np.ndarray, ConvSaved | None]:
    spec, x, w, b = conv_spec(op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    dtypes = (x.dtype, w.dtype, None if b is None else b.dtype)
    x, w, b = (_cast(a, spec.dtype) for a in (x, w, b))
    xb = _batched(x, spec)
    plan = conv_plan_for(spec, xb, w)
    xp = pad_for(plan, xb, spec.pads, spec.padding_mode)
    y_cl, cols = correlate_cl(channels_last(xp), w, plan, b)
    saved = None
    if keep:
        saved = ConvSaved(op, spec, x.shape[0] if spec.batched else None, dtypes, plan, xp, w, cols)
    return _unbatched(channels_first(y_cl), spec), saved


def _conv_backward(op: str, ndim: int, grad_output: Any, input: Any, weight: Any, bias: Any, stride: Any,
                   padding: Any, dilation: Any, groups: Any, padding_mode: str, needs_input_grad: Any = None
                   ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    spec, x, w, b = conv_spec(op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    gy = check_grad_output(op, grad_output, spec, x.shape[0] if spec.batched else None)
    needs = check_needs_input_grad(op, needs_input_grad, 3)
    xb = _batched(x.astype(spec.dtype, copy=False), spec)
    w_c = w.astype(spec.dtype, copy=False)
    plan = conv_plan_for(spec, xb, w_c)
    xp = pad_for(plan, xb, spec.pads, spec.padding_mode) if needs[1] else xb  # only grad_w reads the input
    return _conv_backward_padded(spec, gy, xp, w_c, plan, (x.dtype, w.dtype, None if b is None else b.dtype),
                                 needs=needs)


def _conv_backward_padded(spec: ConvSpec, gy: np.ndarray, xp: np.ndarray, w_c: np.ndarray, plan: ConvPlan,
                          dtypes: tuple, cols: np.ndarray | None = None, needs: tuple[bool, ...] = (True,) * 3):
    """The backward from the padded input ``xp`` (and the forward's im2col matrix ``cols`` if kept).

    ``needs`` says which of ``(grad_input, grad_weight, grad_bias)`` to compute; the others are None (the
    input gradient, a transposed convolution of ``gy``, is the costly one nobody needs for an image).
    """
    x_dtype, w_dtype, b_dtype = dtypes
    gy = _batched(gy.astype(spec.dtype, copy=False), spec)
    gy_cl = channels_last(gy)
    grad_x = grad_w = grad_b = None
    if needs[0]:
        grad_xp = channels_first(correlate_input_grad_cl(gy_cl, w_c, plan))
        grad_x = _unbatched(pad_spatial_backward(grad_xp, spec.pads, spec.padding_mode), spec).astype(
            x_dtype, copy=False)
    if needs[1]:
        grad_w = correlate_weight_grad_cl(channels_last(xp), gy_cl, plan, cols).astype(w_dtype, copy=False)
    if needs[2] and b_dtype is not None:
        grad_b = _bias_grad(gy).astype(b_dtype, copy=False)
    return grad_x, grad_w, grad_b


def conv_forward_saving(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                        dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros"
                        ) -> tuple[np.ndarray, ConvSaved]:
    """:func:`conv_nd`, also returning the :class:`ConvSaved` state :func:`conv_backward_saved` needs.

    The saved state holds the plan, the padded input in the plan's memory order and, when the im2col
    matrix was built whole within the workspace cap, that matrix: the backward then neither plans nor pads
    again, nor rebuilds the windows for the weight gradient.
    """
    ndim = np.ndim(weight) - 2
    y, saved = _conv(f"conv{ndim}d", ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode,
                     keep=True)
    return y, saved


def conv_backward_saved(grad_output: Any, saved: ConvSaved, *, needs_input_grad: Any = None
                        ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients ``(grad_input, grad_weight, grad_bias)`` from the state of :func:`conv_forward_saving`;
    equal to :func:`conv_nd_backward`'s bit for bit. ``needs_input_grad`` (three bools, default all True)
    leaves the gradients not asked for uncomputed, None (the tape passes its node's)."""
    if not isinstance(saved, ConvSaved):
        raise TypeError(f"conv_backward_saved: saved must be the ConvSaved of conv_forward_saving, got "
                        f"{type(saved).__name__}")
    gy = check_grad_output(saved.op, grad_output, saved.spec, saved.batch)
    needs = check_needs_input_grad(saved.op, needs_input_grad, 3)
    return _conv_backward_padded(saved.spec, gy, saved.xp, saved.w, saved.plan, saved.dtypes, saved.cols, needs)


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
    return _conv(f"conv{ndim}d", ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode)[0]


def conv_nd_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros", *,
                     needs_input_grad: Any = None):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv_nd`; see :func:`conv2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv2d_backward` (example there).
    """
    ndim = np.ndim(weight) - 2
    return _conv_backward(f"conv{ndim}d", ndim, grad_output, input, weight, bias, stride, padding, dilation,
                          groups, padding_mode, needs_input_grad)


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
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups, padding_mode)[0]


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
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups, padding_mode)[0]


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
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups, padding_mode)[0]


def conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", *, needs_input_grad=None):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv1d`; see :func:`conv2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv2d_backward` (example there).
    """
    return _conv_backward("conv1d", 1, grad_output, input, weight, bias, stride, padding, dilation, groups,
                          padding_mode, needs_input_grad)


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", *, needs_input_grad=None):
    """Gradients of :func:`conv2d` for an upstream gradient ``grad_output`` shaped like its output.

    Returns ``(grad_input, grad_weight, grad_bias)``, each shaped and typed like its argument;
    ``grad_bias`` is None when ``bias`` is None. The keyword ``needs_input_grad`` (three bools, default all
    True) skips the gradients not asked for: they are None. ``grad_input`` is a transposed convolution of
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
                          padding_mode, needs_input_grad)


def conv3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", *, needs_input_grad=None):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv3d`; see :func:`conv2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv2d_backward` (example there).
    """
    return _conv_backward("conv3d", 3, grad_output, input, weight, bias, stride, padding, dilation, groups,
                          padding_mode, needs_input_grad)


# ----------------------------------------------------------------------------------------------------------
# Transposed convolution
# ----------------------------------------------------------------------------------------------------------

def _crop(frame: np.ndarray, spec: ConvSpec) -> np.ndarray:
    return frame[(Ellipsis, *(slice(lo, f - hi) for f, (lo, hi) in zip(spec.frame, spec.pads)))]


def _conv_transpose(op: str, ndim: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                    output_padding: Any, groups: Any, dilation: Any, keep: bool = False
                    ) -> tuple[np.ndarray, ConvTransposeSaved | None]:
    spec, x, w, b = conv_transpose_spec(op, ndim, input, weight, bias, stride, padding, output_padding,
                                        groups, dilation)
    dtypes = (x.dtype, w.dtype, None if b is None else b.dtype)
    x, w, b = (_cast(a, spec.dtype) for a in (x, w, b))
    xb = _batched(x, spec)
    plan = conv_transpose_plan_for(spec, xb, w)
    x_rows = rows_layout(plan, xb) if keep else xb
    frame = channels_first(correlate_input_grad_cl(channels_last(x_rows), w, plan))
    saved = None
    if keep:
        saved = ConvTransposeSaved(op, spec, x.shape[0] if spec.batched else None, dtypes, plan, x_rows, w)
    return _unbatched(_add_bias(_crop(frame, spec), b), spec), saved


def _conv_transpose_backward(op: str, ndim: int, grad_output: Any, input: Any, weight: Any, bias: Any,
                             stride: Any, padding: Any, output_padding: Any, groups: Any, dilation: Any,
                             needs_input_grad: Any = None):
    spec, x, w, b = conv_transpose_spec(op, ndim, input, weight, bias, stride, padding, output_padding,
                                        groups, dilation)
    gy = check_grad_output(op, grad_output, spec, x.shape[0] if spec.batched else None)
    needs = check_needs_input_grad(op, needs_input_grad, 3)
    xb = _batched(x.astype(spec.dtype, copy=False), spec)
    w_c = w.astype(spec.dtype, copy=False)
    plan = conv_transpose_plan_for(spec, xb, w_c)
    x_rows = rows_layout(plan, xb) if needs[1] else xb  # only grad_w reads the input
    return _conv_transpose_backward_rows(spec, gy, x_rows, w_c, plan,
                                         (x.dtype, w.dtype, None if b is None else b.dtype), needs)


def _conv_transpose_backward_rows(spec: ConvSpec, gy: np.ndarray, x_rows: np.ndarray, w_c: np.ndarray,
                                  plan: ConvPlan, dtypes: tuple, needs: tuple[bool, ...] = (True,) * 3):
    """The backward from the input ``x_rows``; ``needs`` as in :func:`_conv_backward_padded`."""
    x_dtype, w_dtype, b_dtype = dtypes
    gy = _batched(gy.astype(spec.dtype, copy=False), spec)
    grad_x = grad_w = grad_b = None
    # The output is the frame cropped by the padding, so the frame's gradient is grad_output zero-padded;
    # the backward is the forward correlation of that frame, and the weight gradient its adjoint in w.
    if needs[0] or needs[1]:
        grad_frame = channels_last(pad_for(plan, gy, spec.pads, "zeros"))
        if needs[0]:
            grad_x = _unbatched(channels_first(correlate_cl(grad_frame, w_c, plan)[0]), spec).astype(
                x_dtype, copy=False)
        if needs[1]:
            grad_w = correlate_weight_grad_cl(grad_frame, channels_last(x_rows), plan).astype(w_dtype, copy=False)
    if needs[2] and b_dtype is not None:
        grad_b = _bias_grad(gy).astype(b_dtype, copy=False)
    return grad_x, grad_w, grad_b


def conv_transpose_forward_saving(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                                  output_padding: Any = 0, groups: int = 1, dilation: Any = 1
                                  ) -> tuple[np.ndarray, ConvTransposeSaved]:
    """:func:`conv_transpose_nd`, also returning the :class:`ConvTransposeSaved` state for
    :func:`conv_transpose_backward_saved` (the input kept in the memory order the backward reads)."""
    ndim = np.ndim(weight) - 2
    y, saved = _conv_transpose(f"conv_transpose{ndim}d", ndim, input, weight, bias, stride, padding,
                               output_padding, groups, dilation, keep=True)
    return y, saved


def conv_transpose_backward_saved(grad_output: Any, saved: ConvTransposeSaved, *, needs_input_grad: Any = None
                                  ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients ``(grad_input, grad_weight, grad_bias)`` from :func:`conv_transpose_forward_saving`'s state;
    equal to :func:`conv_transpose_nd_backward`'s bit for bit; ``needs_input_grad`` as in
    :func:`conv_backward_saved`."""
    if not isinstance(saved, ConvTransposeSaved):
        raise TypeError(f"conv_transpose_backward_saved: saved must be the ConvTransposeSaved of "
                        f"conv_transpose_forward_saving, got {type(saved).__name__}")
    gy = check_grad_output(saved.op, grad_output, saved.spec, saved.batch)
    needs = check_needs_input_grad(saved.op, needs_input_grad, 3)
    return _conv_transpose_backward_rows(saved.spec, gy, saved.x, saved.w, saved.plan, saved.dtypes, needs)


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
                           output_padding, groups, dilation)[0]


def conv_transpose_nd_backward(grad_output: Any, input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                               padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                               dilation: Any = 1, *, needs_input_grad: Any = None):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose_nd`; see
    :func:`conv_transpose2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d_backward` (example there).
    """
    ndim = np.ndim(weight) - 2
    return _conv_transpose_backward(f"conv_transpose{ndim}d", ndim, grad_output, input, weight, bias, stride,
                                    padding, output_padding, groups, dilation, needs_input_grad)


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
                           groups, dilation)[0]


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
                           groups, dilation)[0]


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
                           groups, dilation)[0]


def conv_transpose1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, needs_input_grad=None):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose1d`; see
    :func:`conv_transpose2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d_backward` (example there).
    """
    return _conv_transpose_backward("conv_transpose1d", 1, grad_output, input, weight, bias, stride, padding,
                                    output_padding, groups, dilation, needs_input_grad)


def conv_transpose2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, needs_input_grad=None):
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
                                    output_padding, groups, dilation, needs_input_grad)


def conv_transpose3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, needs_input_grad=None):
    """Gradients ``(grad_input, grad_weight, grad_bias)`` of :func:`conv_transpose3d`; see
    :func:`conv_transpose2d_backward`.

    Raises:
        TypeError, ValueError: as :func:`conv_transpose2d_backward` (example there).
    """
    return _conv_transpose_backward("conv_transpose3d", 3, grad_output, input, weight, bias, stride, padding,
                                    output_padding, groups, dilation, needs_input_grad)
