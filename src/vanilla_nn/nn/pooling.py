"""Pooling and unpooling layers over the ops of :mod:`vanilla_nn.functional.pool`, PyTorch's names and defaults.

``stride`` defaults to ``kernel_size``; max pooling pads with ``-inf`` (padding never wins the max).
Argument checking happens in the functional ops, on the first call.

Called with an ndarray a layer runs the explicit path: ``forward`` keeps typed state (max pooling its argmax,
:class:`~vanilla_nn.functional.pool.MaxPoolSaved`) and ``backward(grad_output)`` returns ``grad_input``.
Called with a :class:`vanilla_nn.Tensor` it calls the functional op, which records its node on the tape, and
keeps nothing (nor under ``no_grad()``). With ``return_indices=True`` the max-pooling layers return
``(output, indices)``; only the output is differentiable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..autograd.engine import is_grad_enabled
from ..autograd.function import FunctionalCall
from ..autograd.tensor import Tensor
from ..functional._args import check_bool
from ..functional.pool import (
    adaptive_max_pool_backward_saved,
    adaptive_max_pool_forward_saving,
    max_pool_backward_saved,
    max_pool_forward_saving,
)
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
           "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]


def on_tape(*arrays: Any) -> bool:
    """True when an argument is a Tensor of the autograd (the layer then calls the functional op only)."""
    return any(isinstance(a, Tensor) for a in arrays)


def _ntuple(value: Any, n: int) -> Any:
    """PyTorch's ``_single``/``_pair``/``_triple``: an int repeated, anything else kept as it is."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


class _MaxPoolNd(Module):
    ndim: int

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = check_bool(return_indices, "return_indices")
        self.ceil_mode = ceil_mode

    def _args(self) -> tuple:
        return (self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def forward(self, input: Any) -> Any:
        """``(N, C, *S)`` -> ``(N, C, *O)``, or ``(output, indices)`` with ``return_indices``."""
        if on_tape(input):
            return getattr(F, f"max_pool{self.ndim}d")(input, *self._args(), self.return_indices)
        if not is_grad_enabled() and not self.return_indices:  # inference: the maxima alone, no argmax
            self._save(None)
            return getattr(F, f"max_pool{self.ndim}d")(input, *self._args())
        output, saved = max_pool_forward_saving(input, *self._args(), ndim=self.ndim)
        self._save(saved)
        if self.return_indices:
            return output, saved.input_indices()
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``grad_input`` from the argmax the forward kept (the gradient of the output, not of the indices)."""
        (grad_input,) = max_pool_backward_saved(grad_output, self._saved())
        return grad_input

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """``torch.nn.MaxPool1d``: ``(N, C, L)`` -> ``(N, C, L_out)``."""

    ndim = 1


class MaxPool2d(_MaxPoolNd):
    """``torch.nn.MaxPool2d``: ``(N, C, H, W)`` -> ``(N, C, OH, OW)``, the max over each (dilated) window.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> pool = nn.MaxPool2d(2, return_indices=True)
        >>> y, indices = pool(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> y[0, 0], indices[0, 0]
        (array([[ 5.,  7.],
               [13., 15.]]), array([[ 5,  7],
               [13, 15]]))
        >>> pool.backward(np.ones_like(y))[0, 0]    # each gradient goes to its window's maximum
        array([[0., 0., 0., 0.],
               [0., 1., 0., 1.],
               [0., 0., 0., 0.],
               [0., 1., 0., 1.]])
    """

    ndim = 2


class MaxPool3d(_MaxPoolNd):
    """``torch.nn.MaxPool3d``: ``(N, C, D, H, W)`` -> ``(N, C, OD, OH, OW)``."""

    ndim = 3


class _AvgPoolNd(Module):
    ndim: int

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def _args(self) -> tuple:
        args = (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        return args if self.ndim == 1 else (*args, self.divisor_override)

    def forward(self, input: Any) -> Any:
        output = getattr(F, f"avg_pool{self.ndim}d")(input, *self._args())
        self._save(FunctionalCall((input, *self._args()), {}))  # nothing kept on the tape or under no_grad()
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (grad_input,) = getattr(F, f"avg_pool{self.ndim}d_backward")(grad_output, *self._saved().args)
        return grad_input

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"  # PyTorch's


class AvgPool1d(_AvgPoolNd):
    """``torch.nn.AvgPool1d`` (no ``divisor_override`` in PyTorch's 1-d version either)."""

    ndim = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """``torch.nn.AvgPool2d``: the mean over each window (padding counted when ``count_include_pad``), or the
    sum divided by ``divisor_override`` when it is given."""

    ndim = 2


class AvgPool3d(_AvgPoolNd):
    """``torch.nn.AvgPool3d``."""

    ndim = 3


class _AdaptiveAvgPoolNd(Module):
    ndim: int

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Any) -> Any:
        output = getattr(F, f"adaptive_avg_pool{self.ndim}d")(input, self.output_size)
        self._save(FunctionalCall((input, self.output_size), {}))  # nothing kept on the tape or under no_grad()
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        backward = getattr(F, f"adaptive_avg_pool{self.ndim}d_backward")
        (grad_input,) = backward(grad_output, *self._saved().args)
        return grad_input

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """``torch.nn.AdaptiveAvgPool1d``: ``(N, C, L)`` -> ``(N, C, output_size)`` whatever ``L``."""

    ndim = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """``torch.nn.AdaptiveAvgPool2d``: output ``(N, C, *output_size)`` whatever the input size."""

    ndim = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """``torch.nn.AdaptiveAvgPool3d``: ``(N, C, D, H, W)`` -> ``(N, C, *output_size)``."""

    ndim = 3


class _AdaptiveMaxPoolNd(Module):
    ndim: int

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = check_bool(return_indices, "return_indices")

    def forward(self, input: Any) -> Any:
        """``(N, C, *S)`` -> ``(N, C, *output_size)``, or ``(output, indices)`` with ``return_indices``."""
        if on_tape(input):
            return getattr(F, f"adaptive_max_pool{self.ndim}d")(input, self.output_size, self.return_indices)
        output, saved = adaptive_max_pool_forward_saving(input, self.output_size, ndim=self.ndim)
        self._save(saved)
        if self.return_indices:
            return output, saved.input_indices()
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (grad_input,) = adaptive_max_pool_backward_saved(grad_output, self._saved())
        return grad_input

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """``torch.nn.AdaptiveMaxPool1d``: ``(N, C, L)`` -> ``(N, C, output_size)``."""

    ndim = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """``torch.nn.AdaptiveMaxPool2d``: the max over adaptive windows, ``(N, C, H, W)`` -> ``(N, C, *output_size)``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> pool = nn.AdaptiveMaxPool2d((1, 2))
        >>> pool(np.arange(12.0).reshape(1, 1, 3, 4))
        array([[[[ 9., 11.]]]])
    """

    ndim = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """``torch.nn.AdaptiveMaxPool3d``: ``(N, C, D, H, W)`` -> ``(N, C, *output_size)``."""

    ndim = 3


class _MaxUnpoolNd(Module):
    ndim: int

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self.ndim)
        self.stride = _ntuple(kernel_size if stride is None else stride, self.ndim)
        self.padding = _ntuple(padding, self.ndim)

    def forward(self, input: Any, indices: Any, output_size: Any = None) -> Any:
        """Pooled values and their indices -> the unpooled ``(N, C, *O)`` (zeros elsewhere)."""
        args = (self.kernel_size, self.stride, self.padding, output_size)
        output = getattr(F, f"max_unpool{self.ndim}d")(input, indices, *args)
        self._save(FunctionalCall((input, indices, *args), {}))
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``grad_input``: ``grad_output`` read back at the indices (the indices get no gradient)."""
        (grad_input,) = getattr(F, f"max_unpool{self.ndim}d_backward")(grad_output, *self._saved().args)
        return grad_input

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """``torch.nn.MaxUnpool1d``: ``(N, C, L)`` and indices -> ``(N, C, L_out)``."""

    ndim = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """``torch.nn.MaxUnpool2d``: the partial inverse of :class:`MaxPool2d` given its indices.

    ``forward(input, indices, output_size=None)``; ``output_size`` picks among the sizes a pooling could
    have come from (see :func:`vanilla_nn.functional.max_unpool2d`).

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
        >>> x = np.arange(25.0).reshape(1, 1, 5, 5)
        >>> y, indices = pool(x)
        >>> unpool(y, indices, output_size=x.shape).shape
        (1, 1, 5, 5)
        >>> unpool
        MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))
    """

    ndim = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """``torch.nn.MaxUnpool3d``: ``(N, C, D, H, W)`` and indices -> ``(N, C, *O)``."""

    ndim = 3
