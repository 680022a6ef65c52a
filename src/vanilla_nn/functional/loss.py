"""Softmax, log-softmax and the losses (cross-entropy, NLL, BCE with logits, MSE), each with its backward.

Notation: logits ``x (N, C)`` or ``(N, C, *S)`` (or unbatched ``(C,)``), class-index targets
``t (N, *S)`` with values in ``[0, C)``, class weights ``w`` (1 when absent), label smoothing ``e``.

    log_softmax(x)_c = x_c - m - log(sum_j exp(x_j - m)),   m = max_j x_j   (never overflows)
    softmax(x)       = exp(log_softmax(x))
    cross_entropy    = -(1 - e) * w[t] * logp[t] - (e / C) * sum_c w_c logp_c     per element, then reduced
    grad (per elem)  = softmax(x) - q,   q = (1 - e) * onehot(t) + e / C            (without weights)
    nll_loss         = -w[t] * x[t]
    bce_with_logits  = (1 - y) * softplus(x) + p * y * softplus(-x)   (times the element weight)
    mse_loss         = (x - y)^2 per element, then reduced;  grad_x = 2 (x - y) gy,  grad_y = -grad_x

Reductions: ``"mean"``, ``"sum"``, ``"none"`` (per element). ``"mean"`` follows PyTorch exactly: for class
indices it divides by the summed weights of the targets not ignored (``ignore_index``), otherwise by the
number of elements; the mean of nothing is NaN. For ``"mean"``/``"sum"`` the backward takes a scalar
``grad_output``; for ``"none"`` one of the loss's shape. Softmax over an empty axis is empty.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._args import _is_int, as_float_array, check_grad_output_shape, result_dtype
from .activation import sigmoid as _sigmoid

__all__ = [
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward", "mse_loss", "mse_loss_backward",
    "nll_loss", "nll_loss_backward", "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
]

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction={reduction!r} must be one of {REDUCTIONS}")
    return reduction


def _check_dim(op: str, dim: Any, x: np.ndarray) -> int:
    if not _is_int(dim):
        raise TypeError(f"{op}: dim={dim!r} must be an int")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"{op}: dim={dim} is out of range for input.shape={x.shape} "
                         f"(expected {-x.ndim} <= dim < {x.ndim})")
    return int(dim) % x.ndim


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    if x.shape[axis] == 0:  # an empty reduced axis: an empty result, as PyTorch
        return x.copy()
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    if x.shape[axis] == 0:  # an empty reduced axis: an empty result, as PyTorch
        return x.copy()
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(input: Any, dim: int = 1) -> np.ndarray:
    """``x - logsumexp(x)`` along ``dim``, shifted by the maximum so it never overflows.

    Raises:
        TypeError: ``input`` is not a float array, or ``dim`` is not an int.
        ValueError: ``dim`` is out of range for ``input.ndim``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> np.exp(F.log_softmax(np.log([[1.0, 3.0]])))
        array([[0.25, 0.75]])
        >>> F.log_softmax(np.array([[0.0, 1000.0]]))       # no overflow
        array([[-1000.,     0.]])
    """
    x = as_float_array(input, "input")
    return _log_softmax(x, _check_dim("log_softmax", dim, x))


def log_softmax_backward(grad_output: Any, input: Any, dim: int = 1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`log_softmax`: ``gy - softmax(x) * sum(gy)`` along ``dim``.

    Raises:
        TypeError: ``input`` is not a float array, or ``dim`` is not an int.
        ValueError: ``dim`` is out of range, or ``grad_output.shape != input.shape``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.log_softmax_backward(np.array([[3.0, 0.0, 0.0]]), np.zeros((1, 3)))   # gy - 1/3 * 3
        (array([[ 2., -1., -1.]]),)
    """
    x = as_float_array(input, "input")
    axis = _check_dim("log_softmax", dim, x)
    gy = check_grad_output_shape("log_softmax", grad_output, x.shape).astype(x.dtype, copy=False)
    return (gy - _softmax(x, axis) * gy.sum(axis=axis, keepdims=True),)


def softmax(input: Any, dim: int = 1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``dim``, shifted by the maximum so it never overflows.

    Raises:
        TypeError: ``input`` is not a float array, or ``dim`` is not an int.
        ValueError: ``dim`` is out of range for ``input.ndim``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.softmax(np.log([[1.0, 3.0], [2.0, 2.0]]))
        array([[0.25, 0.75],
               [0.5 , 0.5 ]])
    """
    x = as_float_array(input, "input")
    return _softmax(x, _check_dim("softmax", dim, x))


def softmax_backward(grad_output: Any, input: Any, dim: int = 1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`softmax`: ``y * (gy - sum(gy * y))`` along ``dim``, ``y = softmax(x)``.

    Raises:
        TypeError: ``input`` is not a float array, or ``dim`` is not an int.
        ValueError: ``dim`` is out of range, or ``grad_output.shape != input.shape``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> (g,) = F.softmax_backward(np.array([[4.0, 0.0]]), np.log([[1.0, 3.0]]))
        >>> g                             # y = (1/4, 3/4): y * (gy - y . gy) = y * (gy - 1)
        array([[ 0.75, -0.75]])
    """
    x = as_float_array(input, "input")
    axis = _check_dim("softmax", dim, x)
    gy = check_grad_output_shape("softmax", grad_output, x.shape).astype(x.dtype, copy=False)
    y = _softmax(x, axis)
    return (y * (gy - (gy * y).sum(axis=axis, keepdims=True)),)


# ----------------------------------------------------------------------------------------------------------
# Cross-entropy and negative log-likelihood
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _ClassTargets:
    """Validated arguments of the class losses (cross-entropy, NLL): what both forward and backward need.

    ``probabilities``: the target holds class probabilities shaped like the input (else class indices with
    the class dim removed). ``safe``: index targets with ignored entries replaced by 0 (usable as indices);
    ``kept``: False where the target equals ``ignore_index``; ``w_t``: each element's class weight (1 without
    ``weight``), 0 where ignored.
    """

    x: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None
    axis: int
    reduction: str
    smoothing: float
    probabilities: bool
    safe: np.ndarray | None = None
    kept: np.ndarray | None = None
    w_t: np.ndarray | None = None

    @property
    def classes(self) -> int:
        return self.x.shape[self.axis]

    def weight_along_classes(self) -> np.ndarray:
        """``weight`` shaped ``(1, C, 1, ...)`` (or ``(C,)`` unbatched) to broadcast against the input."""
        shape = [1] * self.x.ndim
        shape[self.axis] = self.classes
        return self.weight.astype(self.x.dtype, copy=False).reshape(shape)

    def pick(self, a: np.ndarray) -> np.ndarray:
        """``a[..., t, ...]`` along the class dim per target element (0 where ignored or without classes)."""
        if self.classes == 0:
            return np.zeros(self.target.shape, a.dtype)
        index = np.expand_dims(self.safe, self.axis)
        return np.where(self.kept, np.take_along_axis(a, index, axis=self.axis).squeeze(self.axis), a.dtype.type(0))

    def mean_divisor(self) -> np.ndarray:
        """PyTorch's divisor for ``"mean"``: the summed weights of the kept targets (their count without weights);
        for probability targets the number of elements per class, ``input.size / C``."""
        if self.probabilities:
            return self.x.dtype.type(self.x.size // self.classes if self.classes else 0)
        return self.w_t.sum(dtype=self.x.dtype)


def _class_targets(op: str, input: Any, target: Any, weight: Any, ignore_index: Any, reduction: Any,
                   label_smoothing: Any = 0.0, allow_probabilities: bool = True) -> _ClassTargets:
    x = as_float_array(input, "input")
    if x.ndim < 1:
        raise ValueError(f"{op}: input must be (N, C), (N, C, *S) or unbatched (C,), got input.shape={x.shape}")
    reduction = _check_reduction(op, reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"{op}: label_smoothing={label_smoothing!r} must be a float in [0, 1]")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing={label_smoothing!r} must be in [0, 1]")
    if not _is_int(ignore_index):
        raise TypeError(f"{op}: ignore_index={ignore_index!r} must be an int")
    axis = 0 if x.ndim == 1 else 1
    classes = x.shape[axis]
    w = None
    if weight is not None:
        w = as_float_array(weight, "weight")
        if w.shape != (classes,):
            raise ValueError(f"{op}: weight.shape={w.shape} must be ({classes},), one weight per class of "
                             f"input.shape={x.shape}")
    t = target if isinstance(target, np.ndarray) else np.asarray(target)
    index_shape = x.shape[:axis] + x.shape[axis + 1:]
    if allow_probabilities and t.dtype.kind == "f" and t.shape != x.shape and t.shape == index_shape:
        raise TypeError(f"{op}: target has dtype {t.dtype} and the shape of class indices (target.shape="
                        f"{t.shape}): class indices must be integers, e.g. target.astype(np.int64)")
    if allow_probabilities and t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ValueError(f"{op}: a float target holds class probabilities and must have input's shape: "
                             f"target.shape={t.shape}, input.shape={x.shape} (class indices must be integers)")
        return _ClassTargets(x, as_float_array(t, "target"), w, axis, reduction, float(label_smoothing), True)
    if not np.issubdtype(t.dtype, np.integer):
        kinds = "integer class indices, e.g. target.astype(np.int64)"
        if allow_probabilities:
            kinds += ", or float class probabilities shaped like input"
        raise TypeError(f"{op}: target has dtype {t.dtype} (target.shape={t.shape}); it must hold {kinds}")
    expected = x.shape[:axis] + x.shape[axis + 1:]
    if t.shape != expected:
        raise ValueError(f"{op}: target.shape={t.shape} must be input.shape={x.shape} without the class dim "
                         f"{axis}, i.e. {expected}")
    kept = t != ignore_index
    bad = kept & ((t < 0) | (t >= classes))
    if bad.any():
        raise ValueError(f"{op}: target holds class index {t[bad].flat[0]} but input has {classes} classes "
                         f"(valid: 0 .. {classes - 1}, or ignore_index={ignore_index}; target.shape={t.shape})")
    safe = np.where(kept, t, 0).astype(np.intp, copy=False)
    if w is None:
        w_t = kept.astype(x.dtype)
    else:
        w_t = np.where(kept, w.astype(x.dtype, copy=False)[safe] if classes else x.dtype.type(0), x.dtype.type(0))
    return _ClassTargets(x, t, w, axis, reduction, float(label_smoothing), False, safe, kept, w_t)


def _reduce(op: _ClassTargets, loss: np.ndarray) -> np.ndarray:
    """Per-element losses -> the reduction, in the input's dtype (``"mean"`` of nothing is NaN, as PyTorch)."""
    dtype = op.x.dtype
    loss = loss.astype(dtype, copy=False)
    if op.reduction == "none":
        return loss
    total = loss.sum(dtype=dtype)
    if op.reduction == "sum":
        return np.asarray(total, dtype=dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / op.mean_divisor(), dtype=dtype)


def _upstream(op: _ClassTargets, name: str, grad_output: Any) -> np.ndarray:
    """``grad_output`` scaled as the reduction's adjoint, shaped to broadcast against the per-element losses."""
    dtype = op.x.dtype
    per_element = op.target.shape if not op.probabilities else op.x.shape[:op.axis] + op.x.shape[op.axis + 1:]
    gy = check_grad_output_shape(name, grad_output, per_element if op.reduction == "none" else ())
    gy = gy.astype(dtype, copy=False)
    if op.reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            gy = gy / op.mean_divisor()
    return gy


def cross_entropy(input: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> np.ndarray:
    """Cross-entropy of logits, PyTorch's ``F.cross_entropy``: class-index or class-probability targets.

    Notation: ``logp = log_softmax(x)`` along the class dim, ``w`` the class weights (1 without ``weight``),
    ``e`` the label smoothing, ``C`` the number of classes.

    - Class indices ``t``: per element ``(1 - e) * (-w[t] logp[t]) + (e / C) * (-sum_c w_c logp_c)``, 0 where
      ``t == ignore_index``. ``"mean"`` divides the sum by ``sum w[t]`` over the targets not ignored (their
      count without ``weight``): PyTorch's weighted mean, NaN when nothing is left.
    - Class probabilities ``p`` (a float target of the input's shape): ``q = (1 - e) p + e / C`` and per
      element ``-sum_c w_c q_c logp_c``; ``"mean"`` divides by the number of elements ``N * prod(S)``
      (not by the weights); ``ignore_index`` does not apply.

    Args:
        input: logits ``(N, C)``, ``(N, C, *S)`` or unbatched ``(C,)``, float32 or float64.
        target: integer class indices ``(N,)``, ``(N, *S)`` or ``()`` in ``[0, C)`` (or ``ignore_index``),
            or float class probabilities shaped like ``input``.
        weight: optional ``(C,)`` class weights.
        ignore_index: a class-index target equal to it contributes nothing (may lie outside ``[0, C)``).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        label_smoothing: ``e`` in ``[0, 1]``.

    Returns:
        A 0-d array for ``"mean"``/``"sum"``, else the per-element losses ``(N, *S)``; in the input's dtype.

    Raises:
        TypeError: ``input``/``weight`` is not a float array, ``target`` holds neither integers nor floats,
            ``ignore_index`` is not an int, or ``label_smoothing`` is not a number.
        ValueError: ``target.shape`` does not fit ``input.shape``, a class index is outside ``[0, C)`` and not
            ``ignore_index``, ``weight.shape != (C,)``, ``reduction`` is unknown, or ``label_smoothing`` is
            outside ``[0, 1]``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> logits, target = np.zeros((2, 4)), np.array([0, 3])     # uniform guesses over 4 classes
        >>> bool(np.isclose(F.cross_entropy(logits, target), np.log(4)))
        True
        >>> F.cross_entropy(logits, target, reduction="none").shape
        (2,)
        >>> F.cross_entropy(logits, np.array([0, -100]), reduction="none")    # the second is ignored
        array([1.38629436, 0.        ])
        >>> bool(np.isclose(F.cross_entropy(logits, np.full((2, 4), 0.25)), np.log(4)))   # probabilities
        True
    """
    op = _class_targets("cross_entropy", input, target, weight, ignore_index, reduction, label_smoothing)
    x, e = op.x, op.smoothing
    logp = _log_softmax(x, op.axis)
    if op.probabilities:
        q = op.target.astype(x.dtype, copy=False)
        if e:
            q = q * x.dtype.type(1.0 - e) + x.dtype.type(e / op.classes)
        weighted = q if op.weight is None else q * op.weight_along_classes()
        return _reduce(op, -(logp * weighted).sum(axis=op.axis))
    loss = np.where(op.kept, -op.w_t * op.pick(logp), x.dtype.type(0))
    if not e:
        return _reduce(op, loss)
    weighted = logp if op.weight is None else logp * op.weight_along_classes()
    smooth = np.where(op.kept, -weighted.sum(axis=op.axis), x.dtype.type(0))
    # reduced apart, then combined, as PyTorch: a zero total weight makes the mean NaN (0/0), not inf
    return x.dtype.type(1.0 - e) * _reduce(op, loss) + x.dtype.type(e / op.classes) * _reduce(op, smooth)


def cross_entropy_backward(grad_output: Any, input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                           reduction: str = "mean", label_smoothing: float = 0.0) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`cross_entropy`.

    Per element (before the reduction's ``gy`` or ``gy / divisor``), with ``s = softmax(x)``:

    - class indices: ``(1 - e) w[t] (s - onehot(t)) + (e / C) (s * sum_c w_c - w)``; 0 where ignored
      (without weights: ``s - q``, ``q = (1 - e) onehot(t) + e / C``);
    - class probabilities: ``s * sum_c w_c q_c - w q``.

    ``grad_output`` is a scalar for ``"mean"``/``"sum"`` and shaped like the per-element loss for ``"none"``.
    Only the input gets a gradient: class indices have none, and a gradient for class-probability targets
    (PyTorch gives one, ``-(1 - e) w logp`` per element) is not computed here.

    Raises:
        TypeError, ValueError: as :func:`cross_entropy`, and when ``grad_output`` has the wrong shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> logits, target = np.zeros((2, 4)), np.array([0, 3])     # softmax = 1/4 everywhere
        >>> F.cross_entropy_backward(np.asarray(1.0), logits, target)[0]       # (1/4 - onehot) / 2
        array([[-0.375,  0.125,  0.125,  0.125],
               [ 0.125,  0.125,  0.125, -0.375]])
        >>> F.cross_entropy_backward(np.asarray(1.0), logits, target, reduction="sum",
        ...                          label_smoothing=0.4)[0]       # q = 0.6 * onehot + 0.1
        array([[-0.45,  0.15,  0.15,  0.15],
               [ 0.15,  0.15,  0.15, -0.45]])
    """
    op = _class_targets("cross_entropy", input, target, weight, ignore_index, reduction, label_smoothing)
    gy = _upstream(op, "cross_entropy", grad_output)
    gy = np.expand_dims(gy, op.axis) if op.reduction == "none" else gy
    x, e, t = op.x, op.smoothing, op.x.dtype.type
    s = _softmax(x, op.axis)
    w = None if op.weight is None else op.weight_along_classes()
    if op.probabilities:
        q = op.target.astype(x.dtype, copy=False)
        if e:
            q = q * t(1.0 - e) + t(e / op.classes)
        wq = q if w is None else q * w
        return ((s * wq.sum(axis=op.axis, keepdims=True) - wq) * gy,)
    w_t = np.expand_dims(op.w_t, op.axis)
    grad = s * w_t
    index = np.expand_dims(op.safe, op.axis)
    if op.classes:
        np.put_along_axis(grad, index, np.take_along_axis(grad, index, axis=op.axis) - w_t, axis=op.axis)
    with np.errstate(invalid="ignore"):  # 0 * inf where every weight is 0: NaN, as in PyTorch
        grad = grad * gy
        if e:  # each term scaled apart, then combined, as PyTorch (NaN + inf is NaN at a zero total weight)
            w_sum = t(op.classes) if w is None else w.sum(dtype=x.dtype)
            smooth = np.where(np.expand_dims(op.kept, op.axis), s * w_sum - (t(1) if w is None else w), t(0))
            grad = t(1.0 - e) * grad + t(e / op.classes) * (smooth * gy)
    return (np.where(np.expand_dims(op.kept, op.axis), grad, t(0)),)


def nll_loss(input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> np.ndarray:
    """Negative log-likelihood, PyTorch's ``F.nll_loss``: per element ``-w[t] * input[t]`` (0 where ignored).

    ``input`` holds log-probabilities ``(N, C)``, ``(N, C, *S)`` or ``(C,)`` (e.g. from :func:`log_softmax`);
    ``target`` integer class indices with the class dim removed. ``"mean"`` divides by the summed weights of
    the targets not ignored (their count without ``weight``), NaN when nothing is left.

    Raises:
        TypeError, ValueError: as :func:`cross_entropy` for class-index targets.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> logp = np.log([[0.5, 0.5], [0.25, 0.75]])
        >>> F.nll_loss(logp, np.array([0, 1]), reduction="none")
        array([0.69314718, 0.28768207])
        >>> F.nll_loss(logp, np.array([0, 1]), weight=np.array([1.0, 3.0]))    # (0.69 + 3 * 0.29) / (1 + 3)
        array(0.38904835)
    """
    op = _class_targets("nll_loss", input, target, weight, ignore_index, reduction, allow_probabilities=False)
    return _reduce(op, np.where(op.kept, -op.w_t * op.pick(op.x), op.x.dtype.type(0)))


def nll_loss_backward(grad_output: Any, input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                      reduction: str = "mean") -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`nll_loss`: ``-w[t] * gy`` at each target's class (``/ divisor`` for mean), 0
    elsewhere and where ignored.

    Raises:
        TypeError, ValueError: as :func:`nll_loss`, and when ``grad_output`` has the wrong shape.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.nll_loss_backward(np.asarray(1.0), np.zeros((2, 2)), np.array([0, 1]), reduction="sum")
        (array([[-1.,  0.],
               [ 0., -1.]]),)
    """
    op = _class_targets("nll_loss", input, target, weight, ignore_index, reduction, allow_probabilities=False)
    gy = _upstream(op, "nll_loss", grad_output)
    grad = np.zeros_like(op.x, order="C")
    if op.classes:
        with np.errstate(invalid="ignore"):
            values = np.where(op.kept, -op.w_t * gy, op.x.dtype.type(0))
        np.put_along_axis(grad, np.expand_dims(op.safe, op.axis), np.expand_dims(values, op.axis), axis=op.axis)
    return (grad,)


# ----------------------------------------------------------------------------------------------------------
# Binary cross-entropy with logits
# ----------------------------------------------------------------------------------------------------------

def _softplus(z: np.ndarray) -> np.ndarray:
    """``log(1 + exp(z))`` without overflow and with full relative accuracy for very negative ``z``."""
    return np.maximum(z, z.dtype.type(0)) + np.log1p(np.exp(-np.abs(z)))


def _bce_args(input: Any, target: Any, weight: Any, reduction: Any, pos_weight: Any):
    op = "binary_cross_entropy_with_logits"
    x = as_float_array(input, "input")
    y = as_float_array(target, "target")
    if y.shape != x.shape:
        raise ValueError(f"{op}: target.shape={y.shape} must equal input.shape={x.shape}")
    reduction = _check_reduction(op, reduction)
    extras = []
    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is None:
            extras.append(None)
            continue
        a = as_float_array(value, name)
        try:
            fits = np.broadcast_shapes(a.shape, x.shape) == x.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{op}: {name}.shape={a.shape} must broadcast to input.shape={x.shape}")
        extras.append(a.astype(x.dtype, copy=False))
    return x, y, extras[0], extras[1], reduction


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> np.ndarray:
    """PyTorch's ``F.binary_cross_entropy_with_logits``: per element
    ``w * ((1 - y) * softplus(x) + p * y * softplus(-x))``, then reduced.

    This is PyTorch's ``w * ((1 - y) x + (1 + (p - 1) y) log(1 + exp(-x)))`` rearranged so that no terms
    cancel: for a target in [0, 1] both terms are non-negative, and ``softplus(z) = max(z, 0) +
    log1p(exp(-|z|))`` keeps its relative accuracy in the tails (``softplus(-700) = 1e-304``, which PyTorch
    rounds to 0).

    Args:
        input: logits, any shape, float32/float64. target: the same shape (probabilities, usually 0 or 1).
        weight: optional, broadcast to the input's shape (rescales each element).
        pos_weight: optional ``p``, broadcast to the input's shape (usually ``(C,)``, one per class along the
            last dim): the weight of the positive term.
        reduction: ``"mean"`` (over all elements; NaN for none), ``"sum"`` or ``"none"``.

    Raises:
        TypeError: an array is not a float array.
        ValueError: ``target.shape != input.shape``, ``weight``/``pos_weight`` does not broadcast to the input's
            shape, or ``reduction`` is unknown.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x, y = np.array([0.0, 0.0]), np.array([1.0, 0.0])
        >>> bool(np.isclose(F.binary_cross_entropy_with_logits(x, y), np.log(2)))
        True
        >>> F.binary_cross_entropy_with_logits(np.array([-700.0]), np.array([0.0]), reduction="none")
        array([9.85967654e-305])
    """
    x, y, w, p, reduction = _bce_args(input, target, weight, reduction, pos_weight)
    y = y.astype(x.dtype, copy=False)
    one = x.dtype.type(1)
    positive = y * _softplus(-x) if p is None else p * y * _softplus(-x)
    loss = (one - y) * _softplus(x) + positive
    if w is not None:
        loss = loss * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.asarray(loss.sum(dtype=x.dtype), dtype=x.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(loss.sum(dtype=x.dtype) / x.dtype.type(x.size), dtype=x.dtype)


def binary_cross_entropy_with_logits_backward(grad_output: Any, input: Any, target: Any, weight: Any = None,
                                              reduction: str = "mean",
                                              pos_weight: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``(grad_input, grad_target)`` of :func:`binary_cross_entropy_with_logits`, per element times ``w * gy``
    (``/ size`` for mean):

        grad_x = (1 - y) * sigmoid(x) - p * y * sigmoid(-x)      (no cancellation at saturation)
        grad_y = p * softplus(-x) - softplus(x)                  (= -x without pos_weight)

    ``weight`` and ``pos_weight`` get no gradient.

    Raises:
        TypeError, ValueError: as :func:`binary_cross_entropy_with_logits`, and when ``grad_output`` has the
            wrong shape (a scalar unless ``reduction="none"``).

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.binary_cross_entropy_with_logits_backward(np.asarray(1.0), np.zeros(2), np.array([1.0, 0.0]),
        ...                                             reduction="sum")
        (array([-0.5,  0.5]), array([-0., -0.]))
    """
    x, y, w, p, reduction = _bce_args(input, target, weight, reduction, pos_weight)
    gy = check_grad_output_shape("binary_cross_entropy_with_logits", grad_output,
                                 x.shape if reduction == "none" else ()).astype(x.dtype, copy=False)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            gy = gy / x.dtype.type(x.size)
    target_dtype, y = y.dtype, y.astype(x.dtype, copy=False)
    one = x.dtype.type(1)
    sig_pos, sig_neg = _sigmoid(x), _sigmoid(-x)
    pos = y * sig_neg if p is None else p * y * sig_neg
    grad_x = (one - y) * sig_pos - pos
    grad_y = -x if p is None else p * _softplus(-x) - _softplus(x)
    scale = gy if w is None else gy * w
    return (grad_x * scale).astype(x.dtype, copy=False), (grad_y * scale).astype(target_dtype, copy=False)


# ----------------------------------------------------------------------------------------------------------
# Mean squared error
# ----------------------------------------------------------------------------------------------------------

def _mse_args(input: Any, target: Any, reduction: Any):
    x = as_float_array(input, "input")
    y = as_float_array(target, "target")
    if x.shape != y.shape:
        raise ValueError(f"mse_loss: target.shape={y.shape} must equal input.shape={x.shape} (no broadcasting)")
    return x, y, _check_reduction("mse_loss", reduction), result_dtype(x, y)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> np.ndarray:
    """Mean squared error ``(input - target)^2``, reduced by ``"mean"``, ``"sum"`` or ``"none"``.

    ``input`` and ``target`` are float arrays of one shape; the result has their promoted dtype
    (a 0-d array unless ``reduction="none"``).

    Raises:
        TypeError: ``input`` or ``target`` is not a float array.
        ValueError: their shapes differ (there is no broadcasting), or ``reduction`` is unknown.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.mse_loss(np.array([1.0, 2.0]), np.array([0.0, 0.0])), F.mse_loss(np.ones(2), np.zeros(2), "sum")
        (array(2.5), array(2.))
    """
    x, y, reduction, dtype = _mse_args(input, target, reduction)
    diff = x.astype(dtype, copy=False) - y.astype(dtype, copy=False)
    loss = diff * diff
    if reduction == "none":
        return loss
    with np.errstate(invalid="ignore", divide="ignore"):  # the mean of nothing is NaN, as in PyTorch
        return np.asarray(loss.sum(dtype=dtype) / dtype.type(loss.size) if reduction == "mean" else loss.sum(),
                          dtype=dtype)


def mse_loss_backward(grad_output: Any, input: Any, target: Any,
                      reduction: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """``(grad_input, grad_target)`` of :func:`mse_loss`: ``+-2 (input - target) * gy`` (``/ size`` for mean).

    Raises:
        TypeError, ValueError: as :func:`mse_loss`, and when ``grad_output`` has the wrong shape (a scalar
            unless ``reduction="none"``).

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.mse_loss_backward(np.asarray(1.0), np.array([1.0, 2.0]), np.array([0.0, 0.0]))
        (array([1., 2.]), array([-1., -2.]))
    """
    x, y, reduction, dtype = _mse_args(input, target, reduction)
    gy = check_grad_output_shape("mse_loss", grad_output, x.shape if reduction == "none" else ())
    diff = x.astype(dtype, copy=False) - y.astype(dtype, copy=False)
    scale = gy.astype(dtype, copy=False) * dtype.type(2)
    if reduction == "mean":
        scale = scale / dtype.type(max(x.size, 1))
    grad = diff * scale
    return grad.astype(x.dtype, copy=False), (-grad).astype(y.dtype, copy=False)
