"""What every framework oracle shares: the result type, the errors, the op registry and the padding rules.

An oracle answers one question: *what does the framework compute for this op?* ``Oracle.run(op, arrays,
options, grad_output)`` takes the op's name as in ``vanilla_nn.functional``, its array arguments in order
(``None`` where absent, e.g. ``bias=None``), its options exactly as vanilla_nn spells them, and the upstream
gradient; it returns the framework's forward output and the gradient of ``<output, grad_output>`` with
respect to every array argument, all as NumPy arrays in vanilla_nn's (PyTorch's) layouts.

Each adapter registers one *builder* per op: a function ``builder(op, *tensors, **options) -> tensor`` written
in the framework's own ops. Adding an op (pooling, linear, batch norm, a loss) to an oracle is one decorated
function. The padding helpers here are deliberately re-derived rather than imported from
``vanilla_nn.functional`` so that an oracle never shares code with the thing it checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Pairs = tuple[tuple[int, int], ...]


class OracleUnavailable(ImportError):
    """The framework behind an oracle is not installed; the message names the extra to install."""


class NotSupportedByOracle(Exception):
    """The framework lacks a feature; the check is reported as skipped, never faked."""


@dataclass
class OracleResult:
    """The framework's answer: ``output`` and one gradient per array argument (None where it was None)."""

    output: np.ndarray
    grads: tuple[np.ndarray | None, ...] | None = None


Builder = Callable[..., Any]


class Oracle:
    """Base class of the adapters. Subclasses set ``name``, ``framework``, ``extra`` and fill ``builders``."""

    name: str = ""
    framework: str = ""
    extra: str = ""
    builders: dict[str, Builder] = {}

    @property
    def version(self) -> str:  # pragma: no cover - overridden
        return "?"

    def supports(self, op: str) -> bool:
        """True if this oracle has a builder for ``op`` (options may still be unsupported at run time)."""
        return op in self.builders

    def builder(self, op: str) -> Builder:
        try:
            return self.builders[op]
        except KeyError:
            raise NotSupportedByOracle(f"not supported by {self.framework}: no adapter for op {op!r} "
                                       f"(known: {', '.join(sorted(self.builders))})") from None

    def run(self, op: str, arrays: Sequence[np.ndarray | None], options: dict[str, Any] | None = None,
            grad_output: np.ndarray | None = None) -> OracleResult:
        """The framework's forward of ``op``; with ``grad_output``, also the gradient of every array."""
        raise NotImplementedError

    def init_params(self, op: str, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                    groups: int, bias: bool, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Weight and bias from the framework's default layer initialiser, as float64 in PyTorch layout."""
        raise NotImplementedError

    def unsupported(self, what: str) -> NotSupportedByOracle:
        return NotSupportedByOracle(f"not supported by {self.framework}: {what}")


def make_register(builders: dict[str, Builder]) -> Callable[..., Callable[[Builder], Builder]]:
    """``@register("conv1d", "conv2d")`` adds the decorated builder to ``builders`` under each name."""

    def register(*ops: str) -> Callable[[Builder], Builder]:
        def decorate(function: Builder) -> Builder:
            for op in ops:
                builders[op] = function
            return function

        return decorate

    return register


def spatial_rank(op: str) -> int:
    """``conv2d`` -> 2, ``conv_transpose3d`` -> 3; ops without a rank suffix must say it themselves."""
    if op.endswith("d") and op[-2].isdigit():
        return int(op[-2])
    raise ValueError(f"op={op!r} has no rank suffix")


def ints(value: int | Sequence[int], n: int) -> tuple[int, ...]:
    """An int repeated n times, or a sequence of n ints, as a tuple."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    return tuple(int(v) for v in value)


def pad_pairs(padding: Any, n: int) -> Pairs:
    """Numeric padding (int, n ints, or n (before, after) pairs) as n pairs."""
    if isinstance(padding, (int, np.integer)):
        return ((int(padding), int(padding)),) * n
    if all(isinstance(p, (tuple, list)) for p in padding):
        return tuple((int(lo), int(hi)) for lo, hi in padding)
    return tuple((int(p), int(p)) for p in padding)


def tensorflow_same_pairs(in_size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                          dilation: Sequence[int]) -> Pairs:
    """TensorFlow's SAME: out = ceil(in / s), total = max(0, (out - 1) s + d (k - 1) + 1 - in), odd at end."""
    pairs = []
    for size, k, s, d in zip(in_size, kernel, stride, dilation, strict=True):
        out = math.ceil(size / s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


def conv_pad_pairs(padding: Any, in_size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                   dilation: Sequence[int]) -> Pairs:
    """Every form of convolution padding as explicit pairs ('same' at stride 1 is PyTorch's rule, which
    coincides with TensorFlow's; 'same' at stride > 1 is TensorFlow's)."""
    n = len(in_size)
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        return tensorflow_same_pairs(in_size, kernel, stride, dilation)
    return pad_pairs(padding, n)


def check_grad_output(op: str, grad_output: np.ndarray, output_shape: Sequence[int]) -> None:
    if tuple(np.shape(grad_output)) != tuple(output_shape):
        raise ValueError(f"{op}: grad_output.shape={tuple(np.shape(grad_output))} must equal the output's "
                         f"shape {tuple(output_shape)}")


def to_numpy_input(array: np.ndarray) -> np.ndarray:
    """A C-contiguous copy (frameworks reject negative strides; inputs are never modified)."""
    return np.array(array, copy=True, order="C")
