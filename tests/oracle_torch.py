"""PyTorch as the oracle: run vanilla_nn's exact argument set through torch and return NumPy arrays.

Everything here takes NumPy arrays and the vanilla_nn argument set (padding strings, per-dim ints,
``(before, after)`` pairs, ``padding_mode``) and maps it onto what torch supports natively; where torch has
no such option the oracle pads or crops explicitly (``F.pad`` with the matching mode, then a conv without
padding; a transposed conv without padding, then a crop). Gradients come from ``torch.autograd`` given
``grad_output``. Nothing here imports vanilla_nn, so the oracle stays independent of the code under test.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

_TORCH_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
                   "circular": "circular"}


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _per_dim(value: Any, ndim: int) -> tuple[int, ...]:
    return (int(value),) * ndim if _is_int(value) else tuple(int(v) for v in value)


def _has_pairs(padding: Any) -> bool:
    return isinstance(padding, (tuple, list)) and any(isinstance(p, (tuple, list)) for p in padding)


def explicit_pads(padding: Any, spatial: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                  dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    """(before, after) per dim for any vanilla_nn padding; 'same' by TF's SAME rule (PyTorch's at s=1)."""
    ndim = len(spatial)
    if padding == "valid":
        return [(0, 0)] * ndim
    if padding == "same":
        pads = []
        for size, k, s, d in zip(spatial, kernel, stride, dilation, strict=True):
            total = max(0, (math.ceil(size / s) - 1) * s + d * (k - 1) + 1 - size)
            pads.append((total // 2, total - total // 2))
        return pads
    if _has_pairs(padding):
        return [(int(lo), int(hi)) for lo, hi in padding]
    return [(p, p) for p in _per_dim(padding, ndim)]


def _flat_pad(pairs: list[tuple[int, int]]) -> list[int]:
    """F.pad order: last dim first."""
    return [v for lo_hi in reversed(pairs) for v in lo_hi]


def _tensor(array: np.ndarray | None, dtype: np.dtype) -> torch.Tensor | None:
    if array is None:
        return None
    return torch.tensor(np.ascontiguousarray(array, dtype=dtype), requires_grad=True)


def _grad(tensor: torch.Tensor | None, like: np.ndarray | None) -> np.ndarray | None:
    if tensor is None or tensor.grad is None:
        return None
    return tensor.grad.detach().numpy().astype(like.dtype)


def torch_conv(op: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
               grad_output: np.ndarray | None = None, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
               groups: int = 1, padding_mode: str = "zeros", output_padding: Any = 0
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(y, grad_x, grad_w, grad_b)`` of ``op`` in {conv1d..3d, conv_transpose1d..3d} by PyTorch.

    Computes in NumPy's promoted dtype of the inputs; ``y`` in that dtype, each gradient in its argument's
    dtype; gradients are None without ``grad_output`` (and ``grad_b`` without ``b``). Accepts unbatched input.
    """
    ndim = int(op[-2])
    transposed = op.startswith("conv_transpose")
    dtype = np.result_type(*[a for a in (x, w, b) if a is not None])
    tx, tw, tb = _tensor(x, dtype), _tensor(w, dtype), _tensor(b, dtype)
    unbatched = tx.ndim == ndim + 1
    inp = tx.unsqueeze(0) if unbatched else tx
    spatial = tuple(inp.shape[2:])
    kernel = tuple(w.shape[2:])
    stride_, dilation_ = _per_dim(stride, ndim), _per_dim(dilation, ndim)
    if transposed:
        conv_t = getattr(F, f"conv_transpose{ndim}d")
        if _has_pairs(padding):   # torch pads symmetrically only: compute the full frame, then crop it
            y = conv_t(inp, tw, tb, stride, 0, output_padding, groups, dilation)
            for axis, (lo, hi) in enumerate(padding):
                y = y.narrow(2 + axis, lo, y.shape[2 + axis] - lo - hi)
        else:
            y = conv_t(inp, tw, tb, stride, padding, output_padding, groups, dilation)
    else:
        conv = getattr(F, f"conv{ndim}d")
        native = padding_mode == "zeros" and (
            padding == "valid" or (padding == "same" and all(s == 1 for s in stride_))
            or (not isinstance(padding, str) and not _has_pairs(padding)))
        if native:
            with warnings.catch_warnings():   # torch warns that 'same' with an even kernel may copy the input
                warnings.simplefilter("ignore", UserWarning)
                y = conv(inp, tw, tb, stride, padding, dilation, groups)
        else:
            pairs = explicit_pads(padding, spatial, kernel, stride_, dilation_)
            padded = F.pad(inp, _flat_pad(pairs), mode=_TORCH_PAD_MODE[padding_mode])
            y = conv(padded, tw, tb, stride, 0, dilation, groups)
    if unbatched:
        y = y.squeeze(0)
    if grad_output is None:
        return y.detach().numpy(), None, None, None
    y.backward(torch.tensor(np.ascontiguousarray(grad_output, dtype=dtype)))
    return y.detach().numpy(), _grad(tx, x), _grad(tw, w), _grad(tb, b)


def _one_hot_kernels(channels: int, kernel: tuple[int, ...], dtype: np.dtype) -> torch.Tensor:
    """Weight ``(C * T, 1, *K)``: row ``c * T + t`` is 1 at kernel tap ``t`` (C-order), 0 elsewhere."""
    taps = math.prod(kernel)
    eye = np.eye(taps, dtype=dtype).reshape((taps, 1) + kernel)
    return torch.tensor(np.tile(eye, (channels,) + (1,) * (len(kernel) + 1)))


def _window_rank(kernel_size: Any, *alternatives: Any, default: int) -> int:
    for value in (kernel_size, *alternatives):
        if isinstance(value, (tuple, list)):
            return len(value)
    return default


def torch_unfold(x: np.ndarray, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1,
                 grad_output: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(columns, grad_x)`` of unfold by PyTorch, any rank.

    4-d input with int padding uses ``F.unfold``; anything else a grouped convolution with one-hot kernels
    (output channel ``c * T + t`` copies tap ``t`` of channel ``c``), which is unfold by definition.
    """
    ndim = _window_rank(kernel_size, default=x.ndim - 2)
    unbatched = x.ndim == ndim + 1
    tx = _tensor(x, x.dtype)
    inp = tx.unsqueeze(0) if unbatched else tx
    kernel = _per_dim(kernel_size, ndim)
    if ndim == 2 and not _has_pairs(padding):
        y = F.unfold(inp, kernel_size, dilation, padding, stride)
    else:
        pairs = explicit_pads(padding, tuple(inp.shape[2:]), kernel, _per_dim(stride, ndim),
                              _per_dim(dilation, ndim))
        padded = F.pad(inp, _flat_pad(pairs))
        channels = inp.shape[1]
        y = getattr(F, f"conv{ndim}d")(padded, _one_hot_kernels(channels, kernel, x.dtype), None, stride, 0,
                                        dilation, channels)
        y = y.reshape(y.shape[0], y.shape[1], -1)
    if unbatched:
        y = y.squeeze(0)
    if grad_output is None:
        return y.detach().numpy(), None
    y.backward(torch.tensor(np.ascontiguousarray(grad_output)))
    return y.detach().numpy(), _grad(tx, x)


def torch_fold(x: np.ndarray, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
               stride: Any = 1, grad_output: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(image, grad_x)`` of fold by PyTorch, any rank.

    2 spatial dims with int padding use ``F.fold``; anything else a grouped transposed convolution with
    one-hot kernels (the adjoint of the unfold above) whose frame is cropped to ``output_size``.
    """
    ndim = _window_rank(output_size, kernel_size, default=2)
    unbatched = x.ndim == 2
    tx = _tensor(x, x.dtype)
    inp = tx.unsqueeze(0) if unbatched else tx
    if ndim == 2 and not _has_pairs(padding):
        y = F.fold(inp, output_size, kernel_size, dilation, padding, stride)
    else:
        kernel, out = _per_dim(kernel_size, ndim), _per_dim(output_size, ndim)
        stride_, dilation_ = _per_dim(stride, ndim), _per_dim(dilation, ndim)
        pairs = explicit_pads(padding, out, kernel, stride_, dilation_)
        full = [o + lo + hi for o, (lo, hi) in zip(out, pairs, strict=True)]
        blocks = [(f - d * (k - 1) - 1) // s + 1 for f, k, s, d in zip(full, kernel, stride_, dilation_,
                                                                         strict=True)]
        # the frame the blocks cover may stop short of the padded image; output_padding (< stride) fills it
        extra = [f - ((n - 1) * s + d * (k - 1) + 1) for f, n, k, s, d in zip(full, blocks, kernel, stride_,
                                                                                dilation_, strict=True)]
        channels = inp.shape[1] // math.prod(kernel)
        cols = inp.reshape((inp.shape[0], inp.shape[1], *blocks))
        y = getattr(F, f"conv_transpose{ndim}d")(cols, _one_hot_kernels(channels, kernel, x.dtype), None,
                                                  stride_, 0, extra, channels, dilation_)
        for axis, (lo, _) in enumerate(pairs):
            y = y.narrow(2 + axis, lo, out[axis])
    if unbatched:
        y = y.squeeze(0)
    if grad_output is None:
        return y.detach().numpy(), None
    y.backward(torch.tensor(np.ascontiguousarray(grad_output)))
    return y.detach().numpy(), _grad(tx, x)


__all__ = ["explicit_pads", "torch_conv", "torch_fold", "torch_unfold"]
