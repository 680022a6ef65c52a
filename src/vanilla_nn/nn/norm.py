"""``BatchNorm1d`` / ``2d`` / ``3d``: affine parameters plus running statistics kept as buffers; ``GroupNorm`` and
``LayerNorm``: per-sample statistics, affine parameters only.

Training: normalise with the batch's mean and biased variance, then update
``running = (1 - momentum) * running + momentum * batch`` (the unbiased variance, as PyTorch; with
``momentum=None`` a cumulative average, ``momentum = 1 / num_batches_tracked``). Eval: normalise with the
running statistics. Without ``track_running_stats`` the batch statistics are used in both modes.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import functional as F
from ..autograd.function import FunctionalCall
from ..autograd.tensor import Tensor
from .conv import _positive_int
from .module import Module, Parameter, check_dtype

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "LayerNorm"]


class _BatchNorm(Module):
    input_ranks: tuple[int, ...]

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = np.float32) -> None:
        super().__init__()
        self.num_features = _positive_int(num_features, "num_features")
        if not isinstance(eps, numbers.Real) or eps <= 0:
            raise ValueError(f"eps={eps!r} must be a positive number")
        if momentum is not None and (not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0):
            raise ValueError(f"momentum={momentum!r} must be None or a number between 0 and 1")
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = check_dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean = np.zeros_like(self.running_mean)
            self.running_var = np.ones_like(self.running_var)
            self.num_batches_tracked = np.array(0, dtype=np.int64)

    def _check_input(self, input: Any) -> None:
        ndim = np.ndim(input)
        if ndim not in self.input_ranks:
            ranks = " or ".join(f"{r}-d" for r in self.input_ranks)
            raise ValueError(f"{type(self).__name__}: input must be {ranks} (N, C, ...), got input.shape="
                             f"{np.shape(input)}")
        if np.shape(input)[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: input.shape={np.shape(input)} has {np.shape(input)[1]} "
                             f"channels in dim 1, expected num_features={self.num_features}")

    def forward(self, input: np.ndarray) -> np.ndarray:
        self._check_input(input)
        on_tape = isinstance(input, Tensor)  # then the parameters go in as Tensors and the op records itself
        weight = self.weight if on_tape or self.weight is None else self.weight.data
        bias = self.bias if on_tape or self.bias is None else self.bias.data
        momentum = 0.0 if self.momentum is None else self.momentum
        update = self.training and self.track_running_stats
        if update:
            self.num_batches_tracked = self.num_batches_tracked + 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        args = (self.running_mean, self.running_var, weight, bias, use_batch_stats, momentum, self.eps)
        output = F.batch_norm(input, *args)
        self._save(FunctionalCall((input, *args), {}))  # the same typed state the tape keeps
        if update:
            self.running_mean, self.running_var = F.batch_norm_running_stats(
                input.data if on_tape else input, self.running_mean, self.running_var, momentum)
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_input, grad_weight, grad_bias = F.batch_norm_backward(grad_output, *self._saved().args)
        if self.weight is not None and grad_weight is not None:
            self.weight.accumulate_grad(grad_weight)
        if self.bias is not None and grad_bias is not None:
            self.bias.accumulate_grad(grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """``torch.nn.BatchNorm1d`` over ``(N, C)`` or ``(N, C, L)``: statistics per channel ``C``."""

    input_ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """``torch.nn.BatchNorm2d`` over ``(N, C, H, W)``: statistics per channel over ``N, H, W``.

    Raises:
        TypeError: ``num_features`` is not an int, or ``dtype`` is not float32/float64.
        ValueError: ``num_features`` below 1, ``eps`` not positive, ``momentum`` outside ``[0, 1]``; in
            ``forward``, an input that is not 4-d or whose ``C`` is not ``num_features``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> bn = nn.BatchNorm2d(1)                       # weight 1, bias 0; running mean 0, variance 1
        >>> x = np.array([-6.0, 2.0, 0.0, 8.0], dtype=np.float32).reshape(1, 1, 2, 2)   # mean 1, var 25
        >>> np.round(bn(x).ravel(), 4)                    # training: (x - 1) / 5
        array([-1.4,  0.2, -0.2,  1.4], dtype=float32)
        >>> bn.running_mean, bn.num_batches_tracked      # 0.9 * 0 + 0.1 * 1
        (array([0.1], dtype=float32), array(1))
        >>> _ = bn.eval(); bn(x).shape                    # eval: the running statistics
        (1, 1, 2, 2)
    """

    input_ranks = (4,)


class BatchNorm3d(_BatchNorm):
    """``torch.nn.BatchNorm3d`` over ``(N, C, D, H, W)``: statistics per channel over ``N, D, H, W``.

    Raises:
        TypeError, ValueError: as :class:`BatchNorm2d`; in ``forward``, an input that is not 5-d.
    """

    input_ranks = (5,)


class GroupNorm(Module):
    """``torch.nn.GroupNorm``: each sample's ``num_groups`` groups of ``num_channels / num_groups`` channels
    normalised over their values (and space), then a per-channel affine map ``weight (C,)``, ``bias (C,)``
    (ones and zeros) when ``affine``. Same in training and evaluation: no running statistics.

    Raises:
        TypeError: ``num_groups``/``num_channels`` is not an int, ``eps`` is not a number, or ``dtype`` is not
            float32/float64.
        ValueError: either is below 1, ``num_groups`` does not divide ``num_channels``, ``eps`` is not
            positive; in ``forward``, an input that is not ``(N, C, ...)`` with ``C == num_channels``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> gn = nn.GroupNorm(2, 4, dtype=np.float64)
        >>> np.round(gn(np.array([[-7.0, 1.0, -1.0, 7.0]])), 4)   # groups (-7, 1) and (-1, 7)
        array([[-1.,  1., -1.,  1.]])
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.num_groups = _positive_int(num_groups, "num_groups")
        self.num_channels = _positive_int(num_channels, "num_channels")
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups={num_groups} must divide num_channels={num_channels}")
        self.eps = _positive_eps(eps)
        self.affine = affine
        dtype = check_dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_channels, dtype=dtype))
            self.bias = Parameter(np.zeros(num_channels, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: np.ndarray) -> np.ndarray:
        shape = np.shape(input)
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: input.shape={shape} must be (N, C, ...) with C = num_channels="
                             f"{self.num_channels}")
        if isinstance(input, Tensor):
            return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)
        args = (self.num_groups, _data(self.weight), _data(self.bias), self.eps)
        self._save(FunctionalCall((input, *args), {}))  # the same typed state the tape keeps
        return F.group_norm(input, *args)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_input, grad_weight, grad_bias = F.group_norm_backward(grad_output, *self._saved().args)
        _accumulate(self.weight, grad_weight)
        _accumulate(self.bias, grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LayerNorm(Module):
    """``torch.nn.LayerNorm``: each slice over the last ``len(normalized_shape)`` dims normalised, then an
    elementwise affine map ``weight``, ``bias`` of ``normalized_shape`` (ones and zeros) when
    ``elementwise_affine`` (``bias=False``: the weight alone).

    Raises:
        TypeError: ``normalized_shape`` is not an int or a tuple of ints, ``eps`` is not a number, or ``dtype``
            is not float32/float64.
        ValueError: ``normalized_shape`` empty or a dim below 1, ``eps`` not positive; in ``forward``, an input whose
            last dims are not ``normalized_shape``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> ln = nn.LayerNorm(4, dtype=np.float64)
        >>> np.round(ln(np.array([[-7.0, 1.0, -1.0, 7.0], [1.0, 3.0, 1.0, 3.0]])), 4)
        array([[-1.4,  0.2, -0.2,  1.4],
               [-1. ,  1. , -1. ,  1. ]])
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = np.float32) -> None:
        super().__init__()
        dims = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
        if isinstance(normalized_shape, bool) or not isinstance(dims, (tuple, list)):
            raise TypeError(f"LayerNorm: normalized_shape={normalized_shape!r} must be an int or a tuple of ints")
        if not dims:
            raise ValueError(f"LayerNorm: normalized_shape={normalized_shape!r} must not be empty")
        self.normalized_shape = tuple(_positive_int(d, "normalized_shape") for d in dims)
        self.eps = _positive_eps(eps)
        self.elementwise_affine = elementwise_affine
        dtype = check_dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: np.ndarray) -> np.ndarray:
        shape, k = np.shape(input), len(self.normalized_shape)
        if len(shape) < k or tuple(shape[len(shape) - k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm: input.shape={shape} must end with normalized_shape="
                             f"{self.normalized_shape}")
        if isinstance(input, Tensor):
            return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)
        args = (self.normalized_shape, _data(self.weight), _data(self.bias), self.eps)
        self._save(FunctionalCall((input, *args), {}))  # the same typed state the tape keeps
        return F.layer_norm(input, *args)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_input, grad_weight, grad_bias = F.layer_norm_backward(grad_output, *self._saved().args)
        _accumulate(self.weight, grad_weight)
        _accumulate(self.bias, grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


def _positive_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps={eps!r} must be a positive number")
    if not eps > 0:
        raise ValueError(f"eps={eps!r} must be a positive number")
    return float(eps)


def _data(parameter: Parameter | None) -> np.ndarray | None:
    return None if parameter is None else parameter.data


def _accumulate(parameter: Parameter | None, grad: np.ndarray | None) -> None:
    if parameter is not None and grad is not None:
        parameter.accumulate_grad(grad)
