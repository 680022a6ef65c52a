"""Element-wise activations and ``flatten``, each with its backward (PyTorch's semantics).

For an input ``x`` of any shape and upstream gradient ``gy`` of the same shape:

    relu(x)        = max(x, 0)                  grad = 0 if x <= 0 else gy    (0 at x == 0; gy at NaN, as PyTorch)
    relu6(x)       = min(max(x, 0), 6)          grad = gy if 0 < x < 6 else 0 (also 0 at NaN)
    leaky_relu(x)  = x if x > 0 else a * x      grad = gy if x > 0 else a * gy
    hardswish(x)   = x * relu6(x + 3) / 6       grad = 0 (x <= -3), gy * (x / 3 + 1/2) (-3 < x < 3), gy (x >= 3)
    sigmoid(x)     = 1 / (1 + exp(-x))          grad = gy * y * (1 - y) = gy * e / (1 + e)^2,  e = exp(-|x|)
    tanh(x)        = tanh(x)                    grad = gy * (1 - y^2)   = gy * 4 e / (1 + e)^2,  e = exp(-2|x|)
    silu(x)        = x * sigmoid(x)             grad = gy * s * (1 + x * (1 - s)),  s = sigmoid(x)
    gelu(x)        = x * Phi(x) = x/2 * erfc(-x / sqrt(2))          grad = gy * (Phi(x) + x * phi(x))
    gelu(x, tanh)  = x/2 * (1 + tanh(u)) = x * sigmoid(2u),   u = sqrt(2/pi) * (x + 0.044715 x^3)
                                                grad = gy * (s + 2 x s (1 - s) u'),  s = sigmoid(2u)

NaN propagates through every forward. ``sigmoid`` never overflows: it uses ``exp(-|x|)`` on both sides.
Saturating derivatives are computed from ``exp(-|x|)`` rather than as ``1 - y^2`` or ``y (1 - y)``, whose
cancellation returns 0 where the true derivative is tiny but representable (``tanh'(30) = 3.5e-26``): these
backward passes are at least as accurate as PyTorch's everywhere and exact to rounding where PyTorch's are
not. Exact GELU uses ``erfc`` (SciPy's when it is installed, else :func:`math.erfc` element by element), so
``Phi(x)`` keeps its relative accuracy far into the left tail instead of cancelling in ``1 + erf``.
``flatten`` merges dims ``start_dim..end_dim`` into one; its backward reshapes back.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ._args import _is_int, as_float_array, check_grad_output_shape

__all__ = [
    "relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "sigmoid", "sigmoid_backward",
    "tanh", "tanh_backward", "flatten", "flatten_backward", "relu6", "relu6_backward",
    "hardswish", "hardswish_backward", "silu", "silu_backward", "gelu", "gelu_backward",
]


def _input_and_grad(op: str, grad_output: Any, input: Any) -> tuple[np.ndarray, np.ndarray]:
    x = as_float_array(input, "input")
    gy = check_grad_output_shape(op, grad_output, x.shape).astype(x.dtype, copy=False)
    return x, gy


def relu(input: Any) -> np.ndarray:
    """``max(input, 0)`` element-wise, any shape; NaN stays NaN.

    Raises:
        TypeError: ``input`` is not a float32/float64 array (cast integers with ``.astype(np.float64)``).

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.relu(np.array([-1.0, 0.0, 2.0]))
        array([0., 0., 2.])
    """
    x = as_float_array(input, "input")
    return np.maximum(x, x.dtype.type(0))


def relu_backward(grad_output: Any, input: Any) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`relu`: 0 where ``input <= 0`` (also at 0), else ``grad_output``.

    Like PyTorch, a NaN input (NaN output) passes the gradient through. Every activation's backward takes
    ``(grad_output, input, *options)`` and returns a 1-tuple the same way.

    Raises:
        TypeError: ``input`` or ``grad_output`` is not a float array.
        ValueError: ``grad_output.shape`` differs from ``input.shape``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x, gy = np.array([-1.0, 0.0, 2.0]), np.array([5.0, 5.0, 5.0])
        >>> F.relu_backward(gy, x)
        (array([0., 0., 5.]),)
        >>> F.leaky_relu_backward(gy, x, negative_slope=0.5), F.tanh_backward(gy, np.zeros(3))
        ((array([2.5, 2.5, 5. ]),), (array([5., 5., 5.]),))
    """
    x, gy = _input_and_grad("relu", grad_output, input)
    return (np.where(x <= 0, x.dtype.type(0), gy),)


def _check_slope(negative_slope: Any) -> float:
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"leaky_relu: negative_slope={negative_slope!r} must be a real number")
    if not math.isfinite(negative_slope):
        raise ValueError(f"leaky_relu: negative_slope={negative_slope!r} must be finite")
    return float(negative_slope)


def leaky_relu(input: Any, negative_slope: float = 0.01) -> np.ndarray:
    """``input`` where positive, ``negative_slope * input`` elsewhere; any shape.

    Raises:
        TypeError: ``input`` is not a float array, or ``negative_slope`` is not a real number.
        ValueError: ``negative_slope`` is not finite.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.leaky_relu(np.array([-2.0, 0.0, 2.0]), negative_slope=0.25)
        array([-0.5,  0. ,  2. ])
    """
    x = as_float_array(input, "input")
    slope = x.dtype.type(_check_slope(negative_slope))
    with np.errstate(invalid="ignore"):  # -inf * 0 is NaN, as in PyTorch
        return np.where(x > 0, x, x * slope)


def leaky_relu_backward(grad_output: Any, input: Any, negative_slope: float = 0.01) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`leaky_relu`: ``grad_output`` where ``input > 0``, else scaled by the slope.

    Raises:
        TypeError, ValueError: as :func:`leaky_relu` and :func:`relu_backward` (example there).
    """
    slope = _check_slope(negative_slope)
    x, gy = _input_and_grad("leaky_relu", grad_output, input)
    return (np.where(x > 0, gy, gy * x.dtype.type(slope)),)


def sigmoid(input: Any) -> np.ndarray:
    """``1 / (1 + exp(-input))`` element-wise, computed without overflow for any finite input.

    Raises:
        TypeError: ``input`` is not a float32/float64 array (cast integers with ``.astype(np.float64)``).

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.sigmoid(np.array([-1000.0, 0.0, 1000.0]))   # no overflow warning at either end
        array([0. , 0.5, 1. ])
    """
    x = as_float_array(input, "input")
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow on either side
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def sigmoid_backward(grad_output: Any, input: Any) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`sigmoid`: ``grad_output * y * (1 - y)`` with ``y = sigmoid(input)``.

    Raises:
        TypeError: ``input`` or ``grad_output`` is not a float array.
        ValueError: ``grad_output.shape`` differs from ``input.shape``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.sigmoid_backward(np.array([1.0]), np.array([0.0]))   # 0.5 * (1 - 0.5)
        (array([0.25]),)
    """
    x, gy = _input_and_grad("sigmoid", grad_output, input)
    return (gy * _sigmoid_derivative(x),)


def _sigmoid_derivative(x: np.ndarray) -> np.ndarray:
    """``sigmoid(x) * (1 - sigmoid(x)) = e / (1 + e)^2`` with ``e = exp(-|x|)``: no cancellation, no overflow."""
    e = np.exp(-np.abs(x))
    one = x.dtype.type(1)
    return e / ((one + e) * (one + e))


def tanh(input: Any) -> np.ndarray:
    """Hyperbolic tangent element-wise.

    Raises:
        TypeError: ``input`` is not a float32/float64 array (cast integers with ``.astype(np.float64)``).

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.tanh(np.array([0.0], dtype=np.float32))       # the dtype is kept
        array([0.], dtype=float32)
    """
    return np.tanh(as_float_array(input, "input"))


def tanh_backward(grad_output: Any, input: Any) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`tanh`: ``grad_output * (1 - y^2)`` with ``y = tanh(input)``.

    Raises:
        TypeError: ``input`` or ``grad_output`` is not a float array.
        ValueError: ``grad_output.shape`` differs from ``input.shape``.

    See :func:`relu_backward` for an example.
    """
    x, gy = _input_and_grad("tanh", grad_output, input)
    e = np.exp(x.dtype.type(-2) * np.abs(x))  # in (0, 1]: 1 - tanh(x)^2 = 4 e / (1 + e)^2 without cancellation
    one = x.dtype.type(1)
    return (gy * (x.dtype.type(4) * e / ((one + e) * (one + e))),)


# ----------------------------------------------------------------------------------------------------------
# relu6, hardswish, silu, gelu
# ----------------------------------------------------------------------------------------------------------

def relu6(input: Any) -> np.ndarray:
    """``min(max(input, 0), 6)`` element-wise, any shape; NaN stays NaN (PyTorch's ``F.relu6``).

    Raises:
        TypeError: ``input`` is not a float32/float64 array.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.relu6(np.array([-1.0, 3.0, 7.0]))
        array([0., 3., 6.])
    """
    x = as_float_array(input, "input")
    return np.minimum(np.maximum(x, x.dtype.type(0)), x.dtype.type(6))


def relu6_backward(grad_output: Any, input: Any) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`relu6`: ``grad_output`` where ``0 < input < 6``, else 0 (also at 0 and 6).

    A NaN input gets a zero gradient, as in PyTorch's vectorised kernel (its scalar loop, used for tensors of
    fewer than a vector's width of elements, passes the gradient instead).

    Raises:
        TypeError: ``input`` or ``grad_output`` is not a float array.
        ValueError: ``grad_output.shape`` differs from ``input.shape``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.relu6_backward(np.ones(4), np.array([-1.0, 0.0, 3.0, 6.0]))
        (array([0., 0., 1., 0.]),)
    """
    x, gy = _input_and_grad("relu6", grad_output, input)
    return (np.where((x > 0) & (x < 6), gy, x.dtype.type(0)),)


def hardswish(input: Any) -> np.ndarray:
    """``input * relu6(input + 3) / 6`` element-wise (PyTorch's ``F.hardswish``, MobileNetV3's activation).

    Raises:
        TypeError: ``input`` is not a float32/float64 array.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.hardswish(np.array([-4.0, 0.0, 1.0, 4.0]))      # 1 * 4 / 6
        array([-0.        ,  0.        ,  0.66666667,  4.        ])
    """
    x = as_float_array(input, "input")
    t = x.dtype.type
    with np.errstate(invalid="ignore"):  # -inf * 0 is NaN, as in PyTorch
        return x * np.minimum(np.maximum(x + t(3), t(0)), t(6)) / t(6)


def hardswish_backward(grad_output: Any, input: Any) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`hardswish`: 0 for ``x <= -3``, ``gy * (x / 3 + 1/2)`` for ``-3 < x < 3``,
    ``gy`` for ``x >= 3`` (PyTorch's choice at the kinks; NaN for a NaN input, as PyTorch's vectorised kernel).

    Raises:
        TypeError: ``input`` or ``grad_output`` is not a float array.
        ValueError: ``grad_output.shape`` differs from ``input.shape``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.hardswish_backward(np.ones(4), np.array([-3.0, 0.0, 1.5, 3.0]))
        (array([0. , 0.5, 1. , 1. ]),)
    """
    x, gy = _input_and_grad("hardswish", grad_output, input)
    t = x.dtype.type
    middle = gy * (x / t(3) + t(0.5))
    return (np.where(x <= -3, t(0), np.where(x >= 3, gy, middle)),)


def silu(input: Any) -> np.ndarray:
    """``input * sigmoid(input)`` element-wise (PyTorch's ``F.silu``, also called swish).

    Raises:
        TypeError: ``input`` is not a float32/float64 array.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.silu(np.array([-1000.0, 0.0, 1000.0]))      # no overflow
        array([  -0.,    0., 1000.])
    """
    x = as_float_array(input, "input")
    with np.errstate(invalid="ignore"):  # -inf * 0 is NaN, as in PyTorch
        return x * sigmoid(x)


def silu_backward(grad_output: Any, input: Any) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`silu`: ``gy * s * (1 + x * (1 - s))``, ``1 - s = sigmoid(-x)`` (no cancellation).

    Raises:
        TypeError: ``input`` or ``grad_output`` is not a float array.
        ValueError: ``grad_output.shape`` differs from ``input.shape``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.silu_backward(np.ones(1), np.zeros(1))          # s = 1/2: 1/2 * (1 + 0)
        (array([0.5]),)
    """
    x, gy = _input_and_grad("silu", grad_output, input)
    s, s_neg = sigmoid(x), sigmoid(-x)
    with np.errstate(invalid="ignore"):  # inf * 0 at x = -inf is NaN, as in PyTorch
        return (gy * (s + x * s * s_neg),)


GELU_APPROXIMATIONS = ("none", "tanh")
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_KAPPA = 0.044715


def _check_approximate(approximate: Any) -> str:
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"gelu: approximate={approximate!r} must be one of {GELU_APPROXIMATIONS}")
    return approximate


def _erfc(z: np.ndarray) -> np.ndarray:
    """``erfc`` element-wise in ``z``'s dtype: SciPy's ufunc when installed, else :func:`math.erfc` per element."""
    try:
        from scipy.special import erfc
    except ImportError:  # pragma: no cover - depends on the environment
        return np.vectorize(math.erfc, otypes=[np.float64])(z).astype(z.dtype, copy=False)
    return erfc(z).astype(z.dtype, copy=False)


def _gelu_tanh_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(s, 2u, 2u')`` of the tanh approximation: ``s = sigmoid(2u)``, ``u = sqrt(2/pi) (x + k x^3)``."""
    t = x.dtype.type
    with np.errstate(over="ignore", invalid="ignore"):  # x^3 overflows to inf for |x| > 1e102: s is 0 or 1
        inner = t(2 * _SQRT_2_OVER_PI) * (x + t(_GELU_KAPPA) * x * x * x)
        inner_derivative = t(2 * _SQRT_2_OVER_PI) * (t(1) + t(3 * _GELU_KAPPA) * x * x)
    return sigmoid(inner), inner, inner_derivative


def gelu(input: Any, approximate: str = "none") -> np.ndarray:
    """Gaussian error linear unit, PyTorch's ``F.gelu``: ``x * Phi(x)`` (``"none"``) or its tanh form (``"tanh"``).

    ``Phi(x) = erfc(-x / sqrt(2)) / 2`` is the standard normal CDF; the tanh form is
    ``x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``, evaluated as ``x * sigmoid(2u)``.

    Raises:
        TypeError: ``input`` is not a float32/float64 array.
        ValueError: ``approximate`` is not ``"none"`` or ``"tanh"``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> np.round(F.gelu(np.array([-1.0, 0.0, 1.0])), 6)                    # x * Phi(x)
        array([-0.158655,  0.      ,  0.841345])
        >>> np.round(F.gelu(np.array([-1.0, 0.0, 1.0]), approximate="tanh"), 6)
        array([-0.158808,  0.      ,  0.841192])
    """
    x = as_float_array(input, "input")
    if _check_approximate(approximate) == "tanh":
        s, _, _ = _gelu_tanh_parts(x)
        with np.errstate(invalid="ignore"):  # -inf * 0 is NaN, as in PyTorch
            return x * s
    t = x.dtype.type
    with np.errstate(invalid="ignore"):  # -inf * 0 is NaN, as in PyTorch
        return x * (t(0.5) * _erfc(-x * t(math.sqrt(0.5))))


def gelu_backward(grad_output: Any, input: Any, approximate: str = "none") -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`gelu`: ``gy * (Phi(x) + x phi(x))``, or for ``"tanh"``
    ``gy * (s + 2 x s (1 - s) u')`` with ``s = sigmoid(2u)`` and ``s (1 - s)`` computed from ``exp(-|2u|)``.

    Raises:
        TypeError: ``input`` or ``grad_output`` is not a float array.
        ValueError: ``approximate`` is unknown, or ``grad_output.shape`` differs from ``input.shape``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.gelu_backward(np.ones(1), np.zeros(1)), F.gelu_backward(np.ones(1), np.zeros(1), "tanh")
        ((array([0.5]),), (array([0.5]),))
    """
    approximate = _check_approximate(approximate)
    x, gy = _input_and_grad("gelu", grad_output, input)
    t = x.dtype.type
    if approximate == "tanh":
        s, inner, inner_derivative = _gelu_tanh_parts(x)
        with np.errstate(invalid="ignore", over="ignore"):
            slope = _sigmoid_derivative(inner) * inner_derivative
            slope = np.where(np.isfinite(inner) | np.isnan(inner), slope, t(0))  # sigmoid flat where u = +-inf
            return (gy * (s + x * slope),)
    cdf = t(0.5) * _erfc(-x * t(math.sqrt(0.5)))
    pdf = np.exp(t(-0.5) * x * x) * t(1 / math.sqrt(2 * math.pi))
    with np.errstate(invalid="ignore"):
        return (gy * (cdf + x * pdf),)


def _flatten_shape(x: np.ndarray, start_dim: Any, end_dim: Any) -> tuple[int, ...]:
    rank = max(x.ndim, 1)  # a 0-d input flattens to (1,), as in PyTorch
    dims = []
    for name, dim in (("start_dim", start_dim), ("end_dim", end_dim)):
        if not _is_int(dim):
            raise TypeError(f"flatten: {name}={dim!r} must be an int")
        if not -rank <= dim < rank:
            raise ValueError(f"flatten: {name}={dim} is out of range for input.shape={x.shape} "
                             f"(expected {-rank} <= {name} < {rank})")
        dims.append(int(dim) % rank)
    start, end = dims
    if start > end:
        raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for input.shape={x.shape}")
    shape = x.shape if x.ndim else (1,)
    return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]


def flatten(input: Any, start_dim: int = 1, end_dim: int = -1) -> np.ndarray:
    """Merge dims ``start_dim..end_dim`` (inclusive; negative counts from the end) into one.

    ``(N, C, H, W)`` with the defaults gives ``(N, C*H*W)``. Unlike PyTorch's (a view where the layout
    allows it), the result is always a new array: no function here returns a view of its input.

    Raises:
        TypeError: ``input`` is not a float array, or ``start_dim``/``end_dim`` is not an int.
        ValueError: ``start_dim`` or ``end_dim`` is out of range for ``input.ndim``, or ``start_dim`` comes
            after ``end_dim``.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> x = np.zeros((2, 3, 4, 5))
        >>> F.flatten(x).shape, F.flatten(x, start_dim=2).shape, F.flatten(x, 0, 1).shape
        ((2, 60), (2, 3, 20), (6, 4, 5))
    """
    x = as_float_array(input, "input")
    return x.reshape(_flatten_shape(x, start_dim, end_dim)).copy()


def flatten_backward(grad_output: Any, input: Any, start_dim: int = 1, end_dim: int = -1) -> tuple[np.ndarray]:
    """``(grad_input,)`` of :func:`flatten`: ``grad_output`` reshaped to ``input.shape``.

    Raises:
        TypeError, ValueError: as :func:`flatten`, and when ``grad_output`` is not shaped like its output.

    Examples:
        >>> import numpy as np, vanilla_nn.functional as F
        >>> F.flatten_backward(np.ones((2, 60)), np.zeros((2, 3, 4, 5)))[0].shape
        (2, 3, 4, 5)
    """
    x = as_float_array(input, "input")
    gy = check_grad_output_shape("flatten", grad_output, _flatten_shape(x, start_dim, end_dim))
    return (gy.reshape(x.shape).astype(x.dtype, copy=True),)
