"""``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``: parameters plus calls into :mod:`vanilla_nn.functional`.

Weights: convolution ``(C_out, C_in / groups, *K)``, transposed ``(C_in, C_out / groups, *K)``; both
initialised as PyTorch does, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = weight.shape[1] * prod(K)``
(kaiming_uniform with ``a = sqrt(5)``), and the bias from the same bound.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import functional as F
from ..autograd.tensor import Tensor
from ..functional._args import PADDING_MODES, normalize_pads, ntuple
from ..functional.conv import (
    conv_backward_saved,
    conv_forward_saving,
    conv_transpose_backward_saved,
    conv_transpose_forward_saving,
)
from . import init
from .module import Module, Parameter, check_dtype

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


def _positive_int(value: Any, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be an int")
    if value < 1:
        raise ValueError(f"{name}={value!r} must be >= 1")
    return int(value)


class _ConvBase(Module):
    """Shared construction: channel/group checks, weight of shape ``weight_shape``, default init."""

    ndim: int

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, groups: int, bias: bool, padding_mode: str, dtype: Any, rng: Any,
                 transposed: bool) -> None:
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.groups = _positive_int(groups, "groups")
        if in_channels % groups:
            raise ValueError(f"in_channels={in_channels} must be divisible by groups={groups}")
        if out_channels % groups:
            raise ValueError(f"out_channels={out_channels} must be divisible by groups={groups}")
        self.kernel_size = ntuple(kernel_size, self.ndim, "kernel_size", minimum=1)
        self.stride = ntuple(stride, self.ndim, "stride", minimum=1)
        self.dilation = ntuple(dilation, self.ndim, "dilation", minimum=1)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode={padding_mode!r} must be one of {PADDING_MODES}")
        self.padding = padding
        self.padding_mode = padding_mode
        self.transposed = transposed
        dtype = check_dtype(dtype)
        if transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: Any = None) -> None:
        """PyTorch's default: kaiming_uniform(a=sqrt(5)) weight, ``U(+-1/sqrt(fan_in))`` bias."""
        init.default_weight_and_bias_(self.weight, self.bias, rng)

    def _bias_data(self) -> np.ndarray | None:
        return None if self.bias is None else self.bias.data

    def _accumulate(self, grad_weight: np.ndarray, grad_bias: np.ndarray | None) -> None:
        self.weight.accumulate_grad(grad_weight)
        if self.bias is not None and grad_bias is not None:
            self.bias.accumulate_grad(grad_bias)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in (0, (0,) * self.ndim):
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.ndim:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text


class _ConvNd(_ConvBase):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = np.float32, *, rng: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype, rng, transposed=False)

    def _args(self) -> tuple:
        return (self.stride, self.padding, self.dilation, self.groups, self.padding_mode)

    def forward(self, input: np.ndarray) -> np.ndarray:
        """``(N, C_in, *S)`` or ``(C_in, *S)`` -> ``(N, C_out, *O)``; caches the input for backward."""
        # the saved state keeps the padded channels-last input (and the im2col matrix when it fits the
        # workspace cap), so backward neither pads again nor rebuilds the windows
        if isinstance(input, Tensor):  # on the tape: the functional op records itself and keeps its state
            return getattr(F, f"conv{self.ndim}d")(input, self.weight, self.bias, *self._args())
        output, saved = conv_forward_saving(input, self.weight.data, self._bias_data(), *self._args())
        self._save(saved)
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_input, grad_weight, grad_bias = conv_backward_saved(grad_output, self._saved())
        self._accumulate(grad_weight, grad_bias)
        return grad_input


class Conv1d(_ConvNd):
    """``torch.nn.Conv1d``: input ``(N, C_in, L)``, weight ``(C_out, C_in / groups, K)``."""

    ndim = 1


class Conv2d(_ConvNd):
    """``torch.nn.Conv2d``: input ``(N, C_in, H, W)``, weight ``(C_out, C_in / groups, KH, KW)``.

    Arguments as PyTorch (``padding`` also takes ``"same"``/``"valid"`` and ``(before, after)`` pairs;
    ``device`` does not exist), plus ``dtype`` (float32 by default) and ``rng`` (Generator or seed for the
    initial weights; the global generator of :mod:`vanilla_nn.nn.init` when None).

    Raises:
        TypeError: a channel count or ``groups`` is not an int, or ``dtype`` is not float32/float64.
        ValueError: a channel count, kernel size, stride or dilation below 1, channels not divisible by
            ``groups``, or an unknown ``padding_mode``. Bad inputs to ``forward`` raise as
            :func:`vanilla_nn.functional.conv2d` does.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, rng=0)
        >>> conv.weight.shape, conv.weight.dtype, [name for name, _ in conv.named_parameters()]
        ((8, 3, 3, 3), dtype('float32'), ['weight', 'bias'])
        >>> y = conv(np.ones((2, 3, 5, 5), dtype=np.float32))
        >>> y.shape
        (2, 8, 5, 5)
        >>> grad_input = conv.backward(np.ones_like(y))   # adds into conv.weight.grad and conv.bias.grad
        >>> grad_input.shape, conv.bias.grad              # ones summed over 2 images x 5 x 5 positions
        ((2, 3, 5, 5), array([50., 50., 50., 50., 50., 50., 50., 50.], dtype=float32))
    """

    ndim = 2


class Conv3d(_ConvNd):
    """``torch.nn.Conv3d``: input ``(N, C_in, D, H, W)``, weight ``(C_out, C_in / groups, KD, KH, KW)``."""

    ndim = 3


class _ConvTransposeNd(_ConvBase):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", dtype: Any = np.float32, *,
                 rng: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode={padding_mode!r}: transposed convolutions support only 'zeros'")
        if isinstance(padding, str):
            raise ValueError(f"padding={padding!r}: transposed convolutions take ints or (before, after) pairs")
        output_padding = ntuple(output_padding, self.ndim, "output_padding")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype, rng, transposed=True)
        self.output_padding = output_padding

    def _args(self) -> tuple:
        return (self.stride, self.padding, self.output_padding, self.groups, self.dilation)

    def _output_padding(self, input: Any, output_size: Any) -> tuple[int, ...]:
        """PyTorch's rule: ``output_padding`` for the requested ``output_size`` (the layer's own when None).

        The smallest output is ``O_min = (S - 1)*s - p_before - p_after + d*(K - 1) + 1``; ``output_size``
        (spatial sizes, optionally after N and C, or after C for an unbatched input) must lie in
        ``[O_min, O_min + s - 1]`` in every dim, and ``output_padding = output_size - O_min``.
        """
        if output_size is None:
            return self.output_padding
        n = self.ndim
        shape = tuple(input.shape) if hasattr(input, "shape") else np.shape(input)
        if not isinstance(output_size, (tuple, list)) or not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in output_size):
            raise TypeError(f"output_size={output_size!r} must be a tuple of {n} ints (optionally preceded by "
                            f"N and C)")
        if len(shape) not in (n + 1, n + 2):
            raise ValueError(f"{type(self).__name__}: input must have {n + 2} dims (N, C, {n} spatial) or "
                             f"{n + 1} unbatched, got input.shape={shape}")
        leading = len(shape) - n
        sizes = tuple(int(v) for v in output_size)
        if len(sizes) == leading + n:
            sizes = sizes[leading:]
        if len(sizes) != n:
            raise ValueError(f"output_size={output_size!r} must have {n} or {leading + n} entries for "
                             f"input.shape={shape}")
        pads = normalize_pads(self.padding, n)
        smallest = tuple((size - 1) * s - lo - hi + d * (k - 1) + 1 for size, s, (lo, hi), d, k in zip(
            shape[leading:], self.stride, pads, self.dilation, self.kernel_size))
        largest = tuple(o + s - 1 for o, s in zip(smallest, self.stride))
        if any(not lo <= size <= hi for size, lo, hi in zip(sizes, smallest, largest)):
            raise ValueError(f"output_size={output_size!r} cannot be reached: valid sizes range from "
                             f"{smallest} to {largest} for input.shape={shape} (stride={self.stride}, "
                             f"padding={self.padding!r}, dilation={self.dilation}, kernel_size={self.kernel_size})")
        return tuple(size - o for size, o in zip(sizes, smallest))

    def forward(self, input: np.ndarray, output_size: Any = None) -> np.ndarray:
        """``(N, C_in, *S)`` -> ``(N, C_out, *O)``, ``O = (S-1)*s - pads + d*(K-1) + output_padding + 1``.

        ``output_size`` (spatial sizes, optionally after N and C) picks ``output_padding`` instead, as
        PyTorch does; a size no ``output_padding`` in ``[0, stride)`` reaches is a ``ValueError``.
        """
        args = (self.stride, self.padding, self._output_padding(input, output_size), self.groups, self.dilation)
        if isinstance(input, Tensor):  # on the tape
            return getattr(F, f"conv_transpose{self.ndim}d")(input, self.weight, self.bias, *args)
        # the typed state keeps the input in the memory order the backward reads
        output, saved = conv_transpose_forward_saving(input, self.weight.data, self._bias_data(), *args)
        self._save(saved)
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_input, grad_weight, grad_bias = conv_transpose_backward_saved(grad_output, self._saved())
        self._accumulate(grad_weight, grad_bias)
        return grad_input


class ConvTranspose1d(_ConvTransposeNd):
    """``torch.nn.ConvTranspose1d``: weight ``(C_in, C_out / groups, K)``."""

    ndim = 1


class ConvTranspose2d(_ConvTransposeNd):
    """``torch.nn.ConvTranspose2d``: weight ``(C_in, C_out / groups, KH, KW)``."""

    ndim = 2


class ConvTranspose3d(_ConvTransposeNd):
    """``torch.nn.ConvTranspose3d``: weight ``(C_in, C_out / groups, KD, KH, KW)``."""

    ndim = 3
