"""The PyTorch oracle: forward through ``torch.nn.functional``, gradients through autograd.

vanilla_nn's options map onto PyTorch's almost one to one (the layouts are PyTorch's). What PyTorch's
functional ops do not take directly is spelled out with explicit PyTorch ops, never computed by us:

- asymmetric ``(before, after)`` padding and ``'same'`` at stride > 1 (TensorFlow's rule): ``F.pad`` first,
  then the op with ``padding=0``;
- ``padding_mode`` reflect / replicate / circular: ``F.pad(mode=...)`` then the convolution, as
  ``torch.nn.Conv2d`` itself does;
- asymmetric padding of a transposed convolution: the full output with ``padding=0``, then a crop;
- ``unfold``/``fold`` of 1-d input: a 2-d op with a unit leading spatial dim. PyTorch has no 3-d unfold/fold.
"""

from __future__ import annotations

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


def _as_2d(n: int, kernel_size: Any, dilation: Any, stride: Any, pairs: Sequence[tuple[int, int]]
           ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Options of a 1-d or 2-d unfold/fold as 2-d ones (a 1-d op is a 2-d op with a unit first dim)."""
    kernel, dilation, stride = ints(kernel_size, n), ints(dilation, n), ints(stride, n)
    if n == 1:
        return (1,) + kernel, (1,) + dilation, (1,) + stride, ((0, 0),) + tuple(pairs)
    return kernel, dilation, stride, tuple(pairs)


def _spatial_rank_of_unfold(op: str, n: int) -> int:
    if n not in (1, 2):
        raise NotSupportedByOracle(f"not supported by PyTorch: {op} over {n} spatial dims "
                                   f"(torch.nn.functional.{op} is 2-d only)")
    return n


@register("unfold")
def unfold(op: str, input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Any:
    n = _spatial_rank_of_unfold(op, input.dim() - 2)
    kernel, dilation, stride, pairs = _as_2d(n, kernel_size, dilation, stride, pad_pairs(padding, n))
    x = input.unsqueeze(2) if n == 1 else input
    x = tnf.pad(x, _flat_pad(pairs))
    return tnf.unfold(x, kernel, dilation=dilation, padding=0, stride=stride)


@register("fold")
def fold(op: str, input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Any:
    n = _spatial_rank_of_unfold(op, 2 if isinstance(output_size, int) else len(output_size))
    size = ints(output_size, n)
    kernel, dilation, stride, pairs = _as_2d(n, kernel_size, dilation, stride, pad_pairs(padding, n))
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(((1,) + size) if n == 1 else size, pairs, strict=True))
    output = _crop(tnf.fold(input, padded, kernel, dilation=dilation, padding=0, stride=stride), pairs)
    return output.squeeze(2) if n == 1 else output


_LAYERS = {
    "conv1d": "Conv1d", "conv2d": "Conv2d", "conv3d": "Conv3d",
    "conv_transpose1d": "ConvTranspose1d", "conv_transpose2d": "ConvTranspose2d",
    "conv_transpose3d": "ConvTranspose3d",
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
        want_grad = grad_output is not None
        tensors = [None if a is None else torch.from_numpy(to_numpy_input(a)).requires_grad_(want_grad)
                   for a in arrays]
        with torch.enable_grad():
            output = build(op, *tensors, **(options or {}))
        if not want_grad:
            return OracleResult(output.detach().numpy().copy())
        check_grad_output(op, grad_output, tuple(output.shape))
        present = [t for t in tensors if t is not None]
        upstream = torch.from_numpy(to_numpy_input(grad_output)).to(output.dtype)
        grads = torch.autograd.grad(output, present, grad_outputs=upstream, allow_unused=True)
        found = iter(grads)
        result: list[np.ndarray | None] = []
        for tensor in tensors:
            if tensor is None:
                result.append(None)
                continue
            grad = next(found)
            result.append(np.zeros(tuple(tensor.shape), tensor.detach().numpy().dtype) if grad is None
                          else grad.numpy().copy())
        return OracleResult(output.detach().numpy().copy(), tuple(result))

    def init_params(self, op: str, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                    groups: int, bias: bool, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``torch.manual_seed(seed)`` then ``torch.nn.Conv2d(...)`` (or its kin): its weight and bias."""
        if op not in _LAYERS:
            raise NotSupportedByOracle(f"not supported by PyTorch: no layer initialiser for {op!r}")
        torch.manual_seed(seed)
        layer_class = getattr(torch.nn, _LAYERS[op])
        layer = layer_class(in_channels, out_channels, kernel_size, groups=groups, bias=bias)
        weight = layer.weight.detach().double().numpy().copy()
        return weight, None if layer.bias is None else layer.bias.detach().double().numpy().copy()
