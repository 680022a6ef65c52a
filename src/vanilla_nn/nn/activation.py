"""Element-wise activations: ``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``.

``inplace`` is accepted for PyTorch compatibility and ignored: vanilla_nn never modifies its inputs.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh"]


class ReLU(Module):
    """``max(x, 0)``; gradient ``gy * (x > 0)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(input)
        return F.relu(input)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.relu_backward(grad_output, self._saved())[0]


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(input)
        return F.leaky_relu(input, self.negative_slope)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.leaky_relu_backward(grad_output, self._saved(), self.negative_slope)[0]

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``."""

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(input)
        return F.sigmoid(input)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.sigmoid_backward(grad_output, self._saved())[0]


class Tanh(Module):
    """``tanh(x)``."""

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._save(input)
        return F.tanh(input)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return F.tanh_backward(grad_output, self._saved())[0]
