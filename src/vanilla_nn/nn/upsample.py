"""``Upsample`` (and PyTorch's two fixed-mode spellings of it) over :func:`vanilla_nn.functional.interpolate`."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import functional as F
from ..autograd.function import FunctionalCall
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


def _as_factor(value: Any) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"scale_factor entry {value!r} must be a number")
    return float(value)


class Upsample(Module):
    """``torch.nn.Upsample``: resample ``(N, C, *S)`` to a ``size`` or by a ``scale_factor``.

    Arguments and defaults as PyTorch: ``size=None, scale_factor=None, mode="nearest", align_corners=None,
    recompute_scale_factor=None``; ``scale_factor`` is kept as a float (or a tuple of floats). The modes and
    the exact index rules are :func:`vanilla_nn.functional.interpolate`'s; bad arguments raise there, on the
    first call.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        >>> up
        Upsample(scale_factor=2.0, mode='bilinear')
        >>> y = up(np.array([[[[0.0, 3.0]]]]))
        >>> y
        array([[[[0., 1., 2., 3.],
                 [0., 1., 2., 3.]]]])
        >>> up.backward(np.ones_like(y))              # each input cell gets the weights it was read with
        array([[[[4., 4.]]]])
    """

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor: Any = tuple(_as_factor(factor) for factor in scale_factor)
        else:
            self.scale_factor = _as_factor(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def _args(self) -> tuple:
        return (self.size, self.scale_factor, self.mode, self.align_corners, self.recompute_scale_factor)

    def forward(self, input: Any) -> Any:
        """``(N, C, *S)`` -> ``(N, C, *O)``."""
        output = F.interpolate(input, *self._args())
        self._save(FunctionalCall((input, *self._args()), {}))  # nothing kept on the tape or under no_grad()
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        (grad_input,) = F.interpolate_backward(grad_output, *self._saved().args)
        return grad_input

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``torch.nn.UpsamplingNearest2d``: :class:`Upsample` with ``mode="nearest"``."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``torch.nn.UpsamplingBilinear2d``: :class:`Upsample` with ``mode="bilinear", align_corners=True``."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
