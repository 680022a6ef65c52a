"""``Tensor``: an ndarray with a place on the tape, and the small ops every array language needs.

Each method below is an op with its own small backward, written next to it (results are new arrays,
never views of the operand's data): the gradient of a broadcast
operand is summed back to its shape, an index's gradient is scattered with ``np.add.at`` (repeated
indices accumulate), a reduction's gradient is broadcast back. Network ops (convolution, pooling, losses,
...) are not here: they are :mod:`vanilla_nn.functional`'s, whose ``*_backward`` the tape calls.

Notation: ``g`` is the gradient of the op's output, ``a``/``b`` its operands.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .engine import Node, is_grad_enabled, run_backward

__all__ = ["Tensor", "tensor", "cat", "stack"]


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------

def _operand(value: Any) -> Any:
    """A Tensor stays; a Python or NumPy scalar becomes a Python scalar (it does not promote float32, as in
    PyTorch); anything else becomes an ndarray."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, np.ndarray):
        return value.item() if isinstance(value, np.generic) else value
    array = np.asarray(value)
    return array.item() if array.ndim == 0 and array.dtype.kind in "biufc" else array


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _sum_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape`` (the adjoint of NumPy broadcasting)."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, size in enumerate(shape)
                                      if size == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad.reshape(shape)


def _record(name: str, data: np.ndarray, inputs: Sequence[Any], saved: Any, backward: Any) -> Tensor:
    """Wrap ``data``; record a node when grad mode is on and any Tensor input requires grad."""
    out = Tensor(data)
    if is_grad_enabled():
        needs = [t if isinstance(t, Tensor) and t.requires_grad else None for t in inputs]
        if any(t is not None for t in needs):
            out.requires_grad = True
            out.grad_fn = Node(name, needs, saved, backward)
    return out


def _grad_like(grad: np.ndarray, operand: Any) -> np.ndarray | None:
    """``grad`` summed to a Tensor operand's shape and cast to its dtype; None for a constant."""
    if not isinstance(operand, Tensor):
        return None
    return _sum_to(grad, operand.data.shape).astype(operand.data.dtype, copy=False)


def _axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    for a in axes:
        if not isinstance(a, numbers.Integral) or not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"axis={axis!r} is out of range for a tensor of {ndim} dims")
    return tuple(int(a) % max(ndim, 1) for a in axes)


def _expand_reduced(grad: np.ndarray, axes: tuple[int, ...] | None, keepdims: bool,
                    shape: tuple[int, ...]) -> np.ndarray:
    """Put back the reduced axes of ``grad`` (size 1) so it broadcasts against ``shape``."""
    if keepdims or axes is None:
        return grad.reshape([1] * len(shape)) if axes is None and not keepdims else grad
    return np.expand_dims(grad, axes)


# ----------------------------------------------------------------------------------------------------------
# typed saved state of the small ops
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BinarySaved:
    """Operands of a binary elementwise op (Tensors, ndarrays or scalars) and their data."""

    a: Any
    b: Any
    a_data: Any
    b_data: Any


@dataclass(frozen=True)
class UnarySaved:
    """The input Tensor of a unary op, its data and (where the backward uses it) the output's data."""

    a: Any
    x: np.ndarray
    y: np.ndarray | None = None
    extra: Any = None


@dataclass(frozen=True)
class ShapeSaved:
    """What a reshape-like op needs to put a gradient back: the input's shape and dtype, and the op's argument."""

    shape: tuple[int, ...]
    dtype: np.dtype
    arg: Any = None


@dataclass(frozen=True)
class JoinSaved:
    """``cat``/``stack``: the axis and each input's size along it."""

    axis: int
    sizes: tuple[int, ...]
    dtypes: tuple[np.dtype, ...]
    stacked: bool


# ----------------------------------------------------------------------------------------------------------
# backward functions: (g, saved, needs) -> one gradient per recorded input; ``needs`` is the node's
# needs_input_grad, and a gradient nobody reads (needs[i] False: a constant, or a Tensor without
# requires_grad) is returned as None without being computed
# ----------------------------------------------------------------------------------------------------------

def _add_backward(g, s: BinarySaved, needs):
    return (_grad_like(g, s.a) if needs[0] else None,
            _grad_like(g, s.b) if needs[1] else None)


def _sub_backward(g, s: BinarySaved, needs):
    return (_grad_like(g, s.a) if needs[0] else None,
            _grad_like(-g, s.b) if needs[1] else None)


def _mul_backward(g, s: BinarySaved, needs):
    return (_grad_like(g * s.b_data, s.a) if needs[0] else None,
            _grad_like(g * s.a_data, s.b) if needs[1] else None)


def _div_backward(g, s: BinarySaved, needs):
    return (_grad_like(g / s.b_data, s.a) if needs[0] else None,
            _grad_like(-g * s.a_data / (s.b_data * s.b_data), s.b) if needs[1] else None)


def _pow_backward(g, s: UnarySaved, needs):
    p = s.extra
    if p == 0:
        return (np.zeros_like(s.x),)
    return ((g * (p * s.x ** (p - 1))).astype(s.x.dtype, copy=False),)


def _matmul_backward(g, s: BinarySaved, needs):
    a, b = s.a_data, s.b_data
    if a.ndim == 1 and b.ndim == 1:  # inner product: g is 0-d
        return _grad_like(g * b, s.a) if needs[0] else None, _grad_like(g * a, s.b) if needs[1] else None
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g[..., None, :] if a.ndim == 1 else g
    g2 = g2[..., None] if b.ndim == 1 else g2
    grad_a = _sum_to(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape) if needs[0] else None
    grad_b = _sum_to(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape) if needs[1] else None
    return (None if grad_a is None else grad_a.astype(a.dtype, copy=False),
            None if grad_b is None else grad_b.astype(b.dtype, copy=False))


def _neg_backward(g, s: UnarySaved, needs):
    return (-g,)


def _exp_backward(g, s: UnarySaved, needs):
    return (g * s.y,)


def _log_backward(g, s: UnarySaved, needs):
    return (g / s.x,)


def _sqrt_backward(g, s: UnarySaved, needs):
    return (g / (s.y + s.y),)


def _abs_backward(g, s: UnarySaved, needs):
    return (g * np.sign(s.x),)


def _clip_backward(g, s: UnarySaved, needs):
    low, high = s.extra
    inside = np.ones(s.x.shape, dtype=bool)
    if low is not None:
        inside &= s.x >= low
    if high is not None:
        inside &= s.x <= high
    return (np.where(inside, g, s.x.dtype.type(0)),)


def _sum_backward(g, s: ShapeSaved, needs):
    axes, keepdims = s.arg
    return (np.broadcast_to(_expand_reduced(g, axes, keepdims, s.shape), s.shape).astype(s.dtype),)


def _mean_backward(g, s: ShapeSaved, needs):
    axes, keepdims, count = s.arg
    grad = _expand_reduced(g, axes, keepdims, s.shape) / s.dtype.type(count) if count else g
    return (np.broadcast_to(grad, s.shape).astype(s.dtype),)


def _max_backward(g, s: UnarySaved, needs):
    axes, keepdims = s.extra
    if axes is None:  # the gradient is shared equally by the tied maxima (PyTorch's max() / amax)
        hits = s.x == s.y
        return (np.where(hits, g / hits.sum(), s.x.dtype.type(0)).astype(s.x.dtype, copy=False),)
    (axis,) = axes  # first maximum along the axis receives it (PyTorch's max(dim))
    index = np.expand_dims(np.argmax(s.x, axis=axis), axis)
    grad = np.zeros_like(s.x)
    np.put_along_axis(grad, index, _expand_reduced(g, axes, keepdims, s.x.shape), axis=axis)
    return (grad,)


def _reshape_backward(g, s: ShapeSaved, needs):
    return (g.reshape(s.shape),)


def _transpose_backward(g, s: ShapeSaved, needs):
    return (g.transpose(np.argsort(s.arg)),)


def _index_backward(g, s: ShapeSaved, needs):
    index, basic = s.arg
    grad = np.zeros(s.shape, dtype=s.dtype)
    if basic:
        grad[index] = g
    else:
        np.add.at(grad, index, g)
    return (grad,)


def _join_backward(g, s: JoinSaved, needs):
    if s.stacked:
        return tuple(np.take(g, i, axis=s.axis).astype(d, copy=False) if need else None
                     for i, (d, need) in enumerate(zip(s.dtypes, needs)))
    bounds = np.cumsum(s.sizes)[:-1]
    return tuple(part.astype(d, copy=False) if need else None
                 for part, d, need in zip(np.split(g, bounds, axis=s.axis), s.dtypes, needs))


def _cast_backward(g, s: ShapeSaved, needs):
    return (g.astype(s.dtype),)


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, numbers.Integral)) and not isinstance(p, bool)
               for p in parts)


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_data(p) for p in index)
    return _data(index)


# ----------------------------------------------------------------------------------------------------------
# Tensor
# ----------------------------------------------------------------------------------------------------------

class Tensor:
    """An ndarray (``data``) that records the ops applied to it when ``requires_grad``.

    ``grad`` (an ndarray or None) receives the gradient of ``backward``; ``grad_fn`` is the node of the op
    that made this tensor (None for a leaf). Arithmetic follows NumPy broadcasting and dtype promotion,
    except that a Python or NumPy scalar never promotes a float32 tensor (as in PyTorch).

    Examples:
        >>> import vanilla_nn as vn
        >>> x = vn.tensor([1.0, 2.0, 3.0], requires_grad=True)
        >>> y = (x * x).sum()
        >>> y
        tensor(14., grad_fn=<sum>)
        >>> y.backward(); x.grad
        array([2., 4., 6.])
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to the Tensor's reflected op: the result stays on the tape
    __hash__ = object.__hash__
    is_parameter = False  # True for nn.Parameter (graph() labels it)

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        array = data if isinstance(data, np.ndarray) else np.asarray(data)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {array.dtype}")
        self.data: np.ndarray = array
        self.grad: np.ndarray | None = None
        self.requires_grad: bool = bool(requires_grad)
        self.grad_fn: Node | None = None

    # -- attributes --------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        """The data (shared, not copied), as ``detach().numpy()`` in PyTorch."""
        return self.data

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.data.shape}")
        return self.data.item()

    def detach(self) -> Tensor:
        """The same data as a new leaf that does not require grad."""
        return Tensor(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.data, dtype=dtype) if copy is None else np.array(self.data, dtype=dtype, copy=copy)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.data.dtype not in (np.float64, np.int64, np.bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({body}{''.join(', ' + e for e in extras)})"

    # -- gradients ---------------------------------------------------------------------------------------
    def _accumulate_grad(self, grad: np.ndarray) -> None:
        """``self.grad += grad`` (a fresh array in this tensor's dtype the first time)."""
        if grad.shape != self.data.shape:
            raise ValueError(f"gradient of shape {grad.shape} does not match the tensor's shape {self.data.shape}")
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.data.dtype, copy=True)
        else:
            self.grad += grad

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Add d(self)/d(leaf), weighted by ``gradient``, into ``.grad`` of every leaf that requires grad.

        ``gradient`` defaults to 1 for a single-element tensor. The graph's saved state is freed unless
        ``retain_graph``: a second backward through it is an error.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad and has no grad_fn: no input "
                               "of the ops that made it requires grad")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a single-element output; this one has "
                                   f"shape {self.data.shape}: pass gradient= of that shape")
            grad = np.ones(self.data.shape, dtype=self.data.dtype)
        else:
            grad = np.asarray(_data(gradient))
            if grad.shape != self.data.shape:
                raise ValueError(f"backward(gradient=...): gradient.shape={grad.shape} must equal the tensor's "
                                 f"shape {self.data.shape}")
            grad = grad.astype(self.data.dtype, copy=False)
        run_backward([(self, grad)], retain_graph=retain_graph)

    # -- arithmetic --------------------------------------------------------------------------------------
    def _binary(self, other: Any, name: str, function: Any, backward: Any, reflected: bool = False) -> Tensor:
        other = _operand(other)
        a, b = (other, self) if reflected else (self, other)
        a_data, b_data = _data(a), _data(b)
        return _record(name, function(a_data, b_data), (a, b), BinarySaved(a, b, a_data, b_data), backward)

    def __add__(self, other: Any) -> Tensor:
        return self._binary(other, "add", np.add, _add_backward)

    def __radd__(self, other: Any) -> Tensor:
        return self._binary(other, "add", np.add, _add_backward, reflected=True)

    def __sub__(self, other: Any) -> Tensor:
        return self._binary(other, "sub", np.subtract, _sub_backward)

    def __rsub__(self, other: Any) -> Tensor:
        return self._binary(other, "sub", np.subtract, _sub_backward, reflected=True)

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(other, "mul", np.multiply, _mul_backward)

    def __rmul__(self, other: Any) -> Tensor:
        return self._binary(other, "mul", np.multiply, _mul_backward, reflected=True)

    def __truediv__(self, other: Any) -> Tensor:
        return self._binary(other, "div", np.true_divide, _div_backward)

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._binary(other, "div", np.true_divide, _div_backward, reflected=True)

    def __matmul__(self, other: Any) -> Tensor:
        return self._binary(np.asarray(other) if not isinstance(other, Tensor) else other, "matmul", np.matmul,
                            _matmul_backward)

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._binary(np.asarray(other), "matmul", np.matmul, _matmul_backward, reflected=True)

    def __neg__(self) -> Tensor:
        return _record("neg", -self.data, (self,), None, _neg_backward)

    def __pos__(self) -> Tensor:
        return self

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, Tensor) or not isinstance(_operand(exponent), numbers.Real):
            raise TypeError(f"tensor ** exponent: the exponent must be a real scalar, got {type(exponent).__name__}")
        p = _operand(exponent)
        return _record("pow", self.data ** p, (self,), UnarySaved(self, self.data, extra=p), _pow_backward)

    # comparisons: plain boolean ndarrays, never on the tape
    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < _data(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= _data(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > _data(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= _data(other)

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data == _data(other)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data != _data(other)

    # -- elementwise functions ---------------------------------------------------------------------------
    def exp(self) -> Tensor:
        y = np.exp(self.data)
        return _record("exp", y, (self,), UnarySaved(self, self.data, y), _exp_backward)

    def log(self) -> Tensor:
        return _record("log", np.log(self.data), (self,), UnarySaved(self, self.data), _log_backward)

    def sqrt(self) -> Tensor:
        y = np.sqrt(self.data)
        return _record("sqrt", y, (self,), UnarySaved(self, self.data, y), _sqrt_backward)

    def abs(self) -> Tensor:
        return _record("abs", np.abs(self.data), (self,), UnarySaved(self, self.data), _abs_backward)

    def __abs__(self) -> Tensor:
        return self.abs()

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (NumPy's and PyTorch's names)
        """Values limited to ``[min, max]``; the gradient passes where ``min <= x <= max`` (as ``torch.clamp``)."""
        if min is None and max is None:
            raise ValueError("clip() needs min or max")
        low = None if min is None else _data(_operand(min))
        high = None if max is None else _data(_operand(max))
        y = np.clip(self.data, low, high)
        return _record("clip", y, (self,), UnarySaved(self, self.data, extra=(low, high)), _clip_backward)

    clamp = clip

    def relu(self) -> Tensor:
        from .. import functional as F

        return F.relu(self)

    def sigmoid(self) -> Tensor:
        from .. import functional as F

        return F.sigmoid(self)

    def tanh(self) -> Tensor:
        from .. import functional as F

        return F.tanh(self)

    def softmax(self, dim: int) -> Tensor:
        from .. import functional as F

        return F.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        from .. import functional as F

        return F.log_softmax(self, dim)

    def astype(self, dtype: Any) -> Tensor:
        """A copy in ``dtype``; the gradient is cast back to this tensor's dtype."""
        return _record("cast", self.data.astype(dtype), (self,), ShapeSaved(self.data.shape, self.data.dtype),
                       _cast_backward)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    # -- reductions --------------------------------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        """Sum over ``axis`` (or PyTorch's ``dim``/``keepdim``); all elements by default."""
        axes = _axes(dim if axis is None else axis, self.data.ndim)
        keep = bool(keepdim if keepdim is not None else keepdims)
        y = np.sum(self.data, axis=axes, keepdims=keep)
        return _record("sum", np.asarray(y), (self,), ShapeSaved(self.data.shape, self.data.dtype, (axes, keep)),
                       _sum_backward)

    def mean(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
             keepdim: bool | None = None) -> Tensor:
        axes = _axes(dim if axis is None else axis, self.data.ndim)
        keep = bool(keepdim if keepdim is not None else keepdims)
        count = self.data.size if axes is None else int(np.prod([self.data.shape[a] for a in axes]))
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty mean is NaN, as in PyTorch
            y = np.mean(self.data, axis=axes, keepdims=keep)
        return _record("mean", np.asarray(y, dtype=self.data.dtype), (self,),
                       ShapeSaved(self.data.shape, self.data.dtype, (axes, keep, count)), _mean_backward)

    def max(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        """The maximum over one ``axis`` (values only) or over all elements."""
        axes = _axes(dim if axis is None else axis, self.data.ndim)
        if axes is not None and len(axes) != 1:
            raise ValueError(f"max(axis={axis!r}): one axis or None")
        keep = bool(keepdim if keepdim is not None else keepdims)
        y = np.asarray(np.max(self.data, axis=None if axes is None else axes[0], keepdims=keep))
        return _record("max", y, (self,), UnarySaved(self, self.data, y, (axes, keep)), _max_backward)

    # -- shapes ------------------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        target = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _record("reshape", self.data.reshape(target).copy(), (self,),
                       ShapeSaved(self.data.shape, self.data.dtype), _reshape_backward)

    view = reshape

    def permute(self, *dims: Any) -> Tensor:
        """Axes reordered: ``permute(2, 0, 1)`` (PyTorch) or ``permute((2, 0, 1))``."""
        order = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        if sorted(int(d) % max(self.ndim, 1) for d in order) != list(range(self.ndim)):
            raise ValueError(f"permute{order}: not a permutation of the {self.ndim} dims of shape {self.shape}")
        order = tuple(int(d) % self.ndim for d in order)
        return _record("permute", self.data.transpose(order).copy(), (self,),
                       ShapeSaved(self.data.shape, self.data.dtype, order), _transpose_backward)

    def transpose(self, *dims: Any) -> Tensor:
        """``transpose(d0, d1)`` swaps two dims (PyTorch); no argument reverses them; a full order permutes."""
        if not dims:
            return self.permute(tuple(range(self.ndim))[::-1])
        if len(dims) == 2 and all(isinstance(d, numbers.Integral) for d in dims):
            order = list(range(self.ndim))
            d0, d1 = (int(d) % max(self.ndim, 1) for d in dims)
            order[d0], order[d1] = order[d1], order[d0]
            return self.permute(tuple(order))
        return self.permute(*dims)

    @property
    def T(self) -> Tensor:  # noqa: N802 (NumPy's and PyTorch's name)
        return self.permute(tuple(range(self.ndim))[::-1])

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Dims ``start_dim..end_dim`` merged into one (PyTorch's defaults: everything)."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        if start > end:
            raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for shape {self.shape}")
        shape = self.shape[:start] + (int(np.prod(self.shape[start:end + 1])),) + self.shape[end + 1:]
        return self.reshape(shape)

    def squeeze(self, dim: Any = None) -> Tensor:
        """Size-1 dims removed (all of them, or ``dim`` if it has size 1)."""
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            axes = _axes(dim, self.ndim) or ()
            shape = tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim: int) -> Tensor:
        """A size-1 dim inserted at ``dim`` (``-1`` appends)."""
        if not isinstance(dim, numbers.Integral) or not -self.ndim - 1 <= dim <= self.ndim:
            raise ValueError(f"unsqueeze(dim={dim!r}) out of range for a tensor of {self.ndim} dims")
        position = int(dim) % (self.ndim + 1)
        return self.reshape(self.shape[:position] + (1,) + self.shape[position:])

    def __getitem__(self, index: Any) -> Tensor:
        """NumPy indexing; an integer-array index's repeated entries accumulate in the gradient."""
        index = _unwrap_index(index)
        y = np.array(self.data[index], copy=True)
        saved = ShapeSaved(self.data.shape, self.data.dtype, (index, _is_basic_index(index)))
        return _record("index", y, (self,), saved, _index_backward)


def _join(tensors: Sequence[Any], dim: int, stacked: bool) -> Tensor:
    name = "stack" if stacked else "cat"
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise ValueError(f"{name}: tensors must be a non-empty list or tuple")
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"{name}: dim={dim!r} must be an int")
    items = [t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in tensors]
    arrays = [t.data for t in items]
    try:
        data = np.stack(arrays, axis=dim) if stacked else np.concatenate(arrays, axis=dim)
    except (ValueError, np.exceptions.AxisError) as error:
        raise ValueError(f"{name}(dim={dim}): shapes {[a.shape for a in arrays]}: {error}") from None
    axis = int(dim) % data.ndim
    sizes = tuple(1 if stacked else a.shape[axis] for a in arrays)
    return _record(name, data, items, JoinSaved(axis, sizes, tuple(a.dtype for a in arrays), stacked), _join_backward)


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Tensors joined along an existing ``dim`` (``torch.cat``); the gradient is split back."""
    return _join(tensors, dim, stacked=False)


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Tensors of one shape stacked along a new ``dim`` (``torch.stack``)."""
    return _join(tensors, dim, stacked=True)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf Tensor holding a copy of ``data`` (an array, a list, a scalar or a Tensor).

    ``dtype`` None keeps the data's own dtype (NumPy's: Python floats become float64).

    Raises:
        TypeError: ``requires_grad`` with a non-floating dtype.
    """
    array = np.array(_data(data), dtype=dtype, copy=True)
    return Tensor(array, requires_grad=requires_grad)
