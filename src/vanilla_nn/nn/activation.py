"""Element-wise activations (``ReLU``, ``ReLU6``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``, ``Hardswish``, ``SiLU``,
``GELU``) and the ``Softmax``/``LogSoftmax`` layers.

``inplace`` is accepted for PyTorch compatibility and ignored: vanilla_nn never modifies its inputs.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import functional as F
from ..autograd.function import FunctionalCall
from .module import Module

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "Hardswish", "SiLU", "GELU", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """``max(x, 0)``; gradient ``gy * (x > 0)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(FunctionalCall((input,), {}))  # the same typed state the tape keeps
        return F.relu(input)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.relu_backward(grad_output, *self._saved().args)[0]


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(FunctionalCall((input, self.negative_slope), {}))
        return F.leaky_relu(input, self.negative_slope)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.leaky_relu_backward(grad_output, *self._saved().args)[0]

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``."""

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(FunctionalCall((input,), {}))  # the same typed state the tape keeps
        return F.sigmoid(input)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.sigmoid_backward(grad_output, *self._saved().args)[0]


class Tanh(Module):
    """``tanh(x)``."""

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(FunctionalCall((input,), {}))  # the same typed state the tape keeps
        return F.tanh(input)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.tanh_backward(grad_output, *self._saved().args)[0]


class ReLU6(Module):
    """``torch.nn.ReLU6``: ``min(max(x, 0), 6)``; gradient ``gy`` where ``0 < x < 6``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> layer = nn.ReLU6()
        >>> layer(np.array([-1.0, 3.0, 9.0])), layer.backward(np.ones(3))
        (array([0., 3., 6.]), array([0., 1., 0.]))
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(FunctionalCall((input,), {}))
        return F.relu6(input)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.relu6_backward(grad_output, *self._saved().args)[0]


class Hardswish(Module):
    """``torch.nn.Hardswish``: ``x * relu6(x + 3) / 6``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(FunctionalCall((input,), {}))
        return F.hardswish(input)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.hardswish_backward(grad_output, *self._saved().args)[0]


class SiLU(Module):
    """``torch.nn.SiLU``: ``x * sigmoid(x)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(FunctionalCall((input,), {}))
        return F.silu(input)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.silu_backward(grad_output, *self._saved().args)[0]


class GELU(Module):
    """``torch.nn.GELU``: ``x * Phi(x)`` (``approximate="none"``) or its tanh approximation (``"tanh"``).

    Raises:
        ValueError: ``approximate`` is not ``"none"`` or ``"tanh"``.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in F.activation.GELU_APPROXIMATIONS:
            raise ValueError(f"GELU: approximate={approximate!r} must be one of "
                             f"{F.activation.GELU_APPROXIMATIONS}")
        self.approximate = approximate

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(FunctionalCall((input, self.approximate), {}))
        return F.gelu(input, self.approximate)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.gelu_backward(grad_output, *self._saved().args)[0]

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class _SoftmaxBase(Module):
    """``dim=None`` picks PyTorch's legacy implicit dim (0 for 0-, 1- and 3-d input, else 1) with a warning."""

    _op = ""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        if dim is not None and (not isinstance(dim, (int, np.integer)) or isinstance(dim, bool)):
            raise TypeError(f"{type(self).__name__}: dim={dim!r} must be an int or None")
        self.dim = dim

    def _dim(self, input: np.ndarray) -> int:
        if self.dim is not None:
            return self.dim
        warnings.warn(f"Implicit dimension choice for {self._op} has been deprecated (as in PyTorch): pass dim",
                      UserWarning, stacklevel=3)
        return 0 if np.ndim(input) in (0, 1, 3) else 1

    def forward(self, input: np.ndarray) -> np.ndarray:
        dim = self._dim(input)
        self._save((input, dim))
        return getattr(F, self._op)(input, dim)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        input, dim = self._saved()
        return getattr(F, f"{self._op}_backward")(grad_output, input, dim)[0]

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """``torch.nn.Softmax(dim)``: ``exp(x) / sum(exp(x))`` along ``dim``; empty along an empty ``dim``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> nn.Softmax(dim=1)(np.log([[1.0, 3.0]]))
        array([[0.25, 0.75]])
    """

    _op = "softmax"


class LogSoftmax(_SoftmaxBase):
    """``torch.nn.LogSoftmax(dim)``: ``x - logsumexp(x)`` along ``dim``."""

    _op = "log_softmax"
