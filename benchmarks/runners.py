"""The two sides of each case: a vanilla_nn layer (or the functional API) and the same PyTorch layer.

Each side is a :class:`Runner` with two closures, ``forward()`` and ``forward_backward()``, over the same
data and weights, so that one timing loop can interleave them.

vanilla_nn side, layer API (``vanilla_nn.nn.Conv2d`` ...) when the installed version has it::

    y = layer(x); grad_x = layer.backward(gy)      # parameters' .grad accumulate; reset between runs

and otherwise the functional API: ``y = F.conv2d(x, w, b, ...)`` and ``F.conv2d_backward(gy, x, w, b, ...)``.
PyTorch side: ``y = conv(x); y.backward(gy)`` with ``x.requires_grad`` (vanilla always returns grad_input),
and ``torch.no_grad()`` for forward-only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .cases import Case


@dataclass
class Runner:
    forward: Callable[[], object]
    forward_backward: Callable[[], tuple]  # returns (y, grad_input, grad_weight, grad_bias)
    api: str


def _layer_name(case: Case) -> str:
    return f"Conv{case.ndim}d" if case.kind == "conv" else f"ConvTranspose{case.ndim}d"


def _functional_name(case: Case) -> str:
    return f"conv{case.ndim}d" if case.kind == "conv" else f"conv_transpose{case.ndim}d"


def make_data(case: Case, seed: int = 0) -> dict[str, np.ndarray]:
    """Input, weight, bias and upstream gradient, float32, PyTorch layouts."""
    rng = np.random.default_rng(seed)
    k = (case.kernel_size,) * case.ndim
    if case.kind == "conv":
        w_shape = (case.out_channels, case.in_channels // case.groups, *k)
    else:
        w_shape = (case.in_channels, case.out_channels // case.groups, *k)
    fan_in = case.in_channels // case.groups * case.kernel_size ** case.ndim
    return {
        "x": rng.standard_normal(case.input_shape, dtype=np.float32),
        "w": (rng.standard_normal(w_shape, dtype=np.float32) / np.sqrt(fan_in)).astype(np.float32),
        "b": rng.standard_normal(case.out_channels, dtype=np.float32) * np.float32(0.1),
        "gy": rng.standard_normal(case.output_shape, dtype=np.float32),
    }


def _layer_kwargs(case: Case) -> dict:
    return {"stride": case.stride, "padding": case.padding, "groups": case.groups, "bias": True}


def vanilla_runner(case: Case, data: dict[str, np.ndarray], api: str = "auto") -> Runner:
    """vanilla_nn's side: the layer API when available (``api='auto'`` or ``'layer'``), else functional."""
    if api in ("auto", "layer"):
        try:
            nn = importlib.import_module("vanilla_nn.nn")
            layer_cls = getattr(nn, _layer_name(case))
        except (ImportError, AttributeError):
            if api == "layer":
                raise
        else:
            return _vanilla_layer_runner(case, data, layer_cls)
    return _vanilla_functional_runner(case, data)


def _vanilla_layer_runner(case: Case, data: dict[str, np.ndarray], layer_cls) -> Runner:
    layer = layer_cls(case.in_channels, case.out_channels, case.kernel_size, **_layer_kwargs(case))
    layer.weight.data = data["w"].copy()
    layer.bias.data = data["b"].copy()
    x, gy = data["x"], data["gy"]
    params = (layer.weight, layer.bias)

    def forward():
        return layer(x)

    def forward_backward():
        for p in params:
            p.grad = None
        y = layer(x)
        grad_x = layer.backward(gy)
        return y, grad_x, layer.weight.grad, layer.bias.grad

    return Runner(forward, forward_backward, "layer")


def _vanilla_functional_runner(case: Case, data: dict[str, np.ndarray]) -> Runner:
    F = importlib.import_module("vanilla_nn.functional")
    op = getattr(F, _functional_name(case))
    op_backward = getattr(F, _functional_name(case) + "_backward")
    x, w, b, gy = data["x"], data["w"], data["b"], data["gy"]
    if case.kind == "conv":
        args = (case.stride, case.padding, 1, case.groups)  # stride, padding, dilation, groups
    else:
        args = (case.stride, case.padding, 0, case.groups)  # stride, padding, output_padding, groups

    def forward():
        return op(x, w, b, *args)

    def forward_backward():
        y = op(x, w, b, *args)
        return (y, *op_backward(gy, x, w, b, *args))

    return Runner(forward, forward_backward, "functional")


def textbook_runner(case: Case, data: dict[str, np.ndarray]) -> Runner:
    """The textbook NumPy im2col + tensordot convolution (:mod:`benchmarks.textbook`), forward and backward."""
    from . import textbook

    x, w, b, gy = data["x"], data["w"], data["b"], data["gy"]
    stride, padding = (case.stride,) * case.ndim, (case.padding,) * case.ndim
    if case.kind == "conv":
        fwd, bwd = textbook.conv_forward, textbook.conv_backward
    else:
        fwd, bwd = textbook.conv_transpose_forward, textbook.conv_transpose_backward

    def forward():
        return fwd(x, w, b, stride, padding, case.groups)

    def forward_backward():
        y = fwd(x, w, b, stride, padding, case.groups)
        return (y, *bwd(gy, x, w, b, stride, padding, case.groups))

    return Runner(forward, forward_backward, "textbook")


def torch_runner(case: Case, data: dict[str, np.ndarray]) -> Runner:
    import torch

    layer_cls = getattr(torch.nn, _layer_name(case))
    layer = layer_cls(case.in_channels, case.out_channels, case.kernel_size, **_layer_kwargs(case))
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(data["w"]))
        layer.bias.copy_(torch.from_numpy(data["b"]))
    x = torch.from_numpy(data["x"].copy()).requires_grad_(True)
    gy = torch.from_numpy(data["gy"].copy())

    def forward():
        with torch.no_grad():
            return layer(x)

    def forward_backward():
        x.grad = None
        layer.zero_grad(set_to_none=True)
        y = layer(x)
        y.backward(gy)
        return y, x.grad, layer.weight.grad, layer.bias.grad

    return Runner(forward, forward_backward, "torch.nn")


def max_relative_error(vanilla: tuple, reference: tuple) -> float:
    """Largest ``max|a - b| / max|b|`` over the outputs (y and each gradient)."""
    worst = 0.0
    for a, b in zip(vanilla, reference):
        b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
        a = np.asarray(a)
        if a.shape != b.shape:
            return float("inf")
        scale = float(np.max(np.abs(b))) or 1.0
        worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b))) / scale)
    return worst
