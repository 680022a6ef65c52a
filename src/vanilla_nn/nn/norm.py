"""``BatchNorm1d`` / ``BatchNorm2d``: affine parameters plus running statistics kept as buffers.

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

__all__ = ["BatchNorm1d", "BatchNorm2d"]


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
