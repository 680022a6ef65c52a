"""``Linear`` and ``Flatten``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..autograd.function import FunctionalCall
from ..autograd.tensor import Tensor
from . import init
from .conv import _positive_int
from .module import Module, Parameter, check_dtype

__all__ = ["Linear", "Flatten", "Identity"]


class Linear(Module):
    """``torch.nn.Linear``: ``y = x @ W^T + b``; ``x (*, in_features)``, ``W (out_features, in_features)``.

    Default initialisation as PyTorch: ``W, b ~ U(-1/sqrt(in_features), 1/sqrt(in_features))``. ``dtype`` is
    float32 by default; ``rng`` (Generator or seed) draws the initial values.

    Raises:
        TypeError: ``in_features``/``out_features`` is not an int, or ``dtype`` is not float32/float64.
        ValueError: ``in_features`` or ``out_features`` is below 1. Bad inputs to ``forward`` raise as
            :func:`vanilla_nn.functional.linear` does.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> layer = nn.Linear(2, 1)
        >>> layer.weight.data[...] = [[1.0, 2.0]]; layer.bias.data[...] = 0.5
        >>> layer(np.array([[1.0, 1.0]], dtype=np.float32))
        array([[3.5]], dtype=float32)
        >>> layer.backward(np.ones((1, 1), dtype=np.float32)), layer.weight.grad
        (array([[1., 2.]], dtype=float32), array([[1., 1.]], dtype=float32))
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32, *,
                 rng: Any = None) -> None:
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features")
        self.out_features = _positive_int(out_features, "out_features")
        dtype = check_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: Any = None) -> None:
        """PyTorch's default: kaiming_uniform(a=sqrt(5)) weight, ``U(+-1/sqrt(in_features))`` bias."""
        init.default_weight_and_bias_(self.weight, self.bias, rng)

    def forward(self, input: np.ndarray) -> np.ndarray:
        if isinstance(input, Tensor):  # on the tape: the functional op records itself
            return F.linear(input, self.weight, self.bias)
        bias = None if self.bias is None else self.bias.data
        output = F.linear(input, self.weight.data, bias)
        self._save(FunctionalCall((input, self.weight.data, bias), {}))  # the same typed state the tape keeps
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_input, grad_weight, grad_bias = F.linear_backward(grad_output, *self._saved().args)
        self.weight.accumulate_grad(grad_weight)
        if self.bias is not None and grad_bias is not None:
            self.bias.accumulate_grad(grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """``torch.nn.Flatten``: merge dims ``start_dim .. end_dim`` into one."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: np.ndarray) -> np.ndarray:
        output = F.flatten(input, self.start_dim, self.end_dim)
        self._save(FunctionalCall((input, self.start_dim, self.end_dim), {}))
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (grad_input,) = F.flatten_backward(grad_output, *self._saved().args)
        return grad_input

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """``torch.nn.Identity``: returns its input; the gradient passes through."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: np.ndarray) -> np.ndarray:
        return input

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output
