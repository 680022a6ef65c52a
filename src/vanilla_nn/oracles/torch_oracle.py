"""The PyTorch oracle: forward through ``torch.nn.functional``, gradients through autograd.

vanilla_nn's options map onto PyTorch's almost one to one (the layouts are PyTorch's). What PyTorch's
functional ops do not take directly is spelled out with explicit PyTorch ops, never computed by us:

- asymmetric ``(before, after)`` padding and ``'same'`` at stride > 1 (TensorFlow's rule): ``F.pad`` first,
  then the op with ``padding=0``;
- ``padding_mode`` reflect / replicate / circular: ``F.pad(mode=...)`` then the convolution, as
  ``torch.nn.Conv2d`` itself does;
- asymmetric padding of a transposed convolution: the full output with ``padding=0``, then a crop;
- ``unfold``/``fold`` of 1-d input: a 2-d op with a unit leading spatial dim. PyTorch has no 3-d unfold/fold:
  3-d unfold is a grouped ``conv3d`` with one-hot kernels (unfold by definition) and 3-d fold its adjoint, a
  grouped ``conv_transpose3d`` with the same kernels;
- batch norm's running statistics are buffers: passed detached, so they get a zero gradient;
- dropout only where it is deterministic (evaluation, or ``p = 0``): ``F.dropout`` cannot take a mask;
- adaptive max pooling: the pooled values (the indices are integers without a gradient).

:func:`forward_backward` (any torch function, NumPy in and out, autograd gradients) is also what the test
suite's PyTorch helpers use.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from vanilla_nn.oracles.base import (
    Builder,
    NotSupportedByOracle,
    Oracle,
    OracleResult,
    OracleUnavailable,
    check_grad_output,
    conv_pad_pairs,
    ints,
    make_register,
    pad_pairs,
    spatial_rank,
    to_numpy_input,
)

EXTRA = "pip install 'vanilla-nn[torch]'"

try:
    import torch
    import torch.nn.functional as tnf
except ImportError as error:  # pragma: no cover - depends on the environment
    raise OracleUnavailable(f"the PyTorch oracle needs PyTorch: {EXTRA}") from error

BUILDERS: dict[str, Builder] = {}
register = make_register(BUILDERS)


def as_tensor(array: np.ndarray | None, requires_grad: bool = True) -> Any:
    """A tensor holding a C-contiguous copy of ``array`` (None stays None); floating tensors require grad
    when ``requires_grad``."""
    if array is None:
        return None
    tensor = torch.from_numpy(to_numpy_input(array))
    return tensor.requires_grad_(requires_grad and tensor.is_floating_point())


def forward_backward(function: Any, arrays: Sequence[np.ndarray | None], grad_output: np.ndarray | None = None,
                     *, op: str = "function") -> tuple[np.ndarray, list[np.ndarray | None] | None]:
    """PyTorch's ``(output, grads)`` of ``function(*tensors)`` on copies of ``arrays``.

    ``grads`` is None without ``grad_output``; else one entry per array: the autograd gradient of
    ``<output, grad_output>``, or None for a None or integer array and for one the output does not depend on.
    """
    tensors = [as_tensor(a, grad_output is not None) for a in arrays]
    with torch.enable_grad():
        output = function(*tensors)
    if grad_output is None:
        return output.detach().numpy().copy(), None
    check_grad_output(op, grad_output, tuple(output.shape))
    leaves = [t for t in tensors if t is not None and t.requires_grad]
    upstream = torch.from_numpy(to_numpy_input(grad_output)).to(output.dtype)
    found = iter(torch.autograd.grad(output, leaves, grad_outputs=upstream, allow_unused=True))
    grads = []
    for tensor in tensors:
        grad = next(found) if tensor is not None and tensor.requires_grad else None
        grads.append(None if grad is None else grad.numpy().copy())
    return output.detach().numpy().copy(), grads


def _flat_pad(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """(before, after) pairs in spatial order -> F.pad's flat list, last dim first."""
    flat: list[int] = []
    for lo, hi in reversed(pairs):
        flat += [lo, hi]
    return flat


def _crop(tensor: Any, pairs: Sequence[tuple[int, int]]) -> Any:
    """Remove ``pairs`` from the trailing spatial dims."""
    index = [slice(None)] * (tensor.dim() - len(pairs))
    index += [slice(lo, tensor.shape[tensor.dim() - len(pairs) + axis] - hi)
              for axis, (lo, hi) in enumerate(pairs)]
    return tensor[tuple(index)]


@register("conv1d", "conv2d", "conv3d")
def conv(op: str, input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
         dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros") -> Any:
    n = spatial_rank(op)
    function = getattr(tnf, op)
    stride, dilation = ints(stride, n), ints(dilation, n)
    kernel = tuple(weight.shape[2:])
    unbatched = input.dim() == n + 1
    if unbatched:
        input = input.unsqueeze(0)
    if padding_mode == "zeros" and (padding == "valid" or (padding == "same" and set(stride) == {1})):
        native: Any = padding  # PyTorch's own 'valid' and 'same' (stride 1 only)
    else:
        pairs = conv_pad_pairs(padding, tuple(input.shape[2:]), kernel, stride, dilation)
        if padding_mode == "zeros" and all(lo == hi for lo, hi in pairs):
            native = tuple(lo for lo, _ in pairs)
        else:
            mode = "constant" if padding_mode == "zeros" else padding_mode
            input = tnf.pad(input, _flat_pad(pairs), mode=mode)
            native = 0
    with warnings.catch_warnings():  # 'same' with an even kernel: PyTorch warns that it pads a copy
        warnings.simplefilter("ignore", UserWarning)
        output = function(input, weight, bias, stride=stride, padding=native, dilation=dilation,
                          groups=groups)
    return output.squeeze(0) if unbatched else output


@register("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def conv_transpose(op: str, input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                   output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Any:
    n = spatial_rank(op)
    function = getattr(tnf, op)
    pairs = pad_pairs(padding, n)
    symmetric = all(lo == hi for lo, hi in pairs)
    native = tuple(lo for lo, _ in pairs) if symmetric else 0
    output = function(input, weight, bias, stride=ints(stride, n), padding=native,
                      output_padding=ints(output_padding, n), groups=groups, dilation=ints(dilation, n))
    return output if symmetric else _crop(output, pairs)


def _window_rank(input: Any, *sizes: Any) -> int:
    """The spatial rank of an unfold/fold: the length of the first tuple among ``sizes``, else the input's
    dims after (N, C)."""
    for size in sizes:
        if isinstance(size, (tuple, list)):
            return len(size)
    return input.dim() - 2


def _one_hot_kernels(channels: int, kernel: tuple[int, ...], like: Any) -> Any:
    """Weight ``(C * T, 1, *K)``: row ``c * T + t`` is 1 at kernel tap ``t`` (C order), 0 elsewhere."""
    taps = math.prod(kernel)
    eye = torch.eye(taps, dtype=like.dtype).reshape((taps, 1, *kernel))
    return eye.repeat((channels,) + (1,) * (len(kernel) + 1))


@register("unfold")
def unfold(op: str, input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Any:
    """1-d and 2-d: ``F.unfold`` (1-d as 2-d with a unit first dim) after ``F.pad``. 3-d (PyTorch has no
    3-d unfold): a grouped ``conv3d`` with one-hot kernels, output channel ``c * T + t`` copying tap ``t``
    of channel ``c`` -- unfold by definition, computed by PyTorch."""
    n = _window_rank(input, kernel_size)
    kernel, dilation, stride = ints(kernel_size, n), ints(dilation, n), ints(stride, n)
    unbatched = input.dim() == n + 1
    x = tnf.pad(input.unsqueeze(0) if unbatched else input, _flat_pad(pad_pairs(padding, n)))
    if n == 1:
        columns = tnf.unfold(x.unsqueeze(2), (1, *kernel), dilation=(1, *dilation), stride=(1, *stride))
    elif n == 2:
        columns = tnf.unfold(x, kernel, dilation=dilation, stride=stride)
    else:
        channels = x.shape[1]
        y = getattr(tnf, f"conv{n}d")(x, _one_hot_kernels(channels, kernel, x), None, stride, 0, dilation,
                                      channels)
        columns = y.reshape(y.shape[0], y.shape[1], -1)
    return columns.squeeze(0) if unbatched else columns


@register("fold")
def fold(op: str, input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Any:
    """2-d: ``F.fold`` into the padded size, then a crop of the padding; 1-d as 2-d with a unit first dim.
    3-d: a grouped ``conv_transpose3d`` with the one-hot kernels of :func:`unfold` (its adjoint), whose
    frame is completed by ``output_padding`` (< stride) and cropped."""
    sized = [v for v in (output_size, kernel_size) if isinstance(v, (tuple, list))]
    n = len(sized[0]) if sized else 2
    size, kernel = ints(output_size, n), ints(kernel_size, n)
    dilation, stride, pairs = ints(dilation, n), ints(stride, n), pad_pairs(padding, n)
    unbatched = input.dim() == 2
    columns = input.unsqueeze(0) if unbatched else input
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(size, pairs, strict=True))
    if n in (1, 2):
        lead = (1,) if n == 1 else ()
        image = tnf.fold(columns, lead + padded, lead + kernel, dilation=lead + dilation, stride=lead + stride)
        output = _crop(image.squeeze(2) if n == 1 else image, pairs)
    else:
        blocks = [(f - d * (k - 1) - 1) // s + 1 for f, k, s, d in zip(padded, kernel, stride, dilation,
                                                                          strict=True)]
        extra = [f - ((b - 1) * s + d * (k - 1) + 1) for f, b, k, s, d in zip(padded, blocks, kernel, stride,
                                                                                dilation, strict=True)]
        channels = columns.shape[1] // math.prod(kernel)
        image = getattr(tnf, f"conv_transpose{n}d")(columns.reshape(columns.shape[0], columns.shape[1], *blocks),
                                                    _one_hot_kernels(channels, kernel, columns), None, stride,
                                                    0, extra, channels, dilation)
        output = _crop(image, pairs)
    return output.squeeze(0) if unbatched else output


# --- pooling, linear, activations, losses, normalisation, dropout: torch.nn.functional as it is ---------

@register("max_pool1d", "max_pool2d", "max_pool3d")
def max_pool(op: str, input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
             ceil_mode: bool = False) -> Any:
    return getattr(tnf, op)(input, kernel_size, stride, padding, dilation, ceil_mode)


@register("avg_pool1d", "avg_pool2d", "avg_pool3d")
def avg_pool(op: str, input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
             count_include_pad: bool = True, divisor_override: Any = None) -> Any:
    if divisor_override is None:  # avg_pool1d takes no divisor_override at all
        return getattr(tnf, op)(input, kernel_size, stride, padding, ceil_mode, count_include_pad)
    return getattr(tnf, op)(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


@register("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d")
def adaptive_avg_pool(op: str, input: Any, output_size: Any) -> Any:
    return getattr(tnf, op)(input, output_size)


@register("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def adaptive_max_pool(op: str, input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """The pooled values only: the indices are integers with no gradient (the suite compares them exactly)."""
    return getattr(tnf, op)(input, output_size)


@register("max_unpool1d", "max_unpool2d", "max_unpool3d")
def max_unpool(op: str, input: Any, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               output_size: Any = None) -> Any:
    return getattr(tnf, op)(input, indices, kernel_size, stride, padding, output_size)


@register("interpolate")
def interpolate(op: str, input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: Any = None, recompute_scale_factor: Any = None, antialias: bool = False) -> Any:
    return tnf.interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)


@register("linear")
def linear(op: str, input: Any, weight: Any, bias: Any = None) -> Any:
    return tnf.linear(input, weight, bias)


@register("relu", "sigmoid", "tanh")
def activation(op: str, input: Any) -> Any:
    return getattr(torch, op)(input)


@register("leaky_relu")
def leaky_relu(op: str, input: Any, negative_slope: float = 0.01) -> Any:
    return tnf.leaky_relu(input, negative_slope)


@register("relu6", "hardswish", "silu")
def activation_nn(op: str, input: Any) -> Any:
    return getattr(tnf, op)(input)


@register("gelu")
def gelu(op: str, input: Any, approximate: str = "none") -> Any:
    return tnf.gelu(input, approximate=approximate)


@register("flatten")
def flatten(op: str, input: Any, start_dim: int = 1, end_dim: int = -1) -> Any:
    return torch.flatten(input, start_dim, end_dim)


@register("softmax", "log_softmax")
def softmax(op: str, input: Any, dim: int = 1) -> Any:
    return getattr(tnf, op)(input, dim)


def _constant(tensor: Any) -> Any:
    """Class weights enter PyTorch's losses as constants (they refuse a tensor that requires grad)."""
    return None if tensor is None else tensor.detach()


@register("cross_entropy")
def cross_entropy(op: str, input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Any:
    return tnf.cross_entropy(input, target, weight=_constant(weight), ignore_index=ignore_index,
                             reduction=reduction, label_smoothing=label_smoothing)


@register("nll_loss")
def nll_loss(op: str, input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Any:
    return tnf.nll_loss(input, target, weight=_constant(weight), ignore_index=ignore_index, reduction=reduction)


@register("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(op: str, input: Any, target: Any, weight: Any = None, pos_weight: Any = None,
                                     reduction: str = "mean") -> Any:
    return tnf.binary_cross_entropy_with_logits(input, target, _constant(weight), reduction=reduction,
                                                pos_weight=_constant(pos_weight))


@register("mse_loss")
def mse_loss(op: str, input: Any, target: Any, reduction: str = "mean") -> Any:
    return tnf.mse_loss(input, target, reduction=reduction)


@register("batch_norm")
def batch_norm(op: str, input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Any:
    """The running statistics are buffers: detached copies (PyTorch updates them in place in training and
    gives them no gradient), so their gradient is reported as zero."""
    stats = [None if t is None else t.detach().clone() for t in (running_mean, running_var)]
    return tnf.batch_norm(input, *stats, weight, bias, training, momentum, eps)


@register("dropout")
def dropout(op: str, input: Any, mask: Any = None, p: float = 0.5, training: bool = True) -> Any:
    """Only the deterministic cases: evaluation (the identity) and training with ``p = 0``. A given mask
    cannot be handed to ``F.dropout``, which draws its own."""
    if training and mask is not None:
        raise NotSupportedByOracle("not supported by PyTorch: dropout with a given mask (F.dropout draws its "
                                   "own Bernoulli mask and takes none)")
    if training and p > 0:
        raise NotSupportedByOracle(f"not supported by PyTorch: dropout in training with p={p} and no mask "
                                   f"(both sides would draw different random masks)")
    return tnf.dropout(input, p, training)


@register("group_norm")
def group_norm(op: str, input: Any, weight: Any = None, bias: Any = None, num_groups: int = 1,
               eps: float = 1e-5) -> Any:
    return tnf.group_norm(input, num_groups, weight, bias, eps)


@register("layer_norm")
def layer_norm(op: str, input: Any, weight: Any = None, bias: Any = None, normalized_shape: Any = (),
               eps: float = 1e-5) -> Any:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return tnf.layer_norm(input, shape, weight, bias, eps)


@register("dropout2d")
def dropout2d(op: str, input: Any, mask: Any = None, p: float = 0.5, training: bool = True) -> Any:
    """As :func:`dropout`: only evaluation and ``p = 0`` are deterministic."""
    if training and mask is not None:
        raise NotSupportedByOracle("not supported by PyTorch: dropout2d with a given mask (F.dropout2d draws "
                                   "its own channel mask and takes none)")
    if training and p > 0:
        raise NotSupportedByOracle(f"not supported by PyTorch: dropout2d in training with p={p} and no mask "
                                   f"(both sides would draw different random masks)")
    with warnings.catch_warnings():  # 3-d input: PyTorch's warning about its (N, C, L) reading
        warnings.simplefilter("ignore")
        return tnf.dropout2d(input, p, training)


_LAYERS = {
    "conv1d": "Conv1d", "conv2d": "Conv2d", "conv3d": "Conv3d",
    "conv_transpose1d": "ConvTranspose1d", "conv_transpose2d": "ConvTranspose2d",
    "conv_transpose3d": "ConvTranspose3d", "linear": "Linear",
}


class TorchOracle(Oracle):
    """PyTorch (CPU) as the oracle: ``torch.nn.functional`` forward, autograd backward."""

    name = "torch"
    framework = "PyTorch"
    extra = EXTRA
    builders = BUILDERS

    @property
    def version(self) -> str:
        return torch.__version__

    def run(self, op: str, arrays: Sequence[np.ndarray | None], options: dict[str, Any] | None = None,
            grad_output: np.ndarray | None = None) -> OracleResult:
        build = self.builder(op)
        output, grads = forward_backward(lambda *tensors: build(op, *tensors, **(options or {})), arrays,
                                         grad_output, op=op)
        if grads is None:
            return OracleResult(output)
        # an array the output does not depend on (e.g. detached running statistics) has a zero gradient;
        # integer arrays (class targets) have none
        filled = tuple(np.zeros(np.shape(a), a.dtype) if g is None and a is not None
                       and np.issubdtype(a.dtype, np.floating) else g for a, g in zip(arrays, grads, strict=True))
        return OracleResult(output, filled)

    def init_params(self, op: str, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                    groups: int, bias: bool, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``torch.manual_seed(seed)`` then ``torch.nn.Conv2d(...)`` (or its kin, or ``torch.nn.Linear(in,
        out)`` for ``linear``, whose ``kernel_size`` is ``()``): its weight and bias."""
        if op not in _LAYERS:
            raise NotSupportedByOracle(f"not supported by PyTorch: no layer initialiser for {op!r}")
        torch.manual_seed(seed)
        layer_class = getattr(torch.nn, _LAYERS[op])
        if op == "linear":
            layer = layer_class(in_channels, out_channels, bias=bias)
        else:
            layer = layer_class(in_channels, out_channels, kernel_size, groups=groups, bias=bias)
        weight = layer.weight.detach().double().numpy().copy()
        return weight, None if layer.bias is None else layer.bias.detach().double().numpy().copy()
