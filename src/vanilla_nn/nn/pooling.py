"""Pooling layers over ``F.max_pool{n}d``, ``F.avg_pool{n}d`` and ``F.adaptive_avg_pool2d``.

``stride`` defaults to ``kernel_size``; max pooling pads with ``-inf`` (padding never wins the max).
Argument checking happens in the functional ops, on the first call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool2d"]


class _MaxPoolNd(Module):
    ndim: int

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        if return_indices:
            raise ValueError("return_indices=True is not supported; backward recomputes the argmax itself")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = False
        self.ceil_mode = ceil_mode

    def _args(self) -> tuple:
        return (self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def forward(self, input: np.ndarray) -> np.ndarray:
        output = getattr(F, f"max_pool{self.ndim}d")(input, *self._args())
        self._save(input)
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (grad_input,) = getattr(F, f"max_pool{self.ndim}d_backward")(grad_output, self._saved(), *self._args())
        return grad_input

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """``torch.nn.MaxPool1d``: ``(N, C, L)`` -> ``(N, C, L_out)``."""

    ndim = 1


class MaxPool2d(_MaxPoolNd):
    """``torch.nn.MaxPool2d``: ``(N, C, H, W)`` -> ``(N, C, OH, OW)``, the max over each (dilated) window."""

    ndim = 2


class MaxPool3d(_MaxPoolNd):
    """``torch.nn.MaxPool3d``: ``(N, C, D, H, W)`` -> ``(N, C, OD, OH, OW)``."""

    ndim = 3


class _AvgPoolNd(Module):
    ndim: int

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        if divisor_override is not None:
            raise ValueError(f"divisor_override={divisor_override!r} is not supported (leave it None)")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def _args(self) -> tuple:
        return (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def forward(self, input: np.ndarray) -> np.ndarray:
        output = getattr(F, f"avg_pool{self.ndim}d")(input, *self._args())
        self._save(input)
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (grad_input,) = getattr(F, f"avg_pool{self.ndim}d_backward")(grad_output, self._saved(), *self._args())
        return grad_input

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")


class AvgPool1d(_AvgPoolNd):
    """``torch.nn.AvgPool1d`` (no ``divisor_override`` in PyTorch's 1-d version either)."""

    ndim = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """``torch.nn.AvgPool2d``: the mean over each window (padding counted when ``count_include_pad``)."""

    ndim = 2


class AvgPool3d(_AvgPoolNd):
    """``torch.nn.AvgPool3d``."""

    ndim = 3


class AdaptiveAvgPool2d(Module):
    """``torch.nn.AdaptiveAvgPool2d``: output ``(N, C, *output_size)`` whatever the input size."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: np.ndarray) -> np.ndarray:
        output = F.adaptive_avg_pool2d(input, self.output_size)
        self._save(input)
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (grad_input,) = F.adaptive_avg_pool2d_backward(grad_output, self._saved(), self.output_size)
        return grad_input

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
